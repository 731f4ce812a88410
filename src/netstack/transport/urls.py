"""Splitting request URLs cheaply on the hot path.

urllib3's ``parse_url`` validates and normalises every part of a URL, which
costs tens of microseconds per request. A crawl reuses few origins, so the
origin part (scheme, auth, host, port) is parsed by urllib3 once and cached,
and the request target is taken as is when it holds only characters that need
no encoding; anything else goes through ``parse_url`` whole.
"""

from __future__ import annotations

import functools
import re
from typing import Final

from urllib3.util import Url, parse_url

#: RFC 3986 characters allowed as they are in a path and query (and ``%`` escapes).
_PLAIN_TARGET: Final = re.compile(r"[A-Za-z0-9\-._~:/?@!$&'()*+,;=%]*")
_ENDS_NETLOC: Final = "/?#"


@functools.lru_cache(maxsize=4096)
def _origin(scheme_and_netloc: str) -> Url:
    return parse_url(scheme_and_netloc)


def split_url(url: str) -> Url:
    """``parse_url(url)``, with a cached fast path for plain http(s) URLs."""
    scheme, sep, rest = url.partition("://")
    if sep and scheme in ("http", "https"):
        end = len(rest)
        for mark in _ENDS_NETLOC:
            found = rest.find(mark, 0, end)
            if found >= 0:
                end = found
        target = rest[end:].partition("#")[0]
        if _PLAIN_TARGET.fullmatch(target):
            origin = _origin(f"{scheme}://{rest[:end]}")
            path, _, query = target.partition("?")
            return origin._replace(path=path or "/", query=query if "?" in target else None)
    return parse_url(url)
