"""The one parse of a request URL: its origin, its host key, its request target.

urllib3's ``parse_url`` is what the connection uses, so it is what decides
the host: the scheduler's host key (politeness, ``max_per_host``), the domain
rules and the socket all come from the origin parsed here, the host key
being its host in the canonical form of ``netstack.hosts``. An authority
other parsers would read differently is refused with 2300003 rather than
guessed: a backslash in it (urllib3 ends the authority there, ``urlsplit``
and browsers do not), an unencoded ``@`` inside the userinfo, a ``%`` escape
or a space in the host, an IPv4 address not written as four decimal numbers.

A ``%`` in the path or query that starts no escape (``100%``, ``%zz``, a
``%`` before raw UTF-8) is sent as ``%25`` and every valid escape as it came:
urllib3 alone would encode every ``%`` of such a target again, turning a
``%41`` beside a lone ``%`` into ``%2541``.

``parse_url`` validates and normalises every part of a URL, which costs tens
of microseconds per request. A crawl reuses few origins, so the origin part
(scheme, auth, host, port) is parsed once and cached, and the request target
is taken as is when it holds only characters that need no encoding; anything
else goes through ``parse_url`` whole.
"""

from __future__ import annotations

import functools
import re
from typing import Final

from urllib3.exceptions import LocationParseError
from urllib3.util import Url, parse_url

from netstack.errors import BAD_URL, HttpError
from netstack.hosts import canonical_host

__all__ = ["origin_key", "split_url"]

#: RFC 3986 characters allowed as they are in a path and query (and ``%`` escapes).
_PLAIN_TARGET: Final = re.compile(r"[A-Za-z0-9\-._~:/?@!$&'()*+,;=%]*")
_ENDS_AUTHORITY: Final = "/?#"
#: A ``%`` not followed by two hex digits.
_LONE_PERCENT: Final = re.compile(r"%(?![0-9A-Fa-f]{2})")


def _authority(rest: str) -> tuple[str, int]:
    """``(authority, where it ends)`` in ``rest``, the URL after ``scheme://``."""
    end = len(rest)
    for mark in _ENDS_AUTHORITY:
        found = rest.find(mark, 0, end)
        if found >= 0:
            end = found
    authority = rest[:end]
    if "\\" in authority:  # urllib3 ends the authority there, urlsplit does not
        raise ValueError("a backslash in the authority is read differently by different parsers")
    return authority, end


@functools.lru_cache(maxsize=4096)
def _origin(scheme: str, authority: str) -> tuple[Url, str]:
    """The parsed origin of ``scheme://authority`` and its host key; ValueError if none."""
    if authority.count("@") > 1:
        raise ValueError("an '@' in the userinfo must be written %40")
    host_part = authority.rpartition("@")[2]
    if "%" in host_part and not host_part.startswith("["):
        raise ValueError("a '%' escape in the host is read differently by different parsers")
    origin = parse_url(f"{scheme}://{authority}")
    if not origin.host:
        raise ValueError("the URL has no host")
    return origin, canonical_host(origin.host)


def _bad(url: str, exc: ValueError) -> HttpError:
    if isinstance(exc, LocationParseError):
        return HttpError.of(BAD_URL, f"{url!r}: cannot parse: {exc}")
    return HttpError.of(BAD_URL, f"{url!r}: {exc}")


def origin_key(scheme: str, rest: str) -> tuple[Url, str]:
    """``(origin, host key)`` of ``scheme://rest``; ``scheme`` is lower-case http(s).

    HttpError 2300003 when the authority is malformed or ambiguous.
    """
    try:
        return _origin(scheme, _authority(rest)[0])
    except ValueError as exc:  # LocationParseError is one
        raise _bad(f"{scheme}://{rest}", exc) from None


def split_url(url: str) -> tuple[Url, str]:
    """``(origin, request target)`` of ``url``: what ``parse_url`` and ``request_uri`` give.

    Only the origin's scheme, auth, host and port are meaningful. Plain
    http(s) URLs take the cached fast path; anything else goes through
    ``parse_url`` whole. HttpError 2300003 when the URL is malformed or its
    authority ambiguous.
    """
    scheme, sep, rest = url.partition("://")
    try:
        if sep and scheme in ("http", "https"):
            authority, end = _authority(rest)
            origin = _origin(scheme, authority)[0]
            target = rest[end:]
            if "#" in target:
                target = target.partition("#")[0]
            if _PLAIN_TARGET.fullmatch(target):
                if "%" in target:
                    target = _LONE_PERCENT.sub("%25", target)
                if not target or target[0] == "?":
                    target = "/" + target  # what request_uri makes of an empty path
                return origin, target
        elif sep and scheme.lower() in ("http", "https"):
            authority, end = _authority(rest)
            _origin(scheme.lower(), authority)  # the same checks
        else:
            end = -1
        if end >= 0 and "%" in rest[end:]:
            url = f"{scheme}://{rest[:end]}{_LONE_PERCENT.sub('%25', rest[end:])}"
        parsed = parse_url(url)
    except ValueError as exc:
        raise _bad(url, exc) from None
    return parsed, parsed.request_uri
