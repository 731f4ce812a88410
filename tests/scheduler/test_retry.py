"""Retries: the policy's decisions (pure), and retried requests on loopback origins."""

from __future__ import annotations

import itertools
import logging
import threading
import time
from email.utils import formatdate

import pytest
from hypothesis import given
from hypothesis import strategies as st
from policy_servers import origins
from scheduler_fakes import FakeJob

from netstack import HttpError, HttpResponse, RetryPolicy, Scheduler, create_http
from netstack.errors import ABORTED, CONNECT_FAILED, TIMEOUT
from netstack.options import HttpDataType
from netstack.retry import parse_retry_after


def answer(status: int, headers: dict[str, str] | None = None) -> HttpResponse:
    return HttpResponse(
        result="", result_type=HttpDataType.STRING, response_code=status, header=headers or {}
    )


# -- the policy, pure ------------------------------------------------------------------------


@given(attempt=st.integers(1, 40), rand=st.floats(0, 1, exclude_max=True))
def test_backoff_is_exponential_capped_and_jitter_only_shortens_it(
    attempt: int, rand: float
) -> None:
    policy = RetryPolicy(attempts=50, backoff=0.5, max_backoff=30.0, jitter=0.5)
    full = min(30.0, 0.5 * 2 ** (attempt - 1))
    delay = policy.backoff_delay(attempt, rand)
    assert full * 0.5 <= delay <= full


def test_default_policy_retries_connect_timeout_and_429_502_503_504_for_idempotent_methods() -> (
    None
):
    policy = RetryPolicy()
    kw = {"wall_now": 0.0, "rand": 0.0}
    for status in (429, 502, 503, 504):
        assert policy.next_delay(1, "GET", answer(status), None, **kw) is not None
    for status in (200, 404, 500, 501):
        assert policy.next_delay(1, "GET", answer(status), None, **kw) is None
    for code in (CONNECT_FAILED, TIMEOUT):
        assert policy.next_delay(1, "PUT", None, HttpError.of(code), **kw) is not None
    assert policy.next_delay(1, "GET", None, HttpError.of(2300060), **kw) is None
    assert policy.next_delay(1, "GET", None, ZeroDivisionError(), **kw) is None
    assert policy.next_delay(1, "POST", answer(503), None, **kw) is None  # not idempotent
    assert RetryPolicy(methods={"POST"}).next_delay(1, "POST", answer(503), None, **kw)
    assert policy.next_delay(3, "GET", answer(503), None, **kw) is None  # 3 attempts made


def test_retry_after_seconds_and_http_date_are_honoured_and_too_long_ends_retries() -> None:
    policy = RetryPolicy(max_retry_after=60)
    now = 1_700_000_000.0
    seconds = policy.next_delay(
        1, "GET", answer(503, {"retry-after": "7"}), None, wall_now=now, rand=0.9
    )
    assert seconds == (7.0, "status 503, Retry-After")
    date = formatdate(now + 12, usegmt=True)
    delay = policy.next_delay(
        1, "GET", answer(429, {"retry-after": date}), None, wall_now=now, rand=0
    )
    assert delay is not None
    assert delay[0] == pytest.approx(12, abs=1)
    assert (
        policy.next_delay(1, "GET", answer(503, {"retry-after": "61"}), None, wall_now=now, rand=0)
        is None
    )
    garbage = policy.next_delay(
        1, "GET", answer(503, {"retry-after": "soon"}), None, wall_now=now, rand=0
    )
    assert garbage == (policy.backoff_delay(1, 0), "status 503")  # ignored: plain backoff


def test_parse_retry_after() -> None:
    assert parse_retry_after("0") == 0.0
    assert parse_retry_after(" 120 ") == 120.0
    assert parse_retry_after("Wed, 21 Oct 2015 07:28:00 GMT", wall_now=1445412480.0 - 30) == 30.0
    assert parse_retry_after("Wed, 21 Oct 2015 07:28:00 GMT", wall_now=2e9) == 0.0  # past
    assert parse_retry_after("-5") is None
    assert parse_retry_after("tomorrow") is None


@pytest.mark.parametrize(
    ("kwargs", "field"),
    [
        ({"attempts": 0}, "attempts"),
        ({"attempts": True}, "attempts"),
        ({"backoff": -1}, "backoff"),
        ({"jitter": 1.5}, "jitter"),
        ({"statuses": "503"}, "statuses"),
        ({"methods": "GET"}, "methods"),
    ],
)
def test_policy_rejects_bad_values_with_401_naming_the_field(
    kwargs: dict[str, object], field: str
) -> None:
    with pytest.raises(HttpError, match=f"retry.{field}") as info:
        RetryPolicy(**kwargs)  # type: ignore[arg-type]
    assert info.value.code == 401


def test_retry_option_accepts_a_policy_zero_or_a_mapping_and_rejects_the_rest() -> None:
    from netstack.validation import resolve_options

    assert resolve_options({"retry": 0}).retry == 0
    assert resolve_options({"retry": {"attempts": 5, "maxBackoff": 2}}).retry == RetryPolicy(
        attempts=5, max_backoff=2
    )
    for bad in (1, True, "3", {"tries": 2}):
        with pytest.raises(HttpError, match="retry") as info:
            resolve_options({"retry": bad})
        assert info.value.code == 401


# -- retried requests ------------------------------------------------------------------------


@pytest.mark.timeout(30)
def test_503_with_retry_after_is_retried_after_that_wait_and_returns_the_last_response() -> None:
    with origins(1) as (origin,), Scheduler(retry=RetryPolicy(attempts=3)) as scheduler:
        future = scheduler.submit(f"{origin.url}/flaky?key=a&fail=2&retry_after=1")
        response = future.result(timeout=20)
        starts = origin.starts("/flaky")
    assert (response.response_code, response.attempts, response.result) == (200, 3, "ok")
    assert len(starts) == 3
    gaps = [b - a for a, b in itertools.pairwise(starts)]
    assert all(0.8 <= gap <= 5 for gap in gaps), gaps


@pytest.mark.timeout(30)
def test_when_attempts_run_out_the_future_has_the_last_attempts_response() -> None:
    policy = RetryPolicy(attempts=3, backoff=0.01)
    with origins(1) as (origin,), Scheduler(retry=policy) as scheduler:
        response = scheduler.submit(f"{origin.url}/flaky?key=b&fail=9&code=502").result(timeout=20)
        assert origin.count("/flaky") == 3
    assert (response.response_code, response.attempts) == (502, 3)
    stats = scheduler.stats()
    assert (stats.completed, stats.failed, stats.retrying, stats.submitted) == (1, 0, 0, 1)


@pytest.mark.timeout(30)
def test_connect_failures_are_retried_and_logged_and_the_last_error_ends_the_future(
    caplog: pytest.LogCaptureFixture,
) -> None:
    policy = RetryPolicy(attempts=3, backoff=0.01)
    with caplog.at_level(logging.DEBUG, logger="netstack"), Scheduler(retry=policy) as scheduler:
        error = scheduler.submit("http://127.0.0.1:1/").exception(timeout=20)
    assert isinstance(error, HttpError)
    assert error.code == CONNECT_FAILED
    messages = [r.getMessage() for r in caplog.records]
    assert sum("retry_scheduled" in m for m in messages) == 2
    assert any("failed" in m and "attempts=3" in m for m in messages), messages


@pytest.mark.timeout(30)
def test_a_request_waiting_out_its_backoff_holds_no_worker() -> None:
    """One worker: while A waits 1 s to retry, B runs; A re-enters the queue when due."""
    with origins(1) as (origin,), Scheduler(max_workers=1, retry=RetryPolicy()) as scheduler:
        a = scheduler.submit(f"{origin.url}/flaky?key=c&fail=1&retry_after=1")
        deadline = time.monotonic() + 10
        while scheduler.stats().retrying == 0 and time.monotonic() < deadline:
            time.sleep(0.01)
        assert scheduler.stats().retrying == 1
        assert "1 retrying" in repr(scheduler)
        b = scheduler.submit(f"{origin.url}/ok")
        assert b.result(timeout=5).response_code == 200
        assert not a.done()
        assert a.running()  # it has started: the Future stays RUNNING between attempts
        assert not a.cancel()
        assert a.result(timeout=10).attempts == 2
        (first, second), (b_start,) = origin.starts("/flaky"), origin.starts("/ok")
    assert first < b_start < second


@pytest.mark.timeout(30)
def test_post_is_not_retried_unless_the_policy_asks_and_the_option_overrides_the_scheduler() -> (
    None
):
    policy = RetryPolicy(attempts=3, backoff=0.01)
    with origins(1) as (origin,), Scheduler(retry=policy) as scheduler:
        url = f"{origin.url}/flaky?fail=9"
        post = scheduler.submit(url + "&key=p", {"method": "POST"}).result(timeout=20)
        asked = RetryPolicy(attempts=2, backoff=0.01, methods={"POST"})
        post_asked = scheduler.submit(url + "&key=q", {"method": "POST", "retry": asked})
        no_retry = scheduler.submit(url + "&key=r", {"retry": 0}).result(timeout=20)
        assert post_asked.result(timeout=20).attempts == 2
    assert (post.attempts, no_retry.attempts) == (1, 1)
    with origins(1) as (origin,), Scheduler() as plain:  # no scheduler policy: the option alone
        response = plain.submit(
            f"{origin.url}/flaky?key=s&fail=1", {"retry": RetryPolicy(backoff=0.01)}
        ).result(timeout=20)
    assert response.attempts == 2


@pytest.mark.timeout(30)
def test_destroy_during_backoff_fails_with_2300042_and_cancel_all_ends_with_the_last_response() -> (
    None
):
    with origins(1) as (origin,), Scheduler(retry=RetryPolicy()) as scheduler:
        task = create_http(scheduler)
        destroyed = task.request(f"{origin.url}/flaky?key=d&fail=1&retry_after=30")
        tagged = scheduler.submit(f"{origin.url}/flaky?key=e&fail=1&retry_after=30", {"tag": "job"})
        deadline = time.monotonic() + 10
        while scheduler.stats().retrying < 2 and time.monotonic() < deadline:
            time.sleep(0.01)
        task.destroy()
        error = destroyed.exception(timeout=5)
        assert isinstance(error, HttpError)
        assert error.code == ABORTED
        assert scheduler.cancel_all("job") == 1
        assert tagged.result(timeout=5).response_code == 503
        stats = scheduler.stats()
    assert (stats.retrying, stats.failed, stats.completed) == (0, 1, 1)
    assert origin.count("/flaky") == 2


@pytest.mark.timeout(30)
def test_shutdown_without_cancel_waits_for_pending_retries() -> None:
    with origins(1) as (origin,):
        scheduler = Scheduler(retry=RetryPolicy(backoff=0.3, jitter=0))
        future = scheduler.submit(f"{origin.url}/flaky?key=f&fail=1")
        deadline = time.monotonic() + 10
        while scheduler.stats().retrying == 0 and time.monotonic() < deadline:
            time.sleep(0.01)
        scheduler.shutdown(wait=True)
        assert future.done()
        assert future.result().attempts == 2


@pytest.mark.timeout(30)
def test_jobs_without_retry_attributes_are_never_retried() -> None:
    gate = threading.Event()
    gate.set()
    with Scheduler(retry=RetryPolicy()) as scheduler:
        job = FakeJob("x", error=HttpError.of(CONNECT_FAILED), gate=gate)
        assert isinstance(scheduler.jobs.submit(job).exception(timeout=10), HttpError)
