"""``netstack batch --redis URL FILE``: enqueue JSON Lines into a shared RedisQueue.

Fire-and-forget: each valid line becomes a request in the queue (the same
line format as ``batch``), run later by ``netstack worker`` processes; the
outcomes are not collected. stdout gets one JSON object per queued line
(``line``, ``url``, ``id``: the id ``RedisQueue.cancel`` takes); malformed
lines are reported on stderr and skipped (``--strict``: stop).
"""

from __future__ import annotations

import argparse
import json
from contextlib import ExitStack
from typing import IO, TYPE_CHECKING, Any, cast

from rich.console import Console
from rich.markup import escape

from netstack import HttpError, Scheduler
from netstack.cli.common import EXIT_FAILED, EXIT_OK, EXIT_USAGE, report_error

if TYPE_CHECKING:
    from netstack.options import OptionsInput

__all__ = ["run"]


def run(args: argparse.Namespace) -> int:
    """Enqueue the input's lines; return the exit status."""
    from netstack.cli.batch_input import open_input, open_output, parse_line
    from netstack.distributed import RedisQueue

    console = Console(stderr=True)
    try:
        queue = RedisQueue(args.redis, args.queue, want_results=False)
    except HttpError as error:
        return report_error(console, error, where="batch")
    queued = malformed = 0
    status = EXIT_OK
    with ExitStack() as stack, Scheduler(queue=queue, name="netstack-enqueue") as scheduler:
        try:
            source: IO[bytes] = stack.enter_context(open_input(args.input))
            out: IO[str] = stack.enter_context(open_output(args.out))
        except OSError as exc:
            console.print(f"[red]netstack: {escape(str(exc))}[/]", soft_wrap=True)
            return EXIT_USAGE
        for number, raw in enumerate(source, 1):
            try:
                line = parse_line(number, raw)
                if line is None:
                    continue
                future = scheduler.submit(line.url, cast("OptionsInput", line.options))
            except (HttpError, UnicodeDecodeError) as exc:
                if isinstance(exc, HttpError) and exc.code != 401:
                    return report_error(console, exc, where=f"line {number}")
                malformed += 1
                text = exc.detail or exc.message if isinstance(exc, HttpError) else str(exc)
                console.print(
                    f"[yellow]netstack: line {number}: malformed, "
                    f"{'stopping' if args.strict else 'skipped'}: {escape(text)}[/]",
                    soft_wrap=True,
                )
                if args.strict:
                    status = EXIT_USAGE
                    break
                continue
            record: dict[str, Any] = {"line": number, "url": line.url, "id": future.request_id}
            if line.has_tag:
                record["tag"] = line.tag
            out.write(json.dumps(record, ensure_ascii=False) + "\n")
            queued += 1
    console.print(
        f"netstack: queued {queued} requests in {queue.name!r} at {queue.url}"
        + (f", {malformed} malformed lines skipped" if malformed else "")
    )
    if status == EXIT_OK and malformed:
        status = EXIT_FAILED
    return status
