from __future__ import annotations

from collections.abc import Iterator

import pytest

from netstack.transport import Transport


@pytest.fixture
def transport() -> Iterator[Transport]:
    t = Transport(max_per_host=4)
    yield t
    t.close()
