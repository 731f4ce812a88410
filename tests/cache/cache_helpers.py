"""Helpers for the cache tests: a fixed clock and a one-call exchange."""

from __future__ import annotations

import email.utils
from collections.abc import Mapping, Sequence

from netstack.cache import CachedResponse, CacheLookup, HttpResponseCache, driver_of

#: A fixed "now" (epoch seconds); tests move time by adding to it.
T0 = 1_700_000_000.0
URL = "https://example.test/resource"


def http_date(when: float) -> str:
    """``when`` as an IMF-fixdate."""
    return email.utils.formatdate(when, usegmt=True)


def exchange(
    cache: HttpResponseCache,
    url: str = URL,
    *,
    status: int = 200,
    headers: Sequence[tuple[str, str]] = (),
    body: bytes = b"body",
    at: float = T0,
    request_headers: Mapping[str, str] | None = None,
    method: str = "GET",
) -> tuple[CacheLookup, CachedResponse | None]:
    """Look up, then answer from the "network" at ``at``: what the pipeline does."""
    lookup = driver_of(cache).lookup(method, url, request_headers or {}, at)
    return lookup, driver_of(cache).complete(lookup, status, list(headers), body, at, at)
