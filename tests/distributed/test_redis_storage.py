"""RedisStorage as a CacheStorage, and the shared cache built on it, on a real redis-server."""

from __future__ import annotations

import uuid
from collections.abc import Iterator

import pytest
from tests.distributed.servers import CountingOrigin

from netstack import CacheStorage, HttpResponseCache, RedisStorage, Scheduler


@pytest.fixture
def storage(redis_url: str) -> Iterator[RedisStorage]:
    store = RedisStorage(redis_url, f"test:{uuid.uuid4().hex[:8]}:cache*[x]")
    try:
        yield store
    finally:
        store.clear()
        store.close()


def test_it_is_a_cache_storage(storage: RedisStorage) -> None:
    assert isinstance(storage, CacheStorage)
    assert storage.get("GET http://h/a") is None
    storage.put("GET http://h/a", b"\x00one")
    storage.put_many([("GET http://h/b", b"two"), ("GET http://h/é", b"three")])
    assert storage.get("GET http://h/a") == b"\x00one"
    assert dict(storage.items()) == {
        "GET http://h/a": b"\x00one",
        "GET http://h/b": b"two",
        "GET http://h/é": b"three",
    }
    storage.delete("GET http://h/a")
    storage.delete("GET http://h/missing")
    storage.delete_many(["GET http://h/b"])
    assert [k for k, _ in storage.items()] == ["GET http://h/é"]
    storage.clear()
    assert list(storage.items()) == []


def test_clear_touches_only_its_prefix(redis_url: str, storage: RedisStorage) -> None:
    other = RedisStorage(redis_url, "test:other")
    try:
        other.put("k", b"v")
        storage.put("k", b"mine")
        storage.clear()
        assert other.get("k") == b"v"
    finally:
        other.clear()
        other.close()


def test_flush_then_a_new_cache_loads_it_and_delete_clears_it(
    storage: RedisStorage, origin: CountingOrigin
) -> None:
    url = f"{origin.base()}/cached?id=flush"
    cache = HttpResponseCache(storage=storage)
    with Scheduler(cache=cache) as scheduler:
        scheduler.submit(url).result(timeout=10)
    cache.flush().result()
    reloaded = HttpResponseCache(storage=storage)
    with Scheduler(cache=reloaded) as scheduler:
        assert scheduler.submit(url).result(timeout=10).from_cache
    reloaded.delete().result()
    assert list(storage.items()) == []
    assert origin.arrivals("flush") == 1


def test_shared_caches_see_each_other_at_once(
    storage: RedisStorage, origin: CountingOrigin
) -> None:
    url = f"{origin.base()}/cached?id=shared"
    first = HttpResponseCache(storage=storage, write_through=True)
    second = HttpResponseCache(storage=storage, write_through=True)
    with Scheduler(cache=first) as a, Scheduler(cache=second) as b:
        assert not a.submit(url).result(timeout=10).from_cache
        response = b.submit(url).result(timeout=10)
    assert (response.from_cache, response.result) == (True, "/cached shared")
    assert origin.arrivals("shared") == 1


def test_ttl_must_be_whole_seconds(redis_url: str) -> None:
    from netstack import HttpError

    with pytest.raises(HttpError) as caught:
        RedisStorage(redis_url, ttl=0)
    assert caught.value.code == 401
