"""Every failure reaches the future as an HttpError, a defect in netstack included.

A bug that raises something else inside a request's run (found once: a
``Content-Location`` the cache could not parse ended a POST with a bare
``ValueError``) ends the request with HttpError 2300999, its cause chained.
"""

from __future__ import annotations

import pytest
from policy_servers import origins

from netstack import HttpError, Scheduler, create_http
from netstack.errors import UNKNOWN


@pytest.mark.timeout(30)
@pytest.mark.parametrize("stream", [False, True])
def test_a_defect_inside_a_run_ends_the_future_with_2300999(
    monkeypatch: pytest.MonkeyPatch, stream: bool
) -> None:
    def broken(*args: object, **kwargs: object) -> None:
        raise KeyError("a defect")

    where = "netstack.call.response_code" if stream else "netstack.call.Call._respond"
    monkeypatch.setattr(where, broken)
    with origins(1) as (origin,), Scheduler() as scheduler:
        url = f"{origin.url}/ok"
        if stream:
            error = create_http(scheduler).request_in_stream(url).exception(timeout=20)
        else:
            error = scheduler.submit(url).exception(timeout=20)
    assert isinstance(error, HttpError)
    assert error.code == UNKNOWN
    assert isinstance(error.__cause__, KeyError)
    assert error.attempts == 1
