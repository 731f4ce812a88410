"""What a stored entry is worth at time ``now``: key, freshness lifetime, age, Vary.

Pure functions; ``now`` and the exchange times are epoch seconds (floats).
Sections of `RFC 9111 <https://www.rfc-editor.org/rfc/rfc9111>`_:
key §2, Vary §4.1, freshness lifetime §4.2.1, heuristics §4.2.2, age §4.2.3.
"""

from __future__ import annotations

from collections.abc import Mapping
from functools import lru_cache
from typing import TYPE_CHECKING, Final
from urllib.parse import urlsplit

from netstack.cache.headers import (
    HeaderList,
    get_all,
    normalise_value,
    parse_delta_seconds,
    parse_http_date,
    request_header,
    split_list,
)

if TYPE_CHECKING:
    from netstack.cache.entry import CacheEntry

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


def _date(entry: CacheEntry) -> float:
    """The response's Date, or the time it arrived when Date is missing or invalid."""
    date = entry.date
    return entry.response_time if date is None else date


def freshness_lifetime(entry: CacheEntry) -> float:
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


def corrected_initial_age(entry: CacheEntry) -> float:
    """The response's age when it arrived, in seconds (RFC 9111 §4.2.3)."""
    age_value = parse_delta_seconds(entry.first("age")) or 0
    apparent_age = max(0.0, entry.response_time - _date(entry))
    response_delay = max(0.0, entry.response_time - entry.request_time)
    return max(apparent_age, age_value + response_delay)


def current_age(entry: CacheEntry, now: float) -> float:
    """The response's age at ``now`` in seconds, as RFC 9111 §4.2.3 computes it."""
    return entry.initial_age + (now - entry.response_time)


def vary_names(headers: HeaderList) -> list[str]:
    """The lower-cased field names a response's ``Vary`` lists (``*`` included)."""
    return sorted({name.lower() for name in split_list(get_all(headers, "Vary"))})


def vary_snapshot(
    headers: HeaderList, request_headers: Mapping[str, str]
) -> tuple[tuple[str, str | None], ...] | None:
    """The request values the response varies on, normalised; ``None`` for ``Vary: *``."""
    names = vary_names(headers)
    if "*" in names:
        return None
    return tuple((name, normalise_value(request_header(request_headers, name))) for name in names)


def vary_matches(entry: CacheEntry, request_headers: Mapping[str, str]) -> bool:
    """Whether ``entry`` may answer a request with these headers (RFC 9111 §4.1)."""
    if entry.vary == () and "vary" not in entry.header_index:
        return True
    return vary_snapshot(entry.headers, request_headers) == entry.vary
