"""What ``get`` and ``batch`` share: exit codes, the response cache, error reporting."""

from __future__ import annotations

from pathlib import Path
from typing import Final

from rich.console import Console
from rich.markup import escape

from netstack import HttpError, HttpResponseCache
from netstack.cli.logs import logger

__all__ = [
    "EXIT_FAILED",
    "EXIT_INTERRUPTED",
    "EXIT_OK",
    "EXIT_USAGE",
    "close_cache",
    "open_cache",
    "report_error",
]

EXIT_OK: Final = 0
#: A request failed (an HttpError other than 401), or batch skipped a line.
EXIT_FAILED: Final = 1
#: Bad input: a bad flag or option (HttpError 401), unreadable input, ``--strict`` stopped.
EXIT_USAGE: Final = 2
#: Interrupted by Ctrl-C (128 + SIGINT), after writing what completed.
EXIT_INTERRUPTED: Final = 130


def open_cache(directory: str | None) -> HttpResponseCache | None:
    """A persistent response cache in ``directory`` (loads what a last run flushed)."""
    if directory is None:
        return None
    Path(directory).mkdir(parents=True, exist_ok=True)
    return HttpResponseCache(directory=directory)


def close_cache(cache: HttpResponseCache | None, console: Console) -> None:
    """Flush ``cache`` to its directory; a failure is a warning, not an exit code."""
    if cache is None:
        return
    try:
        cache.flush().result(timeout=60)
    except Exception as exc:
        console.print(f"[yellow]netstack: warning: cache not saved: {escape(str(exc))}[/]")
        logger.warning("cache_flush_failed", error=str(exc))


def report_error(console: Console, error: BaseException, *, where: str = "") -> int:
    """Print ``error`` on stderr as ``netstack: error CODE: message``; return the exit code."""
    if not isinstance(error, HttpError):
        error = HttpError.of(2300999, repr(error))
    prefix = f"{where}: " if where else ""
    text = error.message
    if error.detail and error.detail not in text:
        text = f"{text} ({error.detail})"
    console.print(
        f"[red]netstack: {escape(prefix)}error {error.code}: {escape(text)}[/]",
        soft_wrap=True,
    )
    return EXIT_USAGE if error.code == 401 else EXIT_FAILED
