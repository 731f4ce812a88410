"""The cache's decisions, sans-IO: what to do before and after the network.

:func:`lookup` takes the stored entry (or ``None``), the request and ``now``
and returns a :class:`CacheLookup`; :func:`complete` takes that lookup and
what the network answered and returns an :class:`Outcome` — what to store,
what to invalidate, what to serve. Neither does I/O; ``HttpResponseCache``
is the driver that applies them. Sections of
`RFC 9111 <https://www.rfc-editor.org/rfc/rfc9111>`_, for a private cache:
storing §3, updating stored headers §3.2, serving §4, validation §4.3,
invalidation §4.4, request directives §5.2.1, response directives §5.2.2.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from email.utils import formatdate
from types import MappingProxyType
from typing import Final, Literal, TypeAlias

from netstack.cache.entry import CacheEntry
from netstack.cache.freshness import (
    HEURISTIC_STATUSES,
    cache_key,
    current_age,
    vary_matches,
    vary_snapshot,
)
from netstack.cache.headers import (
    CacheControl,
    HeaderList,
    get_all,
    get_first,
    parse_cache_control,
    parse_http_date,
    request_header,
    split_list,
)
from netstack.cache.update import (
    headers_to_store,
    invalidation_keys,
    merge_headers,
    strong_etag_mismatch,
)

Action: TypeAlias = Literal["fresh", "stale", "revalidate", "miss", "unsatisfiable"]
"""What the pipeline does next: serve ``response``; serve the stale ``response``
and (when ``background``) revalidate it in the background with
``conditional_headers`` (RFC 5861 stale-while-revalidate); send the request
with ``conditional_headers`` added; send it as is; or answer the synthesized 504."""

#: Statuses stale-if-error answers with the stored response (RFC 5861 §4).
ERROR_STATUSES: Final = frozenset({500, 502, 503, 504})

SAFE_METHODS: Final = frozenset({"GET", "HEAD", "OPTIONS", "TRACE"})
#: Methods a stored GET response may answer.
_LOOKUP_METHODS: Final = frozenset({"GET", "HEAD"})
#: Requests that carry their own validators or ask for a range bypass the cache.
_BYPASS_HEADERS: Final = frozenset(
    {
        "range",
        "if-range",
        "if-none-match",
        "if-modified-since",
        "if-match",
        "if-unmodified-since",
    }
)
#: Request fields that make a lookup more than "is the stored response fresh?".
_SPECIAL_REQUEST: Final = _BYPASS_HEADERS | {"cache-control"}


@dataclass(frozen=True)
class CachedResponse:
    """A response answered by the cache: status, header fields in order, body."""

    status: int
    headers: list[tuple[str, str]]
    body: bytes = field(repr=False)


#: The answer to ``Cache-Control: only-if-cached`` when nothing fits (§5.2.1.7).
GATEWAY_TIMEOUT: Final = CachedResponse(504, [("Content-Length", "0")], b"")


@dataclass(frozen=True, kw_only=True)
class CacheLookup:
    """The decision before the network, and what :func:`complete` needs after it.

    ``action`` and ``response`` / ``conditional_headers`` are for the
    pipeline; the other fields carry the request and the stored entry that
    matched it (``stored``: the one being revalidated, or a stale one
    ``stale-if-error`` may still serve) to :func:`complete`. ``background``
    is set by the driver on the one ``"stale"`` lookup whose caller starts
    the background revalidation.
    """

    action: Action
    response: CachedResponse | None = None
    conditional_headers: dict[str, str] = field(default_factory=dict)
    method: str
    url: str
    key: str
    request_headers: Mapping[str, str] = field(repr=False)
    stored: CacheEntry | None = field(default=None, repr=False)
    background: bool = False


@dataclass(frozen=True)
class Outcome:
    """What the driver does after the network: remove, then store, then serve."""

    store: CacheEntry | None = None
    invalidate: tuple[str, ...] = ()
    serve: CachedResponse | None = None
    #: ``serve`` is a stale response standing in for an error (stale-if-error).
    stale: bool = False


def _request_cc(request_headers: Mapping[str, str]) -> CacheControl:
    value = request_header(request_headers, "Cache-Control")
    return parse_cache_control(() if value is None else (value,))


def _response_cc(headers: HeaderList) -> CacheControl:
    return parse_cache_control(get_all(headers, "Cache-Control"))


def is_storable(
    method: str, request_headers: Mapping[str, str], status: int, headers: HeaderList
) -> bool:
    """Whether a private cache may store this response (RFC 9111 §3, §3.5)."""
    if method.upper() != "GET" or not 200 <= status < 600 or status in (206, 304):
        return False
    req_cc, res_cc = _request_cc(request_headers), _response_cc(headers)
    if "no-store" in req_cc or "no-store" in res_cc:
        return False
    if "*" in split_list(get_all(headers, "Vary")):
        return False
    if request_header(request_headers, "Authorization") is not None and not (
        "public" in res_cc or "must-revalidate" in res_cc or "s-maxage" in res_cc
    ):
        return False
    return (
        "public" in res_cc
        or "max-age" in res_cc
        or get_first(headers, "Expires") is not None
        or status in HEURISTIC_STATUSES
    )


def with_age(entry: CacheEntry, now: float, age: float | None = None) -> CachedResponse:
    """The stored response as served at ``now``, its ``Age`` field set (RFC 9111 §4).

    ``age`` is ``current_age(entry, now)`` when the caller already has it.
    """
    if age is None:
        age = current_age(entry, now)
    headers = list(entry.headers_without_age)
    headers.append(("Age", str(int(max(0.0, age)))))
    return CachedResponse(entry.status, headers, entry.body)


def conditional_headers(entry: CacheEntry) -> dict[str, str]:
    """Validators for a conditional request about ``entry`` (RFC 9111 §4.3.1)."""
    validators: dict[str, str] = {}
    etag = entry.first("etag")
    if etag is not None:
        validators["If-None-Match"] = etag
    last_modified = entry.first("last-modified")
    if last_modified is not None:
        validators["If-Modified-Since"] = last_modified
    return validators


def _acceptable(entry: CacheEntry, req_cc: CacheControl, age: float) -> bool:
    """Whether ``entry``, ``age`` seconds old, may be served without validation.

    RFC 9111 §4.2, §5.2.1, §5.2.2.
    """
    res_cc = entry.cache_control
    if "no-cache" in res_cc or "no-cache" in req_cc:
        return False
    lifetime = entry.lifetime
    max_age = req_cc.seconds("max-age")
    if max_age is not None and age > max_age:
        return False
    if age < lifetime:
        min_fresh = req_cc.seconds("min-fresh")
        return min_fresh is None or lifetime - age >= min_fresh
    if "max-stale" not in req_cc or "must-revalidate" in res_cc:
        return False
    max_stale = req_cc.seconds("max-stale")
    return max_stale is None or age - lifetime <= max_stale


def _window(res_cc: CacheControl, req_cc: CacheControl, name: str) -> int | None:
    """The larger of the response's and the request's ``name=seconds``, if either says it."""
    res, req = res_cc.seconds(name), req_cc.seconds(name)
    if res is None:
        return req
    return res if req is None else max(res, req)


def _while_revalidate(entry: CacheEntry, req_cc: CacheControl, age: float) -> bool:
    """Whether stale ``entry`` may be served while it is revalidated (RFC 5861 §3).

    Never past ``must-revalidate`` or ``no-cache`` (RFC 9111 §4.2.4), a
    request ``max-age`` or ``min-fresh``.
    """
    res_cc = entry.cache_control
    window = _window(res_cc, req_cc, "stale-while-revalidate")
    if window is None or "must-revalidate" in res_cc or "no-cache" in res_cc:
        return False
    if "no-cache" in req_cc or "min-fresh" in req_cc:
        return False
    max_age = req_cc.seconds("max-age")
    if max_age is not None and age > max_age:
        return False
    return age - entry.lifetime <= window


def stale_if_error(lookup: CacheLookup, now: float) -> CachedResponse | None:
    """The stored response to answer an error with, within stale-if-error (RFC 5861 §4).

    The window is the larger of the stored response's and the request's
    ``stale-if-error``; ``None`` when neither allows it, nothing matched,
    the response says ``must-revalidate`` or the request ``no-cache``.
    """
    entry = lookup.stored
    if entry is None or lookup.method != "GET":
        return None
    req_cc, res_cc = _request_cc(lookup.request_headers), entry.cache_control
    window = _window(res_cc, req_cc, "stale-if-error")
    if window is None or "must-revalidate" in res_cc:
        return None
    if "no-cache" in req_cc or "no-store" in req_cc:
        return None
    age = current_age(entry, now)
    if age - entry.lifetime > window:
        return None
    return with_age(entry, now, age)


def may_coalesce(lookup: CacheLookup) -> bool:
    """Whether a response stored for an identical request could answer this one.

    A GET that missed or is being revalidated, without ``Range``, its own
    validators, ``no-store``, ``no-cache`` or ``only-if-cached``.
    """
    if lookup.method != "GET" or lookup.action not in ("miss", "revalidate"):
        return False
    headers = lookup.request_headers
    if not _BYPASS_HEADERS.isdisjoint(n.lower() for n in headers):
        return False
    req_cc = _request_cc(headers)
    return not ("no-store" in req_cc or "no-cache" in req_cc or "only-if-cached" in req_cc)


def fresh_age(
    stored: CacheEntry, method: str, request_headers: Mapping[str, str], now: float
) -> float | None:
    """The age of ``stored`` when it answers this request as a plain fresh hit, else ``None``.

    The common case of :func:`lookup`, decided in a few steps: a ``GET``
    without Cache-Control, validators or ``Range``; a stored response
    without ``Vary`` or ``no-cache``, younger than its freshness lifetime.
    ``None`` means "ask :func:`lookup`", not "stale".
    """
    if (
        method == "GET"
        and stored.plain
        and _SPECIAL_REQUEST.isdisjoint(map(str.lower, request_headers))
    ):
        age = stored.initial_age + (now - stored.response_time)  # current_age(), inlined
        if age < stored.lifetime:
            return age
    return None


def lookup(
    stored: CacheEntry | None,
    method: str,
    url: str,
    request_headers: Mapping[str, str],
    now: float,
    key: str | None = None,
) -> CacheLookup:
    """Decide how to answer ``method url`` given the entry stored under its key.

    ``key`` is ``cache_key(url)`` when the caller already has it. A ``HEAD``
    is answered by a fresh stored ``GET`` response, without its body
    (RFC 9110 §9.3.2); it is never revalidated.
    """
    if stored is not None:  # the common case first: a plain GET, a fresh response without Vary
        age = fresh_age(stored, method, request_headers, now)
        if age is not None:
            return CacheLookup(
                action="fresh",
                response=with_age(stored, now, age),
                method=method,
                url=url,
                key=cache_key(url) if key is None else key,
                request_headers=request_headers,
            )
    method = method.upper()
    headers = MappingProxyType(dict(request_headers))
    req_cc = _request_cc(headers)
    key = cache_key(url) if key is None else key
    bypass = method not in _LOOKUP_METHODS or not _BYPASS_HEADERS.isdisjoint(
        n.lower() for n in headers
    )
    if not bypass and stored is not None and vary_matches(stored, headers):
        age = current_age(stored, now)
        if _acceptable(stored, req_cc, age):
            response = with_age(stored, now, age)
            if method == "HEAD":
                response = CachedResponse(response.status, response.headers, b"")
            return CacheLookup(
                action="fresh",
                response=response,
                method=method,
                url=url,
                key=key,
                request_headers=headers,
            )
        validators = conditional_headers(stored)
        if method == "GET" and _while_revalidate(stored, req_cc, age):
            return CacheLookup(
                action="stale",
                response=with_age(stored, now, age),
                conditional_headers=validators,
                method=method,
                url=url,
                key=key,
                request_headers=headers,
                stored=stored,
            )
        if validators and method == "GET" and "only-if-cached" not in req_cc:
            return CacheLookup(
                action="revalidate",
                conditional_headers=validators,
                method=method,
                url=url,
                key=key,
                request_headers=headers,
                stored=stored,
            )
        if method == "GET" and "only-if-cached" not in req_cc:
            return CacheLookup(
                action="miss",
                method=method,
                url=url,
                key=key,
                request_headers=headers,
                stored=stored,  # stale, no validators: stale-if-error may still serve it
            )
    if "only-if-cached" in req_cc:
        return CacheLookup(
            action="unsatisfiable",
            response=GATEWAY_TIMEOUT,
            method=method,
            url=url,
            key=key,
            request_headers=headers,
        )
    return CacheLookup(action="miss", method=method, url=url, key=key, request_headers=headers)


def complete(
    lookup: CacheLookup,
    status: int,
    headers: HeaderList,
    body: bytes,
    *,
    request_time: float,
    response_time: float,
    final_url: str | None = None,
) -> Outcome:
    """Decide what the network's answer to ``lookup``'s request changes in the cache.

    ``final_url`` is the URL of the last hop when redirects were followed.
    Every method but GET, HEAD, OPTIONS and TRACE is unsafe, whatever its
    name (PATCH and unknown tokens included, RFC 9110 §9.2.1).
    """
    if lookup.method not in SAFE_METHODS:
        return Outcome(invalidate=invalidation_keys(lookup.url, status, headers, final_url))
    if lookup.method != "GET" or "no-store" in _request_cc(lookup.request_headers):
        return Outcome()
    times = (request_time, response_time)
    if status == 304:
        return _after_not_modified(lookup, headers, times)
    if status in ERROR_STATUSES:
        stale = stale_if_error(lookup, response_time)
        if stale is not None:
            return Outcome(serve=stale, stale=True)
    if is_storable("GET", lookup.request_headers, status, headers):
        stored_headers = headers_to_store(status, headers, body, response_time)
        return Outcome(store=_entry(lookup, status, stored_headers, body, times))
    # A server error or a partial answer leaves the stored entry to a later
    # revalidation; any other unstorable answer supersedes it.
    keep = status >= 500 or status == 206
    return Outcome() if keep else Outcome(invalidate=(lookup.key,))


def _after_not_modified(
    lookup: CacheLookup, headers: HeaderList, times: tuple[float, float]
) -> Outcome:
    """A 304: freshen the entry we revalidated and serve it (RFC 9111 §4.3.3, §4.3.4)."""
    stored = lookup.stored
    if lookup.action != "revalidate" or stored is None:
        return Outcome()  # the caller's own conditional request: theirs to handle
    if strong_etag_mismatch(stored.headers, headers):
        return Outcome(invalidate=(lookup.key,))
    if parse_http_date(get_first(headers, "Date")) is None:  # RFC 9110 §6.6.1
        headers = [*headers, ("Date", formatdate(times[1], usegmt=True))]
    merged = merge_headers(stored.headers, headers)
    if not is_storable("GET", lookup.request_headers, stored.status, merged):
        return Outcome(
            invalidate=(lookup.key,), serve=CachedResponse(stored.status, list(merged), stored.body)
        )
    updated = _entry(lookup, stored.status, merged, stored.body, times)
    return Outcome(store=updated, serve=with_age(updated, times[1]))


def _entry(
    lookup: CacheLookup,
    status: int,
    headers: Sequence[tuple[str, str]],
    body: bytes,
    times: tuple[float, float],
) -> CacheEntry:
    """A new entry for ``lookup``'s request; the response's Vary must not be ``*``."""
    vary = vary_snapshot(headers, lookup.request_headers)
    assert vary is not None, "is_storable() refuses Vary: *"
    return CacheEntry(
        key=lookup.key,
        url=lookup.url,
        vary=vary,
        status=status,
        headers=tuple(headers),
        body=body,
        request_time=times[0],
        response_time=times[1],
    )
