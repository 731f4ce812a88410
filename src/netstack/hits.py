"""A fresh cache hit as an ``HttpResponse``, at the least cost per request.

Most hits are a plain GET answered by a fresh stored response without
``Vary``. For those, what the response is made of is derived once per
stored entry and kept in the entry's ``memo``: its header mapping for the
current whole-second ``Age`` (a read-only :class:`FrozenHeaders`, shared by
the hits of that second), its cookies, and its ``result`` when that is an
immutable ``str`` or ``bytes``. A hit then costs a lookup, a freshness
check and two small objects (the response and its timing).
"""

from __future__ import annotations

import time
from collections.abc import Iterable
from typing import Any, NoReturn

from urllib3 import HTTPHeaderDict

from netstack.cache import CacheDriver, CacheEntry
from netstack.events import HEADERS_RECEIVE, EventEmitter
from netstack.options import HttpRequestOptions
from netstack.response import HttpResponse, decode_result, join_cookies, response_of, timing_of

_HEADERS = "headers"
_COOKIES = "cookies"


class FrozenHeaders(HTTPHeaderDict):
    """A case-insensitive header mapping that refuses changes: hits share it."""

    @classmethod
    def of(cls, pairs: Iterable[tuple[str, str]]) -> FrozenHeaders:
        """The mapping of ``pairs`` (repeated names kept, as ``HTTPHeaderDict.add`` does)."""
        headers = cls()
        add = HTTPHeaderDict.add
        for name, value in pairs:
            add(headers, name, value)
        return headers

    def copy(self) -> HTTPHeaderDict:  # type: ignore[override]
        """A mutable copy."""
        return HTTPHeaderDict(self)

    def _refuse(self, *args: object, **kwargs: object) -> NoReturn:
        raise TypeError("the headers of a cached response are read-only")

    __setitem__ = __delitem__ = add = extend = discard = pop = popitem = _refuse
    clear = setdefault = update = _refuse


def _headers(entry: CacheEntry, age: int) -> FrozenHeaders:
    memo = entry.memo
    held = memo.get(_HEADERS)
    if held is not None and held[0] == age:  # type: ignore[index]
        return held[1]  # type: ignore[index,no-any-return]
    headers = FrozenHeaders.of((*entry.headers_without_age, ("Age", str(age))))
    memo[_HEADERS] = (age, headers)
    return headers


def _result(
    entry: CacheEntry, headers: FrozenHeaders, options: HttpRequestOptions
) -> tuple[Any, Any]:
    expect = options.expect_data_type
    memo = entry.memo
    held = memo.get(expect)
    if held is not None:
        return held  # type: ignore[return-value]
    decoded = decode_result(entry.body, headers.get("content-type"), expect)
    if isinstance(decoded[0], str | bytes):  # immutable: every hit may share it
        memo[expect] = decoded
    return decoded


def fresh_response(
    cache: CacheDriver,
    url: str,
    request_headers: dict[str, str],
    options: HttpRequestOptions,
    started: float,
    emitter: EventEmitter | None,
) -> HttpResponse | None:
    """The response for a plain fresh hit of ``cache``, or ``None`` (then do the full lookup)."""
    found = cache.fresh("GET", url, request_headers, time.time())
    if found is None:
        return None
    entry, age = found
    headers = _headers(entry, int(max(0.0, age)))
    if emitter is not None:
        emitter.emit(HEADERS_RECEIVE, headers)
    result, result_type = _result(entry, headers, options)
    cookies = entry.memo.get(_COOKIES)
    if cookies is None:
        cookies = entry.memo[_COOKIES] = join_cookies(headers)
    elapsed = (time.perf_counter() - started) * 1000.0
    timing = timing_of(0.0, 0.0, 0.0, 0.0, 0.0, elapsed, 0.0, 0.0, 0.0, elapsed, 0.0)
    return response_of(result, result_type, entry.status, headers, cookies, timing, url, True, 1)  # type: ignore[arg-type]
