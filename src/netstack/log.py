"""Placeholder (scheduler engineer): the lead replaces this with the structlog helper.

Only the two functions the scheduler calls, on the stdlib logger ``"netstack"``.
"""

from __future__ import annotations

import logging

_logger = logging.getLogger("netstack")


def enabled(level: int) -> bool:
    """Cheap check before building an event's fields."""
    return _logger.isEnabledFor(level)


def log_event(level: int, event: str, **fields: object) -> None:
    """Log one state change with its fields."""
    _logger.log(level, "%s %s", event, fields)
