"""``netstack batch``'s global request flags, and counting a file's lines for the progress bar.

``--retry N``, ``--delay S``, ``--rate R/s``, ``--allow HOST`` and
``--block HOST`` configure the scheduler (its RetryPolicy, PolitenessPolicy
and host rules); ``--timeout MS`` and ``--priority N`` are defaults merged
under each line's own options (a line that sets one keeps its value).
"""

from __future__ import annotations

import argparse
import os
from collections.abc import Mapping
from typing import Any, Final

from netstack import HttpError, PolitenessPolicy, RetryPolicy

__all__ = ["add_arguments", "count_lines", "line_defaults", "merge_defaults", "scheduler_options"]

_CHUNK: Final = 1 << 20


def _rate(text: str) -> float:
    """``"5"``, ``"5/s"`` or ``"0.5/s"`` -> starts per second per host."""
    number = text.strip().removesuffix("/s")
    try:
        rate = float(number)
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected R or R/s (a number), got {text!r}") from None
    if not rate > 0:
        raise argparse.ArgumentTypeError(f"must be > 0, got {text!r}")
    return rate


def add_arguments(parser: argparse.ArgumentParser) -> None:
    """The global request flags of ``batch``."""
    group = parser.add_argument_group("every request (a line's own options win)")
    group.add_argument(
        "--retry",
        type=int,
        metavar="N",
        help="retry a failed idempotent request up to N times "
        "(429/502/503/504, connect failures, timeouts; default 0)",
    )
    group.add_argument(
        "--timeout", type=int, metavar="MS", help="read and connect timeout in milliseconds"
    )
    group.add_argument("--priority", type=int, metavar="N", help="1..1000 (default 1)")
    group.add_argument(
        "--delay", type=float, metavar="S", help="seconds between two request starts to one host"
    )
    group.add_argument(
        "--rate", type=_rate, metavar="R/s", help="request starts per second to one host, at most"
    )
    group.add_argument(
        "--allow",
        action="append",
        metavar="HOST",
        help="only these hosts (exact, or *.suffix); repeatable; others end with 2300998",
    )
    group.add_argument(
        "--block",
        action="append",
        metavar="HOST",
        help="never these hosts (exact, or *.suffix); repeatable; they end with 2300998",
    )


def scheduler_options(args: argparse.Namespace) -> dict[str, Any]:
    """``Scheduler`` keyword arguments for the flags given (HttpError 401 when invalid)."""
    options: dict[str, Any] = {}
    if args.retry is not None:
        if isinstance(args.retry, bool) or args.retry < 0:
            raise HttpError.parameter(f"--retry: must be >= 0, got {args.retry}")
        options["retry"] = RetryPolicy(attempts=args.retry + 1)
    if args.delay is not None or args.rate is not None:
        options["politeness"] = PolitenessPolicy(min_delay=args.delay or 0.0, rate=args.rate)
    if args.allow:
        options["allowed_hosts"] = args.allow
    if args.block:
        options["blocked_hosts"] = args.block
    return options


def line_defaults(args: argparse.Namespace) -> dict[str, Any]:
    """Options merged under each line's own, keyed by snake_case name."""
    defaults: dict[str, Any] = {}
    if args.timeout is not None:
        defaults["read_timeout"] = defaults["connect_timeout"] = args.timeout
    if args.priority is not None:
        defaults["priority"] = args.priority
    return defaults


def merge_defaults(options: Mapping[str, Any], defaults: Mapping[str, Any]) -> dict[str, Any]:
    """``options`` plus every default it sets under neither spelling (snake_case, camelCase)."""
    merged = dict(options)
    for name, value in defaults.items():
        head, *rest = name.split("_")
        camel = head + "".join(part.title() for part in rest)
        if name not in merged and camel not in merged:
            merged[name] = value
    return merged


def count_lines(path: str) -> int | None:
    """Lines in the regular file ``path`` (a last line without newline counts), else None."""
    try:
        if not os.path.isfile(path):
            return None
        count, last = 0, b"\n"
        with open(path, "rb") as file:
            while chunk := file.read(_CHUNK):
                count += chunk.count(b"\n")
                last = chunk[-1:]
    except OSError:
        return None
    return count + (last != b"\n")
