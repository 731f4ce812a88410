"""Transport: one prepared request in, the final response (or an HttpError) out.

``send`` runs on a worker thread, many at once. It binds the request's
:class:`RequestContext` to the thread (the pooled connections record DNS,
TCP, TLS, first send and first receive into it), follows redirects, reads
the body and maps every failure to ``HttpError`` at this one boundary.

Timings, milliseconds since ``request.started``; each a cumulative mark of the
final hop (0 when the phase did not happen):

- ``dns``, ``tcp``, ``tls``: name resolved, TCP connected, TLS handshake done
  (``tls`` 0 for http). On a reused keep-alive connection these three are the
  moment the connection was taken from the pool.
- ``first_send``: about to write the request's first byte;
- ``first_receive``: the status line read;
- ``response_header``: the headers parsed (urllib3 returned the response);
- ``response_body``: the body fully read;
- ``total_finish``: the transfer over, connection back in its pool;
- ``redirect``: the last followed redirect's response finished (0 if none).
"""

from __future__ import annotations

from collections.abc import Iterable
from time import perf_counter
from typing import Final, cast

from urllib3 import BaseHTTPResponse, HTTPConnectionPool
from urllib3.util import Timeout, make_headers

from netstack.errors import (
    BAD_URL,
    EMPTY_REPLY,
    HOST_NOT_ALLOWED,
    RECEIVE_FAILED,
    SEND_FAILED,
    TOO_MANY_REDIRECTS,
    UNSUPPORTED_PROTOCOL,
    HttpError,
)
from netstack.transport import body as _body
from netstack.transport import proxy as _proxy
from netstack.transport.context import NameResolver, RequestContext, _local
from netstack.transport.dns import DnsConfig, Resolvers
from netstack.transport.errormap import classify, to_http_error
from netstack.transport.exchange import (
    AbortSignal,
    EventSink,
    PreparedRequest,
    TransportResponse,
)
from netstack.transport.http2errors import StreamRefused
from netstack.transport.pools import NO_RETRIES, Pools
from netstack.transport.redirects import REDIRECT_STATUSES, HopLike, next_hop
from netstack.transport.request_send import DirectSend
from netstack.transport.sockets import ExchangeAborted
from netstack.transport.urls import split_url

__all__ = ["Transport"]

_UrlopenBody = bytes | Iterable[bytes] | None
_DEFAULT_PORTS: Final = {"http": 80, "https": 443}
_VERSIONS: Final = {9: "HTTP/0.9", 10: "HTTP/1.0", 11: "HTTP/1.1", 20: "HTTP/2", 30: "HTTP/3"}
_IDEMPOTENT: Final = frozenset({"GET", "HEAD", "OPTIONS", "PUT", "DELETE", "TRACE"})
#: A reused keep-alive connection that failed with one of these before any
#: response byte was probably closed by the server meanwhile: retried once
#: (see ``_again`` for which methods).
_STALE: Final = frozenset({EMPTY_REPLY, RECEIVE_FAILED, SEND_FAILED})
#: Times a request an HTTP/2 server refused unprocessed is sent again.
_REFUSED_RETRIES: Final = 3


_TIMEOUTS: dict[tuple[float | None, float | None], Timeout] = {}


def _timeout(connect: float | None, read: float | None) -> Timeout:
    """A shared Timeout per pair (urllib3 clones it per request, so sharing is safe)."""
    timeout = _TIMEOUTS.get((connect, read))
    if timeout is None:
        if len(_TIMEOUTS) > 256:
            _TIMEOUTS.clear()
        timeout = _TIMEOUTS[(connect, read)] = Timeout(connect=connect, read=read)
    return timeout


def _new_resolver(config: DnsConfig) -> NameResolver:
    """The resolver for ``config``; dnspython is imported with the first one."""
    from netstack.transport.resolver import Resolver

    return Resolver(config)


def _again(exc: Exception, hop: HopLike, ctx: RequestContext, attempt: int) -> bool:
    """Whether a failed hop may be sent again, on another connection.

    Once, a request whose reused keep-alive connection went stale before any
    response byte, if sending it again cannot apply it twice: an idempotent
    method, a request with an ``Idempotency-Key`` header, or any request whose
    writing failed (the server closed before it had the whole request). A
    POST (or PATCH ...) that went out whole and met a closed connection is not
    resent: the server may have acted on it (RFC 9110 section 9.2.2); curl
    resends it, netstack reports 2300052 and leaves the choice to the caller.
    Up to :data:`_REFUSED_RETRIES` times, any request an HTTP/2 server did not
    process (REFUSED_STREAM, above a GOAWAY's last stream). Never an aborted
    request or a body that cannot be replayed.
    """
    if ctx.abort.aborted or not _body.replayable(hop.body):
        return False
    code, cause = classify(exc, send_failed=ctx.send_failed)
    if isinstance(cause, StreamRefused):
        return attempt < _REFUSED_RETRIES
    return (
        attempt == 0
        and ctx.reused
        and not ctx.received
        and code in _STALE
        and (
            hop.method in _IDEMPOTENT
            or code == SEND_FAILED
            or any(name.lower() == "idempotency-key" for name in hop.headers)
        )
    )


class Transport:
    """Sends PreparedRequests through urllib3 pools; safe to share between threads."""

    def __init__(self, *, max_per_host: int = 8) -> None:
        self._pools = Pools(max_per_host=max_per_host)
        self._resolvers = Resolvers(_new_resolver)

    def __repr__(self) -> str:
        return f"<Transport max_per_host={self._pools.max_per_host}>"

    def send(
        self, request: PreparedRequest, sink: EventSink | None, abort: AbortSignal
    ) -> TransportResponse:
        """Send ``request`` (following redirects); raises ``HttpError`` only."""
        ctx = RequestContext(request.started, abort, request.priority)
        _local.ctx = ctx  # bind to this worker thread (context.bind, inlined)
        try:
            settings = request.settings
            if settings.dns_servers or settings.dns_over_https:
                ctx.resolver = self._resolvers.get(settings)
            return self._send(request, sink, ctx)
        except HttpError as exc:
            if abort.aborted and exc.code != 2300042:
                raise to_http_error(ExchangeAborted(), ctx) from exc
            raise
        except Exception as exc:
            raise to_http_error(exc, ctx) from exc
        finally:
            _local.ctx = None
            abort.attach(None)

    def close(self) -> None:
        """Close every pooled connection; requests sent afterwards fail."""
        self._pools.close()
        self._resolvers.close()

    def _send(
        self, request: PreparedRequest, sink: EventSink | None, ctx: RequestContext
    ) -> TransportResponse:
        abort = ctx.abort
        settings = request.settings
        max_redirects = settings.max_redirects
        timeout = _timeout(settings.connect_timeout, settings.read_timeout)
        hop: HopLike = request  # the first hop is the request itself
        redirects = 0
        while True:
            if abort.aborted:
                raise ExchangeAborted
            resp = self._open(request, hop, ctx, timeout, sink)
            if resp.status not in REDIRECT_STATUSES or max_redirects <= 0:
                break
            location = resp.headers.get("location")
            if not location:
                break
            try:
                if redirects >= max_redirects:
                    raise HttpError.of(TOO_MANY_REDIRECTS, f"{ctx.peer}: more than {max_redirects}")
                hop = next_hop(hop, resp.status, location)
                if hop.body is not None and not _body.replayable(hop.body):
                    detail = f"{ctx.peer}: cannot resend a streamed body after {resp.status}"
                    raise HttpError.of(SEND_FAILED, detail)
            except BaseException:
                _body.discard(resp)
                raise
            _body.release(resp)
            redirects += 1
            ctx.timings.redirect = ctx.ms()

        timings = ctx.timings
        started = request.started
        timings.response_header = (perf_counter() - started) * 1000.0
        try:
            if sink is not None:
                sink.headers(resp.headers)
            content = _body.read_body(resp, request, sink, ctx)
        except BaseException:
            _body.discard(resp)
            raise
        timings.response_body = timings.total_finish = (perf_counter() - started) * 1000.0
        return TransportResponse(
            resp.status,
            resp.headers,
            content,
            hop.url,
            timings,
            redirects,
            _VERSIONS.get(resp.version, "HTTP/1.1"),
        )

    def _open(
        self,
        request: PreparedRequest,
        hop: HopLike,
        ctx: RequestContext,
        timeout: Timeout,
        sink: EventSink | None,
    ) -> BaseHTTPResponse:
        """Send one hop; return the response with its headers read, body unread."""
        origin, target = split_url(hop.url)
        scheme = origin.scheme or "http"
        if scheme not in _DEFAULT_PORTS:
            raise HttpError.of(UNSUPPORTED_PROTOCOL, f"{hop.url}: scheme {scheme!r}")
        host = origin.host
        if not host:
            raise HttpError.of(BAD_URL, f"{hop.url}: no host")
        if request.host_allowed is not None and not request.host_allowed(host):
            raise HttpError.of(HOST_NOT_ALLOWED, f"{hop.url}: host {host!r} is not allowed")
        port = origin.port or _DEFAULT_PORTS[scheme]
        ctx.new_hop(host, port)
        settings = request.settings
        proxy = settings.proxy
        route = None if proxy is None else _proxy.choose(proxy, scheme, host, port)
        pool = self._pools.pool(settings, scheme, host, port, route)
        headers = hop.headers
        if origin.auth and not any(k.lower() == "authorization" for k in headers):
            headers = {**headers, **make_headers(basic_auth=origin.auth)}
        if route is not None and scheme == "http":
            target = _proxy.absolute_form(origin, target)  # forwarded by the proxy, not tunnelled
        attempt = 0
        while True:
            try:
                return self._urlopen(pool, hop, target, headers, ctx, timeout, sink)
            except Exception as exc:
                if not _again(exc, hop, ctx, attempt):
                    raise
            attempt += 1
            ctx.new_hop(host, port)

    @staticmethod
    def _urlopen(
        pool: HTTPConnectionPool,
        hop: HopLike,
        target: str,
        headers: dict[str, str],
        ctx: RequestContext,
        timeout: Timeout,
        sink: EventSink | None,
    ) -> BaseHTTPResponse:
        body: _body.Outgoing = hop.body
        if body is not None:
            body, headers = _body.outgoing(hop.body, hop.body_size, headers, ctx, sink)
        if (
            isinstance(pool, DirectSend)
            and pool.proxy is None
            and timeout.total is None
            and target.startswith("/")
        ):
            resp = pool.send_direct(
                hop.method,
                target,
                cast("_UrlopenBody", body),
                headers,
                timeout,
                NO_RETRIES,
            )
            if body is not None:
                _body.report_small(hop.body, ctx, sink)
            return resp
        resp = pool.urlopen(
            hop.method,
            target,
            body=cast("_UrlopenBody", body),  # memoryview chunks: sendall takes any buffer
            headers=headers,
            retries=NO_RETRIES,
            redirect=False,
            assert_same_host=False,
            timeout=timeout,
            preload_content=False,
            decode_content=True,
            release_conn=False,
        )
        if body is not None:
            _body.report_small(hop.body, ctx, sink)
        return resp
