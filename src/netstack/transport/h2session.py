"""One HTTP/2 connection shared by many worker threads: streams, flow control, GOAWAY.

An :class:`H2Session` owns one TLS socket that ALPN settled on ``h2`` and the
``h2`` state machine that drives it. The design:

- **One reader thread per connection** (a daemon named ``netstack-h2-reader``)
  is the only caller of ``recv``. It feeds the bytes to the state machine and
  demultiplexes the events by stream id into per-stream buffers, then wakes
  the one worker waiting on that stream. Nothing else ever reads the socket.
- **One state lock** guards the state machine and the stream table; it is
  never held across socket I/O. Every stream has a ``Condition`` on that lock,
  so a frame wakes only the thread waiting for it (no thundering herd).
- **One write lock** serialises sending. Whoever changed the state
  machine tries to become the writer and sends everything pending
  (:meth:`H2Session._flush`); a thread that finds the writer busy leaves its
  frames to it, so the reader never blocks behind a large upload.
- **One TLS lock** around every ``SSL_read``/``SSL_write``: OpenSSL forbids
  using one SSL object from two threads at once, so the socket is
  non-blocking and the waits for readable/writable happen outside that lock.
- **A response ends the upload**: when the whole response arrived before the
  whole request body (a server may answer early and send RST_STREAM
  NO_ERROR), the rest of the body is not sent.
- **Flow control**: the peer's windows are honoured when sending (a worker
  waits on its stream until a WINDOW_UPDATE opens the window); our receive
  windows (:data:`STREAM_WINDOW` per stream, :data:`CONNECTION_WINDOW` for
  the connection) are handed back only as the consumer reads, so a slow
  reader buffers at most one stream window and never stalls the other streams.
- **Per-stream failure**: an abort, a timeout, ``max_limit`` or a closed
  response resets that stream alone (RST_STREAM CANCEL). A RST_STREAM from
  the server fails that stream only; REFUSED_STREAM, and after a GOAWAY the
  streams above its ``last_stream_id``, raise :class:`StreamRefused`: the
  server did not process them and the transport sends them again on another
  connection. Streams at or below ``last_stream_id`` keep running until they
  end (graceful shutdown); the connection takes no new stream and closes when
  the last one is done. A dead socket fails only the streams on it, each with
  the exception its progress calls for (no response yet: an empty reply; a
  body cut short: a partial transfer; reset, timeout: as on HTTP/1.1).
"""

from __future__ import annotations

import contextlib
import http.client
import socket
import ssl
import threading
import time
from collections.abc import Iterable
from typing import Any, Final

import h2.config
import h2.connection
import h2.errors
import h2.events
import h2.exceptions
import h2.settings
from urllib3 import HTTPHeaderDict
from urllib3.util.wait import wait_for_read, wait_for_write

from netstack.threads import start_daemon
from netstack.transport.h2stream import Stream, deadline_of, fresh_copy, parse_headers, wait
from netstack.transport.http2errors import Http2Error, StreamRefused
from netstack.transport.sockets import ExchangeAborted

__all__ = ["CONNECTION_WINDOW", "STREAM_WINDOW", "H2Session"]

#: Our receive window per stream, and for the whole connection.
STREAM_WINDOW: Final = 1024 * 1024
CONNECTION_WINDOW: Final = 16 * 1024 * 1024
#: Streams we open on one connection at most, whatever the server allows.
MAX_STREAMS: Final = 1000
_RECV: Final = 65536
_DEFAULT_WINDOW: Final = 65535
#: Longest wait for a readable/writable socket before looking again (seconds).
_TLS_POLL: Final = 1.0


class H2Session:
    """An h2 connection over a connected TLS socket; thread-safe (see the module doc)."""

    def __init__(self, sock: socket.socket, peer: str, io_timeout: float | None = None) -> None:
        self.lock = threading.Lock()
        self.peer = peer
        self._sock = sock
        self._io_timeout = io_timeout
        self._write = threading.Lock()
        self._tls = threading.Lock()
        self._streams: dict[int, Stream] = {}
        self._reserved = 0
        self._goaway: int | None = None  # last_stream_id of a GOAWAY received
        self._dead: BaseException | None = None
        self._closing = False
        self._settings = threading.Event()
        conn = _Connection(h2.config.H2Configuration(client_side=True, header_encoding=None))
        conn.local_settings = h2.settings.Settings(
            client=True,
            initial_values={
                h2.settings.SettingCodes.ENABLE_PUSH: 0,
                h2.settings.SettingCodes.MAX_CONCURRENT_STREAMS: 100,
                h2.settings.SettingCodes.INITIAL_WINDOW_SIZE: STREAM_WINDOW,
                h2.settings.SettingCodes.MAX_HEADER_LIST_SIZE: 300 * 1024,
            },
        )
        conn.initiate_connection()
        conn.increment_flow_control_window(CONNECTION_WINDOW - _DEFAULT_WINDOW)
        self._conn = conn

    # -- life cycle ------------------------------------------------------------

    def start(self, settings_timeout: float | None) -> None:
        """Send the preface, start the reader, wait (bounded) for the server's SETTINGS."""
        self._sock.settimeout(0.0)  # non-blocking: see _send_all and _receive
        self._send_all(self._conn.data_to_send())
        start_daemon(self._read_loop, "netstack-h2-reader")
        self._settings.wait(5.0 if settings_timeout is None else min(settings_timeout, 5.0))

    @property
    def usable(self) -> bool:
        """True while new streams may start here (alive, no GOAWAY, not closing)."""
        return self._dead is None and self._goaway is None and not self._closing

    def reserve(self) -> bool:
        """Claim a stream slot if the server's SETTINGS_MAX_CONCURRENT_STREAMS leaves one."""
        with self.lock:
            if not self.usable:
                return False
            limit = min(self._conn.remote_settings.max_concurrent_streams, MAX_STREAMS)
            if self._reserved >= limit:
                return False
            self._reserved += 1
            return True

    def close(self) -> None:
        """Say GOAWAY and shut the socket; streams still running fail."""
        with self.lock:
            if self._closing:
                return
            self._closing = True
            with contextlib.suppress(Exception):
                self._conn.close_connection()
        with contextlib.suppress(Exception):
            self._flush()
        with contextlib.suppress(OSError):
            self._sock.shutdown(socket.SHUT_RDWR)  # the reader wakes and closes it

    # -- streams ---------------------------------------------------------------

    def open(self, fields: list[tuple[bytes, bytes]], end_stream: bool) -> Stream:
        """Send HEADERS on a new stream (a slot must be reserved); raises StreamRefused."""
        with self.lock:
            if not self.usable:
                self._reserved -= 1
                raise StreamRefused(f"{self.peer}: the HTTP/2 connection takes no new stream")
            conn = self._conn
            try:
                stream_id = conn.get_next_available_stream_id()
                conn.send_headers(stream_id, fields, end_stream=end_stream)
            except h2.exceptions.NoAvailableStreamIDError as exc:
                self._reserved -= 1
                self._goaway = 0  # 2**31 streams used: drain, a new connection takes over
                raise StreamRefused(f"{self.peer}: {exc}") from exc
            except h2.exceptions.TooManyStreamsError as exc:
                self._reserved -= 1
                raise StreamRefused(f"{self.peer}: {exc}") from exc
            stream = Stream(self.lock, stream_id)
            stream.local_closed = end_stream
            self._streams[stream_id] = stream
        self._flush()
        return stream

    def send(self, stream: Stream, data: bytes | memoryview, timeout: float | None) -> None:
        """Write ``data`` as DATA frames as fast as the peer's windows allow."""
        view = memoryview(data).cast("B")
        deadline = deadline_of(timeout)
        conn = self._conn
        while view:
            with self.lock:
                while True:
                    self._check(stream)
                    if stream.ended:
                        return  # the whole response came early: the rest is unwanted
                    size = min(self._window(stream), conn.max_outbound_frame_size, len(view))
                    if size > 0:
                        break
                    wait(stream, deadline, "write")
                conn.send_data(stream.stream_id, bytes(view[:size]))
            view = view[size:]
            self._flush()

    def end(self, stream: Stream) -> None:
        """END_STREAM after the request body (nothing if the response already ended)."""
        with self.lock:
            self._check(stream)
            if stream.ended:
                return
            self._conn.end_stream(stream.stream_id)
            stream.local_closed = True
        self._flush()

    def _window(self, stream: Stream) -> int:
        """How much of ``stream``'s body the peer takes now (under the lock)."""
        try:
            return self._conn.local_flow_control_window(stream.stream_id)
        except h2.exceptions.StreamClosedError as exc:
            raise Http2Error(f"{self.peer}: the stream closed while sending") from exc

    def response(self, stream: Stream, timeout: float | None) -> tuple[int, HTTPHeaderDict]:
        """Wait for the response's status and headers (1xx skipped)."""
        deadline = deadline_of(timeout)
        with self.lock:
            while stream.status is None:
                self._check(stream)
                wait(stream, deadline, "read")
            assert stream.headers is not None
            return stream.status, stream.headers

    def read(
        self, stream: Stream, amt: int | None, timeout: float | None, *, some: bool = False
    ) -> bytes:
        """``amt`` body bytes (all of them for None), fewer only at the end of the stream.

        As a buffered file's ``read(amt)`` does, so urllib3 never asks again for
        the rest and buffers more than it was asked for. ``some``: return as
        soon as any byte is there (``read1``). The wait for ``amt`` stops at half
        a stream window, which the server can always send before we read.
        """
        deadline = deadline_of(timeout)
        with self.lock:
            want = 1 if some else -1 if amt is None else min(amt, STREAM_WINDOW // 2)
            while (want < 0 or stream.buffered < want) and not stream.ended:
                self._check(stream)
                wait(stream, deadline, "read")
            if stream.aborted:
                raise ExchangeAborted
            chunks = stream.chunks
            if amt is None or amt >= stream.buffered:
                out = b"".join(chunks)
                chunks.clear()
            else:
                parts = []
                need = amt
                while need:
                    head = chunks[0]
                    if len(head) <= need:
                        parts.append(chunks.popleft())
                        need -= len(head)
                    else:
                        parts.append(head[:need])
                        chunks[0] = head[need:]
                        need = 0
                out = b"".join(parts)
            stream.buffered -= len(out)
            if out and self._dead is None:
                self._conn.acknowledge_received_data(len(out), stream.stream_id)
        if out:
            self._flush()
        return out

    def finished(self, stream: Stream) -> bool:
        """True once the whole body arrived and was read."""
        return stream.ended and not stream.chunks

    def release(self, stream: Stream) -> None:
        """The exchange is over: reset the stream if unfinished, free its slot."""
        close = False
        with self.lock:
            if stream.released:
                return
            stream.released = True
            self._reserved -= 1
            self._streams.pop(stream.stream_id, None)
            unfinished = not stream.ended or not stream.local_closed
            if unfinished and stream.error is None and self._dead is None:
                stream.ended = True
                with contextlib.suppress(h2.exceptions.H2Error):
                    self._conn.reset_stream(stream.stream_id, h2.errors.ErrorCodes.CANCEL)
            left = stream.buffered
            stream.chunks.clear()
            stream.buffered = 0
            if left and self._dead is None:  # unread bytes: hand the connection window back
                self._conn.acknowledge_received_data(left, stream.stream_id)
            close = self._goaway is not None and not self._streams and not self._closing
        self._flush_quietly()
        if close:
            self.close()

    def _check(self, stream: Stream) -> None:
        """Raise what ended ``stream`` early (under the lock)."""
        if stream.aborted:
            raise ExchangeAborted
        error = stream.error
        if error is not None:
            raise fresh_copy(error)

    # -- the socket ------------------------------------------------------------

    def _flush(self) -> None:
        """Send what the state machine has pending, unless another thread is sending it."""
        while self._write.acquire(blocking=False):
            try:
                with self.lock:
                    data = self._conn.data_to_send()
                    if not data:
                        # Released under the state lock: whoever adds frames after this
                        # point finds the write lock free and sends them itself.
                        self._write.release()
                        return
                self._send_all(data)
            except BaseException as exc:
                self._write.release()
                self._fail(exc)
                raise
            self._write.release()

    def _send_all(self, data: bytes) -> None:
        """Write ``data`` (write lock held), one non-blocking TLS write at a time.

        OpenSSL does not allow one SSL object to read and write from two threads
        at once, so every TLS call takes :attr:`_tls`, never across a wait: the
        waits for a readable or writable socket happen outside it.
        """
        sock = self._sock
        view = memoryview(data)
        deadline = deadline_of(self._io_timeout)
        while view:
            with self._tls:
                try:
                    sent = sock.send(view)
                except (ssl.SSLWantWriteError, ssl.SSLWantReadError, BlockingIOError):
                    sent = 0  # retried with the same bytes, as OpenSSL requires
            if sent:
                view = view[sent:]
                continue
            remaining = None if deadline is None else deadline - time.monotonic()
            if remaining is not None and remaining <= 0:
                raise TimeoutError("The write operation timed out")
            wait_for_write(sock, _TLS_POLL if remaining is None else min(remaining, _TLS_POLL))

    def _receive(self) -> bytes:
        """The next bytes from the peer (b"" at its end); waits outside the TLS lock."""
        sock = self._sock
        while True:
            with self._tls:
                try:
                    return sock.recv(_RECV)
                except (ssl.SSLWantReadError, ssl.SSLWantWriteError, BlockingIOError):
                    pending = sock.pending() if isinstance(sock, ssl.SSLSocket) else 0
            if not pending:
                wait_for_read(sock, _TLS_POLL)

    def _flush_quietly(self) -> None:
        with contextlib.suppress(Exception):
            self._flush()

    def _read_loop(self) -> None:
        sock = self._sock
        error: BaseException
        try:
            while True:
                data = self._receive()
                if not data:
                    error = http.client.RemoteDisconnected(
                        "the server closed the HTTP/2 connection"
                    )
                    break
                with self.lock:
                    try:
                        events = self._conn.receive_data(data)
                    except h2.exceptions.ProtocolError as exc:
                        raise Http2Error(f"{self.peer}: HTTP/2 protocol error: {exc}") from exc
                    for event in events:
                        self._apply(event)
                    drained = self._goaway is not None and not self._streams
                self._flush()
                if drained:
                    self.close()  # a GOAWAY with nothing left to finish: we close too
        except BaseException as exc:
            error = exc
        self._fail(error)
        with contextlib.suppress(OSError):
            sock.close()

    def _fail(self, exc: BaseException) -> None:
        """The connection is gone: fail every stream still on it, each as its state says."""
        with self.lock:
            if self._dead is not None:
                return
            if self._closing and not isinstance(exc, Http2Error):
                exc = Http2Error(f"{self.peer}: the HTTP/2 connection was closed")
            self._dead = exc
            for stream in self._streams.values():
                if stream.ended or stream.error is not None:
                    continue
                if isinstance(exc, http.client.RemoteDisconnected) and stream.status is not None:
                    stream.error = http.client.IncompleteRead(b"")
                else:
                    stream.error = exc
                stream.cond.notify_all()
        self._settings.set()
        with contextlib.suppress(OSError):
            self._sock.shutdown(socket.SHUT_RDWR)  # wakes the reader, which closes it

    def _apply(self, event: h2.events.Event) -> None:
        """Fold one event into its stream (under the lock) and wake its worker."""
        if isinstance(event, h2.events.DataReceived):
            stream = self._streams.get(event.stream_id)
            size = event.flow_controlled_length
            if stream is None or stream.ended:  # a late frame of a reset stream
                self._conn.acknowledge_received_data(size, event.stream_id)
                return
            data = event.data
            if size > len(data):  # padding is never read: acknowledge it now
                self._conn.acknowledge_received_data(size - len(data), event.stream_id)
            if data:
                stream.chunks.append(data)
                stream.buffered += len(data)
            stream.cond.notify()
        elif isinstance(event, h2.events.ResponseReceived):
            stream = self._streams.get(event.stream_id)
            if stream is not None:
                stream.status, stream.headers = parse_headers(event.headers)
                stream.cond.notify()
        elif isinstance(event, h2.events.StreamEnded):
            stream = self._streams.get(event.stream_id)
            if stream is not None:
                stream.ended = True
                stream.cond.notify()
        elif isinstance(event, h2.events.StreamReset):
            self._reset(event.stream_id, event.error_code)
        elif isinstance(event, h2.events.WindowUpdated):
            self._wake(None if event.stream_id == 0 else event.stream_id)
        elif isinstance(event, h2.events.RemoteSettingsChanged):
            self._settings.set()
            self._wake(None)
        elif isinstance(event, h2.events.ConnectionTerminated):
            self._terminated(event)

    def _reset(self, stream_id: int, code: object) -> None:
        stream = self._streams.get(stream_id)
        if stream is None or stream.ended:
            return
        if code == h2.errors.ErrorCodes.REFUSED_STREAM:
            stream.error = StreamRefused(f"{self.peer}: stream refused by the server")
        else:
            stream.error = Http2Error(f"{self.peer}: stream reset by the server: {code!r}")
        stream.cond.notify_all()

    def _terminated(self, event: h2.events.ConnectionTerminated) -> None:
        """GOAWAY: no new stream; the unprocessed ones fail as refused, the rest go on."""
        last = event.last_stream_id or 0
        self._goaway = last if self._goaway is None else min(last, self._goaway)
        for stream in self._streams.values():
            if stream.stream_id > last and not stream.ended and stream.error is None:
                stream.error = StreamRefused(
                    f"{self.peer}: GOAWAY ({event.error_code!r}) before the server took the stream"
                )
                stream.cond.notify_all()

    def _wake(self, stream_id: int | None) -> None:
        streams: Iterable[Stream]
        if stream_id is None:
            streams = self._streams.values()
        else:
            one = self._streams.get(stream_id)
            streams = () if one is None else (one,)
        for stream in streams:
            stream.cond.notify_all()


class _Connection(h2.connection.H2Connection):
    """h2's connection, minus what it does on a GOAWAY it receives.

    h2 closes its state machine and drops our unsent frames on GOAWAY (h2
    issue #1181), so the frames of the streams the server still finishes
    (RFC 9113 §6.8: those up to ``last_stream_id``), even ones in the same
    read, would be protocol errors. Here a GOAWAY only becomes the event; the
    session itself never opens a stream on this connection again.
    """

    def _receive_goaway_frame(self, frame: Any) -> tuple[list[Any], list[h2.events.Event]]:
        event = h2.events.ConnectionTerminated()
        try:
            event.error_code = h2.errors.ErrorCodes(frame.error_code)
        except ValueError:
            event.error_code = frame.error_code
        event.last_stream_id = frame.last_stream_id
        event.additional_data = frame.additional_data or None
        return [], [event]
