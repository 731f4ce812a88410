"""Structured logging that stays silent until the application asks for it.

Events go through ``structlog`` bound to the standard library logger
``"netstack"``: the application's structlog processors shape them, its
``logging`` configuration decides whether they show. A program that
configures nothing prints nothing (the library never configures logging).
Per-request events are DEBUG; check :func:`enabled` first on hot paths so a
disabled level costs one cached lookup.

structlog is imported with the first event that is emitted, not with
netstack: with ``rich`` installed it pulls in rich, pygments and asyncio,
which a program that never logs should not pay for (in import time, and in
every full garbage collection that walks those modules' objects).
"""

from __future__ import annotations

import functools
import logging
from typing import Any, Final

_stdlib: Final = logging.getLogger("netstack")

#: ``enabled(level)``: whether ``level`` would be emitted (cached by the logging
#: module). The logger's own bound method, so a hot-path check is one call.
enabled: Final = _stdlib.isEnabledFor


@functools.cache
def logger() -> Any:
    """The library's structlog logger: structlog's processors, stdlib's levels and handlers."""
    import structlog

    return structlog.wrap_logger(_stdlib, wrapper_class=structlog.stdlib.BoundLogger)


def log_event(level: int, event: str, **fields: object) -> None:
    """Emit ``event`` with ``fields`` at ``level`` if that level is enabled."""
    if _stdlib.isEnabledFor(level):
        logger().log(level, event, **fields)
