"""HttpResponse, PerformanceTiming, and the seed's rules for decoding ``result``.

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

from netstack.options import HttpDataType, ResponseCode

_CODES: dict[int, int] = {code.value: code for code in ResponseCode}
_new = object.__new__
_install = object.__setattr__


@dataclass(frozen=True, kw_only=True)
class PerformanceTiming:
    """Milliseconds from the ``request()`` call to the end of each phase (seed: PerformanceTiming).

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
    #: Beyond the seed: time spent waiting in the scheduler's queue.
    queue_timing: float = 0.0


@dataclass(frozen=True, kw_only=True)
class HttpResponse:
    """The answer to ``request()`` (seed: HttpResponse)."""

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
    #: True when the body came from the response cache (fresh hit or 304 revalidation).
    from_cache: bool = False
    #: Beyond the seed: attempts made, the answered one included (see ``RetryPolicy``).
    attempts: int = 1


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
    rest of the response. Every field is set here, so the instance dict is
    installed in one step; the object is the same (equal, frozen) either way.
    """
    timing = _new(PerformanceTiming)
    _install(
        timing,
        "__dict__",
        {
            "dns_timing": dns,
            "tcp_timing": tcp,
            "tls_timing": tls,
            "first_send_timing": first_send,
            "first_receive_timing": first_receive,
            "total_finish_timing": total_finish,
            "redirect_timing": redirect,
            "response_header_timing": response_header,
            "response_body_timing": response_body,
            "total_timing": total,
            "queue_timing": queue,
        },
    )
    return timing


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
    response = _new(HttpResponse)
    _install(
        response,
        "__dict__",
        {
            "result": result,
            "result_type": result_type,
            "response_code": _CODES.get(status, status),
            "header": header,
            "cookies": cookies,
            "performance_timing": timing,
            "url": url,
            "from_cache": from_cache,
            "attempts": attempts,
        },
    )
    return response


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
    """``result`` and ``result_type`` for ``body`` per the seed's rules."""
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
