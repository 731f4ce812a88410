"""Logging for the ``netstack`` process only: structlog lines on stderr.

The library never configures logging; the command configures it
for its own process, here, before the first request. Both structlog loggers
and standard-library records (urllib3's, or the library's when it logs
through :mod:`logging`) end up in one handler on stderr, rendered by
structlog as console lines or, with ``--log-json``, one JSON object a line.

Verbosity: none shows warnings, ``-v`` adds failures and the command's own
events (INFO), ``-vv`` every request's state change (DEBUG).
"""

from __future__ import annotations

import logging
import sys

import structlog
from structlog.typing import Processor

__all__ = ["configure", "logger"]

#: The command's own logger (the library's is ``"netstack"``).
logger = structlog.get_logger("netstack.cli")


class _StderrHandler(logging.StreamHandler):  # type: ignore[type-arg]
    """Writes to the current ``sys.stderr``, which rich's progress display swaps."""

    def emit(self, record: logging.LogRecord) -> None:
        self.stream = sys.stderr  # Handler.handle holds the handler's lock here
        super().emit(record)


def _level(verbosity: int) -> int:
    if verbosity <= 0:
        return logging.WARNING
    return logging.INFO if verbosity == 1 else logging.DEBUG


def configure(verbosity: int = 0, *, json: bool = False) -> None:
    """Send the process's logs to stderr at the level ``verbosity`` asks for."""
    shared: list[Processor] = [
        structlog.contextvars.merge_contextvars,
        structlog.stdlib.add_logger_name,
        structlog.stdlib.add_log_level,
        structlog.processors.TimeStamper(fmt="iso", utc=True),
    ]
    renderer: Processor = (
        structlog.processors.JSONRenderer()
        if json
        else structlog.dev.ConsoleRenderer(colors=sys.stderr.isatty())
    )
    structlog.configure(
        processors=[
            structlog.stdlib.filter_by_level,
            *shared,
            structlog.stdlib.PositionalArgumentsFormatter(),
            structlog.processors.format_exc_info,
            structlog.stdlib.ProcessorFormatter.wrap_for_formatter,
        ],
        logger_factory=structlog.stdlib.LoggerFactory(),
        wrapper_class=structlog.stdlib.BoundLogger,
        cache_logger_on_first_use=True,
    )
    handler = _StderrHandler(sys.stderr)
    handler.setFormatter(
        structlog.stdlib.ProcessorFormatter(
            foreign_pre_chain=shared,
            processors=[structlog.stdlib.ProcessorFormatter.remove_processors_meta, renderer],
        )
    )
    root = logging.getLogger()
    root.handlers = [handler]
    root.setLevel(logging.WARNING)  # other libraries: warnings only
    level = _level(verbosity)
    for name in ("netstack", "netstack.cli"):
        logging.getLogger(name).setLevel(level)
    if verbosity >= 3:
        logging.getLogger("urllib3").setLevel(logging.DEBUG)
