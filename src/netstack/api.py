"""``create_http()`` and ``HttpRequest``: @ohos.net.http's one-shot request task.

One ``HttpRequest`` runs one request (@ohos.net.http: not reusable). ``request`` and
``request_in_stream`` return a :class:`RequestFuture`; input errors raise
``HttpError`` 401 right here, before anything is queued; every other error
ends the future and reaches the callback. See ``netstack.events`` for the
order in which events and the callback fire.
"""

from __future__ import annotations

import logging
import threading
from collections.abc import Callable
from concurrent.futures import Future
from typing import Any

from netstack.call import prepare_call
from netstack.errors import HttpError
from netstack.events import EventEmitter
from netstack.log import log_event
from netstack.options import OptionsInput
from netstack.response import HttpResponse
from netstack.scheduler import RequestFuture, Scheduler, get_default_scheduler

AsyncCallback = Callable[[HttpError | None, Any], object]
"""@ohos.net.http's ``callback(err, data)``: called once, with an error or the data."""


class HttpRequest:
    """One request task: ``request`` or ``request_in_stream`` once, events, ``destroy``."""

    def __init__(self, scheduler: Scheduler | None = None) -> None:
        self._scheduler = scheduler
        self._events = EventEmitter()
        self._lock = threading.Lock()
        self._future: RequestFuture[Any] | None = None
        self._running_on: Scheduler | None = None
        self._claimed = False
        self._destroyed = False

    def __repr__(self) -> str:
        if self._destroyed:
            state = "destroyed"
        elif self._future is None:
            state = "unused"
        else:
            state = f"request {self._future.request_id}"
        return f"<HttpRequest [{state}]>"

    def request(
        self, url: str, options: OptionsInput = None, callback: AsyncCallback | None = None
    ) -> RequestFuture[HttpResponse]:
        """Send the request; the future resolves to an ``HttpResponse``."""
        return self._start(url, options, callback, stream=False)

    def request_in_stream(
        self, url: str, options: OptionsInput = None, callback: AsyncCallback | None = None
    ) -> RequestFuture[int]:
        """Send the request; the body comes only through ``dataReceive``; resolves to the code."""
        return self._start(url, options, callback, stream=True)

    def on(self, type: str, callback: Callable[..., Any]) -> None:
        """Subscribe ``callback`` to the event ``type``."""
        self._events.on(type, callback)

    def once(self, type: str, callback: Callable[..., Any]) -> None:
        """Subscribe ``callback`` to the next ``type`` event only."""
        self._events.on(type, callback, once=True)

    def off(self, type: str, callback: Callable[..., Any] | None = None) -> None:
        """Unsubscribe ``callback``, or every listener of ``type`` when omitted."""
        self._events.off(type, callback)

    def destroy(self) -> None:
        """Interrupt the task: a queued request is cancelled, a running one aborted (2300042).

        No event fires after this returns.
        """
        with self._lock:
            self._destroyed = True
            future, scheduler = self._future, self._running_on
        self._events.close()
        if future is not None and scheduler is not None:
            scheduler.jobs.abort(future)

    def _start(
        self, url: str, options: OptionsInput, callback: AsyncCallback | None, *, stream: bool
    ) -> RequestFuture[Any]:
        if callback is not None and not callable(callback):
            raise HttpError.parameter(f"callback: must be callable, got {callback!r}")
        with self._lock:
            if self._destroyed:
                raise HttpError.parameter("this HttpRequest was destroyed; use create_http() again")
            if self._claimed:
                raise HttpError.parameter(
                    "an HttpRequest runs one request (as in @ohos.net.http, it is not reusable); "
                    "use create_http() again"
                )
            self._claimed = True
        scheduler = self._scheduler or get_default_scheduler()
        if scheduler.defaults is not None:
            options = scheduler.defaults.apply(options)
        try:
            call = prepare_call(
                url,
                options,
                events=self._events,
                cache=scheduler.cache,
                transport=scheduler.transport,
                stream=stream,
                host_allowed=scheduler.jobs.host_check,
                guard=scheduler.jobs.guard,
            )
        except BaseException:
            with self._lock:
                self._claimed = False  # nothing was queued: the task is still unused
            raise
        # Outside the lock: a settled call runs the callback right here, and it may destroy().
        deliver = None if callback is None else _callback_adapter(callback)
        future = scheduler.jobs.submit(call, add_callback=deliver)
        with self._lock:
            self._future, self._running_on = future, scheduler
            destroyed = self._destroyed
        if destroyed:
            scheduler.jobs.abort(future)
        return future


def _callback_adapter(callback: AsyncCallback) -> Callable[[Future[Any]], None]:
    def deliver(future: Future[Any]) -> None:
        if future.cancelled():
            error: HttpError | None = HttpError.of(2300042, "the request was cancelled")
            data = None
        else:
            exc = future.exception()
            error = (
                exc
                if isinstance(exc, HttpError) or exc is None
                else HttpError.of(2300999, repr(exc))
            )
            data = None if exc is not None else future.result()
        try:
            callback(error, data)
        except Exception as exc:  # the caller's bug must not kill a worker
            log_event(logging.INFO, "request_callback_failed", error=repr(exc))

    return deliver


def create_http(scheduler: Scheduler | None = None) -> HttpRequest:
    """A new one-shot request task on ``scheduler`` (default: the process-wide one)."""
    return HttpRequest(scheduler)
