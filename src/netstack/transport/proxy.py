"""Which proxy a request goes through, and the urllib3 ProxyManager for it.

- ``using_proxy=True``: the environment, as ``urllib.request`` reads it
  (``http_proxy``/``HTTP_PROXY``, ``https_proxy``, ``all_proxy``,
  ``no_proxy``; lowercase wins), re-read for every hop so a changed
  environment takes effect at once;
- ``HttpProxy(host, port, exclusion_list)``: that http:// proxy, except for
  hosts in ``exclusion_list`` (exact names, ``*.suffix`` for the names under
  ``suffix``, or ``*`` for every host).

The choice is a proxy URL (credentials included), a plain value: the pools key
their managers by it, so requests through different proxies, or with
different credentials, never share a connection. Plain-http requests go to
the proxy in absolute form; https ones through a CONNECT tunnel (urllib3).
The proxy's own name is resolved like any other (the request's DNS settings,
else the system), so an unresolvable proxy surfaces as a ``ProxyError``
around a resolution failure: 2300005 in :mod:`~netstack.transport.errormap`.
"""

from __future__ import annotations

import contextlib
import ipaddress
import ssl
import urllib.request
from collections.abc import Callable, Iterable
from typing import Any, Final
from urllib.parse import unquote

from urllib3 import ProxyManager
from urllib3.exceptions import LocationParseError
from urllib3.util import Url, make_headers, parse_url

from netstack.errors import BAD_URL, UNSUPPORTED_PROTOCOL, HttpError
from netstack.options import HttpProxy

__all__ = ["absolute_form", "bypassed", "choose", "excluded", "is_https", "manager_factory"]

#: Idle connections kept per pool of a ProxyManager. Plain-http requests to
#: every origin share the one pool to the proxy, so ``max_per_host`` (a
#: per-origin bound) is too small for it.
_PROXY_POOL_SIZE: Final = 64
_SCHEMES: Final = ("http", "https")


def choose(setting: HttpProxy | bool | None, scheme: str, host: str, port: int) -> str | None:
    """The proxy URL for a hop to ``scheme://host:port``, or None to go direct."""
    if setting is None or setting is False:
        return None
    if isinstance(setting, HttpProxy):
        if excluded(host, setting.exclusion_list):
            return None
        return f"http://{_bracket(setting.host)}:{setting.port}"
    proxies = urllib.request.getproxies_environment()
    url = proxies.get(scheme) or proxies.get("all")
    if not url or bypassed(host, port, proxies.get("no", "")):
        return None
    return _normalize(url)


def excluded(host: str, patterns: Iterable[str]) -> bool:
    """Whether ``host`` matches an exclusion: exact name, ``*.suffix`` or ``*``."""
    name = _canonical(host)
    for pattern in patterns:
        wanted = _canonical(pattern)
        if wanted in ("*", name):
            return True
        if wanted.startswith("*.") and name.endswith(wanted[1:]):
            return True
    return False


def bypassed(host: str, port: int, no_proxy: str) -> bool:
    """Whether ``NO_PROXY`` covers ``host:port``, as curl reads it.

    Comma- or space-separated entries; ``*`` alone matches every host; a name
    matches itself and the names under it (a leading dot is optional); an
    entry may end in ``:port`` to apply to that port only; addresses match
    exactly, or by prefix in CIDR notation.
    """
    name = _canonical(host)
    address = _address(name)
    for raw in no_proxy.replace(",", " ").split():
        entry = raw.strip().lower()
        if entry == "*":
            return True
        wanted_port: int | None = None
        head, sep, tail = entry.rpartition(":")
        if sep and tail.isdigit() and (not head.count(":") or head.endswith("]")):
            entry, wanted_port = head, int(tail)
        if wanted_port is not None and wanted_port != port:
            continue
        entry = _canonical(entry).lstrip(".")
        if address is not None and "/" in entry:
            with contextlib.suppress(ValueError):
                if address in ipaddress.ip_network(entry, strict=False):
                    return True
            continue
        if name == entry or name.endswith(f".{entry}"):
            return True
    return False


def absolute_form(origin: Url, target: str) -> str:
    """The request target a proxy needs for plain http: the URL, without userinfo."""
    return Url(scheme=origin.scheme, host=origin.host, port=origin.port).url + target


def manager_factory(
    proxy_url: str, tls: Callable[[], ssl.SSLContext]
) -> Callable[..., ProxyManager]:
    """A drop-in for ``PoolManager(**kwargs)`` that routes through ``proxy_url``.

    Credentials in the URL become the ``Proxy-Authorization`` header (sent on
    every forwarded request, or once in each CONNECT). ``tls`` builds the
    context that verifies an https:// proxy itself.
    """
    url = parse_url(proxy_url)
    headers: dict[str, str] = {}
    if url.auth:
        user, _, password = url.auth.partition(":")
        headers = make_headers(proxy_basic_auth=f"{unquote(user)}:{unquote(password)}")
    plain = url._replace(auth=None).url

    def build(**kwargs: Any) -> ProxyManager:
        kwargs["maxsize"] = max(int(kwargs.get("maxsize", 1)), _PROXY_POOL_SIZE)
        if url.scheme == "https":
            context = tls()
            kwargs["proxy_ssl_context"] = context
            kwargs.setdefault("ssl_context", context)
            kwargs.setdefault("cert_reqs", "CERT_REQUIRED")
        return ProxyManager(plain, proxy_headers=headers, **kwargs)

    return build


def is_https(proxy_url: str | None) -> bool:
    """Whether the connection to the proxy itself is TLS (its trust settings matter)."""
    return proxy_url is not None and proxy_url.startswith("https://")


def _normalize(value: str) -> str:
    """An environment proxy value as a URL: scheme defaults to http, only http(s)."""
    if "://" not in value:
        value = f"http://{value}"
    try:
        url = parse_url(value)
    except LocationParseError as exc:
        raise HttpError.of(BAD_URL, f"proxy {value!r}: {exc}") from exc
    scheme = (url.scheme or "http").lower()
    if scheme not in _SCHEMES:
        raise HttpError.of(UNSUPPORTED_PROTOCOL, f"proxy scheme {scheme!r} is not supported")
    if not url.host:
        raise HttpError.of(BAD_URL, f"proxy {value!r}: no host")
    return Url(scheme=scheme, auth=url.auth, host=url.host, port=url.port).url


def _address(name: str) -> ipaddress.IPv4Address | ipaddress.IPv6Address | None:
    try:
        return ipaddress.ip_address(name)
    except ValueError:
        return None


def _canonical(host: str) -> str:
    return host.strip().strip("[]").rstrip(".").lower()


def _bracket(host: str) -> str:
    return f"[{host}]" if ":" in host and not host.startswith("[") else host
