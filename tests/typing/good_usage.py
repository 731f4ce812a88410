"""Correct user code: mypy --strict must accept it (tests/typing/test_typing.py)."""

from __future__ import annotations

import netstack

options: netstack.HttpRequestOptionsDict = {
    "method": netstack.RequestMethod.PATCH,
    "extraData": {"name": "netstack"},
    "readTimeout": 5000,
    "connect_timeout": 2000,
    "header": {"Accept": "application/json"},
    "priority": 500,
    "usingProtocol": netstack.HttpProtocol.HTTP1_1,
}
purge: netstack.HttpRequestOptionsDict = {"method": "PURGE"}


def fetch(url: str) -> int:
    """A request with a literal options mapping; the response's attributes are typed."""
    future = netstack.create_http().request(url, {"method": "POST", "extraData": "x"})
    response = future.result(timeout=10)
    response.raise_for_status()
    code: int = response.response_code
    ok: bool = response.ok
    text: str = response.text
    return code if ok and text else 0


def batch(urls: list[str]) -> list[int]:
    """Scheduler.submit with options; stream futures resolve to the status code."""
    with netstack.Scheduler(max_workers=2) as scheduler:
        futures = [scheduler.submit(url, options) for url in urls]
        codes = [f.result().response_code for f in futures]
    streamed = netstack.create_http().request_in_stream(urls[0], purge)
    return [*codes, streamed.result() + 0]
