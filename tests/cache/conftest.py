"""Fixtures for the cache tests."""

from __future__ import annotations

import logging
from collections.abc import Iterator, MutableMapping
from typing import Any

import pytest
import structlog

from netstack.cache import HttpResponseCache, MemoryStorage


@pytest.fixture
def cache() -> HttpResponseCache:
    """A cache over a MemoryStorage: nothing touches the disk."""
    return HttpResponseCache(storage=MemoryStorage())


@pytest.fixture
def events(caplog: pytest.LogCaptureFixture) -> Iterator[list[MutableMapping[str, Any]]]:
    """The structlog events the library emits meanwhile, DEBUG included."""
    caplog.set_level(logging.DEBUG, logger="netstack")
    with structlog.testing.capture_logs() as captured:
        yield captured
