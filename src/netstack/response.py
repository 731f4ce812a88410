"""HttpResponse, PerformanceTiming, and @ohos.net.http's rules for decoding ``result``.

Without ``expect_data_type``: ``application/json`` gives the JSON text as
str; ``application/octet-stream`` and ``image/*`` give bytes; anything else
gives str decoded by the content-type charset (default UTF-8). With it:
STRING -> str, OBJECT -> parsed JSON (the text, as STRING, when the body is
not JSON), ARRAY_BUFFER -> bytes.
"""

from __future__ import annotations

import functools
import json
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

from urllib3 import HTTPHeaderDict

from netstack.errors import HTTP_RETURNED_ERROR, MESSAGES, HttpError
from netstack.options import HttpDataType, ResponseCode

_CODES: dict[int, int] = {code.value: code for code in ResponseCode}


@dataclass(frozen=True, kw_only=True, slots=True)
class PerformanceTiming:
    """Milliseconds from the ``request()`` call to the end of each phase (PerformanceTiming).

    On a reused keep-alive connection there is no DNS, TCP or TLS phase:
    those marks are when the pooled connection was taken.
    """

    dns_timing: float = 0.0
    tcp_timing: float = 0.0
    tls_timing: float = 0.0
    first_send_timing: float = 0.0
    first_receive_timing: float = 0.0
    total_finish_timing: float = 0.0
    redirect_timing: float = 0.0
    response_header_timing: float = 0.0
    response_body_timing: float = 0.0
    total_timing: float = 0.0
    #: Beyond @ohos.net.http: time spent waiting in the scheduler's queue.
    queue_timing: float = 0.0


@dataclass(frozen=True, kw_only=True, slots=True)
class HttpResponse:
    """The answer to ``request()`` (@ohos.net.http: HttpResponse)."""

    result: str | bytes | Any
    result_type: HttpDataType
    response_code: int
    #: Case-insensitive; repeated headers are joined with ", " on lookup.
    header: Mapping[str, str]
    #: The raw ``Set-Cookie`` values joined by "\n" ("" if none).
    cookies: str = ""
    performance_timing: PerformanceTiming = field(default_factory=PerformanceTiming)
    #: The final URL, after redirects.
    url: str = ""
    #: True when the body came from the response cache: a fresh hit, a 304
    #: revalidation, a stale response (stale-while-revalidate, stale-if-error),
    #: or the response an identical concurrent request stored (single flight).
    from_cache: bool = False
    #: Beyond @ohos.net.http: attempts made, the answered one included (see ``RetryPolicy``).
    attempts: int = 1

    @property
    def ok(self) -> bool:
        """True when ``response_code`` is below 400 (as ``requests`` has it)."""
        return self.response_code < 400

    @property
    def text(self) -> str:
        """The body as text, decoded with the response's charset (default UTF-8).

        ``result`` already is that text unless it is bytes (decoded here) or a
        parsed JSON object (``expect_data_type=OBJECT``; re-serialised here).
        """
        result = self.result
        if isinstance(result, str):
            return result
        if isinstance(result, bytes | bytearray):
            return _text(bytes(result), _media_type(self.header.get("content-type"))[1])
        return json.dumps(result, ensure_ascii=False)

    def json(self, **kwargs: Any) -> Any:
        """The body parsed as JSON, whatever ``expect_data_type`` was.

        Raises ``json.JSONDecodeError`` (a ``ValueError``) when it is not JSON;
        ``kwargs`` go to ``json.loads``.
        """
        result = self.result
        if self.result_type is HttpDataType.OBJECT and not kwargs:
            return result
        if isinstance(result, str | bytes | bytearray):
            return json.loads(result, **kwargs)
        return json.loads(json.dumps(result), **kwargs)

    def raise_for_status(self) -> HttpResponse:
        """Raise ``HttpError`` 2300022 for a 4xx or 5xx ``response_code``; else return self."""
        code = self.response_code
        if code < 400:
            return self
        kind = "Client" if code < 500 else "Server"
        detail = f"{int(code)} {kind} Error for url {self.url or '(unknown)'}"
        message = f"{MESSAGES[HTTP_RETURNED_ERROR]} {detail}"
        raise HttpError(HTTP_RETURNED_ERROR, message, detail)


# Plain classes with the slots of the two frozen dataclasses: the builders below fill
# one with ordinary attribute stores, then relabel it (the layouts are the same).
_TimingBuilder: Any = type("_TimingBuilder", (), {"__slots__": PerformanceTiming.__slots__})
_ResponseBuilder: Any = type("_ResponseBuilder", (), {"__slots__": HttpResponse.__slots__})


def response_code(status: int) -> int:
    """``status`` as its :class:`ResponseCode` member where one exists, else the int."""
    return _CODES.get(status, status)


def timing_of(
    dns: float,
    tcp: float,
    tls: float,
    first_send: float,
    first_receive: float,
    total_finish: float,
    redirect: float,
    response_header: float,
    response_body: float,
    total: float,
    queue: float,
) -> PerformanceTiming:
    """A PerformanceTiming with every field given, built without the dataclass ``__init__``.

    A frozen dataclass's ``__init__`` stores each field through
    ``object.__setattr__``; on the per-request path that cost more than the
    rest of the response. The fields are stored into a plain object with the
    same slots, whose class then becomes PerformanceTiming: the object is the
    same (equal, frozen) either way.
    """
    timing = _TimingBuilder()
    timing.dns_timing = dns
    timing.tcp_timing = tcp
    timing.tls_timing = tls
    timing.first_send_timing = first_send
    timing.first_receive_timing = first_receive
    timing.total_finish_timing = total_finish
    timing.redirect_timing = redirect
    timing.response_header_timing = response_header
    timing.response_body_timing = response_body
    timing.total_timing = total
    timing.queue_timing = queue
    timing.__class__ = PerformanceTiming
    built: PerformanceTiming = timing
    return built


def response_of(
    result: str | bytes | Any,
    result_type: HttpDataType,
    status: int,
    header: Mapping[str, str],
    cookies: str,
    timing: PerformanceTiming,
    url: str,
    from_cache: bool,
    attempts: int,
) -> HttpResponse:
    """An HttpResponse with every field given (see :func:`timing_of` for why not ``__init__``)."""
    response = _ResponseBuilder()
    response.result = result
    response.result_type = result_type
    response.response_code = _CODES.get(status, status)
    response.header = header
    response.cookies = cookies
    response.performance_timing = timing
    response.url = url
    response.from_cache = from_cache
    response.attempts = attempts
    response.__class__ = HttpResponse
    built: HttpResponse = response
    return built


@functools.lru_cache(maxsize=256)
def _media_type(content_type: str | None) -> tuple[str, str | None]:
    """(lower-cased media type, charset) of a Content-Type; responses reuse few values."""
    if not content_type:
        return "", None
    media, _, params = content_type.partition(";")
    charset = None
    for param in params.split(";"):
        key, _, value = param.partition("=")
        if key.strip().lower() == "charset":
            charset = value.strip().strip('"') or None
    return media.strip().lower(), charset


def _text(body: bytes, charset: str | None) -> str:
    try:
        return body.decode(charset or "utf-8", errors="replace")
    except LookupError:  # an unknown charset name
        return body.decode("utf-8", errors="replace")


def decode_result(
    body: bytes, content_type: str | None, expect: HttpDataType | None
) -> tuple[str | bytes | Any, HttpDataType]:
    """``result`` and ``result_type`` for ``body`` per @ohos.net.http's rules."""
    media, charset = _media_type(content_type)
    if expect is HttpDataType.ARRAY_BUFFER:
        return body, HttpDataType.ARRAY_BUFFER
    if expect is HttpDataType.OBJECT:
        text = _text(body, charset)
        try:
            return json.loads(text), HttpDataType.OBJECT
        except ValueError:
            return text, HttpDataType.STRING
    if expect is None and (media == "application/octet-stream" or media.startswith("image/")):
        return body, HttpDataType.ARRAY_BUFFER
    if charset is None:  # the common case, without _text's call
        return body.decode("utf-8", "replace"), HttpDataType.STRING
    return _text(body, charset), HttpDataType.STRING


def join_cookies(headers: HTTPHeaderDict) -> str:
    """The raw Set-Cookie values, one per line ("" if none)."""
    if "set-cookie" not in headers:  # the common case; cheaper than getlist
        return ""
    return "\n".join(headers.getlist("set-cookie"))
