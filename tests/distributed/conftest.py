"""Fixtures: a real redis-server (skipped when absent), queue names, processes, an origin."""

from __future__ import annotations

import shutil
import uuid
from collections.abc import Iterator

import pytest
from tests.distributed.servers import CountingOrigin, Processes, RedisServer


@pytest.fixture(scope="session")
def redis_server() -> Iterator[RedisServer]:
    if shutil.which("redis-server") is None:
        pytest.skip("redis-server is not installed (.ci/run installs Debian's redis-server)")
    pytest.importorskip("redis", reason="the redis client is not installed (netstack[redis])")
    server = RedisServer()
    try:
        server.start()
        yield server
    finally:
        server.close()


@pytest.fixture
def redis_url(redis_server: RedisServer) -> str:
    return redis_server.url


@pytest.fixture
def queue_name() -> str:
    return f"test-{uuid.uuid4().hex[:10]}"


@pytest.fixture
def processes() -> Iterator[Processes]:
    procs = Processes()
    try:
        yield procs
    finally:
        procs.close()


@pytest.fixture
def origin() -> Iterator[CountingOrigin]:
    server = CountingOrigin(("127.0.0.1", "127.0.0.2", "127.0.0.3"))
    try:
        yield server
    finally:
        server.close()
