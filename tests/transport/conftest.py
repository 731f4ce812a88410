from __future__ import annotations

from collections.abc import Iterator

import pytest

from netstack.transport import Transport
from netstack.transport.connection import TimedHTTPConnection, use_parser


@pytest.fixture
def transport() -> Iterator[Transport]:
    t = Transport(max_per_host=4)
    yield t
    t.close()


@pytest.fixture(params=["llhttp", "stdlib"])
def http1_parser(request: pytest.FixtureRequest) -> Iterator[str]:
    """Run the test once per response-head parser (llhttp, http.client's fallback)."""
    previous = TimedHTTPConnection.response_class
    use_parser(request.param)
    yield str(request.param)
    TimedHTTPConnection.response_class = previous


@pytest.fixture
def llhttp_parser() -> Iterator[None]:
    """Run the test with llhttp reading response heads, whatever the default."""
    previous = TimedHTTPConnection.response_class
    use_parser("llhttp")
    yield
    TimedHTTPConnection.response_class = previous
