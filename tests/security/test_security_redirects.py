"""Credentials never follow a redirect to another origin.

Authorization, Cookie and Proxy-Authorization are dropped when a hop changes
host, port or scheme; https → http is followed as such a cross-origin hop.
"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest
import trustme
from tests.security.security_helpers import (
    ca_file,
    header_names,
    recording_server,
    server_context,
)
from tests.servers.raw import response

import netstack
from netstack import Scheduler, errors

pytestmark = pytest.mark.timeout(60)

CREDENTIALS = {
    "Authorization": "Bearer secret",
    "Cookie": "session=secret",
    "Proxy-Authorization": "Basic c2VjcmV0",
}
SECRET_NAMES = {name.lower() for name in CREDENTIALS}


@pytest.fixture(scope="module")
def scheduler() -> Iterator[Scheduler]:
    with Scheduler(max_workers=2, name="security-redirects") as s:
        yield s


def _redirect_to(location: str, status: int = 302) -> bytes:
    return response(b"", status=f"{status} Redirect", headers=f"Location: {location}\r\n")


@pytest.mark.parametrize("status", [301, 302, 303, 307, 308])
def test_credentials_are_dropped_for_another_host(scheduler: Scheduler, status: int) -> None:
    """127.0.0.1 → 127.0.0.2: the second host never sees a credential."""
    with (
        recording_server(host="127.0.0.2") as (target, target_heads),
        recording_server(_redirect_to(target.url("/landed"), status)) as (first, heads),
    ):
        options = {"header": CREDENTIALS, "usingCache": False}
        result = netstack.create_http(scheduler).request(first.url("/"), options).result(30)
    assert result.response_code == 200
    assert header_names(heads[0]) >= SECRET_NAMES
    (landed,) = target_heads
    assert not SECRET_NAMES & header_names(landed)
    assert b"secret" not in landed.lower()


def test_credentials_are_dropped_for_another_port_of_the_same_host(scheduler: Scheduler) -> None:
    with (
        recording_server() as (target, target_heads),
        recording_server(_redirect_to(target.url("/landed"))) as (first, _),
    ):
        options = {"header": CREDENTIALS}
        netstack.create_http(scheduler).request(first.url("/"), options).result(30)
    assert not SECRET_NAMES & header_names(target_heads[0])


def test_credentials_are_kept_on_the_same_origin(scheduler: Scheduler) -> None:
    """The positive control: a same-origin hop keeps them."""
    heads: list[bytes] = []
    from tests.servers.raw import raw_server, read_request

    def handler(conn, _):  # type: ignore[no-untyped-def]
        while head := read_request(conn):
            heads.append(head)
            if head.startswith(b"GET / "):
                conn.sendall(_redirect_to("/landed"))
            else:
                conn.sendall(response(b"ok"))

    with raw_server(handler) as server:
        netstack.create_http(scheduler).request(server.url("/"), {"header": CREDENTIALS}).result(30)
    assert len(heads) == 2
    assert header_names(heads[1]) >= SECRET_NAMES


def test_https_to_http_is_followed_as_a_cross_origin_hop(
    scheduler: Scheduler, tmp_path: Path
) -> None:
    """Followed (not refused), with every credential dropped."""
    ca = trustme.CA()
    context, _ = server_context(ca)
    with (
        recording_server(host="127.0.0.2") as (plain, plain_heads),
        recording_server(_redirect_to(plain.url("/plain")), tls=context) as (secure, _),
    ):
        options = {"header": CREDENTIALS, "caPath": ca_file(ca, tmp_path)}
        result = netstack.create_http(scheduler).request(secure.url("/", "https"), options)
        response_ = result.result(30)
    assert response_.url == plain.url("/plain")
    (landed,) = plain_heads
    assert not SECRET_NAMES & header_names(landed)


def test_userinfo_credentials_do_not_follow_to_another_host(scheduler: Scheduler) -> None:
    """Basic credentials taken from ``http://user:pass@host/`` stay with that host."""
    with (
        recording_server(host="127.0.0.2") as (target, target_heads),
        recording_server(_redirect_to(target.url("/landed"))) as (first, heads),
    ):
        url = f"http://user:pass@127.0.0.1:{first.port}/"
        netstack.create_http(scheduler).request(url).result(30)
    assert "authorization" in header_names(heads[0])
    assert "authorization" not in header_names(target_heads[0])


def test_redirect_to_an_unsupported_scheme_is_2300001(scheduler: Scheduler) -> None:
    with recording_server(_redirect_to("file:///etc/passwd")) as (first, _):
        error = netstack.create_http(scheduler).request(first.url("/")).exception(30)
    assert getattr(error, "code", None) == errors.UNSUPPORTED_PROTOCOL
