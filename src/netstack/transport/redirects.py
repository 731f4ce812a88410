"""Redirect decisions: where the next hop goes and what it carries (no I/O).

The transport follows 301/302/303/307/308 itself, up to
``TransportSettings.max_redirects`` (0 returns the 3xx response; one more than
allowed is 2300047). 303 (and 301/302 after a POST) become a GET without a
body (HEAD stays HEAD); 307/308 and other 301/302 keep method and body.
Relative ``Location`` values resolve against the current URL as RFC 3986
says (``netstack.references``: a trailing ``;`` is kept, which urljoin drops). A hop that
changes scheme, host or port drops ``Authorization``, ``Cookie``,
``Proxy-Authorization`` (and an explicit ``Host``); https → http is followed
as such a cross-origin hop.

A ``Location`` arrives as text decoded as latin-1 (what http.client does with
header bytes). Servers send raw UTF-8 there: its bytes are taken back and
every non-ASCII byte of the path, query and fragment is percent-encoded
(``/d\xc3\xa9j\xc3\xa0`` is requested as ``/d%C3%A9j%C3%A0``, as curl
does), while escapes already there are kept as they are; a non-ASCII host
is read as UTF-8 (an international name). A Location that is not a URL
(``http://[::1/``, bytes that are not UTF-8 in the host, an ambiguous
authority) is 2300003.
"""

from __future__ import annotations

import contextlib
import re
from collections.abc import Iterable
from dataclasses import dataclass
from typing import Final, Protocol

from netstack.errors import BAD_URL, HttpError
from netstack.hosts import canonical_host
from netstack.references import resolve
from netstack.transport.urls import split_url

__all__ = ["REDIRECT_STATUSES", "Hop", "HopLike", "next_hop"]

REDIRECT_STATUSES: Final = frozenset({301, 302, 303, 307, 308})
_DEFAULT_PORTS: Final = {"http": 80, "https": 443}
_NON_ASCII: Final = re.compile(rb"[\x80-\xff]")
#: ``scheme://`` or ``//`` then the authority, which ends where urllib3 ends it.
_AUTHORITY: Final = re.compile(rb"^(?:[A-Za-z][A-Za-z0-9+.\-]*:)?//([^\\/?#]*)")
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
    """The request that follows ``hop`` answered by ``status`` with ``location``.

    HttpError 2300003 when ``location`` is not a URL.
    """
    try:
        url = resolve(hop.url, location_url(location))
        same_origin = _origin(url) == _origin(hop.url)
    except ValueError as exc:  # urlsplit: "Invalid IPv6 URL"; bytes that are not UTF-8
        raise HttpError.of(BAD_URL, f"Location {location!r}: {exc}") from None
    method, body, body_size = hop.method, hop.body, hop.body_size
    headers = hop.headers
    if status == 303 or (status in (301, 302) and method == "POST"):
        if method != "HEAD":
            method = "GET"
        body, body_size = None, 0
        headers = {k: v for k, v in headers.items() if k.lower() not in _BODY_HEADERS}
    if not same_origin:
        headers = {k: v for k, v in headers.items() if k.lower() not in _CREDENTIALS}
    return Hop(method, url, headers, body, body_size)


def location_url(location: str) -> str:
    """``location`` as a URL reference of ASCII (see the module docstring).

    Only spaces and tabs around it are dropped (``str.strip`` would also eat
    a trailing ``\xa0``, the last byte of a UTF-8 ``à``).
    """
    text = location.strip(" \t")
    if text.isascii():
        return text
    try:
        raw = text.encode("latin-1")  # the bytes the server sent
    except UnicodeEncodeError:
        raw = text.encode("utf-8")  # already decoded text (HTTP/2)
    authority = _AUTHORITY.match(raw)
    start, end = authority.span(1) if authority else (0, 0)
    host = raw[start:end].decode("utf-8")  # ValueError when not UTF-8
    rest = _NON_ASCII.sub(lambda m: b"%%%02X" % m[0][0], raw[end:]).decode("ascii")
    return raw[:start].decode("ascii") + host + rest


def _origin(url: str) -> tuple[str, str, int | None]:
    origin = split_url(url)[0]
    scheme = (origin.scheme or "").lower()
    host = origin.host or ""
    with contextlib.suppress(ValueError):  # else compared as it is: another scheme, no host
        host = canonical_host(host)
    return scheme, host, origin.port or _DEFAULT_PORTS.get(scheme)
