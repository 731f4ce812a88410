"""Fixtures for the cache tests."""

from __future__ import annotations

import pytest

from netstack.cache import HttpResponseCache, MemoryStorage


@pytest.fixture
def cache() -> HttpResponseCache:
    """A cache over a MemoryStorage: nothing touches the disk."""
    return HttpResponseCache(storage=MemoryStorage())
