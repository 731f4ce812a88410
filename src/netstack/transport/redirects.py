"""Redirect decisions: where the next hop goes and what it carries (no I/O).

The transport follows 301/302/303/307/308 itself, up to
``TransportSettings.max_redirects`` (0 returns the 3xx response; one more than
allowed is 2300047). 303 (and 301/302 after a POST) become a GET without a
body (HEAD stays HEAD); 307/308 and other 301/302 keep method and body.
Relative ``Location`` values resolve against the current URL. A hop that
changes scheme, host or port drops ``Authorization``, ``Cookie``,
``Proxy-Authorization`` (and an explicit ``Host``); https → http is followed
as such a cross-origin hop (DESIGN.md §3).
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from typing import Final, Protocol
from urllib.parse import urljoin, urlsplit

__all__ = ["REDIRECT_STATUSES", "Hop", "HopLike", "next_hop"]

REDIRECT_STATUSES: Final = frozenset({301, 302, 303, 307, 308})
_DEFAULT_PORTS: Final = {"http": 80, "https": 443}
#: Dropped when the origin changes.
_CREDENTIALS: Final = frozenset({"authorization", "cookie", "proxy-authorization", "host"})
#: Dropped with the body when a redirect turns the request into a GET.
_BODY_HEADERS: Final = frozenset(
    {
        "content-length",
        "content-type",
        "content-encoding",
        "content-language",
        "content-location",
        "transfer-encoding",
        "digest",
        "last-modified",
    }
)


@dataclass(slots=True)
class Hop:
    """One request on the way to the final response."""

    method: str
    url: str
    headers: dict[str, str]
    body: bytes | Iterable[bytes] | None
    body_size: int


class HopLike(Protocol):
    """What one hop sends: a :class:`Hop`, or the PreparedRequest itself for the first."""

    @property
    def method(self) -> str: ...
    @property
    def url(self) -> str: ...
    @property
    def headers(self) -> dict[str, str]: ...
    @property
    def body(self) -> bytes | Iterable[bytes] | None: ...
    @property
    def body_size(self) -> int: ...


def next_hop(hop: HopLike, status: int, location: str) -> Hop:
    """The request that follows ``hop`` answered by ``status`` with ``location``."""
    url = urljoin(hop.url, location.strip())
    method, body, body_size = hop.method, hop.body, hop.body_size
    headers = hop.headers
    if status == 303 or (status in (301, 302) and method == "POST"):
        if method != "HEAD":
            method = "GET"
        body, body_size = None, 0
        headers = {k: v for k, v in headers.items() if k.lower() not in _BODY_HEADERS}
    if _origin(url) != _origin(hop.url):
        headers = {k: v for k, v in headers.items() if k.lower() not in _CREDENTIALS}
    return Hop(method, url, headers, body, body_size)


def _origin(url: str) -> tuple[str, str, int | None]:
    parts = urlsplit(url)
    scheme = parts.scheme.lower()
    try:
        port = parts.port
    except ValueError:
        port = None
    return scheme, (parts.hostname or ""), port or _DEFAULT_PORTS.get(scheme)
