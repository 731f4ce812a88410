"""RequestFuture: a real concurrent.futures.Future with a lazily built Condition."""

from __future__ import annotations

import asyncio
import threading
from concurrent.futures import FIRST_COMPLETED, Future, as_completed, wait

import pytest

from netstack.errors import HttpError
from netstack.scheduler import RequestFuture


def test_sets_exactly_the_attributes_future_init_sets() -> None:
    """Pins the CPython Future.__init__ this class mirrors without calling it."""
    plain = vars(Future())
    ours = RequestFuture()
    for name, value in plain.items():
        if name in ("_condition", "_waiters"):
            continue  # built on first use (_waiters with the Condition)
        assert getattr(ours, name) == value, name
    assert ours._condition is not None
    assert ours._waiters == plain["_waiters"]
    assert set(plain) == {
        "_condition",
        "_state",
        "_result",
        "_exception",
        "_waiters",
        "_done_callbacks",
    }


def test_condition_is_created_on_first_use_only() -> None:
    future = RequestFuture()

    def created() -> object:
        return vars(future).get("_condition")  # the stored one, without creating it

    assert created() is None
    repr(future)
    future.priority  # noqa: B018
    assert created() is None
    future.set_result(1)
    assert isinstance(created(), threading.Condition)
    assert future._condition is created()
    assert future.result() == 1


@pytest.mark.timeout(30)
def test_a_queued_future_holds_no_list() -> None:
    """Neither Future list is built for a future nobody waits on or calls back."""
    future = RequestFuture()
    assert future._callbacks is None
    with pytest.raises(AttributeError):
        future._waiters  # noqa: B018  (built with the Condition)
    future.set_result(1)
    assert future._callbacks is None
    assert future._waiters == []


def test_callbacks_added_before_and_after_the_end_run_once_in_order() -> None:
    future = RequestFuture()
    seen: list[str] = []
    future.add_done_callback(lambda f: seen.append("a"))
    future.add_done_callback(lambda f: seen.append("b"))
    future.set_result(1)
    future.add_done_callback(lambda f: seen.append("c"))
    assert seen == ["a", "b", "c"]


@pytest.mark.timeout(30)
def test_lazy_condition_is_thread_safe() -> None:
    """Many threads racing for the first access all get the same Condition."""
    for _ in range(50):
        future = RequestFuture()
        seen: list[threading.Condition] = []
        barrier = threading.Barrier(8)

        def grab(
            f: RequestFuture = future,
            out: list[threading.Condition] = seen,
            barrier: threading.Barrier = barrier,
        ) -> None:
            barrier.wait()
            out.append(f._condition)

        threads = [threading.Thread(target=grab) for _ in range(8)]
        for t in threads:
            t.start()
        for t in threads:
            t.join()
        assert len({id(c) for c in seen}) == 1


@pytest.mark.timeout(30)
def test_wait_and_as_completed_wake_up_when_resolved_from_another_thread() -> None:
    futures = [RequestFuture() for _ in range(3)]

    def resolve() -> None:
        futures[1].set_result("one")
        futures[0].set_exception(HttpError.of(2300028))
        assert futures[2].cancel()
        # Without a scheduler it behaves as a plain Future: whoever runs it notifies.
        assert not futures[2].set_running_or_notify_cancel()

    timer = threading.Timer(0.05, resolve)
    timer.start()
    done, _ = wait(futures[:2], timeout=10, return_when=FIRST_COMPLETED)
    assert done
    assert set(as_completed(futures, timeout=10)) == set(futures)
    timer.join()
    assert futures[2].cancelled()


@pytest.mark.timeout(30)
def test_asyncio_wrap_future_awaits_the_result() -> None:
    future = RequestFuture()

    async def main() -> object:
        loop = asyncio.get_running_loop()
        loop.call_later(0.01, lambda: threading.Thread(target=future.set_result, args=(7,)).start())
        return await asyncio.wrap_future(future)

    assert asyncio.run(main()) == 7


def test_standalone_set_priority_validates_range() -> None:
    future = RequestFuture()
    future.set_priority(1000)
    assert future.priority == 1000
    for bad in (0, 1001, True, 2.0, "5"):
        with pytest.raises(HttpError, match="priority") as info:
            future.set_priority(bad)  # type: ignore[arg-type]
        assert info.value.code == 401
