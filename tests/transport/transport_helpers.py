"""Helpers for driving Transport.send directly."""

from __future__ import annotations

import dataclasses
import threading
import time
from typing import Any

from urllib3 import HTTPHeaderDict

from netstack.transport import (
    AbortSignal,
    PreparedRequest,
    Transport,
    TransportResponse,
    TransportSettings,
)


class RecordingSink:
    """An EventSink that records every call, in order."""

    def __init__(self) -> None:
        self.events: list[tuple[str, Any]] = []

    def headers(self, headers: HTTPHeaderDict) -> None:
        self.events.append(("headers", headers))

    def data(self, chunk: bytes) -> None:
        self.events.append(("data", chunk))

    def receive_progress(self, received: int, total: int) -> None:
        self.events.append(("receive", (received, total)))

    def send_progress(self, sent: int, total: int) -> None:
        self.events.append(("send", (sent, total)))

    def of(self, kind: str) -> list[Any]:
        return [value for name, value in self.events if name == kind]


_SETTINGS = {f.name for f in dataclasses.fields(TransportSettings)}


def prepared(url: str, method: str = "GET", **kwargs: Any) -> PreparedRequest:
    """A PreparedRequest; keyword arguments go to it or to its TransportSettings."""
    headers = kwargs.pop("headers", {})
    settings = TransportSettings(**{k: kwargs.pop(k) for k in list(kwargs) if k in _SETTINGS})
    return PreparedRequest(
        method, url, headers, settings=settings, started=time.perf_counter(), **kwargs
    )


def send(
    transport: Transport,
    url: str,
    method: str = "GET",
    *,
    sink: RecordingSink | None = None,
    abort: AbortSignal | None = None,
    **kwargs: Any,
) -> TransportResponse:
    return transport.send(prepared(url, method, **kwargs), sink, abort or AbortSignal())


def abort_after(abort: AbortSignal, seconds: float) -> threading.Timer:
    timer = threading.Timer(seconds, abort.abort)
    timer.daemon = True
    timer.start()
    return timer
