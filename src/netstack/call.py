"""One HTTP exchange as the scheduler runs it: cache, transport, response.

:func:`prepare_call` runs on the caller's thread and does as little as it
can: validate (401 raised there), split the URL for its host key, and consult
the response cache when one is in use (a fresh hit settles the call at
once). Headers, body and the transport's request are built by
:meth:`Call.run` on a worker, so a queued request costs little memory and
``submit`` stays fast.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Mapping
from dataclasses import replace
from typing import TYPE_CHECKING, Any, Final

from urllib3 import HTTPHeaderDict

from netstack import background, coalesce, errors
from netstack.cache import SAFE_METHODS, driver_of, installed_cache
from netstack.errors import HttpError
from netstack.events import EventEmitter
from netstack.hits import fresh_response
from netstack.options import DEFAULT_OPTIONS, HttpRequestOptions, OptionsInput, RequestMethod
from netstack.prepare import QUERY_METHODS, build_headers, check_url, encode_body, parse_target
from netstack.prepare import request_url as _request_url
from netstack.response import (
    HttpResponse,
    PerformanceTiming,
    decode_result,
    join_cookies,
    response_code,
    response_of,
    timing_of,
)
from netstack.transport import (
    AbortSignal,
    PreparedRequest,
    Transport,
    TransportResponse,
    TransportSettings,
)
from netstack.validation import shared_options

if TYPE_CHECKING:
    from netstack.cache import CachedResponse, CacheDriver, CacheLookup, HttpResponseCache
    from netstack.hostguard import HostGuard
    from netstack.retry import RetryPolicy

Events = EventEmitter | Mapping[str, Callable[..., Any]] | None
"""Per-request listeners: an emitter, or ``{event name: callback}``."""


def _ms(since: float, now: float) -> float:
    return (now - since) * 1000.0


def _seconds(ms: int) -> float | None:
    return ms / 1000.0 if ms else None


def transport_settings(options: HttpRequestOptions) -> TransportSettings:
    """What ``options`` say about connecting (timeouts in seconds, trust, route, DNS)."""
    return TransportSettings(
        connect_timeout=_seconds(options.connect_timeout),
        read_timeout=_seconds(options.read_timeout),
        max_redirects=options.max_redirects,
        ca_path=options.ca_path,
        client_cert=options.client_cert,
        pins=tuple(options.certificate_pinning or ()),  # type: ignore[arg-type]
        proxy=options.using_proxy or None,
        dns_servers=tuple(options.dns_servers or ()),
        dns_over_https=options.dns_over_https,
        protocol=options.using_protocol,
    )


#: Shared by every request made without options (most of them).
_DEFAULT_SETTINGS: Final = transport_settings(DEFAULT_OPTIONS)
#: The options last turned into settings, and their settings: requests of a batch share
#: one options object (``shared_options``), so most calls skip ``transport_settings``.
_last_settings: tuple[HttpRequestOptions, TransportSettings] = (DEFAULT_OPTIONS, _DEFAULT_SETTINGS)


def _settings_of(options: HttpRequestOptions) -> TransportSettings:
    """``transport_settings(options)``, remembered for the last options object seen."""
    global _last_settings  # noqa: PLW0603 - a one-entry memo, swapped whole (thread-safe)
    if options is DEFAULT_OPTIONS:
        return _DEFAULT_SETTINGS
    last = _last_settings
    if last[0] is options:
        return last[1]
    settings = transport_settings(options)
    _last_settings = (options, settings)
    return settings


class Call:
    """A validated request: the unit the scheduler queues and a worker runs."""

    __slots__ = (
        "_abort",
        "_aborted",
        "_cache",
        "_emitter",
        "_headers",
        "_host_allowed",
        "_lookup",
        "_options",
        "_send_url",
        "_settings",
        "_started",
        "_stream",
        "_transport",
        "attempts",
        "cache_miss",
        "from_cache",
        "host_key",
        "priority",
        "retry",
        "settled",
        "settled_error",
        "settled_result",
        "tag",
        "total_timeout",
        "url",
    )

    def __init__(
        self,
        url: str,
        send_url: str,
        host_key: str,
        options: HttpRequestOptions,
        emitter: EventEmitter | None,
        transport: Transport,
        started: float,
        stream: bool,
    ) -> None:
        self.url = url
        self.host_key = host_key
        self.priority = options.priority
        #: The option ``retry`` (None: the scheduler's policy); a stream never retries.
        self.retry: RetryPolicy | int | None = 0 if stream else options.retry
        self.tag = options.tag
        #: ms from submit to the end, whatever the request is doing (0: no limit).
        self.total_timeout = options.total_timeout
        #: Runs so far (``run()`` counts itself): ``HttpResponse.attempts``.
        self.attempts = 0
        self.settled = False
        self.settled_result: object = None
        self.settled_error: BaseException | None = None
        self.from_cache = False
        self.cache_miss = False
        self._send_url = send_url  # without its fragment; "" when the URL is malformed
        self._options = options
        self._settings: TransportSettings | None = None
        self._emitter = emitter
        self._transport = transport
        self._started = started
        self._stream = stream
        self._aborted = False
        self._abort: AbortSignal | None = None
        self._headers: dict[str, str] | None = None
        self._cache: CacheDriver | None = None
        self._lookup: CacheLookup | None = None
        self._host_allowed: Callable[[str], bool] | None = None

    @property
    def options(self) -> HttpRequestOptions:
        """The validated options (what ``Scheduler.shutdown(persist=...)`` writes)."""
        return self._options

    @property
    def method(self) -> str:
        """For the retry policy's idempotency rule."""
        return _method_name(self._options.method)

    def settle(self, result: object = None, error: BaseException | None = None) -> None:
        """Finish before queueing: the scheduler resolves the future at submit."""
        self.settled = True
        self.settled_result = result
        self.settled_error = error

    def abort(self) -> None:
        """Interrupt the exchange from any thread; ``run`` then ends with 2300042."""
        self._aborted = True
        signal = self._abort
        if signal is not None:
            signal.abort()

    def run(self) -> object:
        """Send, let the cache see the answer, and build the result (worker thread)."""
        run_started = time.perf_counter()
        self.attempts += 1
        signal = self._abort = AbortSignal()
        if self._aborted:
            raise HttpError.of(errors.ABORTED, "destroyed before it started")
        try:
            if self._lookup is not None:
                return self._run_cached(signal, run_started)
            prepared = self._prepare()
            response = self._transport.send(prepared, self._emitter, signal)
            if self._stream:
                if self._emitter is not None:
                    self._emitter.end()
                return response_code(response.status)
            return self._respond(prepared, response, 0.0, run_started)
        except HttpError as error:
            error.attempts = self.attempts  # what batch's output lines report
            raise
        except Exception as exc:  # every failure is an HttpError: a defect shows as 2300999
            unexpected = HttpError.of(errors.UNKNOWN, f"{self.url}: {exc!r}")
            unexpected.attempts = self.attempts
            raise unexpected from exc

    def _run_cached(self, signal: AbortSignal, run_started: float) -> object:
        """``run`` for a call the cache sees: single flight, stale-if-error, store."""
        cache, lookup = self._cache, self._lookup
        assert cache is not None
        assert lookup is not None
        served, flight = self._coalesce(cache, lookup, signal, run_started)
        if served is not None:
            return served
        try:
            prepared = self._prepare()
            request_time = time.time()
            try:
                response = self._transport.send(prepared, self._emitter, signal)
            except HttpError as error:
                stale = cache.fail(lookup, time.time())
                if stale is None or self._stream or error.code == errors.ABORTED:
                    raise
                return self._served(stale, lookup.url, run_started)
            if self._stream:
                if lookup.method not in SAFE_METHODS:  # invalidation only: nothing is stored
                    final = response.url if response.redirects else None
                    headers = list(response.headers.iteritems())
                    now = time.time()
                    cache.complete(
                        lookup, response.status, headers, b"", request_time, now, final_url=final
                    )
                if self._emitter is not None:
                    self._emitter.end()
                return response_code(response.status)
            return self._respond(prepared, response, request_time, run_started)
        finally:
            if flight is not None:
                again = cache.peek(lookup.method, lookup.url, lookup.request_headers, time.time())
                flight.land(again.action == "fresh")

    def _coalesce(
        self,
        cache: CacheDriver,
        lookup: CacheLookup,
        signal: AbortSignal,
        run_started: float,
    ) -> tuple[HttpResponse | None, coalesce.Flight | None]:
        """Single flight: the response to serve, or the flight this call leads (if any)."""
        key = None
        if not self._stream and self._headers is not None:
            key = coalesce.coalescing_key(lookup, self._headers)
        if key is None:
            return None, None
        flight, waiter = coalesce.flights_of(cache).join(key)
        if waiter is not None:
            settings = self._settings or _settings_of(self._options)
            limit = coalesce.wait_limit(settings.connect_timeout, settings.read_timeout)
            coalesce.wait(waiter, signal, limit)
            if self._aborted:
                raise HttpError.of(errors.ABORTED, "aborted while waiting for a coalesced request")
        elif flight is None:
            return None, None  # a key that was not stored lately: go alone at once
        served = self._look_again(cache, lookup, run_started)  # stored meanwhile?
        if served is not None and flight is not None:
            flight.land(True)
            flight = None
        return served, flight

    def _look_again(
        self, cache: CacheDriver, lookup: CacheLookup, run_started: float
    ) -> HttpResponse | None:
        """The response a fresh stored entry gives now (stored since ``prepare_call``), if any."""
        again = cache.peek(
            lookup.method, lookup.url, lookup.request_headers, time.time(), count=True
        )
        if again.action != "fresh" or again.response is None:
            return None
        return self._served(again.response, lookup.url, run_started)

    def _served(self, cached: CachedResponse, url: str, run_started: float) -> HttpResponse:
        """``cached`` as this call's response, from the cache (headers event included)."""
        answer = _header_dict(cached.headers)
        if self._emitter is not None:
            self._emitter.headers(answer)
        self.from_cache = True
        elapsed = _ms(self._started, time.perf_counter())
        timing = PerformanceTiming(
            total_timing=elapsed,
            total_finish_timing=elapsed,
            queue_timing=_ms(self._started, run_started),
        )
        return _response(
            cached.status, answer, cached.body, self._options, timing, url, True, self.attempts
        )

    def _prepare(self) -> PreparedRequest:
        options = self._options
        headers = self._headers if self._headers is not None else build_headers(options)
        method = options.method
        body = None if method in QUERY_METHODS else encode_body(options, headers)
        settings = self._settings
        if settings is None:
            settings = self._settings = _settings_of(options)
        url = self._send_url
        if options.extra_data is not None:
            url = _request_url(url, options)
        return PreparedRequest(
            method._value_ if type(method) is RequestMethod else method,  # .value: a property
            url,
            headers,
            body,
            len(body) if body else 0,
            settings,
            None if self._stream else options.max_limit,
            self._stream,
            self._started,
            self._host_allowed,
            self.priority,
        )

    def _respond(
        self,
        prepared: PreparedRequest,
        response: TransportResponse,
        request_time: float,
        run_started: float,
    ) -> HttpResponse:
        status, headers, body = response.status, response.headers, response.body
        from_cache = False
        if self._cache is not None and self._lookup is not None:
            cached = self._cache.complete(
                self._lookup,
                status,
                list(headers.iteritems()),
                body,
                request_time,
                time.time(),
                final_url=response.url if response.redirects else None,
            )
            if cached is not None:
                status, body, from_cache = cached.status, cached.body, True
                headers = _header_dict(cached.headers)
        t = response.timings
        started = prepared.started
        timing = timing_of(
            t.dns,
            t.tcp,
            t.tls,
            t.first_send,
            t.first_receive,
            t.total_finish,
            t.redirect,
            t.response_header,
            t.response_body,
            (time.perf_counter() - started) * 1000.0,
            (run_started - started) * 1000.0,
        )
        result, result_type = decode_result(
            body, headers.get("content-type"), self._options.expect_data_type
        )
        cookies = join_cookies(headers)
        return response_of(
            result,
            result_type,
            status,
            headers,
            cookies,
            timing,
            response.url,
            from_cache,
            self.attempts,
        )


def _response(
    status: int,
    headers: HTTPHeaderDict,
    body: bytes,
    options: HttpRequestOptions,
    timing: PerformanceTiming,
    url: str,
    from_cache: bool,
    attempts: int = 1,
) -> HttpResponse:
    result, result_type = decode_result(body, headers.get("content-type"), options.expect_data_type)
    cookies = join_cookies(headers)
    return response_of(
        result, result_type, status, headers, cookies, timing, url, from_cache, attempts
    )


def _method_name(method: RequestMethod | str) -> str:
    """The method as a plain str: a RequestMethod's value, or the token as given."""
    return method.value if isinstance(method, RequestMethod) else method


def _header_dict(pairs: list[tuple[str, str]]) -> HTTPHeaderDict:
    """Stored header pairs as a case-insensitive mapping (``add`` skips extend's type checks)."""
    headers = HTTPHeaderDict()
    for name, value in pairs:
        headers.add(name, value)
    return headers


def _emitter(events: Events) -> EventEmitter | None:
    if events is None or isinstance(events, EventEmitter):
        return events
    if isinstance(events, Mapping):
        return EventEmitter.from_mapping(events)
    raise HttpError.parameter(
        f"events: expected a mapping of event names to callbacks, got {type(events).__name__}"
    )


def _consult_cache(call: Call, store: CacheDriver) -> None:
    """Answer from ``store`` when it can; else arm the call to revalidate and store.

    A stream is answered only by a fresh hit, its events replayed from the
    stored body; otherwise it goes to the network untouched (its body is not
    kept, so it can be neither revalidated nor stored).
    """
    options = call._options
    headers = call._headers = build_headers(options)
    url = call._send_url if options.extra_data is None else _request_url(call._send_url, options)
    if not call._stream and options.method is RequestMethod.GET:
        hit = fresh_response(store, url, headers, options, call._started, call._emitter)
        if hit is not None:  # the common hit, without the general lookup's objects
            call.from_cache = call.settled = True  # call.settle(hit), one call less
            call.settled_result = hit
            return
    lookup = store.lookup(_method_name(options.method), url, headers, time.time())
    cached = lookup.response
    if cached is not None:  # fresh, stale (while revalidating) or unsatisfiable
        if lookup.background:
            _revalidate_in_background(call, store, lookup, headers)
        answer = _header_dict(cached.headers)
        emitter = call._emitter
        if emitter is not None:
            emitter.headers(answer)
        call.from_cache = lookup.action != "unsatisfiable"
        if call._stream:
            if emitter is not None:
                if cached.body:
                    emitter.data(cached.body)
                    emitter.receive_progress(len(cached.body), len(cached.body))
                emitter.end()
            call.settle(response_code(cached.status))
            return
        elapsed = _ms(call._started, time.perf_counter())
        timing = PerformanceTiming(total_timing=elapsed, total_finish_timing=elapsed)
        call.settle(
            _response(cached.status, answer, cached.body, options, timing, url, call.from_cache)
        )
        return
    call.cache_miss = True
    if not call._stream:
        headers.update(lookup.conditional_headers)
        call._cache, call._lookup = store, lookup
    elif lookup.method not in SAFE_METHODS:  # a streamed POST still invalidates
        call._cache, call._lookup = store, lookup


def _revalidate_in_background(
    call: Call, store: CacheDriver, lookup: CacheLookup, headers: dict[str, str]
) -> None:
    """Refresh the stale entry ``call`` was just served (RFC 5861), on a background thread."""
    again = Call(
        call.url,
        call._send_url,
        call.host_key,
        call._options,
        None,
        call._transport,
        time.perf_counter(),
        False,
    )
    again._host_allowed = call._host_allowed
    again._headers = {**headers, **lookup.conditional_headers}
    again._cache = store
    again._lookup = replace(lookup, action="revalidate", response=None)
    background.start(again.run)


class GuardedCall(Call):
    """A Call whose attempts go through its scheduler's HostGuard (circuit breaker,
    adaptive limits); a scheduler without one makes plain Calls, which pay nothing."""

    __slots__ = ("guard",)

    guard: HostGuard

    def run(self) -> object:
        guard = self.guard
        try:
            verdict = guard.admit(self.host_key)
        except HttpError as error:  # the circuit is open: an attempt, failed without sending
            self.attempts += 1
            error.attempts = self.attempts
            raise
        return guard.run(self.host_key, verdict, super().run)


def prepare_call(
    url: object,
    options: OptionsInput,
    *,
    events: Events,
    cache: HttpResponseCache | None,
    transport: Transport,
    stream: bool = False,
    host_allowed: Callable[[str], bool] | None = None,
    guard: HostGuard | None = None,
) -> Call:
    """Validate (401 raised here) and build the call; settle it now when it cannot run.

    ``host_allowed`` (the scheduler's domain rules) is checked for every
    redirect target by the transport; the scheduler checks the first host.
    ``guard`` (the scheduler's breaker and adaptive limits) wraps each attempt.
    """
    started = time.perf_counter()
    text = check_url(url)
    resolved = DEFAULT_OPTIONS if options is None else shared_options(options)
    emitter = events if events is None or type(events) is EventEmitter else _emitter(events)
    try:
        send_url, host_key = parse_target(text)
    except HttpError as error:
        call = Call(text, "", "", resolved, emitter, transport, started, stream)
        call.settle(error=error)
        return call
    if guard is None:
        call = Call(text, send_url, host_key, resolved, emitter, transport, started, stream)
    else:
        call = GuardedCall(text, send_url, host_key, resolved, emitter, transport, started, stream)
        call.guard = guard
    call._host_allowed = host_allowed
    if resolved.using_cache:
        store = cache if cache is not None else installed_cache()
        if store is not None:
            _consult_cache(call, driver_of(store))
    return call
