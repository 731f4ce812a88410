"""``netstack batch --state DIR``: what an interrupted batch leaves to resume from.

DIR is created 0700 and holds, each file 0600 and written atomically (a
temporary file in DIR, fsynced, renamed, DIR fsynced):

- ``queue-<n>.json``: the requests that were waiting, as
  ``Scheduler.shutdown(persist=...)`` wrote them (``persist.py``'s format);
  ``Scheduler.resume`` submits them again.
- ``rerun-<n>.json``: the same format, written here: the requests that were
  running when a second Ctrl-C stopped waiting for them (their outcome is
  unknown, so they run again).
- ``state.json``, written last, is the commit point: which of those files
  belong to the state, the next input line to read, and what each persisted
  request was in the input::

      {"format": "netstack-batch-state", "version": 1, "input": "/abs/in.jsonl",
       "next_line": 1234, "queues": ["rerun-3.json", "queue-3.json"],
       "lines": {"netstack-batch/7": {"line": 1201, "tag": "a", "has_tag": true}, ...}}

A persisted request is told apart by its scheduler tag, a *slot* name
``netstack-batch/<n>``: a batch with a state gives every request in flight
the smallest free slot, so there are never more distinct tags than requests
in flight and the scheduler's per-tag counters stay small (a tag per line
would grow with the input). ``lines`` maps each slot back to its input line
number and its ``tag`` from the input, which the output line carries.

A crash (SIGKILL) before ``state.json`` is replaced leaves the previous
state whole; files it does not name are removed by the next commit. While a
batch uses DIR it holds an exclusive lock on it, so two batches cannot share
one state.
"""

from __future__ import annotations

import base64
import contextlib
import enum
import json
import os
import sys
from collections.abc import Iterable, Mapping
from pathlib import Path
from typing import Any, Final

from netstack.atomic_file import fsync_dir, write_atomically

__all__ = ["SLOT_PREFIX", "StateDir", "StateError", "jsonable"]

FORMAT: Final = "netstack-batch-state"
VERSION: Final = 1
STATE_FILE: Final = "state.json"
SLOT_PREFIX: Final = "netstack-batch/"
_OURS: Final = ("queue-", "rerun-", STATE_FILE, ".queue-", ".rerun-", ".state.json")


class StateError(Exception):
    """DIR cannot be used as the state of this batch (the message says why)."""


def jsonable(value: object) -> object:
    """``value`` with bytes as ``{"__bytes__": base64}`` and enums by value (persist.py's form)."""
    if isinstance(value, enum.Enum):
        return value.value
    if isinstance(value, bytes | bytearray | memoryview):
        return {"__bytes__": base64.b64encode(bytes(value)).decode("ascii")}
    if isinstance(value, Mapping):
        return {str(k): jsonable(v) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [jsonable(v) for v in value]
    return value


class StateDir:
    """The state directory of one batch, locked while open."""

    def __init__(self, directory: str, input_name: str) -> None:
        self.directory = Path(directory)
        self.input = "-" if input_name == "-" else os.path.abspath(input_name)
        #: What the last run saved (defaults: nothing saved).
        self.next_line = 1
        self.queues: list[str] = []
        self.lines: dict[str, dict[str, Any]] = {}
        self.generation = 0
        self.resuming = False
        self._lock_fd: int | None = None
        try:
            created = not self.directory.exists()
            self.directory.mkdir(mode=0o700, parents=True, exist_ok=True)
            if created:
                os.chmod(self.directory, 0o700)  # whatever the umask
            self._lock()
            self._load()
        except OSError as exc:
            self.close()
            raise StateError(f"--state {directory}: {exc}") from exc
        except StateError:
            self.close()
            raise

    def _lock(self) -> None:
        if sys.platform == "win32":  # pragma: no cover - no flock there
            return
        import fcntl

        self._lock_fd = os.open(self.directory, os.O_RDONLY)
        try:
            fcntl.flock(self._lock_fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            raise StateError(
                f"--state {self.directory}: another netstack batch is using it"
            ) from None

    def _load(self) -> None:
        path = self.directory / STATE_FILE
        try:
            document = json.loads(path.read_bytes())
        except FileNotFoundError:
            return
        except ValueError as exc:
            raise StateError(f"--state {self.directory}: {STATE_FILE} is not JSON: {exc}") from None
        if (
            not isinstance(document, dict)
            or document.get("format") != FORMAT
            or document.get("version") != VERSION
            or not isinstance(document.get("next_line"), int)
            or not isinstance(document.get("queues"), list)
            or not isinstance(document.get("lines"), dict)
        ):
            raise StateError(
                f"--state {self.directory}: {STATE_FILE} is not a netstack batch state "
                f"(format {VERSION})"
            )
        saved = document.get("input")
        if saved != "-" and self.input not in ("-", saved):
            raise StateError(
                f"--state {self.directory} holds the state of a batch of {saved!r}, "
                f"not {self.input!r}: give that input, or another DIR"
            )
        self.next_line = max(int(document["next_line"]), 1)
        self.queues = [str(name) for name in document["queues"]]
        self.lines = document["lines"]
        self.generation = int(document.get("generation", 0))
        self.resuming = True

    def path(self, kind: str) -> Path:
        """Where this run saves its ``queue`` or ``rerun`` file."""
        return self.directory / f"{kind}-{self.generation + 1}.json"

    def commit(
        self, next_line: int, queues: Iterable[str], lines: Mapping[str, Mapping[str, Any]]
    ) -> None:
        """Replace ``state.json`` atomically, then remove the files it no longer names."""
        names = list(queues)
        document = {
            "format": FORMAT,
            "version": VERSION,
            "input": self.input,
            "next_line": next_line,
            "generation": self.generation + 1,
            "queues": names,
            "lines": {tag: jsonable(info) for tag, info in lines.items()},
        }
        data = json.dumps(document, ensure_ascii=False, default=str).encode("utf-8")
        write_atomically(self.directory / STATE_FILE, data)
        for entry in self.directory.iterdir():
            if entry.name.startswith(("queue-", "rerun-")) and entry.name not in names:
                with contextlib.suppress(OSError):
                    entry.unlink()

    def remove(self) -> None:
        """The batch completed: remove the state's files, and DIR if nothing else is in it."""
        with contextlib.suppress(FileNotFoundError):
            (self.directory / STATE_FILE).unlink()  # first: the rest is no state without it
        for entry in self.directory.iterdir():
            if entry.name.startswith(_OURS):
                with contextlib.suppress(OSError):
                    entry.unlink()
        fsync_dir(self.directory)
        with contextlib.suppress(OSError):
            self.directory.rmdir()  # kept if it holds anything else
        self.close()

    def close(self) -> None:
        """Release the lock."""
        if self._lock_fd is not None:
            os.close(self._lock_fd)
            self._lock_fd = None
