"""Plain-HTTP sockets whose send and receive timeouts the kernel enforces (Linux).

A Python socket with a timeout is non-blocking underneath: before every
``recv`` and ``send`` CPython polls the descriptor, releasing and retaking
the GIL around the poll and again around the call. With many worker threads
those extra GIL hand-offs cost more CPU than the rest of a small request.
:class:`KernelTimedSocket` stays blocking and gives the limit to the kernel
instead (``SO_RCVTIMEO`` / ``SO_SNDTIMEO``): same per-call limit, one system
call and one GIL release per ``recv``. A call that runs out of time fails
with ``EAGAIN``, turned back into ``TimeoutError`` here, so urllib3 and the
error mapping see exactly what a Python socket timeout raises.

Only plain-HTTP connections use it, and only once connected (the connect
keeps Python's timeout): OpenSSL on a blocking socket treats ``EAGAIN`` as
"try again", so TLS sockets keep Python timeouts. Elsewhere than Linux the
plain ``socket.socket`` is used.
"""

from __future__ import annotations

import socket
import struct
import sys
from typing import Any, Final

__all__ = ["ENABLED", "KernelTimedSocket"]

#: SO_RCVTIMEO/SO_SNDTIMEO take a ``struct timeval`` of two longs on Linux.
ENABLED: Final = sys.platform == "linux"

_UNSET: Final = object()
_recv: Final = socket.socket.recv
_recv_into: Final = socket.socket.recv_into
_send: Final = socket.socket.send
_sendall: Final = socket.socket.sendall
_python_settimeout: Final = socket.socket.settimeout


def _timeval(seconds: float | None) -> bytes:
    """``struct timeval`` for ``seconds``; zero (no limit) for None."""
    if seconds is None:
        return struct.pack("ll", 0, 0)
    whole = int(seconds)
    micros = int((seconds - whole) * 1_000_000)
    if whole == 0 and micros == 0:
        micros = 1  # a zero timeval means "no limit"; the smallest limit instead
    return struct.pack("ll", whole, micros)


class KernelTimedSocket(socket.socket):
    """A blocking socket whose ``settimeout`` sets the kernel's send/receive limits.

    Before ``connect`` it is an ordinary socket (the connect runs under
    Python's timeout); ``connect`` then moves the limit to the kernel.
    """

    __slots__ = ("_limit", "_pending")

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        #: The kernel limit in force, as given to settimeout (_UNSET until connected).
        self._limit: object = _UNSET
        #: The timeout set before connecting: Python's, for the connect itself.
        self._pending: float | None = None

    def connect(self, address: Any) -> None:
        """Connect under Python's timeout, then hand the limit to the kernel."""
        super().connect(address)
        pending, self._pending = self._pending, None
        self._limit = None  # connected: settimeout now sets the kernel's limits
        self.settimeout(pending)
        if pending is None:
            _python_settimeout(self, None)

    def settimeout(self, value: float | None) -> None:
        """Per-call limit for ``recv``/``send`` (None: none); a no-op when unchanged."""
        limit = self._limit
        if value == limit:
            return  # the common case: every request on a connection sets the same value
        if limit is _UNSET:  # not connected yet: the connect keeps Python's timeout
            self._pending = value
            _python_settimeout(self, value)
        elif value is not None and value <= 0:  # non-blocking requested: Python's own mode
            self._kernel_limit(None)
            _python_settimeout(self, value)
            self._limit = value
        else:
            self._kernel_limit(value)
            _python_settimeout(self, None)
            self._limit = value

    def gettimeout(self) -> float | None:
        limit = self._limit
        return self._pending if limit is _UNSET else limit  # type: ignore[return-value]

    def _kernel_limit(self, value: float | None) -> None:
        timeval = _timeval(value)
        self.setsockopt(socket.SOL_SOCKET, socket.SO_RCVTIMEO, timeval)
        self.setsockopt(socket.SOL_SOCKET, socket.SO_SNDTIMEO, timeval)

    def _timed_out(self, exc: BlockingIOError) -> BaseException:
        """EAGAIN from a blocking call: the kernel's limit ran out (as Python words it)."""
        if self._limit is _UNSET or not self._limit:
            return exc  # not ours: a non-blocking socket's EAGAIN stays what it is
        return TimeoutError("timed out")

    def recv(self, bufsize: int, flags: int = 0) -> bytes:
        try:
            return _recv(self, bufsize, flags)
        except BlockingIOError as exc:
            raise self._timed_out(exc) from None

    def recv_into(self, buffer: Any, nbytes: int = 0, flags: int = 0) -> int:
        try:
            return _recv_into(self, buffer, nbytes, flags)
        except BlockingIOError as exc:
            raise self._timed_out(exc) from None

    def send(self, data: Any, flags: int = 0) -> int:
        try:
            return _send(self, data, flags)
        except BlockingIOError as exc:
            raise self._timed_out(exc) from None

    def sendall(self, data: Any, flags: int = 0) -> None:
        try:
            _sendall(self, data, flags)
        except BlockingIOError as exc:
            raise self._timed_out(exc) from None
