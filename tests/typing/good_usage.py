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


def submitted_url(scheduler: netstack.Scheduler) -> str:
    """RequestFuture.url is the URL as submitted; the response's is the final one."""
    future: netstack.RequestFuture[netstack.HttpResponse] = scheduler.submit("http://a/")
    return future.url + future.result().url


def defaults() -> netstack.Scheduler:
    """default_options takes a mapping or an HttpRequestOptions."""
    netstack.Scheduler(default_options=netstack.HttpRequestOptions(read_timeout=5000))
    return netstack.Scheduler(default_options={"header": {"User-Agent": "me"}, "readTimeout": 5})


def batch(urls: list[str]) -> list[int]:
    """Scheduler.submit with options; stream futures resolve to the status code."""
    with netstack.Scheduler(max_workers=2) as scheduler:
        futures = [scheduler.submit(url, options) for url in urls]
        codes = [f.result().response_code for f in futures]
    streamed = netstack.create_http().request_in_stream(urls[0], purge)
    stream_code: int = streamed.result()
    return [*codes, stream_code]
