"""Everything urllib3: pools, TLS, timings, redirects and error mapping.

The rest of netstack sees only :class:`Transport` and the plain values of
:mod:`netstack.transport.exchange`.
"""

from __future__ import annotations

from netstack.transport.exchange import (
    AbortSignal,
    EventSink,
    PreparedRequest,
    Timings,
    TransportResponse,
    TransportSettings,
)
from netstack.transport.transport import Transport

__all__ = [
    "AbortSignal",
    "EventSink",
    "PreparedRequest",
    "Timings",
    "Transport",
    "TransportResponse",
    "TransportSettings",
]
