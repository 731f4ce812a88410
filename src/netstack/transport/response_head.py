"""The HTTP/1.1 response head, validated by llhttp (``httptools``) in C.

:func:`read_head` takes one response head (status line, header fields, the
empty line) from a buffered socket reader and leaves the body unread, for
http.client's and urllib3's body reading. llhttp's strict framing rules
decide what is acceptable; what it refuses is a :class:`BadHead`, which the
transport's error table reports as 2300008 (invalid server response):

- a bare LF instead of CRLF, obs-fold (a header line continued on the next
  line), a space before the colon, control characters in a value;
- ``Transfer-Encoding`` together with ``Content-Length``;
- conflicting ``Content-Length`` values. Identical repeated values, in one
  field (``5, 5``) or several, are one length, as curl reads them;
- more than :data:`MAX_FIELDS` header fields (http.client's limit, kept so
  both parsers refuse the same heads);
- a head larger than :data:`MAX_HEADER_BYTES` (curl's limit), a head cut by
  the peer closing the connection, a version other than HTTP/1.0 or 1.1.

The header fields are split once llhttp has accepted the whole head, so no
Python callback runs per field.
"""

from __future__ import annotations

import http.client
import io
from typing import Final

from httptools import HttpParserError, HttpResponseParser
from urllib3 import HTTPHeaderDict

__all__ = ["MAX_FIELDS", "MAX_HEADER_BYTES", "BadHead", "ResponseHead", "read_head"]

#: Largest response head accepted, as curl's. Beyond it: 2300008.
MAX_HEADER_BYTES: Final = 300 * 1024
#: Most header fields in one head (http.client reads 100 lines, the blank one included).
MAX_FIELDS: Final = 99
_END: Final = b"\r\n\r\n"
_VERSIONS: Final = {"1.1": 11, "1.0": 10}


class BadHead(http.client.HTTPException):
    """The response head breaks HTTP/1.1 framing rules (mapped to 2300008)."""


class ResponseHead:
    """One parsed response head; ``headers`` keeps field order and repeats."""

    __slots__ = ("headers", "reason", "status", "version")

    def __init__(self, status: int, reason: str, version: int, headers: HTTPHeaderDict) -> None:
        self.status = status
        self.reason = reason
        #: 11 for HTTP/1.1, 10 for HTTP/1.0 (http.client's convention).
        self.version = version
        self.headers = headers


class _Completion:
    """The parser's only callback: the empty line ending the head was seen."""

    __slots__ = ("done",)

    def __init__(self) -> None:
        self.done = False

    def on_headers_complete(self) -> None:
        self.done = True


def read_head(fp: io.BufferedReader) -> ResponseHead:
    """Read and parse one response head from ``fp``; the body stays unread.

    Raises ``http.client.RemoteDisconnected`` when the peer closed before
    sending anything (an empty reply), :class:`BadHead` when the head breaks
    the framing rules, and whatever the socket raises (timeouts, resets).
    """
    data = fp.peek(1)
    end = data.find(_END)
    if 0 <= end <= MAX_HEADER_BYTES:
        head = fp.read(end + 4)  # the common case: the whole head arrived at once
    else:
        if not data:
            raise http.client.RemoteDisconnected("Remote end closed connection without response")
        head = _read_long_head(fp)
    try:
        parser = _parse(head)
    except HttpParserError as exc:
        if "Content-Length" not in str(exc):
            raise BadHead(f"invalid response head: {exc}") from None
        head = _one_length(head)
        try:
            parser = _parse(head)
        except HttpParserError as again:
            raise BadHead(f"invalid response head: {again}") from None
    version = _VERSIONS.get(parser.get_http_version())
    if version is None:
        raise http.client.UnknownProtocol(f"HTTP/{parser.get_http_version()}")
    lines = head.decode("latin-1").split("\r\n")
    if len(lines) > MAX_FIELDS + 3:  # the status line and the two empty strings after the end
        raise BadHead(f"more than {MAX_FIELDS} header fields")
    status_line = lines[0].split(" ", 2)
    headers = HTTPHeaderDict()
    add = headers.add
    for line in lines[1:-2]:
        name, _, value = line.partition(":")
        add(name, value.strip(" \t"))
    return ResponseHead(
        parser.get_status_code(),
        status_line[2].strip() if len(status_line) > 2 else "",
        version,
        headers,
    )


def _parse(head: bytes) -> HttpResponseParser:
    """llhttp's verdict on one whole head; raises ``HttpParserError`` if it refuses it."""
    completion = _Completion()
    parser = HttpResponseParser(completion)
    try:
        parser.feed_data(head)
    except HttpParserError:
        # 101 Switching Protocols: llhttp pauses after the head, where we stop anyway.
        if not (completion.done and parser.get_status_code() == 101):
            raise
    if not completion.done:  # pragma: no cover - llhttp ends a valid head at its empty line
        raise BadHead("invalid response head: incomplete")
    return parser


def _read_long_head(fp: io.BufferedReader) -> bytes:
    """A head that did not arrive in one piece: read up to its end, checking as it comes.

    A probe parser sees each piece as it arrives, so a head llhttp refuses
    outright (another protocol, bare LFs) fails at once instead of waiting
    for an end that will never come.
    """
    probe = HttpResponseParser(_Completion())
    probing = True
    parts: list[bytes] = []
    size = 0
    tail = b""
    while True:
        data = fp.peek(1)
        if not data:
            if size == 0:
                raise http.client.RemoteDisconnected(
                    "Remote end closed connection without response"
                )
            raise BadHead(f"connection closed in the response head after {size} bytes")
        window = tail + data
        found = window.find(_END)
        take = len(data) if found < 0 else found + 4 - len(tail)
        if size + take > MAX_HEADER_BYTES:
            raise BadHead(f"response head exceeds {MAX_HEADER_BYTES} bytes")
        piece = fp.read(take)
        parts.append(piece)
        size += take
        if found >= 0:
            return b"".join(parts)
        if probing:
            try:
                probe.feed_data(piece)
            except HttpParserError as exc:
                if "Content-Length" not in str(exc):
                    raise BadHead(f"invalid response head: {exc}") from None
                probing = False  # judged on the whole head, once it is here
        tail = window[-3:]


def _one_length(head: bytes) -> bytes:
    """``head`` with its Content-Length fields reduced to one, if they all agree.

    ``Content-Length: 5, 5`` or two ``Content-Length: 5`` fields say one
    thing and are accepted, as curl does; different values are refused.
    """
    lines = head.split(b"\r\n")
    values: set[bytes] = set()
    kept: list[bytes] = []
    first = -1
    for index, line in enumerate(lines):
        name, colon, value = line.partition(b":")
        if index and colon and name.lower() == b"content-length":
            values.update(v.strip(b" \t") for v in value.split(b","))
            if first >= 0:
                continue
            first = len(kept)
        kept.append(line)
    if len(values) != 1:
        shown = b", ".join(sorted(values)).decode("latin-1")
        raise BadHead(f"conflicting Content-Length values: {shown}")
    (length,) = values
    if not length.isdigit():
        raise BadHead(f"invalid Content-Length: {length.decode('latin-1')!r}")
    kept[first] = b"Content-Length: " + length
    return b"\r\n".join(kept)
