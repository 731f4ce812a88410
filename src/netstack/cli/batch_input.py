"""``netstack batch``'s input: lines parsed into requests, and the thread that reads them.

Each line is a JSON object (``url`` plus options) or a plain URL, detected
per line; blank lines and ``#`` comments are skipped. :class:`Reader` reads
lazily, one line per free slot of the in-flight window, and posts
``(LINE, (number, bytes))``, then ``(EOF, None)`` or ``(READ_ERROR, exc)``,
on the batch's event queue (``DONE`` is the kind the batch posts itself for
an ended request).
"""

from __future__ import annotations

import json
import queue
import sys
import threading
from contextlib import AbstractContextManager, nullcontext
from dataclasses import dataclass, fields
from typing import IO, Any, Final

from netstack import HttpDataType, HttpError, HttpRequestOptions

__all__ = [
    "DONE",
    "EOF",
    "LINE",
    "POLL",
    "READ_ERROR",
    "Line",
    "Reader",
    "open_input",
    "open_output",
    "parse_line",
]

#: HttpRequestOptions' fields (a ``tag`` field is the scheduler's group name).
OPTION_FIELDS: Final = frozenset(f.name for f in fields(HttpRequestOptions))
POLL: Final = 0.1  # seconds between checks for Ctrl-C while waiting

EOF: Final = "eof"
LINE: Final = "line"
DONE: Final = "done"
READ_ERROR: Final = "read_error"


@dataclass(frozen=True, slots=True)
class Line:
    """One parsed input line."""

    number: int
    url: str
    options: dict[str, Any]
    tag: Any = None
    has_tag: bool = False
    #: With --state: the scheduler tag naming the request's slot (see cli/state.py).
    slot: str | None = None


def parse_line(number: int, raw: bytes, *, save: bool = False) -> Line | None:
    """Parse one input line (None if blank or a # comment); HttpError 401 if malformed.

    A line starting with ``{``, ``[`` or ``"`` is JSON; any other is a plain URL.
    """
    text = raw.decode("utf-8-sig" if number == 1 else "utf-8", errors="strict").strip()
    if not text or text.startswith("#"):
        return None
    if text[0] in '{["':
        try:
            item = json.loads(text)
        except ValueError as exc:
            raise HttpError.parameter(f"not JSON: {exc}") from None
    elif any(c.isspace() for c in text):
        raise HttpError.parameter(f"a plain URL line has no spaces, got {text!r}")
    else:
        item = {"url": text}
    if not isinstance(item, dict):
        raise HttpError.parameter(f"expected a JSON object, got {type(item).__name__}")
    url = item.pop("url", None)
    if not isinstance(url, str) or not url:
        raise HttpError.parameter("url: a non-empty string is required")
    has_tag = "tag" in item
    tag = item.pop("tag", None)
    if isinstance(tag, str) and "tag" in OPTION_FIELDS:
        item["tag"] = tag  # the scheduler's group name too; any other JSON is only copied
    if save and "expectDataType" not in item and "expect_data_type" not in item:
        item["expectDataType"] = HttpDataType.ARRAY_BUFFER  # save the bytes untouched
    return Line(number, url, item, tag, has_tag)


class Reader(threading.Thread):
    """Reads lines while the window has room; posts ``(LINE, (number, bytes))``."""

    def __init__(
        self,
        source: IO[bytes],
        events: queue.SimpleQueue[Any],
        window: int,
        *,
        start: int = 1,
        skip: bool = True,
    ) -> None:
        super().__init__(name="netstack-batch-reader", daemon=True)
        self.source, self.events = source, events
        self.slots = threading.Semaphore(window)
        self.stopped = threading.Event()
        #: The first line to post; with ``skip`` the lines before are read and dropped,
        #: without it the source's first line is numbered ``start`` (stdin resumed).
        self.first_line, self.skip = start, skip

    def run(self) -> None:
        first = 1 if self.skip else self.first_line
        try:
            for number, raw in enumerate(self.source, first):
                if number < self.first_line:
                    continue
                while not self.slots.acquire(timeout=POLL):
                    if self.stopped.is_set():
                        return
                if self.stopped.is_set():
                    return
                self.events.put((LINE, (number, raw)))
        except (OSError, ValueError) as exc:
            self.events.put((READ_ERROR, exc))
            return
        self.events.put((EOF, None))


def open_input(name: str) -> AbstractContextManager[IO[bytes]]:
    if name == "-":
        return nullcontext(sys.stdin.buffer)
    return open(name, "rb")


def open_output(name: str | None, *, append: bool = False) -> AbstractContextManager[IO[str]]:
    if name is None:
        return nullcontext(sys.stdout)
    return open(name, "a" if append else "w", encoding="utf-8")
