"""What a stored entry is worth at time ``now``: key, freshness lifetime, age, Vary.

Pure functions; ``now`` and the exchange times are epoch seconds (floats).
Sections of `RFC 9111 <https://www.rfc-editor.org/rfc/rfc9111>`_:
key §2, Vary §4.1, freshness lifetime §4.2.1, heuristics §4.2.2, age §4.2.3.
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from functools import lru_cache
from typing import Final, Protocol, TypeAlias
from urllib.parse import urlsplit

from netstack.cache.headers import (
    MAX_DELTA_SECONDS,
    CacheControl,
    HeaderList,
    get_all,
    normalise_value,
    parse_delta_seconds,
    parse_http_date,
    request_header,
    split_list,
)

VarySnapshot: TypeAlias = tuple[tuple[str, str | None], ...]
"""For each field a response's ``Vary`` names (lower-cased, sorted), the request's
normalised value, or ``None`` when the request carried none."""


class Stored(Protocol):
    """What the freshness functions read of a stored response (``CacheEntry`` is one)."""

    @property
    def status(self) -> int: ...
    @property
    def headers(self) -> tuple[tuple[str, str], ...]: ...
    @property
    def vary(self) -> VarySnapshot: ...
    @property
    def request_time(self) -> float: ...
    @property
    def response_time(self) -> float: ...
    @property
    def header_index(self) -> dict[str, tuple[str, ...]]: ...
    @property
    def cache_control(self) -> CacheControl: ...
    @property
    def date(self) -> float | None: ...
    @property
    def initial_age(self) -> float: ...

    def first(self, name: str) -> str | None: ...


#: Statuses a cache may store and give a heuristic lifetime without explicit
#: freshness (RFC 9110 §15.1). 206 is left out: partial content is never stored.
HEURISTIC_STATUSES: Final = frozenset({200, 203, 204, 300, 301, 308, 404, 405, 410, 414, 501})
#: The heuristic is 10% of the time since Last-Modified, at most this many seconds.
HEURISTIC_CAP: Final = 86_400.0
HEURISTIC_FRACTION: Final = 0.1

_DEFAULT_PORTS: Final = {"http": 80, "https": 443}


@lru_cache(maxsize=4096)  # pure, and a hit asks for the same URL again and again
def normalise_url(url: str) -> str:
    """``url`` without fragment, with lower-case scheme and host, no default port, path ``/``."""
    url = url.strip()
    try:
        parts = urlsplit(url)
        host = parts.hostname or ""
        port = parts.port
    except ValueError:
        return url.split("#", 1)[0]
    scheme = parts.scheme.lower()
    if ":" in host:
        host = f"[{host}]"
    userinfo = parts.netloc.rpartition("@")[0]
    netloc = f"{userinfo}@{host}" if userinfo else host
    if port is not None and port != _DEFAULT_PORTS.get(scheme):
        netloc = f"{netloc}:{port}"
    query = f"?{parts.query}" if parts.query else ""
    return f"{scheme}://{netloc}{parts.path or '/'}{query}"


@lru_cache(maxsize=256)  # pure; every lookup and fresh hit asks; a small hot set
def cache_key(url: str, method: str = "GET") -> str:
    """The primary cache key (RFC 9111 §2): method and normalised target URI."""
    return f"{method.upper()} {normalise_url(url)}"


def origin(url: str) -> tuple[str, str, int | None] | None:
    """``(scheme, host, port)`` of an absolute URL, default ports filled in; else ``None``."""
    try:
        parts = urlsplit(url)
        scheme = parts.scheme.lower()
        return scheme, (parts.hostname or ""), parts.port or _DEFAULT_PORTS.get(scheme)
    except ValueError:
        return None


def _date(entry: Stored) -> float:
    """The response's Date, or the time it arrived when Date is missing or invalid."""
    date = entry.date
    return entry.response_time if date is None else date


def freshness_lifetime(entry: Stored) -> float:
    """Seconds the stored response stays fresh (RFC 9111 §4.2.1, §4.2.2).

    ``max-age`` wins over ``Expires``; ``s-maxage`` is ignored (a private
    cache); an invalid ``max-age`` or ``Expires`` means already stale. Without
    either, a heuristically cacheable status (or ``public``) with a
    ``Last-Modified`` gets 10% of ``Date - Last-Modified``, capped at a day.
    """
    cc = entry.cache_control
    if "max-age" in cc:
        return float(cc.seconds("max-age") or 0)
    expires = entry.first("expires")
    if expires is not None:
        when = parse_http_date(expires)
        return 0.0 if when is None else max(0.0, when - _date(entry))
    last_modified = parse_http_date(entry.first("last-modified"))
    if last_modified is not None and (entry.status in HEURISTIC_STATUSES or "public" in cc):
        return min(HEURISTIC_CAP, max(0.0, (_date(entry) - last_modified) * HEURISTIC_FRACTION))
    return 0.0


def corrected_initial_age(entry: Stored) -> float:
    """The response's age when it arrived, in seconds (RFC 9111 §4.2.3).

    An ``Age`` that is not a non-negative integer makes the response stale
    (RFC 9111 §5.1): its age is then the largest delta-seconds, 2**31.
    """
    raw_age = entry.first("age")
    age_value = parse_delta_seconds(raw_age)
    if age_value is None:
        if raw_age is not None:
            return float(MAX_DELTA_SECONDS)
        age_value = 0
    apparent_age = max(0.0, entry.response_time - _date(entry))
    response_delay = max(0.0, entry.response_time - entry.request_time)
    return max(apparent_age, age_value + response_delay)


def current_age(entry: Stored, now: float) -> float:
    """The response's age at ``now`` in seconds, as RFC 9111 §4.2.3 computes it."""
    return entry.initial_age + (now - entry.response_time)


def vary_names(headers: HeaderList) -> list[str]:
    """The lower-cased field names a response's ``Vary`` lists (``*`` included)."""
    return sorted({name.lower() for name in split_list(get_all(headers, "Vary"))})


def vary_snapshot(headers: HeaderList, request_headers: Mapping[str, str]) -> VarySnapshot | None:
    """The request values the response varies on, normalised; ``None`` for ``Vary: *``."""
    names = vary_names(headers)
    if "*" in names:
        return None
    return request_snapshot(names, request_headers)


def request_snapshot(
    names: tuple[str, ...] | list[str], request_headers: Mapping[str, str]
) -> VarySnapshot:
    """The request's normalised values of the (lower-cased, sorted) fields ``names``."""
    return tuple((name, normalise_value(request_header(request_headers, name))) for name in names)


def variant_key(key: str, vary: VarySnapshot) -> str:
    """Where a variant of ``key`` lives (RFC 9111 §4.1): ``key`` itself when it does not vary.

    Variants of one URL with different request values are stored side by side.
    """
    if not vary:
        return key
    return f"{key}\n{json.dumps(vary, separators=(',', ':'))}"


def vary_matches(entry: Stored, request_headers: Mapping[str, str]) -> bool:
    """Whether ``entry`` may answer a request with these headers (RFC 9111 §4.1)."""
    if entry.vary == () and "vary" not in entry.header_index:
        return True
    return vary_snapshot(entry.headers, request_headers) == entry.vary
