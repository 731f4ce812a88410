"""``netstack batch FILE|-``: requests in, one a line; JSON Lines out as they complete.

Each input line is a JSON object (``url`` plus options) or a plain URL,
detected per line; blank lines and ``#`` comments are skipped.

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

With ``--state DIR`` (see :mod:`netstack.cli.state`) SIGTERM counts as
Ctrl-C too, and the queued requests are not just cancelled: the scheduler
persists them (``shutdown(persist=...)``) and DIR remembers the next input
line; the next run with DIR resumes them (``Scheduler.resume``), skips the
input lines already read, and removes DIR's state when the batch completes.
"""

from __future__ import annotations

import argparse
import dataclasses
import functools
import heapq
import json
import queue
import signal
import threading
from collections.abc import Callable, Iterator
from contextlib import ExitStack, nullcontext
from pathlib import Path
from types import FrameType
from typing import IO, TYPE_CHECKING, Any, cast

from rich.console import Console
from rich.markup import escape
from rich.progress import (
    BarColumn,
    MofNCompleteColumn,
    Progress,
    SpinnerColumn,
    TextColumn,
    TimeElapsedColumn,
    TimeRemainingColumn,
)

from netstack import (
    HttpError,
    HttpResponse,
    RequestFuture,
    Scheduler,
)
from netstack.cli import batch_flags
from netstack.cli.batch_input import (
    DONE,
    LINE,
    POLL,
    READ_ERROR,
    Line,
    Reader,
    open_input,
    open_output,
    parse_line,
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
from netstack.cli.state import SLOT_PREFIX, StateDir, StateError, jsonable
from netstack.cli.summary import Summary
from netstack.scheduler.persist import read_queue, write_queue
from netstack.threads import start_daemon

if TYPE_CHECKING:
    from netstack.options import OptionsInput

__all__ = ["EXAMPLES", "add_arguments", "parse_line", "run"]

EXAMPLES = """\
input, one request a line: a JSON object ("url" required; any option by its
@ohos.net.http camelCase or snake_case name; "tag" is copied to the output
line), or a plain URL; blank lines and lines starting with # are skipped:
  {"url": "https://example.org/a", "tag": "a"}
  {"url": "https://example.org/b", "method": "POST", "extraData": {"k": 1}, "priority": 500}
  {"url": "https://example.org/c", "header": {"Accept": "text/plain"}, "readTimeout": 2000}
  # a comment
  https://example.org/d

output, one JSON object per request as it completes: line, url, tag,
response_code or error {code, message}, header, cookies, performance_timing,
from_cache, attempts, and the body as result, result_base64 or path (--save-dir).

examples:
  netstack batch urls.jsonl > results.jsonl
  netstack batch urls.txt --retry 3 --timeout 5000 --rate 2/s --allow '*.example.org'
  generate-urls | netstack batch - --workers 64 --per-host 4 --out results.jsonl
  netstack batch urls.jsonl --save-dir bodies/ --cache-dir ~/.cache/ns
  generate-urls | netstack batch - --delay 0.5 --block ads.example.org

stop and resume (--state DIR):
  netstack batch urls.jsonl --state job/ --out results.jsonl    Ctrl-C, or SIGTERM
  netstack batch urls.jsonl --state job/ --out results.jsonl    continues where it stopped
  With --state, Ctrl-C or SIGTERM saves the requests still queued (not run)
  and the next input line to read in DIR (created 0700, files 0600, written
  atomically), writes every completed result, prints the summary and exits
  130. Run the same command with the same DIR to continue: the saved requests
  run first, their output lines keep their input line number and tag, then
  FILE is read on from the next line (the lines before are skipped, not run
  again; --out is appended to). When the batch completes, DIR's state is
  removed (DIR too if nothing else is in it). --strict or a read error also
  saves the state (--strict: from the malformed line, to fix and rerun).
  Requests abandoned by a second Ctrl-C run again on resume (their outcome
  was unknown); after a SIGKILL the last saved state is resumed, so lines
  completed since then may be written twice.
  With - (stdin) the saved requests are resumed, but stdin cannot be skipped
  ahead: give it the rest of the input; its first line is numbered from the
  next line saved (printed when interrupted), e.g.
    tail -n +NEXT urls.jsonl | netstack batch - --state job/

progress, warnings and the summary go to stderr; stdout stays JSON Lines.
exit status: 0 every line ran and got a response, 1 some request failed or a
line was skipped, 2 bad input (--strict stopped, unreadable file, unusable
--state), 130 Ctrl-C (or SIGTERM with --state).
"""


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
    parser.add_argument(
        "--state",
        metavar="DIR",
        help="on Ctrl-C or SIGTERM save the queued requests and the input position in DIR; "
        "a rerun with DIR resumes from there (see below)",
    )
    batch_flags.add_arguments(parser)


# -- the run -----------------------------------------------------------------


class _Interrupts:
    """Counts Ctrl-C presses (and SIGTERMs, with ``term``) while installed; polled."""

    def __init__(self, *, term: bool = False) -> None:
        self.count = 0
        self._signals = [signal.SIGINT, signal.SIGTERM] if term else [signal.SIGINT]
        self._previous: dict[int, Any] = {}

    def _handle(self, signum: int, frame: FrameType | None) -> None:
        self.count += 1

    def __enter__(self) -> _Interrupts:
        if threading.current_thread() is threading.main_thread():
            for signum in self._signals:
                self._previous[signum] = signal.signal(signum, self._handle)
        return self

    def __exit__(self, *exc: object) -> None:
        for signum, previous in self._previous.items():
            signal.signal(signum, previous)


class _Batch:
    """The main thread's state: in flight, the summary, the output."""

    def __init__(self, args: argparse.Namespace, out: IO[str], console: Console) -> None:
        self.args, self.out, self.console = args, out, console
        self.summary = Summary("netstack batch")
        self.in_flight = 0
        self.submitted = 0
        #: Lines that ran nothing: blank, comments, malformed (the progress bar counts them).
        self.skipped = 0
        self.defaults = batch_flags.line_defaults(args)
        self.last_line = 0
        self.save_dir = Path(args.save_dir) if args.save_dir else None
        self.on_change: Callable[[], None] = lambda: None
        #: The next input line not yet submitted or skipped (what --state saves).
        self.next_line = 1
        #: Reader slots not to give back when a request ends (resumed beyond the window).
        self.slot_debt = 0
        # With --state: slot tag -> line, in flight and persisted (cancelled), and free slots.
        self.state: StateDir | None = None
        self.lines: dict[str, Line] = {}
        self.persisted: dict[str, Line] = {}
        #: The file the scheduler persisted the queue to when interrupted (in the state dir).
        self.queue_file: str | None = None
        self._free: list[int] = []
        self._next_slot = 0

    def take_slot(self) -> str:
        """The smallest free slot's tag (with --state)."""
        if self._free:
            return f"{SLOT_PREFIX}{heapq.heappop(self._free)}"
        self._next_slot += 1
        return f"{SLOT_PREFIX}{self._next_slot - 1}"

    def free_slot(self, slot: str) -> None:
        heapq.heappush(self._free, int(slot[len(SLOT_PREFIX) :]))

    def adopt(self, line: Line) -> None:
        """A resumed request: its slot is taken."""
        assert line.slot is not None
        self._next_slot = max(self._next_slot, int(line.slot[len(SLOT_PREFIX) :]) + 1)
        self.lines[line.slot] = line

    def warn(self, text: str) -> None:
        self.console.print(f"[yellow]netstack: {escape(text)}[/]", soft_wrap=True)

    def write(self, record: dict[str, Any]) -> None:
        self.out.write(json.dumps(record, ensure_ascii=False, default=str) + "\n")
        self.out.flush()

    def finish(self, line: Line, future: Any) -> None:
        """Write one ended request (a cancelled one is only counted)."""
        self.in_flight -= 1
        if line.slot is not None:
            self.lines.pop(line.slot, None)
            if future.cancelled():
                self.persisted[line.slot] = line  # persisted, or else cancelled: the slot stays
            else:
                self.free_slot(line.slot)
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
        TextColumn("eta"),
        TimeRemainingColumn(),
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
        state = None
        try:
            if args.state:
                state = StateDir(args.state, args.input)
                stack.callback(state.close)
            source = stack.enter_context(open_input(args.input))
            out = stack.enter_context(
                open_output(args.out, append=state is not None and state.resuming)
            )
        except (OSError, StateError) as exc:
            console.print(f"[red]netstack: {escape(str(exc))}[/]", soft_wrap=True)
            return EXIT_USAGE
        return _run(args, source, out, console, state)


def _count_total(args: argparse.Namespace, progress: Progress, resumed: int, first: int) -> None:
    """A file's progress bar gets a total (lines from ``first`` on, plus resumed), counted
    on a thread so that a long file starts at once."""
    task = progress.add_task("requests", total=None, detail="")
    if args.input == "-":
        return

    def count() -> None:
        lines = batch_flags.count_lines(args.input)
        if lines is not None:
            progress.update(task, total=max(lines - first + 1, 0) + resumed)

    start_daemon(count, "netstack-batch-count")


def _run(
    args: argparse.Namespace,
    source: IO[bytes],
    out: IO[str],
    console: Console,
    state: StateDir | None = None,
) -> int:
    try:
        extra = batch_flags.scheduler_options(args)
    except HttpError as error:
        console.print(f"[red]netstack: {escape(error.detail or error.message)}[/]")
        return EXIT_USAGE
    cache = open_cache(args.cache_dir)
    scheduler = Scheduler(
        max_workers=args.workers,
        max_per_host=args.per_host,
        cache=cache,
        name="netstack-batch",
        **extra,
    )
    batch = _Batch(args, out, console)
    events: queue.SimpleQueue[Any] = queue.SimpleQueue()
    window = args.window or 4 * args.workers
    resumed = 0
    if state is not None:
        batch.state = state
        batch.next_line = state.next_line
        try:
            resumed = _resume(batch, scheduler, state, events)
        except (HttpError, StateError) as exc:
            scheduler.shutdown(wait=False, cancel_pending=True)
            close_cache(cache, console)
            console.print(f"[red]netstack: --state {escape(str(exc))}[/]", soft_wrap=True)
            return EXIT_USAGE
    batch.slot_debt = max(resumed - window, 0)
    reader = Reader(
        source,
        events,
        max(window - resumed, 0),
        start=batch.next_line,
        skip=args.input != "-",
    )
    progress = _progress(args, console)
    if progress is not None:
        _count_total(args, progress, resumed, batch.next_line)
    with _Interrupts(term=state is not None) as interrupts:
        with progress or nullcontext():
            status = _run_with_display(batch, scheduler, reader, events, interrupts, progress)
        scheduler.shutdown(wait=batch.summary.abandoned == 0, cancel_pending=True)
        close_cache(cache, console)
        if state is not None:
            _save_state(batch, state, complete=status == EXIT_OK)
        batch.summary.stop()
        batch.summary.lines_read = batch.last_line
        console.print(batch.summary.table())
    if status == EXIT_OK and (batch.summary.failed or batch.summary.malformed):
        status = EXIT_FAILED
    return status


# -- --state -----------------------------------------------------------------


def _resume(
    batch: _Batch, scheduler: Scheduler, state: StateDir, events: queue.SimpleQueue[Any]
) -> int:
    """Submit the requests the state holds, each with its line; returns how many."""
    count = 0
    for name in state.queues:
        path = state.directory / name
        items = read_queue(path)
        lines = []
        for url, options in items:
            info = state.lines.get(str(options.get("tag")))
            if not isinstance(info, dict) or not isinstance(info.get("line"), int):
                raise StateError(f"{path}: a request of no known input line")
            slot = str(options["tag"])
            lines.append(
                Line(info["line"], url, options, info.get("tag"), bool(info.get("has_tag")), slot)
            )
        futures = scheduler.resume(path)
        for line, future in zip(lines, futures, strict=True):
            batch.adopt(line)
            batch.in_flight += 1
            batch.submitted += 1
            future.add_done_callback(functools.partial(_post_done, events, line))
        count += len(futures)
    if count:
        batch.warn(
            f"resumed {count} saved requests from {state.directory}; "
            f"reading the input from line {state.next_line}"
        )
    elif state.resuming:
        batch.warn(f"resuming from {state.directory}: the input from line {state.next_line}")
    logger.info("batch_resumed", requests=count, next_line=state.next_line)
    return count


def _persist_queue(batch: _Batch, scheduler: Scheduler) -> None:
    """Interrupted with --state: the scheduler saves what waits (else it is cancelled)."""
    assert batch.state is not None
    path = batch.state.path("queue")
    try:
        scheduler.shutdown(wait=False, persist=path)
    except (OSError, TypeError) as exc:
        batch.warn(f"cannot save the queued requests ({exc}); running them instead")
        return
    batch.queue_file = path.name


def _save_state(batch: _Batch, state: StateDir, *, complete: bool) -> None:
    """Remove the state if the batch completed, else commit what is left to do."""
    try:
        if complete and batch.summary.abandoned == 0:
            state.remove()
            return
        names: list[str] = []
        mapping: dict[str, dict[str, Any]] = {}
        pending = {**batch.persisted, **batch.lines}
        if batch.queue_file is not None:
            for _, options in read_queue(state.directory / batch.queue_file):
                slot = str(options.get("tag"))
                mapping[slot] = _line_info(pending[slot])
        if batch.summary.abandoned:  # running at the second Ctrl-C: unknown outcome, run again
            rerun = [line for slot, line in batch.lines.items() if slot not in mapping]
            if rerun:
                path = state.path("rerun")
                records = [
                    {"url": line.url, "options": jsonable(line.options), "tag": line.slot}
                    for line in rerun
                ]
                write_queue(path, records)
                names.append(path.name)
                mapping.update((str(line.slot), _line_info(line)) for line in rerun)
        if batch.queue_file is not None:
            names.append(batch.queue_file)
        state.commit(batch.next_line, names, mapping)
    except (OSError, HttpError, KeyError) as exc:
        batch.warn(f"cannot save the state in {state.directory}: {exc}")
        logger.warning("batch_state_not_saved", error=str(exc))
        return
    batch.warn(
        f"saved {len(mapping)} requests and the next input line, {batch.next_line}, "
        f"in {state.directory}; run again with --state to continue"
    )
    logger.info("batch_state_saved", requests=len(mapping), next_line=batch.next_line)


def _line_info(line: Line) -> dict[str, Any]:
    return {"line": line.number, "tag": line.tag, "has_tag": line.has_tag}


# -- the loop ----------------------------------------------------------------


def _stop_queue(batch: _Batch, scheduler: Scheduler) -> None:
    """Interrupted: save (--state) or cancel what is queued; running requests go on."""
    if batch.state is not None:
        _persist_queue(batch, scheduler)
        what = "saved what was queued" if batch.queue_file else "could not save the queue"
    else:
        scheduler.shutdown(wait=False, cancel_pending=True)
        what = "cancelled what was queued"
    batch.warn(
        f"interrupted: {what}; waiting for the requests running (Ctrl-C again to stop waiting)"
    )
    logger.info("batch_interrupted", in_flight=batch.in_flight, last_line=batch.last_line)


def _run_with_display(
    batch: _Batch,
    scheduler: Scheduler,
    reader: Reader,
    events: queue.SimpleQueue[Any],
    interrupts: _Interrupts,
    progress: Progress | None,
) -> int:
    if progress is not None:
        task = progress.task_ids[0]
        summary = batch.summary

        def show() -> None:
            progress.update(
                task,
                completed=summary.finished + summary.cancelled + batch.skipped,
                detail=f"{batch.in_flight} in flight, {summary.failed} failed",
            )

        batch.on_change = show
    reader.start()
    status = _loop(batch, scheduler, reader, events, interrupts)
    if status in (EXIT_INTERRUPTED, EXIT_USAGE):
        reader.stopped.set()
    if status == EXIT_INTERRUPTED:
        _stop_queue(batch, scheduler)
    drained = _drain(batch, events, interrupts, reader)
    if not drained and status != EXIT_INTERRUPTED:  # Ctrl-C while the last requests ran
        status = EXIT_INTERRUPTED
        _stop_queue(batch, scheduler)
        drained = _drain(batch, events, interrupts, reader)
    if not drained:
        _take_posted(batch, events, reader)
        batch.summary.abandoned = batch.in_flight
        batch.warn(f"abandoned {batch.in_flight} running requests")
    if progress is not None:
        progress.update(progress.task_ids[0], total=batch.submitted + batch.skipped)
        batch.on_change()
    return status


def _post_done(events: queue.SimpleQueue[Any], line: Line, future: RequestFuture[Any]) -> None:
    events.put((DONE, (line, future)))  # on a worker thread: only post it


def _events(
    events: queue.SimpleQueue[Any], interrupts: _Interrupts, seen: int
) -> Iterator[tuple[str, Any] | None]:
    """Yield the next event, or None every POLL seconds and after a new Ctrl-C."""
    while True:
        if interrupts.count > seen:
            yield None
            return
        try:
            yield events.get(timeout=POLL)
        except queue.Empty:
            yield None


def _done(batch: _Batch, reader: Reader, line: Line, future: RequestFuture[Any]) -> None:
    batch.finish(line, future)
    if batch.slot_debt:
        batch.slot_debt -= 1
    else:
        reader.slots.release()


def _loop(
    batch: _Batch,
    scheduler: Scheduler,
    reader: Reader,
    events: queue.SimpleQueue[Any],
    interrupts: _Interrupts,
) -> int:
    """Read, submit and write until the input ends; the exit status so far."""
    for event in _events(events, interrupts, 0):
        if interrupts.count:
            # A completion taken off the queue just as Ctrl-C came must still be
            # written: dropped here, _drain would wait for it forever.
            if event is not None and event[0] == DONE:
                _done(batch, reader, *event[1])
            return EXIT_INTERRUPTED
        if event is None:
            continue
        kind, payload = event
        if kind == DONE:
            _done(batch, reader, *payload)
        elif kind == LINE:
            stop = _submit_line(batch, scheduler, reader, events, *payload)
            if stop is not None:
                return stop
        elif kind == READ_ERROR:
            batch.warn(f"cannot read the input after line {batch.last_line}: {payload}")
            return EXIT_USAGE
        else:  # EOF
            return EXIT_OK
        batch.on_change()
    return EXIT_OK  # pragma: no cover - _events never ends by itself


def _submit_line(
    batch: _Batch,
    scheduler: Scheduler,
    reader: Reader,
    events: queue.SimpleQueue[Any],
    number: int,
    raw: bytes,
) -> int | None:
    """Parse and submit one input line; an exit status if the batch must stop."""
    batch.last_line = number
    slot = None
    try:
        line = parse_line(number, raw, save=batch.save_dir is not None)
        if line is None:
            batch.next_line = number + 1
            batch.skipped += 1
            reader.slots.release()
            return None
        options = batch_flags.merge_defaults(line.options, batch.defaults)
        if batch.state is not None:
            slot = batch.take_slot()
            options = {**options, "tag": slot}
            line = dataclasses.replace(line, slot=slot)
        future = scheduler.submit(line.url, cast("OptionsInput", options))
    except (HttpError, UnicodeDecodeError) as exc:
        if slot is not None:
            batch.free_slot(slot)
        reader.slots.release()
        batch.summary.malformed += 1
        batch.skipped += 1
        message = (exc.detail or exc.message) if isinstance(exc, HttpError) else f"not UTF-8: {exc}"
        action = "stopping" if batch.args.strict else "skipped"
        batch.warn(f"line {number}: malformed, {action}: {message}")
        if batch.args.strict:
            return EXIT_USAGE  # next_line stays on it: fix it and resume
        batch.next_line = number + 1
        return None
    batch.next_line = number + 1
    batch.in_flight += 1
    batch.submitted += 1
    if slot is not None:
        batch.lines[slot] = line
    future.add_done_callback(functools.partial(_post_done, events, line))
    return None


def _drain(
    batch: _Batch, events: queue.SimpleQueue[Any], interrupts: _Interrupts, reader: Reader
) -> bool:
    """Write every request still in flight; False if a new Ctrl-C came first."""
    seen = interrupts.count
    if batch.in_flight == 0:
        return True
    for event in _events(events, interrupts, seen):
        if interrupts.count > seen:
            return False
        if event is None:
            continue
        kind, payload = event
        if kind == DONE:
            _done(batch, reader, *payload)
            batch.on_change()
            if batch.in_flight == 0:
                return True
    return True  # pragma: no cover - _events never ends by itself


def _take_posted(batch: _Batch, events: queue.SimpleQueue[Any], reader: Reader) -> None:
    """Handle the requests that ended already (cancelled ones, mostly), without waiting."""
    while True:
        try:
            kind, payload = events.get_nowait()
        except queue.Empty:
            return
        if kind == DONE:
            _done(batch, reader, *payload)
