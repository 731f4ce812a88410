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


def split_url(url: str) -> tuple[Url, str]:
    """``(origin, request target)`` of ``url``: what ``parse_url`` and ``request_uri`` give.

    Only the origin's scheme, auth, host and port are meaningful. Plain
    http(s) URLs take the cached fast path; anything else goes through
    ``parse_url`` whole.
    """
    scheme, sep, rest = url.partition("://")
    if sep and scheme in ("http", "https"):
        end = len(rest)
        for mark in _ENDS_NETLOC:
            found = rest.find(mark, 0, end)
            if found >= 0:
                end = found
        target = rest[end:]
        if "#" in target:
            target = target.partition("#")[0]
        if _PLAIN_TARGET.fullmatch(target):
            if not target or target[0] == "?":
                target = "/" + target  # what request_uri makes of an empty path
            return _origin(f"{scheme}://{rest[:end]}"), target
    parsed = parse_url(url)
    return parsed, parsed.request_uri
