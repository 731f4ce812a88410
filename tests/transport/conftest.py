from __future__ import annotations

from collections.abc import Iterator

import pytest

from netstack.transport import Transport
from netstack.transport.connection import TimedHTTPConnection, use_parser
from netstack.transport.responses import PARSERS


@pytest.fixture
def transport() -> Iterator[Transport]:
    t = Transport(max_per_host=4)
    yield t
    t.close()


@pytest.fixture(params=["llhttp", "stdlib"])
def http1_parser(request: pytest.FixtureRequest) -> Iterator[str]:
    """Run the test once per response-head parser (llhttp, http.client's fallback)."""
    if request.param not in PARSERS:
        pytest.skip("httptools is not installed (the speedups extra)")
    previous = TimedHTTPConnection.response_class
    use_parser(request.param)
    yield str(request.param)
    TimedHTTPConnection.response_class = previous


@pytest.fixture
def llhttp_parser() -> Iterator[None]:
    """Run the test with llhttp reading response heads, whatever the default."""
    if "llhttp" not in PARSERS:
        pytest.skip("httptools is not installed (the speedups extra)")
    previous = TimedHTTPConnection.response_class
    use_parser("llhttp")
    yield
    TimedHTTPConnection.response_class = previous
