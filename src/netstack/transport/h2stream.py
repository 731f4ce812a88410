"""One HTTP/2 stream as the worker thread that owns it sees it, and the waits on it.

A :class:`Stream` is filled by the session's reader thread (status, headers,
body chunks, end, error) under the session's lock and read by one worker;
its ``Condition`` shares that lock, so the reader wakes exactly the worker
whose frame arrived. ``shutdown`` is what the request's ``AbortSignal``
calls: the abort wakes the worker, which then resets this stream alone.
"""

from __future__ import annotations

import socket
import threading
import time
from collections import deque
from collections.abc import Iterable

from urllib3 import HTTPHeaderDict

from netstack.transport.http2errors import Http2Error

__all__ = ["Stream", "deadline_of", "fresh_copy", "parse_headers", "wait"]


class Stream:
    """One request/response exchange on a session; its fields change under the session lock."""

    __slots__ = (
        "aborted",
        "buffered",
        "chunks",
        "cond",
        "ended",
        "error",
        "headers",
        "local_closed",
        "released",
        "status",
        "stream_id",
    )

    def __init__(self, lock: threading.Lock, stream_id: int) -> None:
        self.stream_id = stream_id
        #: Shares the session's lock: a frame wakes only this stream's worker.
        self.cond = threading.Condition(lock)
        self.status: int | None = None
        self.headers: HTTPHeaderDict | None = None
        self.chunks: deque[bytes] = deque()
        #: Bytes in ``chunks``.
        self.buffered = 0
        self.ended = False
        self.error: BaseException | None = None
        self.aborted = False
        self.released = False
        #: END_STREAM sent: the request (body) is complete on our side.
        self.local_closed = False

    def shutdown(self, _how: int = socket.SHUT_RDWR) -> None:
        """What ``AbortSignal.abort`` calls: wake the worker; the stream alone is reset."""
        with self.cond:
            self.aborted = True
            self.cond.notify_all()


def deadline_of(timeout: float | None) -> float | None:
    """The monotonic deadline ``timeout`` seconds from now (None: no limit)."""
    if timeout is None or not isinstance(timeout, int | float):
        return None
    return time.monotonic() + timeout


def wait(stream: Stream, deadline: float | None, what: str) -> None:
    """Wait on the stream's condition (lock held) until woken or the deadline passes."""
    if deadline is None:
        stream.cond.wait()
        return
    remaining = deadline - time.monotonic()
    if remaining <= 0 or not stream.cond.wait(remaining):
        if stream.aborted or stream.error is not None:
            return  # the caller's next check raises the real reason
        raise TimeoutError(f"The {what} operation timed out")


def fresh_copy(error: BaseException) -> BaseException:
    """A fresh exception for each stream failed by one cause (tracebacks are per raise)."""
    try:
        fresh = type(error)(*error.args)
    except Exception:
        fresh = Http2Error(str(error))
    fresh.__cause__ = error
    return fresh


def parse_headers(raw: Iterable[tuple[bytes, bytes]]) -> tuple[int, HTTPHeaderDict]:
    """The ``:status`` and the regular headers of a response HEADERS block."""
    status = 0
    headers = HTTPHeaderDict()
    for name, value in raw:
        if name == b":status":
            status = int(value)
        elif not name.startswith(b":"):
            headers.add(name.decode("latin-1"), value.decode("latin-1"))
    return status, headers
