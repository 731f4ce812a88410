"""Request bodies going out, response bodies coming in, in 64 KiB chunks.

Sending: a bytes body above one chunk, or any iterable body, goes out as an
iterator of chunks with an explicit ``Content-Length`` (never chunked
transfer coding), so ``send_progress(sent, total)`` follows the bytes really
written and ends with ``sent == total``; a small bytes body reports once.

Receiving: urllib3 decodes ``Content-Encoding`` (gzip, deflate, and br/zstd
when their modules are installed) at most one chunk at a time, so the
``max_body`` limit applies to decoded bytes as they arrive and a compression
bomb never holds much more than the limit. A body without
``Content-Encoding`` is read with ``decode_content=False``: the same bytes,
without urllib3's decode step and decoded-chunk buffer (a put and a get per
chunk). Between chunks the AbortSignal is
checked. On any failure the connection is closed, never pooled half-read.
"""

from __future__ import annotations

import contextlib
import io
from collections.abc import Iterable, Iterator, Mapping
from typing import Final

from urllib3 import BaseHTTPResponse

from netstack.errors import MAX_SIZE_EXCEEDED, HttpError
from netstack.transport.context import RequestContext
from netstack.transport.exchange import EventSink, PreparedRequest
from netstack.transport.sockets import ExchangeAborted

__all__ = ["CHUNK", "discard", "outgoing", "read_body", "release", "replayable"]

CHUNK: Final = 64 * 1024
#: Largest intermediate (redirect) body read to keep its connection alive.
_DRAIN_LIMIT: Final = 1024 * 1024

_Body = bytes | Iterable[bytes] | None
#: What urllib3 is given to send.
Outgoing = bytes | Iterable[bytes | memoryview] | None


def replayable(body: _Body) -> bool:
    """True if the body can be sent again (redirect, retry on a stale connection)."""
    return body is None or isinstance(body, bytes) or iter(body) is not body


def outgoing(
    body: _Body,
    body_size: int,
    headers: dict[str, str],
    ctx: RequestContext,
    sink: EventSink | None,
) -> tuple[Outgoing, dict[str, str]]:
    """What to hand urllib3 as body and headers; large bodies become progress iterators."""
    if body is None or (isinstance(body, bytes) and len(body) <= CHUNK):
        return body, headers
    if isinstance(body, bytes):
        total = len(body)
        chunks: Iterable[bytes | memoryview] = _slices(body)
    else:
        total = body_size
        chunks = body
    if not _has_framing(headers):
        headers = {**headers, "Content-Length": str(total)}
    return _with_progress(chunks, total, ctx, sink), headers


def report_small(body: _Body, ctx: RequestContext, sink: EventSink | None) -> None:
    """One ``send_progress`` for a body sent as one piece."""
    if sink is not None and isinstance(body, bytes):
        size = len(body)
        if 0 < size <= CHUNK and size > ctx.sent_reported:
            ctx.sent_reported = size
            sink.send_progress(size, size)


def _has_framing(headers: Mapping[str, str]) -> bool:
    return any(k.lower() in ("content-length", "transfer-encoding") for k in headers)


def _slices(body: bytes) -> Iterator[memoryview]:
    view = memoryview(body)
    for start in range(0, len(body), CHUNK):
        yield view[start : start + CHUNK]


def _with_progress(
    chunks: Iterable[bytes | memoryview],
    total: int,
    ctx: RequestContext,
    sink: EventSink | None,
) -> Iterator[bytes | memoryview]:
    sent = 0
    for chunk in chunks:
        if ctx.abort.aborted:
            raise ExchangeAborted
        yield chunk  # resumed once urllib3 has written it
        sent += len(chunk)
        if sink is not None and sent > ctx.sent_reported:
            ctx.sent_reported = sent
            sink.send_progress(sent, total)


def read_body(
    resp: BaseHTTPResponse,
    request: PreparedRequest,
    sink: EventSink | None,
    ctx: RequestContext,
) -> bytes:
    """The decoded body (stream mode: b"", chunks went to the sink)."""
    if request.stream:
        _stream(resp, sink, ctx)
        return b""
    abort = ctx.abort
    limit = request.max_body
    decode = "content-encoding" in resp.headers
    length = resp.length_remaining  # Content-Length still to come; None if unknown
    if length is not None and length <= CHUNK and (limit is None or length <= limit) and not decode:
        whole = resp.read()  # the common small identity body: one read, no chunk buffer
        if abort.aborted:
            raise ExchangeAborted
        return whole
    first = resp.read(CHUNK, decode_content=decode)
    if abort.aborted:
        raise ExchangeAborted
    if not first:
        return b""
    size = len(first)
    if limit is not None and size > limit:
        raise _too_big(ctx, limit)
    if resp.length_remaining == 0 and not decode:
        return first  # all of Content-Length arrived, nothing left to decode
    chunk = resp.read(CHUNK, decode_content=decode)
    if abort.aborted:
        raise ExchangeAborted
    if not chunk:
        return first  # the common small body: no copy
    buf = io.BytesIO()  # getvalue() hands over its buffer without a copy
    buf.write(first)
    while chunk:
        size += len(chunk)
        if limit is not None and size > limit:
            raise _too_big(ctx, limit)
        buf.write(chunk)
        chunk = resp.read(CHUNK, decode_content=decode)
        if abort.aborted:
            raise ExchangeAborted
    return buf.getvalue()


def _stream(resp: BaseHTTPResponse, sink: EventSink | None, ctx: RequestContext) -> None:
    """Hand each chunk to the sink and keep nothing; progress counts wire bytes."""
    abort = ctx.abort
    total = resp.length_remaining or 0  # Content-Length, 0 when unknown
    decode = "content-encoding" in resp.headers
    while True:
        chunk = resp.read(CHUNK, decode_content=decode)
        if abort.aborted:
            raise ExchangeAborted
        if not chunk:
            return
        if sink is not None:
            sink.data(chunk)
            sink.receive_progress(resp.tell(), total)


def _too_big(ctx: RequestContext, limit: int) -> HttpError:
    return HttpError.of(MAX_SIZE_EXCEEDED, f"{ctx.peer}: decoded body exceeds {limit} bytes")


def release(resp: BaseHTTPResponse) -> None:
    """Finish with an intermediate response: drain a small body and pool the connection."""
    drained = 0
    try:
        while drained <= _DRAIN_LIMIT:
            data = resp.read(CHUNK, decode_content=False)
            if not data:
                resp.release_conn()
                return
            drained += len(data)
    except Exception:  # noqa: S110 - a failed drain only costs the connection
        pass
    discard(resp)


def discard(resp: BaseHTTPResponse) -> None:
    """Close the response and its connection; the pool gets the closed slot back."""
    with contextlib.suppress(Exception):
        resp.close()
    resp.release_conn()
