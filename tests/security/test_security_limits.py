"""Every limit holds, each with its code: header count and size (2300008), redirects
(2300047), the decoded body (max_limit, 2300063), and the option bounds (401)."""

from __future__ import annotations

import gzip
import socket
from collections.abc import Iterator

import pytest
from tests.security.security_helpers import recording_server
from tests.servers.raw import raw_server, read_request, response

import netstack
from netstack import HttpError, Scheduler, errors
from netstack.options import MAX_LIMIT_CEILING

pytestmark = pytest.mark.timeout(60)


@pytest.fixture(scope="module")
def scheduler() -> Iterator[Scheduler]:
    with Scheduler(max_workers=2, name="security-limits") as s:
        yield s


def _outcome(scheduler: Scheduler, url: str, options: object = None) -> object:
    future = netstack.create_http(scheduler).request(url, options)  # type: ignore[arg-type]
    error = future.exception(timeout=30)
    return error if error is not None else future.result()


def _code(scheduler: Scheduler, url: str, options: object = None) -> int:
    outcome = _outcome(scheduler, url, options)
    assert isinstance(outcome, HttpError), repr(outcome)
    return outcome.code


@pytest.mark.parametrize(
    ("count", "size", "ok"),
    [(99, 10, True), (100, 10, False), (50, 6000, True), (60, 6000, False)],
    ids=["99-fields", "100-fields", "300-KB-block", "360-KB-block"],
)
def test_response_header_count_and_size(
    scheduler: Scheduler, count: int, size: int, ok: bool
) -> None:
    """At most 99 fields (http.client reads 100 lines, the blank one included) and
    300 KiB in all (as curl): else 2300008."""
    fields = "".join(f"X-H{i}: {'a' * size}\r\n" for i in range(count - 1))  # + Content-Length
    with recording_server(response(b"ok", headers=fields)) as (server, _):
        outcome = _outcome(scheduler, server.url("/"))
    if ok:
        assert getattr(outcome, "response_code", None) == 200
    else:
        assert isinstance(outcome, HttpError)
        assert outcome.code == errors.BAD_SERVER_RESPONSE


def _redirect_chain(length: int) -> tuple[object, list[bytes]]:
    heads: list[bytes] = []

    def handler(conn: socket.socket, _: int) -> None:
        while head := read_request(conn):
            heads.append(head)
            n = int(head.split(b" ")[1].strip(b"/") or 0)
            if n < length:
                conn.sendall(response(b"", status="302 Found", headers=f"Location: /{n + 1}\r\n"))
            else:
                conn.sendall(response(b"landed"))

    return handler, heads


@pytest.mark.parametrize(("chain", "limit", "ok"), [(3, 3, True), (4, 3, False), (30, 30, True)])
def test_redirect_count(scheduler: Scheduler, chain: int, limit: int, ok: bool) -> None:
    handler, heads = _redirect_chain(chain)
    with raw_server(handler) as server:  # type: ignore[arg-type]
        outcome = _outcome(scheduler, server.url("/0"), {"maxRedirects": limit})
    if ok:
        assert getattr(outcome, "result", None) == "landed"
    else:
        assert isinstance(outcome, HttpError)
        assert outcome.code == errors.TOO_MANY_REDIRECTS
    assert len(heads) == min(chain, limit) + 1


def test_max_redirects_zero_returns_the_redirect_itself(scheduler: Scheduler) -> None:
    handler, heads = _redirect_chain(5)
    with raw_server(handler) as server:  # type: ignore[arg-type]
        outcome = _outcome(scheduler, server.url("/0"), {"maxRedirects": 0})
    assert getattr(outcome, "response_code", None) == 302
    assert len(heads) == 1


@pytest.mark.parametrize("encoding", ["identity", "gzip"])
def test_max_limit_counts_decoded_bytes(scheduler: Scheduler, encoding: str) -> None:
    limit = 64 * 1024
    for size, ok in ((limit, True), (limit + 1, False)):
        body = b"z" * size
        headers = ""
        if encoding == "gzip":
            body, headers = gzip.compress(body), "Content-Encoding: gzip\r\n"
        with recording_server(response(body, headers=headers)) as (server, _):
            outcome = _outcome(scheduler, server.url("/"), {"maxLimit": limit})
        if ok:
            assert len(getattr(outcome, "result", "")) == size
        else:
            assert isinstance(outcome, HttpError)
            assert outcome.code == errors.MAX_SIZE_EXCEEDED


@pytest.mark.parametrize(
    "options",
    [
        {"maxLimit": MAX_LIMIT_CEILING + 1},
        {"maxLimit": -1},
        {"maxRedirects": -1},
        {"priority": 0},
        {"priority": 1001},
        {"readTimeout": -1},
        {"connectTimeout": -1},
        {"dnsServers": ["not-an-ip"]},
    ],
)
def test_option_bounds_are_401(scheduler: Scheduler, options: dict[str, object]) -> None:
    with pytest.raises(HttpError) as info:
        netstack.create_http(scheduler).request("http://127.0.0.1:9/", options)
    assert info.value.code == errors.PARAMETER_ERROR
    assert next(iter(options)).lower()[:6] in info.value.message.lower().replace("_", "")
