"""The persisted queue: waiting requests as JSON, written atomically, read back.

``Scheduler.shutdown(persist=PATH)`` writes, ``Scheduler.resume(PATH)`` reads.
The file is one JSON document::

    {"format": "netstack-queue", "version": 1,
     "requests": [{"url": "...", "options": {...}, "priority": 5, "tag": "crawl"}, ...]}

Each request is in the one JSON form of ``netstack.codec`` (also the Redis
wire's): the options that differ from the defaults, as ``resolve_options``
accepts them back. Listeners given with ``events=`` cannot be persisted.
Requests are listed in dispatch order. Reading a file that is not one, or
is damaged, raises HttpError 401 and nothing else.

The file may hold credentials (headers, a client key's password): it is
created 0600. It is written to a temporary file in the same directory,
fsynced, renamed over PATH and the directory fsynced, so a crash leaves
either the old file or the new one, never a torn one.
"""

from __future__ import annotations

import os
from collections.abc import Iterable
from pathlib import Path
from typing import TYPE_CHECKING, Any, Final

from netstack.atomic_file import write_atomically
from netstack.codec import decode_request, dumps, encode_request, loads
from netstack.errors import HttpError

if TYPE_CHECKING:
    from netstack.options import HttpRequestOptions

__all__ = ["FORMAT", "VERSION", "QueuedRequest", "read_queue", "record", "write_queue"]

FORMAT: Final = "netstack-queue"
VERSION: Final = 1

QueuedRequest = tuple[str, dict[str, Any]]
"""A persisted request as ``resume`` submits it: ``(url, options mapping)``."""


def record(
    url: str, options: HttpRequestOptions, priority: int, tag: str | None, attempts: int = 0
) -> dict[str, Any]:
    """One request's entry in the file (``priority`` and ``tag`` as they are now)."""
    return encode_request(url, options, priority=priority, tag=tag, attempts=attempts)


def write_queue(path: str | os.PathLike[str], records: Iterable[dict[str, Any]]) -> int:
    """Write ``records`` atomically to ``path`` (mode 0600); returns how many."""
    items = list(records)
    write_atomically(Path(path), dumps({"format": FORMAT, "version": VERSION, "requests": items}))
    return len(items)


def read_queue(path: str | os.PathLike[str]) -> list[QueuedRequest]:
    """The requests persisted at ``path``; HttpError 401 if it is not such a file."""
    where = f"path: {os.fspath(path)!r}"
    try:
        data = Path(path).read_bytes()
    except OSError as exc:
        raise HttpError.parameter(f"path: cannot read {os.fspath(path)!r}: {exc}") from exc
    document = loads(data, where)
    if (
        not isinstance(document, dict)
        or document.get("format") != FORMAT
        or document.get("version") != VERSION
        or not isinstance(document.get("requests"), list)
    ):
        raise HttpError.parameter(f"{where} is not a netstack queue (format {VERSION})")
    out: list[QueuedRequest] = []
    for i, item in enumerate(document["requests"]):
        request = decode_request(item, f"{where}: request #{i}")
        out.append((request.url, request.options))
    return out
