"""``response_head.read_head`` (llhttp) against http.client's parser, driven by hypothesis.

For any well-formed head, in any chunking, llhttp's reading must give what
http.client gives (status, reason, version, every field in order, repeats
kept) and leave the body unread; heads llhttp refuses are ``BadHead``.
"""

from __future__ import annotations

import http.client
import io

import pytest
from hypothesis import given
from hypothesis import strategies as st
from urllib3 import HTTPHeaderDict

pytest.importorskip("httptools", reason="the speedups extra")

from netstack.transport.response_head import BadHead, read_head

_TCHAR = "abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789-!#$%&'*+.^_`|~"
_TOKEN = st.text(alphabet=_TCHAR, min_size=1, max_size=20)
_VALUE = st.text(
    alphabet=st.characters(min_codepoint=0x21, max_codepoint=0xFF, exclude_characters="\x7f"),
    max_size=40,
).map(lambda v: v.replace("  ", " "))
_FIELDS = st.lists(
    st.tuples(_TOKEN, _VALUE).filter(
        lambda f: f[0].lower() not in ("content-length", "transfer-encoding")
    ),
    max_size=30,
)


class _Chunks(io.RawIOBase):
    """A raw stream handing out ``data`` in the given piece sizes, as a socket would."""

    def __init__(self, data: bytes, sizes: list[int]) -> None:
        self._data = data
        self._sizes = sizes

    def readable(self) -> bool:
        return True

    def readinto(self, buffer: memoryview) -> int:  # type: ignore[override]
        if not self._data:
            return 0
        wanted = self._sizes.pop(0) if self._sizes else len(self._data)
        size = min(wanted, len(buffer), len(self._data))
        buffer[:size] = self._data[:size]
        self._data = self._data[size:]
        return size


def _head(status: int, reason: str, fields: list[tuple[str, str]], body: bytes) -> bytes:
    lines = [f"HTTP/1.1 {status} {reason}", *(f"{n}: {v}" for n, v in fields)]
    lines.append(f"Content-Length: {len(body)}")
    return ("\r\n".join(lines) + "\r\n\r\n").encode("latin-1") + body


@given(
    status=st.integers(100, 599),
    reason=st.sampled_from(["OK", "Not Found", "Early Hints", ""]),
    fields=_FIELDS,
    body=st.binary(max_size=50),
    sizes=st.lists(st.integers(1, 64), max_size=40),
)
def test_llhttp_reads_what_http_client_reads(
    status: int, reason: str, fields: list[tuple[str, str]], body: bytes, sizes: list[int]
) -> None:
    data = _head(status, reason, fields, body)
    fp = io.BufferedReader(_Chunks(data, sizes), buffer_size=64)
    head = read_head(fp)
    ref_fp = io.BufferedReader(io.BytesIO(data))
    ref_fp.readline()  # the status line, built above
    message = http.client.parse_headers(ref_fp)
    assert (head.status, head.reason, head.version) == (status, reason, 11)
    expected = HTTPHeaderDict()
    for name, value in message.items():
        expected.add(name, value.strip(" \t"))
    assert list(head.headers.items()) == list(expected.items())
    assert fp.read() == body  # the body is left for the body reader, whole


@pytest.mark.parametrize(
    "data",
    [
        b"HTTP/1.1 200 OK\nContent-Length: 0\n\n",
        b"HTTP/1.1 200 OK\r\nX-A: a\r\n b\r\n\r\n",
        b"HTTP/1.1 200 OK\r\nContent-Length: 1\r\nContent-Length: 2\r\n\r\n",
        b"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\nContent-Length: 2\r\n\r\n",
        b"SSH-2.0-OpenSSH_9.6\r\n\r\n",
        b"HTTP/1.1 200 OK\r\nX-A: b\r\nX",  # cut by the peer
        b"HTTP/1.1 200 OK\r\n" + b"X-A: b\r\n" * 100 + b"\r\n",  # 100 fields
    ],
)
def test_refused_heads_are_bad_heads(data: bytes) -> None:
    with pytest.raises(BadHead):
        read_head(io.BufferedReader(_Chunks(data, [7] * 1000), buffer_size=64))


def test_nothing_at_all_is_an_empty_reply() -> None:
    with pytest.raises(http.client.RemoteDisconnected):
        read_head(io.BufferedReader(io.BytesIO(b"")))


def test_identical_content_lengths_become_one() -> None:
    data = b"HTTP/1.1 200 OK\r\nContent-Length: 3, 3\r\ncontent-length: 3\r\n\r\nabc"
    fp = io.BufferedReader(_Chunks(data, [5] * 100), buffer_size=64)
    head = read_head(fp)
    assert head.headers.getlist("content-length") == ["3"]
    assert fp.read() == b"abc"
