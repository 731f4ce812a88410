"""The two ways an HTTP/1.1 response head is read: llhttp (default) and http.client.

Both are ``http.client.HTTPResponse`` subclasses, so the body is read the
same way whichever parsed the head (http.client's chunked, Content-Length and
close-delimited reading under urllib3's decoding, ``max_limit`` and
streaming). Both skip informational responses (1xx except ``101``) and mark
``first_receive`` when the first status line arrives.

- :class:`LlhttpResponse`: the head is checked and parsed by llhttp in C
  (``response_head.py``), with its strict framing rules; the headers come out
  as the ``HTTPHeaderDict`` urllib3's response keeps.
- :class:`StdlibResponse`: http.client's own ``email.parser`` path, the
  fallback where ``httptools`` cannot be imported or when the environment
  says ``NETSTACK_HTTP1_PARSER=stdlib``.
"""

from __future__ import annotations

import http.client
import os
import re
from itertools import chain
from time import perf_counter
from typing import Final

from urllib3 import HTTPHeaderDict

from netstack.transport.context import _local

try:
    from netstack.transport.response_head import MAX_HEADER_BYTES, read_head
except ImportError:  # pragma: no cover - httptools has wheels wherever netstack runs
    read_head = None  # type: ignore[assignment]
    MAX_HEADER_BYTES = 300 * 1024  # type: ignore[misc]

__all__ = [
    "DEFAULT_PARSER",
    "MAX_INFORMATIONAL",
    "PARSERS",
    "LlhttpResponse",
    "StdlibResponse",
]

#: Informational (1xx) responses skipped before the final one; more is 2300008.
MAX_INFORMATIONAL: Final = 1000
#: obs-fold inside a value http.client accepted: one space instead, as urllib3 does.
_FOLD: Final = re.compile(r"\r\n[ \t]+")


class LlhttpResponse(http.client.HTTPResponse):
    """http.client's response whose head llhttp parsed (``response_head.read_head``)."""

    #: The headers as urllib3's response takes them.
    parsed: HTTPHeaderDict
    #: Transfer codings besides the final ``chunked``, lower case (usually none).
    transfer_codings: list[str] | None = None

    def begin(self) -> None:
        if self.headers is not None:
            return
        fp = self.fp
        for _ in range(MAX_INFORMATIONAL + 1):
            head = read_head(fp)
            ctx = _local.ctx
            if ctx is not None and not ctx.received:
                ctx.received = True
                ctx.timings.first_receive = (perf_counter() - ctx.started) * 1000.0
            status = head.status
            if status >= 200 or status == 101:
                break
        else:
            raise http.client.HTTPException(
                f"more than {MAX_INFORMATIONAL} informational responses"
            )
        self.code = self.status = status
        self.reason = head.reason
        self.version = head.version
        headers = self.parsed = head.headers
        self.headers = self.msg = headers  # type: ignore[assignment,unused-ignore]
        _frame(self, headers, headers.get("content-length"))


class StdlibResponse(http.client.HTTPResponse):
    """http.client's own head parsing; 1xx skipped, the head size bounded.

    The framing is then decided as :class:`LlhttpResponse` decides it:
    identical repeated Content-Length values are one length, different ones
    are refused, and ``chunked`` as the last transfer coding is de-chunked.
    """

    parsed: HTTPHeaderDict
    transfer_codings: list[str] | None = None

    def begin(self) -> None:
        super().begin()
        msg = self.msg
        # The raw (name, value) pairs: Message.items() would run every value
        # through the email policy, a cost per header on every response.
        raw: list[tuple[str, str]] = getattr(msg, "_headers", None) or msg.items()
        size = sum(map(len, chain.from_iterable(raw))) + 4 * len(raw)  # ": " and CRLF
        if size > MAX_HEADER_BYTES:
            raise http.client.HTTPException(
                f"response headers exceed {MAX_HEADER_BYTES} bytes ({size})"
            )
        headers = self.parsed = HTTPHeaderDict()
        for name, value in raw:
            headers.add(name, _FOLD.sub(" ", value) if "\r\n" in value else value)
        lengths = msg.get_all("content-length")
        length = None
        if lengths:
            values = {v.strip(" \t") for text in lengths for v in text.split(",")}
            if len(values) != 1 or not next(iter(values)).isdigit():
                raise http.client.HTTPException(f"bad Content-Length: {', '.join(lengths)}")
            length = values.pop()
        _frame(self, headers, length)

    def _read_status(self) -> tuple[str, int, str]:
        """The final response's status line: every informational one is skipped.

        http.client skips only ``100 Continue`` and returns any other 1xx as
        the response, leaving the real one to be read as the answer to the
        next request on the connection. ``101`` is final (a protocol switch).
        """
        for _ in range(MAX_INFORMATIONAL + 1):
            status: tuple[str, int, str] = super()._read_status()  # type: ignore[misc]
            ctx = _local.ctx
            if ctx is not None and not ctx.received:
                ctx.received = True
                ctx.timings.first_receive = (perf_counter() - ctx.started) * 1000.0
            code = status[1]
            if code >= 200 or code < 100 or code == 101:
                return status
            http.client.parse_headers(self.fp)  # an informational head: skip its headers
        raise http.client.HTTPException(f"more than {MAX_INFORMATIONAL} informational responses")


_Framed = LlhttpResponse | StdlibResponse


def _frame(resp: _Framed, headers: HTTPHeaderDict, content_length: str | None) -> None:
    """Set http.client's body framing fields from the headers (RFC 9112 section 6.3).

    ``content_length`` is one validated decimal value, or None.
    """
    coding = headers.get("transfer-encoding")
    chunked = False
    if coding is not None:
        codings = [c.strip(" \t").lower() for c in coding.split(",")]
        chunked = codings[-1] == "chunked"
        if chunked:
            codings.pop()
        resp.transfer_codings = codings or None
    resp.chunked = chunked
    resp.chunk_left = None
    will_close = _will_close(headers, resp.version)
    length = None if chunked or content_length is None else int(content_length)
    status = resp.status
    if status in (204, 304) or status < 200 or resp._method == "HEAD":  # type: ignore[union-attr]
        length = 0
    resp.length = length
    # Neither chunked nor a length: the body ends when the connection does.
    resp.will_close = will_close or (not chunked and length is None)


def _will_close(headers: HTTPHeaderDict, version: int) -> bool:
    """http.client's rule: HTTP/1.1 stays open unless told; HTTP/1.0 closes unless told."""
    connection = headers.get("connection")
    if version == 11:
        return connection is not None and "close" in connection.lower()
    if headers.get("keep-alive") or (connection and "keep-alive" in connection.lower()):
        return False
    proxy = headers.get("proxy-connection")
    return not (proxy and "keep-alive" in proxy.lower())


#: The head parsers by name (``NETSTACK_HTTP1_PARSER``); llhttp only when importable.
PARSERS: Final[dict[str, type[http.client.HTTPResponse]]] = {"stdlib": StdlibResponse}
if read_head is not None:
    PARSERS["llhttp"] = LlhttpResponse

#: The parser connections use unless told otherwise.
DEFAULT_PARSER: Final = (
    "stdlib"
    if read_head is None or os.environ.get("NETSTACK_HTTP1_PARSER") == "stdlib"
    else "llhttp"
)
