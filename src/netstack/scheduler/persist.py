"""The persisted queue: waiting requests as JSON, written atomically, read back.

``Scheduler.shutdown(persist=PATH)`` writes, ``Scheduler.resume(PATH)`` reads.
The file is one JSON document::

    {"format": "netstack-queue", "version": 1,
     "requests": [{"url": "...", "options": {...}, "priority": 5, "tag": "crawl"}, ...]}

``options`` holds the request's options that differ from the defaults, by
snake_case name, as ``resolve_options`` accepts them back: enums by value,
value types (``ClientCert``, ``HttpProxy`` ...) and ``RetryPolicy`` as
mappings, bytes as ``{"__bytes__": "<base64>"}``. Listeners given with
``events=`` cannot be persisted. Requests are listed in dispatch order.

The file may hold credentials (headers, a client key's password): it is
created 0600. It is written to a temporary file in the same directory,
fsynced, renamed over PATH and the directory fsynced, so a crash leaves
either the old file or the new one, never a torn one.
"""

from __future__ import annotations

import dataclasses
import json
import os
from collections.abc import Iterable
from pathlib import Path
from typing import TYPE_CHECKING, Any, Final

from netstack.atomic_file import write_atomically
from netstack.errors import HttpError
from netstack.jsonvalue import decode, encode

if TYPE_CHECKING:
    from netstack.options import HttpRequestOptions

__all__ = ["FORMAT", "VERSION", "QueuedRequest", "read_queue", "record", "write_queue"]

FORMAT: Final = "netstack-queue"
VERSION: Final = 1

QueuedRequest = tuple[str, dict[str, Any]]
"""A persisted request as ``resume`` submits it: ``(url, options mapping)``."""


def record(url: str, options: HttpRequestOptions, priority: int, tag: str | None) -> dict[str, Any]:
    """One request's entry in the file (``priority`` and ``tag`` as they are now)."""
    from netstack.options import DEFAULT_OPTIONS

    encoded = {
        f.name: encode(getattr(options, f.name), f.name)
        for f in dataclasses.fields(options)
        if f.name not in ("priority", "tag")
        and getattr(options, f.name) != getattr(DEFAULT_OPTIONS, f.name)
    }
    return {"url": url, "options": encoded, "priority": priority, "tag": tag}


def write_queue(path: str | os.PathLike[str], records: Iterable[dict[str, Any]]) -> int:
    """Write ``records`` atomically to ``path`` (mode 0600); returns how many."""
    target = Path(path)
    items = list(records)
    data = json.dumps(
        {"format": FORMAT, "version": VERSION, "requests": items},
        ensure_ascii=False,
        separators=(",", ":"),
    ).encode("utf-8")
    write_atomically(target, data)
    return len(items)


def read_queue(path: str | os.PathLike[str]) -> list[QueuedRequest]:
    """The requests persisted at ``path``; HttpError 401 if it is not such a file."""
    try:
        document = json.loads(Path(path).read_bytes())
    except OSError as exc:
        raise HttpError.parameter(f"path: cannot read {os.fspath(path)!r}: {exc}") from exc
    except ValueError as exc:
        raise HttpError.parameter(f"path: {os.fspath(path)!r} is not JSON: {exc}") from exc
    if (
        not isinstance(document, dict)
        or document.get("format") != FORMAT
        or document.get("version") != VERSION
        or not isinstance(document.get("requests"), list)
    ):
        raise HttpError.parameter(
            f"path: {os.fspath(path)!r} is not a netstack queue (format {VERSION})"
        )
    out: list[QueuedRequest] = []
    for i, item in enumerate(document["requests"]):
        if not isinstance(item, dict) or not isinstance(item.get("url"), str):
            raise HttpError.parameter(f"path: request #{i} has no url")
        options = decode(item.get("options") or {})
        if not isinstance(options, dict):
            raise HttpError.parameter(f"path: request #{i} has malformed options")
        if "priority" in item:
            options["priority"] = item["priority"]
        if item.get("tag") is not None:
            options["tag"] = item["tag"]
        out.append((item["url"], options))
    return out
