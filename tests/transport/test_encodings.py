"""Content encodings: gzip, deflate, br and zstd decoded; ``max_limit`` counts decoded bytes."""

from __future__ import annotations

import subprocess
import sys
import textwrap
from collections.abc import Iterator
from pathlib import Path

import pytest
from tls_helpers import EchoServer, echo_server
from transport_helpers import RecordingSink, send

from netstack.errors import MAX_SIZE_EXCEEDED, HttpError
from netstack.options import HttpRequestOptions
from netstack.prepare import build_headers
from netstack.transport import Transport

ENCODINGS = ["gzip", "deflate", "br", "zstd"]


@pytest.fixture(scope="module")
def server() -> Iterator[EchoServer]:
    with echo_server() as record:
        yield record


def test_accept_encoding_advertises_every_decoder() -> None:
    advertised = {
        token.strip() for token in build_headers(HttpRequestOptions())["Accept-Encoding"].split(",")
    }
    assert set(ENCODINGS) <= advertised


@pytest.mark.parametrize("encoding", ENCODINGS)
def test_each_encoding_is_decoded(transport: Transport, server: EchoServer, encoding: str) -> None:
    resp = send(transport, f"{server.url}/encoded?enc={encoding}&n=200000")
    assert resp.headers["content-encoding"] == encoding
    assert resp.body == b"\0" * 200000


@pytest.mark.parametrize("encoding", ENCODINGS)
def test_each_encoding_is_decoded_when_streamed(
    transport: Transport, server: EchoServer, encoding: str
) -> None:
    sink = RecordingSink()
    url = f"{server.url}/encoded?enc={encoding}&n=300000"
    resp = send(transport, url, sink=sink, stream=True, max_body=None)
    assert resp.body == b""
    assert b"".join(sink.of("data")) == b"\0" * 300000


@pytest.mark.parametrize("stream", [False, True])
@pytest.mark.parametrize("encoding", ["identity", "x-unknown"])
def test_an_encoding_without_decoder_passes_through(
    transport: Transport, server: EchoServer, encoding: str, stream: bool
) -> None:
    """Identity and unknown codings (no decoder) arrive as sent, streamed or not."""
    sink = RecordingSink()
    url = f"{server.url}/encoded?enc={encoding}&n=200000"
    resp = send(transport, url, sink=sink, stream=stream, max_body=None)
    body = b"".join(sink.of("data")) if stream else resp.body
    assert body == b"\0" * 200000


@pytest.mark.parametrize("encoding", ENCODINGS)
def test_a_compressed_bomb_ends_with_2300063_at_the_decoded_limit(
    transport: Transport, server: EchoServer, encoding: str
) -> None:
    with pytest.raises(HttpError) as info:
        send(transport, f"{server.url}/encoded?enc={encoding}&n=50000000", max_body=1024 * 1024)
    assert info.value.code == MAX_SIZE_EXCEEDED


def test_bomb_memory_stays_bounded(server: EchoServer, tmp_path: Path) -> None:
    """100 MB of zeros, gzip'd to ~100 KB: the request fails at 5 MiB with a small peak."""
    script = textwrap.dedent(
        f"""
        import time, tracemalloc
        from netstack.errors import HttpError
        from netstack.transport import AbortSignal, PreparedRequest, Transport
        t = Transport()
        tracemalloc.start()
        req = PreparedRequest("GET", "{server.url}/encoded?enc=gzip&n=100000000", {{}},
                              max_body=5 * 1024 * 1024, started=time.perf_counter())
        try:
            t.send(req, None, AbortSignal())
        except HttpError as exc:
            print(exc.code, tracemalloc.get_traced_memory()[1])
        """
    )
    env = {"PYTHONPATH": str(Path(__file__).resolve().parents[2] / "src")}
    out = subprocess.run(
        [sys.executable, "-c", script],
        capture_output=True,
        text=True,
        timeout=60,
        env=env,
        check=True,
    ).stdout.split()
    code, peak = int(out[0]), int(out[1])
    assert code == MAX_SIZE_EXCEEDED
    assert peak < 40 * 1024 * 1024, peak
