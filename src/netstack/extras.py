"""Optional parts of netstack and the extra that installs each (``pip install 'netstack[X]'``).

The core needs only urllib3, certifi, cachetools and structlog. A feature
whose package is missing is refused with ``HttpError`` 401 naming the extra,
when the request asks for it (before anything is queued), not at import.
"""

from __future__ import annotations

import functools
import importlib.util
from typing import Final

from netstack.errors import HttpError

__all__ = ["EXTRAS", "available", "install_hint", "require"]

#: extra name -> (the module it provides, what needs it).
EXTRAS: Final[dict[str, tuple[str, str]]] = {
    "http2": ("h2", "HTTP/2 (usingProtocol HTTP2)"),
    "dns": ("dns", "dns_servers and dns_over_https"),
    "tls": ("cryptography", "client certificates and certificate pinning"),
    "cli": ("rich", "the netstack command"),
    "redis": ("redis", "the Redis queue and storage"),
    "idna": ("idna", "internationalised host names"),
}


@functools.cache
def available(extra: str) -> bool:
    """True when the package of ``extra`` can be imported (looked up once)."""
    module = EXTRAS[extra][0]
    try:
        return importlib.util.find_spec(module) is not None
    except (ImportError, ValueError):
        return False


def install_hint(extra: str) -> str:
    """What is missing and how to install it, e.g. for ``http2``."""
    module, feature = EXTRAS[extra]
    return f"{feature} needs the {module!r} package: pip install 'netstack[{extra}]'"


def require(extra: str, field: str) -> None:
    """HttpError 401 naming ``field`` and the extra to install unless ``extra`` is available."""
    if not available(extra):
        raise HttpError.parameter(f"{field}: {install_hint(extra)}")
