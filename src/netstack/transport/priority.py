"""RFC 9218 priorities: a netstack priority (1-1000) as the ``Priority`` request header.

HTTP/2 requests carry ``priority: u=N`` unless the caller set a ``Priority``
header of their own. Higher netstack priority means a lower urgency number
(0 is the most urgent), on a log scale so that the small priorities people
use most still differ: ``u = 7 - min(7, floor(log2(priority)))``.

==============  =======
priority        urgency
==============  =======
1               u=7
2-3             u=6
4-7             u=5
8-15            u=4
16-31           u=3 (RFC 9218's default)
32-63           u=2
64-127          u=1
128-1000        u=0
==============  =======

HTTP/1.1 requests do not carry it: one connection serves one request at a
time there, so the header would only cost bytes on every request.
"""

from __future__ import annotations

from typing import Final

__all__ = ["HEADER", "urgency", "value"]

HEADER: Final = b"priority"
_VALUES: Final = tuple(f"u={u}".encode() for u in range(8))


def urgency(priority: int) -> int:
    """The RFC 9218 urgency (0-7) of a netstack priority (1-1000)."""
    return 7 - min(7, max(priority, 1).bit_length() - 1)


def value(priority: int) -> bytes:
    """The ``Priority`` header value for ``priority``, e.g. ``b"u=3"``."""
    return _VALUES[urgency(priority)]
