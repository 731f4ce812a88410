"""``netstack batch FILE|-``: JSON Lines in, one request a line; JSON Lines out as they complete.

Three threads take part. A reader thread reads the input lazily, one line
per free slot of the in-flight window, so a file of millions of lines never
sits in memory. The scheduler's workers run the requests; each future's
done-callback posts it back. The main thread parses and submits lines, and
writes every outcome, in completion order, as they arrive on one queue; it
alone touches the output and the summary, so no line is ever torn.

Ctrl-C sets a flag the main thread notices within a fraction of a second:
reading stops, queued requests are cancelled, running ones finish and are
written, the summary is printed, and the exit status is 130. A second
Ctrl-C stops waiting for the running ones.
"""

from __future__ import annotations

import argparse
import functools
import json
import queue
import signal
import sys
import threading
from collections.abc import Callable, Iterator
from contextlib import AbstractContextManager, ExitStack, nullcontext
from dataclasses import dataclass, fields
from pathlib import Path
from types import FrameType
from typing import IO, Any, Final

from rich.console import Console
from rich.markup import escape
from rich.progress import (
    BarColumn,
    MofNCompleteColumn,
    Progress,
    SpinnerColumn,
    TextColumn,
    TimeElapsedColumn,
)

from netstack import (
    HttpDataType,
    HttpError,
    HttpRequestOptions,
    HttpResponse,
    RequestFuture,
    Scheduler,
)
from netstack.cli.common import (
    EXIT_FAILED,
    EXIT_INTERRUPTED,
    EXIT_OK,
    EXIT_USAGE,
    close_cache,
    open_cache,
)
from netstack.cli.logs import logger
from netstack.cli.records import error_record, response_record, save_body
from netstack.cli.summary import Summary

__all__ = ["EXAMPLES", "add_arguments", "parse_line", "run"]

EXAMPLES = """\
input, one JSON object a line ("url" required; any option by its seed or
snake_case name; "tag" is copied to the output line):
  {"url": "https://example.org/a", "tag": "a"}
  {"url": "https://example.org/b", "method": "POST", "extraData": {"k": 1}, "priority": 500}
  {"url": "https://example.org/c", "header": {"Accept": "text/plain"}, "readTimeout": 2000}

output, one JSON object per request as it completes: line, url, tag,
response_code or error {code, message}, header, cookies, performance_timing,
from_cache, and the body as result, result_base64 or path (--save-dir).

examples:
  netstack batch urls.jsonl > results.jsonl
  generate-urls | netstack batch - --workers 64 --per-host 4 --out results.jsonl
  netstack batch urls.jsonl --save-dir bodies/ --cache-dir ~/.cache/ns
  jq -c '{url: .}' -R < urls.txt | netstack batch -

progress, warnings and the summary go to stderr; stdout stays JSON Lines.
exit status: 0 every line ran and got a response, 1 some request failed or a
line was skipped, 2 bad input (--strict stopped, unreadable file), 130 Ctrl-C.
"""

#: HttpRequestOptions' fields (a ``tag`` field is the scheduler's group name).
_OPTION_FIELDS: Final = frozenset(f.name for f in fields(HttpRequestOptions))
_POLL: Final = 0.1  # seconds between checks for Ctrl-C while waiting


def add_arguments(parser: argparse.ArgumentParser) -> None:
    """The flags of ``batch``."""
    parser.add_argument("input", metavar="FILE|-", help="JSON Lines file, or - for stdin")
    parser.add_argument("--out", metavar="FILE", help="write results here (default stdout)")
    parser.add_argument(
        "--workers", type=int, default=32, metavar="N", help="worker threads (default 32)"
    )
    parser.add_argument(
        "--per-host",
        type=int,
        default=8,
        metavar="N",
        help="requests in flight per host (default 8)",
    )
    parser.add_argument(
        "--window",
        type=int,
        metavar="N",
        help="lines read ahead and in flight at most (default 4 x workers)",
    )
    parser.add_argument(
        "--cache-dir", metavar="DIR", help="use a persistent response cache in DIR, flushed on exit"
    )
    parser.add_argument(
        "--save-dir",
        metavar="DIR",
        help="save each body to DIR/<line>.<ext>; the output has its path",
    )
    parser.add_argument(
        "--strict",
        action="store_true",
        help="stop at the first malformed line instead of skipping it",
    )
    parser.add_argument(
        "--progress",
        action=argparse.BooleanOptionalAction,
        default=None,
        help="progress bar on stderr (default: when stderr is a terminal)",
    )


@dataclass(frozen=True, slots=True)
class Line:
    """One parsed input line."""

    number: int
    url: str
    options: dict[str, Any]
    tag: Any = None
    has_tag: bool = False


def parse_line(number: int, raw: bytes, *, save: bool = False) -> Line | None:
    """Parse one input line (None if blank); HttpError 401 if malformed."""
    text = raw.decode("utf-8-sig" if number == 1 else "utf-8", errors="strict").strip()
    if not text:
        return None
    try:
        item = json.loads(text)
    except ValueError as exc:
        raise HttpError.parameter(f"not JSON: {exc}") from None
    if not isinstance(item, dict):
        raise HttpError.parameter(f"expected a JSON object, got {type(item).__name__}")
    url = item.pop("url", None)
    if not isinstance(url, str) or not url:
        raise HttpError.parameter("url: a non-empty string is required")
    has_tag = "tag" in item
    tag = item.pop("tag", None)
    if isinstance(tag, str) and "tag" in _OPTION_FIELDS:
        item["tag"] = tag  # the scheduler's group name too; any other JSON is only copied
    if save and "expectDataType" not in item and "expect_data_type" not in item:
        item["expectDataType"] = HttpDataType.ARRAY_BUFFER  # save the bytes untouched
    return Line(number, url, item, tag, has_tag)


# -- input -------------------------------------------------------------------

_EOF: Final = "eof"
_LINE: Final = "line"
_DONE: Final = "done"
_READ_ERROR: Final = "read_error"


class _Reader(threading.Thread):
    """Reads lines while the window has room; posts ``(_LINE, (number, bytes))``."""

    def __init__(self, source: IO[bytes], events: queue.SimpleQueue[Any], window: int) -> None:
        super().__init__(name="netstack-batch-reader", daemon=True)
        self.source, self.events = source, events
        self.slots = threading.Semaphore(window)
        self.stopped = threading.Event()

    def run(self) -> None:
        try:
            for number, raw in enumerate(self.source, 1):
                while not self.slots.acquire(timeout=_POLL):
                    if self.stopped.is_set():
                        return
                if self.stopped.is_set():
                    return
                self.events.put((_LINE, (number, raw)))
        except (OSError, ValueError) as exc:
            self.events.put((_READ_ERROR, exc))
            return
        self.events.put((_EOF, None))


def _open_input(name: str) -> AbstractContextManager[IO[bytes]]:
    if name == "-":
        return nullcontext(sys.stdin.buffer)
    return open(name, "rb")


def _open_output(name: str | None) -> AbstractContextManager[IO[str]]:
    if name is None:
        return nullcontext(sys.stdout)
    return open(name, "w", encoding="utf-8")


# -- the run -----------------------------------------------------------------


class _Interrupts:
    """Counts Ctrl-C presses while installed; the main thread polls ``count``."""

    def __init__(self) -> None:
        self.count = 0
        self._previous: Any = None

    def _handle(self, signum: int, frame: FrameType | None) -> None:
        self.count += 1

    def __enter__(self) -> _Interrupts:
        if threading.current_thread() is threading.main_thread():
            self._previous = signal.signal(signal.SIGINT, self._handle)
        return self

    def __exit__(self, *exc: object) -> None:
        if self._previous is not None:
            signal.signal(signal.SIGINT, self._previous)


class _Batch:
    """The main thread's state: in flight, the summary, the output."""

    def __init__(self, args: argparse.Namespace, out: IO[str], console: Console) -> None:
        self.args, self.out, self.console = args, out, console
        self.summary = Summary("netstack batch")
        self.in_flight = 0
        self.submitted = 0
        self.last_line = 0
        self.save_dir = Path(args.save_dir) if args.save_dir else None
        self.on_change: Callable[[], None] = lambda: None

    def warn(self, text: str) -> None:
        self.console.print(f"[yellow]netstack: {escape(text)}[/]", soft_wrap=True)

    def write(self, record: dict[str, Any]) -> None:
        self.out.write(json.dumps(record, ensure_ascii=False, default=str) + "\n")
        self.out.flush()

    def finish(self, line: Line, future: Any) -> None:
        """Write one ended request (a cancelled one is only counted)."""
        self.in_flight -= 1
        if future.cancelled():
            self.summary.cancelled += 1
            return
        head: dict[str, Any] = {"line": line.number, "url": line.url}
        if line.has_tag:
            head["tag"] = line.tag
        error = future.exception()
        if error is not None:
            self.summary.add_error(error)
            self.write({**head, **error_record(error)})
            return
        response: HttpResponse = future.result()
        self.summary.add_response(response)
        path = None
        if self.save_dir is not None:
            try:
                path = save_body(self.save_dir, f"{line.number:08d}", response)
            except OSError as exc:
                self.warn(f"line {line.number}: cannot save the body: {exc}")
        self.write({**head, **response_record(response, path=path)})


def _progress(args: argparse.Namespace, console: Console) -> Progress | None:
    show = console.is_terminal if args.progress is None else args.progress
    if not show:
        return None
    return Progress(
        SpinnerColumn(),
        TextColumn("[progress.description]{task.description}"),
        BarColumn(),
        MofNCompleteColumn(),
        TextColumn("{task.fields[detail]}"),
        TimeElapsedColumn(),
        console=console,
        transient=False,
    )


def run(args: argparse.Namespace) -> int:
    """Run ``batch``; return the exit status."""
    console = Console(stderr=True, force_terminal=True if args.progress else None)
    for name in ("workers", "per_host", "window"):
        value = getattr(args, name)
        if value is not None and value < 1:
            console.print(f"[red]netstack: --{name.replace('_', '-')} must be >= 1[/]")
            return EXIT_USAGE
    if args.save_dir:
        Path(args.save_dir).mkdir(parents=True, exist_ok=True)
    with ExitStack() as stack:
        try:
            source = stack.enter_context(_open_input(args.input))
            out = stack.enter_context(_open_output(args.out))
        except OSError as exc:
            console.print(f"[red]netstack: {escape(str(exc))}[/]", soft_wrap=True)
            return EXIT_USAGE
        return _run(args, source, out, console)


def _run(args: argparse.Namespace, source: IO[bytes], out: IO[str], console: Console) -> int:
    cache = open_cache(args.cache_dir)
    scheduler = Scheduler(
        max_workers=args.workers, max_per_host=args.per_host, cache=cache, name="netstack-batch"
    )
    batch = _Batch(args, out, console)
    events: queue.SimpleQueue[Any] = queue.SimpleQueue()
    reader = _Reader(source, events, args.window or 4 * args.workers)
    progress = _progress(args, console)
    with _Interrupts() as interrupts:
        with progress or nullcontext():
            status = _run_with_display(batch, scheduler, reader, events, interrupts, progress)
        scheduler.shutdown(wait=batch.summary.abandoned == 0, cancel_pending=True)
        close_cache(cache, console)
        batch.summary.stop()
        batch.summary.lines_read = batch.last_line
        console.print(batch.summary.table())
    if status == EXIT_OK and (batch.summary.failed or batch.summary.malformed):
        status = EXIT_FAILED
    return status


def _run_with_display(
    batch: _Batch,
    scheduler: Scheduler,
    reader: _Reader,
    events: queue.SimpleQueue[Any],
    interrupts: _Interrupts,
    progress: Progress | None,
) -> int:
    if progress is not None:
        task = progress.add_task("requests", total=None, detail="")
        summary = batch.summary

        def show() -> None:
            progress.update(
                task,
                completed=summary.finished + summary.cancelled,
                detail=f"{batch.in_flight} in flight, {summary.failed} failed",
            )

        batch.on_change = show
    reader.start()
    status = _loop(batch, scheduler, reader, events, interrupts)
    if status in (EXIT_INTERRUPTED, EXIT_USAGE):
        reader.stopped.set()
    if status == EXIT_INTERRUPTED:
        scheduler.shutdown(wait=False, cancel_pending=True)
        batch.warn(
            "interrupted: cancelled what was queued; waiting for the requests running "
            "(Ctrl-C again to stop waiting)"
        )
        logger.info("batch_interrupted", in_flight=batch.in_flight, last_line=batch.last_line)
    _drain(batch, events, interrupts, reader)
    if progress is not None:
        progress.update(progress.task_ids[0], total=batch.submitted)
        batch.on_change()
    return status


def _post_done(events: queue.SimpleQueue[Any], line: Line, future: RequestFuture) -> None:
    events.put((_DONE, (line, future)))  # on a worker thread: only post it


def _events(
    events: queue.SimpleQueue[Any], interrupts: _Interrupts, seen: int
) -> Iterator[tuple[str, Any] | None]:
    """Yield the next event, or None every _POLL seconds and after a new Ctrl-C."""
    while True:
        if interrupts.count > seen:
            yield None
            return
        try:
            yield events.get(timeout=_POLL)
        except queue.Empty:
            yield None


def _loop(
    batch: _Batch,
    scheduler: Scheduler,
    reader: _Reader,
    events: queue.SimpleQueue[Any],
    interrupts: _Interrupts,
) -> int:
    """Read, submit and write until the input ends; the exit status so far."""
    save = batch.save_dir is not None
    for event in _events(events, interrupts, 0):
        if interrupts.count:
            # A completion taken off the queue just as Ctrl-C came must still be
            # written: dropped here, _drain would wait for it forever.
            if event is not None and event[0] == _DONE:
                _done(batch, reader, *event[1])
            return EXIT_INTERRUPTED
        if event is None:
            continue
        kind, payload = event
        if kind == _DONE:
            batch.finish(*payload)
            reader.slots.release()
        elif kind == _LINE:
            number, raw = payload
            batch.last_line = number
            try:
                line = parse_line(number, raw, save=save)
                if line is None:
                    reader.slots.release()
                    continue
                future = scheduler.submit(line.url, line.options)
            except (HttpError, UnicodeDecodeError) as exc:
                reader.slots.release()
                batch.summary.malformed += 1
                message = (
                    (exc.detail or exc.message)
                    if isinstance(exc, HttpError)
                    else f"not UTF-8: {exc}"
                )
                action = "stopping" if batch.args.strict else "skipped"
                batch.warn(f"line {number}: malformed, {action}: {message}")
                if batch.args.strict:
                    return EXIT_USAGE
                continue
            batch.in_flight += 1
            batch.submitted += 1
            future.add_done_callback(functools.partial(_post_done, events, line))
        elif kind == _READ_ERROR:
            batch.warn(f"cannot read the input after line {batch.last_line}: {payload}")
            return EXIT_USAGE
        else:  # _EOF
            return EXIT_OK
        batch.on_change()
    return EXIT_OK  # pragma: no cover - _events never ends by itself


def _drain(
    batch: _Batch, events: queue.SimpleQueue[Any], interrupts: _Interrupts, reader: _Reader
) -> None:
    """Write every request still in flight; a new Ctrl-C abandons the running ones."""
    seen = interrupts.count
    if batch.in_flight == 0:
        return
    for event in _events(events, interrupts, seen):
        if interrupts.count > seen:
            batch.summary.abandoned = batch.in_flight
            batch.warn(f"abandoned {batch.in_flight} running requests")
            return
        if event is None:
            continue
        kind, payload = event
        if kind == _DONE:
            batch.finish(*payload)
            reader.slots.release()
            batch.on_change()
            if batch.in_flight == 0:
                return
