"""Per-request events: names, payloads, and the emitter behind ``on``/``once``/``off``.

The contract, once:

* Events of one request fire on the worker thread running it, in this order:
  ``headersReceive`` (the final response's headers, after any redirects) →
  (``dataReceive``, ``dataReceiveProgress``)* → ``dataEnd`` → the future
  resolves → the request's callback. ``dataSendProgress`` fires while the
  request body goes out, before ``headersReceive``.
* ``headersReceive`` and ``dataSendProgress`` fire for ``request`` and
  ``request_in_stream``; ``dataReceive``, ``dataReceiveProgress`` and
  ``dataEnd`` only for ``request_in_stream`` (``request`` delivers the body
  in the response).
* A callback that raises is logged and skipped; the request goes on.
* Callbacks run one at a time. ``destroy()`` waits for a running callback to
  return (unless called from inside one), and no event fires after it.
* ``headerReceive`` is @ohos.net.http's deprecated alias of ``headersReceive``.
"""

from __future__ import annotations

import logging
import warnings
from _thread import RLock
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any, Final

from urllib3 import HTTPHeaderDict

from netstack.errors import HttpError
from netstack.log import log_event

HEADERS_RECEIVE: Final = "headersReceive"
HEADER_RECEIVE: Final = "headerReceive"
DATA_RECEIVE: Final = "dataReceive"
DATA_END: Final = "dataEnd"
DATA_RECEIVE_PROGRESS: Final = "dataReceiveProgress"
DATA_SEND_PROGRESS: Final = "dataSendProgress"

EVENT_TYPES: Final = frozenset(
    {HEADERS_RECEIVE, DATA_RECEIVE, DATA_END, DATA_RECEIVE_PROGRESS, DATA_SEND_PROGRESS}
)

Callback = Callable[..., Any]


@dataclass(frozen=True)
class DataReceiveProgressInfo:
    """Bytes received so far and the Content-Length (0 when unknown)."""

    receive_size: int
    total_size: int


@dataclass(frozen=True)
class DataSendProgressInfo:
    """Bytes of the request body sent so far and its total size."""

    send_size: int
    total_size: int


def canonical_event(event: object) -> str:
    """The event name, with the deprecated alias mapped; unknown names are a 401."""
    if event == HEADER_RECEIVE:
        warnings.warn(
            "'headerReceive' is deprecated; use 'headersReceive'",
            DeprecationWarning,
            stacklevel=3,
        )
        return HEADERS_RECEIVE
    if not isinstance(event, str) or event not in EVENT_TYPES:
        names = ", ".join(sorted(EVENT_TYPES))
        raise HttpError.parameter(f"type: unknown event {event!r}; expected one of {names}")
    return event


class EventEmitter:
    """Listeners of one request, and the transport's event sink for it."""

    __slots__ = ("_closed", "_listeners", "_lock", "_once")

    def __init__(self) -> None:
        self._lock = RLock()  # _thread's: threading.RLock is a Python call around it
        # Each event's listeners as a tuple, replaced (never changed) by on/off/once:
        # emit iterates it as it was when the event fired without copying it.
        self._listeners: dict[str, tuple[tuple[Callback, bool], ...]] = {}
        #: Events with a ``once`` listener still to fire.
        self._once: set[str] = set()
        self._closed = False

    @classmethod
    def from_mapping(cls, events: Mapping[str, Callback]) -> EventEmitter:
        """An emitter with one listener per ``{event name: callback}`` item."""
        emitter = cls()
        for event, callback in events.items():
            emitter.on(event, callback)
        return emitter

    def on(self, event: str, callback: Callback, *, once: bool = False) -> None:
        """Call ``callback`` on every ``event`` (only the next one when ``once``)."""
        name = canonical_event(event)
        if not callable(callback):
            raise HttpError.parameter(f"callback: must be callable, got {callback!r}")
        with self._lock:
            self._listeners[name] = (*self._listeners.get(name, ()), (callback, once))
            if once:
                self._once.add(name)

    def off(self, event: str, callback: Callback | None = None) -> None:
        """Remove ``callback`` from ``event``, or every listener of it when None."""
        name = canonical_event(event)
        with self._lock:
            if callback is None:
                self._listeners.pop(name, None)
                self._once.discard(name)
                return
            listeners = self._listeners.get(name)
            if listeners is not None:
                self._listeners[name] = tuple(item for item in listeners if item[0] != callback)

    def close(self) -> None:
        """Fire nothing more; waits for a callback running on another thread."""
        with self._lock:
            self._closed = True
            self._listeners.clear()
            self._once.clear()

    def wants(self, event: str) -> bool:
        """Whether anyone listens to ``event`` (cheap; lets callers skip building payloads)."""
        return bool(self._listeners.get(event))

    def emit(self, event: str, *args: object) -> None:
        """Call the listeners of ``event`` in subscription order."""
        if self._listeners.get(event):
            self._fire(event, args)

    def _fire(self, event: str, args: tuple[object, ...]) -> None:
        # acquire/release, not ``with``: the with statement costs a third more per event.
        lock = self._lock
        lock.acquire()
        try:
            current = self._listeners.get(event)
            if self._closed or not current:
                return
            if event in self._once:
                self._once.discard(event)
                self._listeners[event] = tuple(item for item in current if not item[1])
            for callback, _ in current:
                try:
                    callback(*args)
                except Exception as exc:  # a listener never breaks the request
                    log_event(
                        logging.INFO, "event_callback_failed", event_type=event, error=repr(exc)
                    )
        finally:
            lock.release()

    # The transport's EventSink -------------------------------------------------

    def headers(self, headers: HTTPHeaderDict) -> None:
        """The final response's headers arrived."""
        self.emit(HEADERS_RECEIVE, headers)

    def data(self, chunk: bytes) -> None:
        """A chunk of the (decoded) body arrived."""
        if self._listeners.get(DATA_RECEIVE):
            self._fire(DATA_RECEIVE, (chunk,))

    def receive_progress(self, received: int, total: int) -> None:
        """Body bytes received so far, of ``total`` (0 when unknown)."""
        if self._listeners.get(DATA_RECEIVE_PROGRESS):
            self.emit(DATA_RECEIVE_PROGRESS, DataReceiveProgressInfo(received, total))

    def send_progress(self, sent: int, total: int) -> None:
        """Request body bytes sent so far, of ``total``."""
        if self._listeners.get(DATA_SEND_PROGRESS):
            self.emit(DATA_SEND_PROGRESS, DataSendProgressInfo(sent, total))

    def end(self) -> None:
        """The body is complete."""
        self.emit(DATA_END)
