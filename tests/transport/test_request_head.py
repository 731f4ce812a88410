"""``request_head.encode_head`` writes exactly the head urllib3 and http.client write.

Whenever it answers (not None), the bytes must be those urllib3's
``HTTPConnection.request`` sends for the same request, and that request must
not be one urllib3 or http.client refuses; hypothesis drives names, values,
methods and targets with CR, LF, NUL, colons, spaces and non-latin-1 text
in them. The connection takes the one-piece path for plain requests and
falls back to http.client's for everything else, with the same result.
"""

from __future__ import annotations

import http.client
from typing import Any

import pytest
from hypothesis import example, given, settings
from hypothesis import strategies as st
from urllib3.connection import HTTPConnection, HTTPSConnection
from urllib3.util import SKIP_HEADER

from netstack.transport import request_head
from netstack.transport.connection import TimedHTTPConnection
from netstack.transport.request_head import encode_head, host_header

pytestmark = pytest.mark.timeout(120)


class _Recorder:
    """Just enough socket for a connection to write a request into."""

    def __init__(self) -> None:
        self.sent = b""

    def sendall(self, data: Any) -> None:
        self.sent += bytes(data)

    def settimeout(self, value: object) -> None:
        pass

    def close(self) -> None:
        pass


def _urllib3_writes(
    method: str,
    target: str,
    headers: dict[str, str],
    body: bytes | None,
    host: str = "example.com",
    port: int = 80,
) -> bytes | BaseException:
    """What urllib3's own ``request`` (putrequest, putheader, endheaders) sends, or raises."""
    conn = HTTPConnection(host, port)
    recorder = _Recorder()
    conn.sock = recorder  # type: ignore[assignment]
    try:
        conn.request(method, target, body=body, headers=headers)
    except Exception as exc:  # the refusal is the answer
        return exc
    return recorder.sent


def _netstack_writes(
    method: str,
    target: str,
    headers: dict[str, str],
    body: bytes | None,
    host: str = "example.com",
    port: int = 80,
) -> bytes | BaseException:
    conn = TimedHTTPConnection(host, port)
    recorder = _Recorder()
    conn.sock = recorder  # type: ignore[assignment]
    try:
        conn.request(method, target, body=body, headers=headers)
    except Exception as exc:  # the refusal is the answer
        return exc
    return recorder.sent


_TCHAR = "abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789-!#$%&'*+.^_`|~"
#: Mostly tokens, sometimes anything: the characters that must be refused included.
_NAME = st.one_of(
    st.text(alphabet=_TCHAR, min_size=1, max_size=12),
    st.sampled_from(["Host", "host", "Content-Length", "Transfer-Encoding", "USER-AGENT"]),
    st.text(alphabet=_TCHAR + ": \t\r\n\x00é€", max_size=8),
)
_VALUE = st.one_of(
    st.text(alphabet=st.characters(min_codepoint=0x20, max_codepoint=0x7E), max_size=20),
    st.text(alphabet="ab \t\r\n\x00é€", max_size=8),
    st.sampled_from(["a\r\n\tb", SKIP_HEADER, "3", "chunked"]),
)
_METHOD = st.one_of(
    st.sampled_from(["GET", "HEAD", "POST", "PUT", "DELETE", "PATCH", "OPTIONS", "get", "QUERY"]),
    st.text(alphabet=_TCHAR + " \r\n\x00(", min_size=1, max_size=8),
)
_TARGET = st.one_of(
    st.sampled_from(["/", "/a?b=c", "*", "http://example.com/x", ""]),
    st.text(alphabet="/abc?=&%20 \r\n\x00\x7fé", max_size=12).map(lambda t: "/" + t),
)


@settings(max_examples=600, deadline=None)
@given(
    method=_METHOD,
    target=_TARGET,
    headers=st.dictionaries(_NAME, _VALUE, max_size=6),
    body=st.one_of(st.none(), st.binary(max_size=40)),
)
@example(method="GET", target="/", headers={"X-A": "v\r\nX-Injected: 1"}, body=None)
@example(method="GET", target="/", headers={"X-A\r\nX-Injected": "1"}, body=None)
@example(method="GET", target="/", headers={"X-A": "a\r\n\tb"}, body=None)
@example(method="POST", target="/", headers={"Transfer-Encoding": "chunked"}, body=b"abc")
def test_a_head_written_in_one_piece_is_the_one_urllib3_writes(
    method: str, target: str, headers: dict[str, str], body: bytes | None
) -> None:
    reference = _urllib3_writes(method, target, headers, body)
    head = encode_head(method, target, "example.com", headers, body)
    assert encode_head(method, target, "example.com", headers, body) == head  # remembered
    if head is not None:
        assert not isinstance(reference, BaseException), reference
        assert head == reference
    ours = _netstack_writes(method, target, headers, body)
    if isinstance(reference, BaseException):
        assert type(ours) is type(reference)
        assert str(ours) == str(reference)
    else:
        assert ours == reference


@pytest.mark.parametrize(
    ("method", "headers", "body"),
    [
        ("GET", {"Content-Type": "a/b", "Accept-Encoding": "gzip", "User-Agent": "n/1"}, None),
        ("POST", {"Content-Type": "application/json"}, b'{"a": 1}'),
        ("PUT", {}, None),
        ("DELETE", {"Idempotency-Key": "k", "Range": "bytes=0-"}, None),
        ("PROPFIND", {"Depth": "1"}, b""),
        ("GET", {"Host": "other.example:81", "X-Odd": "caf\xe9"}, None),
    ],
)
def test_plain_requests_take_the_one_piece_path(
    method: str, headers: dict[str, str], body: bytes | None
) -> None:
    head = encode_head(method, "/p?q=1", "example.com", headers, body)
    assert head is not None
    assert head == _urllib3_writes(method, "/p?q=1", headers, body)


@pytest.mark.parametrize(
    ("host", "port", "cls", "expected"),
    [
        ("example.com", 80, HTTPConnection, "example.com"),
        ("example.com", 8080, HTTPConnection, "example.com:8080"),
        ("example.com", 443, HTTPSConnection, "example.com"),
        ("example.com", 80, HTTPSConnection, "example.com:80"),
        ("::1", 80, HTTPConnection, "[::1]"),
        ("fe80::1%eth0", 8080, HTTPConnection, "[fe80::1]:8080"),
        ("b\xfccher.example", 80, HTTPConnection, "xn--bcher-kva.example"),
        ("example.com.", 80, HTTPConnection, "example.com"),
        ("127.0.0.1", 9, HTTPConnection, "127.0.0.1:9"),
    ],
)
def test_the_host_header_is_http_client_s(
    host: str, port: int, cls: type[HTTPConnection], expected: str
) -> None:
    conn = cls(host, port)
    assert host_header(conn.host, conn.port, conn.default_port) == expected
    sent = _urllib3_writes("GET", "/", {}, None, host, port) if cls is HTTPConnection else None
    if sent is not None:
        assert isinstance(sent, bytes)
        assert f"\r\nHost: {expected}\r\n".encode() in sent


def test_a_tunnelled_connection_names_the_target_host() -> None:
    conn = TimedHTTPConnection("proxy.example", 3128)
    conn.set_tunnel("origin.example", 8443)
    recorder = _Recorder()
    conn.sock = recorder  # type: ignore[assignment]
    conn.request("GET", "/", headers={})
    assert b"\r\nHost: origin.example:8443\r\n" in recorder.sent


def test_a_second_request_before_the_response_is_refused_as_http_client_refuses() -> None:
    conn = TimedHTTPConnection("example.com", 80)
    conn.sock = _Recorder()  # type: ignore[assignment]
    conn.request("GET", "/", headers={})
    with pytest.raises(http.client.CannotSendRequest):
        conn.request("GET", "/", headers={})


def test_refusals_are_http_client_s_and_nothing_is_written() -> None:
    for method, target, headers in [
        ("GET", "/a b", {}),
        ("GET", "/a\r\nX: 1", {}),
        ("GE T", "/", {}),
        ("GET", "/", {"X-A": "v\nX-Injected: 1"}),
        ("GET", "/", {"X:A": "v"}),
        ("GET", "/", {" X": "v"}),
    ]:
        assert encode_head(method, target, "example.com", headers, None) is None
        conn = TimedHTTPConnection("example.com", 80)
        recorder = _Recorder()
        conn.sock = recorder  # type: ignore[assignment]
        with pytest.raises((ValueError, http.client.InvalidURL)):
            conn.request(method, target, headers=headers)
        assert recorder.sent == b""


def test_the_user_agent_is_urllib3_s() -> None:
    reference = _urllib3_writes("GET", "/", {}, None)
    assert isinstance(reference, bytes)
    assert request_head._USER_AGENT.encode() in reference


def test_remembered_field_lines_are_bounded() -> None:
    for number in range(request_head._FIELDS_MAX * 2):
        head = encode_head("GET", "/", "example.com", {"X-N": str(number)}, None)
        assert head is not None
        assert f"\r\nX-N: {number}\r\n".encode() in head
        assert len(request_head._FIELDS) <= request_head._FIELDS_MAX
