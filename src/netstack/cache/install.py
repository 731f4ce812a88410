"""The process-wide response cache (@ohos.net.http: ``createHttpResponseCache``)."""

from __future__ import annotations

import os
import threading

from netstack.cache.cache import HttpResponseCache
from netstack.cache.storage import DEFAULT_CACHE_SIZE, CacheStorage

_install_lock = threading.Lock()
_installed: HttpResponseCache | None = None


def create_http_response_cache(
    cache_size: int = DEFAULT_CACHE_SIZE,
    *,
    directory: str | os.PathLike[str] | None = None,
    storage: CacheStorage | None = None,
) -> HttpResponseCache:
    """Create a cache and install it as the process-wide one, replacing any earlier one."""
    global _installed  # noqa: PLW0603 -- @ohos.net.http's process-wide cache
    cache = HttpResponseCache(cache_size, directory=directory, storage=storage)
    with _install_lock:
        _installed = cache
    return cache


def installed_cache() -> HttpResponseCache | None:
    """The cache ``create_http_response_cache()`` installed last, if any (internal)."""
    return _installed
