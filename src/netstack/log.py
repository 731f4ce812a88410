"""Structured logging that stays silent until the application asks for it.

Whether an event is emitted is decided by the standard library logger
``"netstack"`` (``logging.getLogger("netstack").setLevel(logging.DEBUG)``
shows every request's state change); a program that configures nothing
prints nothing, and the library never configures logging. Per-request events
are DEBUG; check :func:`enabled` first on hot paths so a disabled level costs
one cached lookup. How an emitted event is shaped depends on the program:

- structlog configured (``structlog.configure(...)``): the event goes through
  ``structlog.get_logger("netstack")``, so the program's own processors and
  logger factory shape and write it.
- structlog not configured: the event dict is handed to the ``"netstack"``
  stdlib logger unrendered, as structlog's stdlib integration does
  (``ProcessorFormatter.wrap_for_formatter``). A ``ProcessorFormatter`` on the
  handler renders the dict itself; any other formatter sees the message
  ``event key=value ...`` -- one line, with the level and time only the
  handler's format adds.

structlog is imported with the first event that is emitted, not with
netstack: a program that never logs should not pay for it.
"""

from __future__ import annotations

import functools
import logging
from typing import Any, Final

_stdlib: Final = logging.getLogger("netstack")

#: ``enabled(level)``: whether ``level`` would be emitted (cached by the logging
#: module). The logger's own bound method, so a hot-path check is one call.
enabled: Final = _stdlib.isEnabledFor


class EventDict(dict[str, Any]):
    """An event dict that prints as one line, ``event key=value ...``.

    structlog's ``ProcessorFormatter`` takes it as the dict it is; a plain
    ``logging.Formatter`` calls ``str()`` on it.
    """

    def __str__(self) -> str:
        event = self.get("event", "")
        fields = " ".join(f"{key}={value!r}" for key, value in self.items() if key != "event")
        return f"{event} {fields}" if fields else str(event)


def _to_stdlib(
    logger: Any, method_name: str, event_dict: Any
) -> tuple[tuple[Any, ...], dict[str, Any]]:
    """The last processor: the unrendered event dict for the stdlib handler.

    The same hand-over as ``ProcessorFormatter.wrap_for_formatter`` (``_logger``
    and ``_name`` let a ProcessorFormatter run its chain); ``exc_info`` goes to
    the stdlib logger so its formatter prints the traceback once.
    """
    kwargs: dict[str, Any] = {"extra": {"_logger": logger, "_name": method_name}}
    exc_info = event_dict.pop("exc_info", None)
    if exc_info:
        kwargs["exc_info"] = exc_info
    return (EventDict(event_dict),), kwargs


@functools.cache
def _structlog() -> Any:
    import structlog

    return structlog


@functools.cache
def _plain() -> Any:
    """The logger used while structlog is not configured: stdlib handlers, no rendering."""
    structlog = _structlog()
    return structlog.wrap_logger(
        _stdlib,
        processors=[structlog.contextvars.merge_contextvars, _to_stdlib],
        wrapper_class=structlog.stdlib.BoundLogger,
    )


def _configured(structlog: Any) -> bool:
    """True when the program configured structlog to something of its own.

    Configured back to structlog's builtin defaults (``structlog.testing.capture_logs``
    does that on exit) counts as not configured: those defaults print to stdout.
    """
    if not structlog.is_configured():
        return False
    config = structlog.get_config()
    builtin = structlog._config  # structlog's own record of its defaults
    processors = getattr(builtin, "_BUILTIN_DEFAULT_PROCESSORS", None)
    factory = getattr(builtin, "_BUILTIN_DEFAULT_LOGGER_FACTORY", None)
    return not (
        processors is not None
        and list(config["processors"]) == list(processors)
        and config["logger_factory"] is factory
    )


def logger() -> Any:
    """The library's structlog logger: the program's structlog setup if any, else stdlib's."""
    structlog = _structlog()
    if _configured(structlog):
        return structlog.get_logger("netstack")
    return _plain()


def log_event(level: int, event: str, **fields: object) -> None:
    """Emit ``event`` with ``fields`` at ``level`` if that level is enabled."""
    if _stdlib.isEnabledFor(level):
        logger().log(level, event, **fields)
