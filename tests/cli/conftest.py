"""Fixtures: a loopback origin per test (started and always stopped)."""

from __future__ import annotations

from collections.abc import Iterator

import pytest
from cli_helpers import serve


@pytest.fixture
def origin() -> Iterator[str]:
    with serve() as base:
        yield base
