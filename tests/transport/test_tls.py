"""TLS: verification always on, certifi by default, ``ca_path`` instead."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest
import trustme
from tls_helpers import EchoServer, echo_server, server_context
from transport_helpers import send

from netstack.errors import CA_FILE, PEER_CERT, HttpError
from netstack.transport import Transport


@pytest.fixture(scope="module")
def ca() -> trustme.CA:
    return trustme.CA()


@pytest.fixture(scope="module")
def ca_file(ca: trustme.CA, tmp_path_factory: pytest.TempPathFactory) -> str:
    path = tmp_path_factory.mktemp("ca") / "ca.pem"
    ca.cert_pem.write_to_path(str(path))
    return str(path)


@pytest.fixture(scope="module")
def server(ca: trustme.CA) -> Iterator[EchoServer]:
    context, _ = server_context(ca)
    with echo_server(context) as record:
        yield record


def test_ca_path_trusts_the_server(transport: Transport, server: EchoServer, ca_file: str) -> None:
    resp = send(transport, server.url + "/echo", ca_path=ca_file)
    assert resp.status == 200
    assert resp.timings.tcp <= resp.timings.tls <= resp.timings.first_send


def test_certifi_default_rejects_a_private_ca_with_2300060(
    transport: Transport, server: EchoServer
) -> None:
    with pytest.raises(HttpError) as info:
        send(transport, server.url + "/echo")
    assert info.value.code == PEER_CERT


def test_another_ca_is_rejected_with_2300060(
    transport: Transport, server: EchoServer, tmp_path: Path
) -> None:
    other = tmp_path / "other.pem"
    trustme.CA().cert_pem.write_to_path(str(other))
    with pytest.raises(HttpError) as info:
        send(transport, server.url + "/echo", ca_path=str(other))
    assert info.value.code == PEER_CERT


def test_hostname_mismatch_is_2300060(transport: Transport, ca: trustme.CA, ca_file: str) -> None:
    context, _ = server_context(ca, "api.example.test")
    with echo_server(context) as other, pytest.raises(HttpError) as info:
        send(transport, other.url + "/echo", ca_path=ca_file)
    assert info.value.code == PEER_CERT


def test_missing_ca_file_is_2300077(
    transport: Transport, server: EchoServer, tmp_path: Path
) -> None:
    with pytest.raises(HttpError) as info:
        send(transport, server.url + "/echo", ca_path=str(tmp_path / "absent.pem"))
    assert info.value.code == CA_FILE


def test_unreadable_ca_file_is_2300077(
    transport: Transport, server: EchoServer, tmp_path: Path
) -> None:
    garbage = tmp_path / "garbage.pem"
    garbage.write_text("not a certificate")
    with pytest.raises(HttpError) as info:
        send(transport, server.url + "/echo", ca_path=str(garbage))
    assert info.value.code == CA_FILE


def test_connections_are_pooled_across_requests_and_threads(
    server: EchoServer, ca_file: str
) -> None:
    """One manager per TLS config, reused: far fewer connections than requests."""
    from concurrent.futures import ThreadPoolExecutor

    transport = Transport(max_per_host=4)
    before = server.connections
    try:
        with ThreadPoolExecutor(4) as pool:
            results = list(
                pool.map(
                    lambda i: send(transport, f"{server.url}/echo?i={i}", ca_path=ca_file).status,
                    range(60),
                )
            )
    finally:
        transport.close()
    assert results == [200] * 60
    assert server.connections - before <= 4
