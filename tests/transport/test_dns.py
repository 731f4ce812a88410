"""dns_servers and dns_over_https: the socket goes to the resolved address, the name stays.

Peers: a dnslib server and an RFC 8484 endpoint on loopback serving a
made-up zone (``api.example.test`` -> 127.0.0.1), and origins recording the
Host header and TLS SNI they receive. The system resolver is guarded: a
made-up name that reached it would fail the test, never leave the machine.
"""

from __future__ import annotations

import json
import random
import socket
import time
from collections.abc import Iterator
from pathlib import Path

import pytest
import trustme
from dnslib import RCODE
from name_guard import guard_system_resolver
from tests.servers.dns_server import (
    Zone,
    dns_server,
    doh_server,
    named_origin,
    silent_dns_server,
)
from transport_helpers import abort_after, send

import netstack
from netstack import HttpError, Scheduler
from netstack.errors import ABORTED, HOST_RESOLVE, PEER_CERT
from netstack.transport import AbortSignal, Transport
from netstack.transport.dns import DnsConfig
from netstack.transport.resolver import Resolver

NAME = "api.example.test"


@pytest.fixture(autouse=True)
def system_lookups(monkeypatch: pytest.MonkeyPatch) -> list[str]:
    return guard_system_resolver(monkeypatch)


@pytest.fixture(scope="module")
def ca() -> trustme.CA:
    return trustme.CA()


@pytest.fixture(scope="module")
def ca_file(ca: trustme.CA, tmp_path_factory: pytest.TempPathFactory) -> str:
    path = tmp_path_factory.mktemp("dns-ca") / "ca.pem"
    ca.cert_pem.write_to_path(str(path))
    return str(path)


@pytest.fixture
def zone() -> Zone:
    return Zone({NAME: ["127.0.0.1"]})


@pytest.fixture
def server(zone: Zone) -> Iterator[str]:
    with dns_server(zone) as peer:
        yield peer.address


def _code(transport: Transport, url: str, **kwargs: object) -> int:
    with pytest.raises(HttpError) as info:
        send(transport, url, **kwargs)  # type: ignore[arg-type]
    return info.value.code


def _leaked(lookups: list[str]) -> list[str]:
    return [name for name in lookups if name.endswith(".test")]


# -- dns_servers -------------------------------------------------------------


def test_dns_servers_connect_to_resolved_address_with_host_header_kept(
    transport: Transport, zone: Zone, server: str, system_lookups: list[str]
) -> None:
    with named_origin() as origin:
        resp = send(transport, f"http://{NAME}:{origin.port}/x", dns_servers=(server,))
    assert resp.status == 200
    assert json.loads(resp.body)["host"] == f"{NAME}:{origin.port}"
    assert (NAME, "A", "udp") in zone.queries
    assert _leaked(system_lookups) == []
    t = resp.timings
    assert 0 < t.dns <= t.tcp <= t.first_send


def test_https_keeps_sni_and_verifies_the_name_not_the_address(
    transport: Transport, ca: trustme.CA, ca_file: str, server: str
) -> None:
    with named_origin(ca.issue_cert(NAME)) as origin:
        url = f"https://{NAME}:{origin.port}/"
        resp = send(transport, url, dns_servers=(server,), ca_path=ca_file)
    assert resp.status == 200
    assert origin.sni == [NAME]
    assert origin.hosts == [f"{NAME}:{origin.port}"]
    assert resp.timings.tls >= resp.timings.tcp > 0


def test_https_certificate_for_another_name_is_rejected(
    transport: Transport, ca: trustme.CA, ca_file: str, server: str
) -> None:
    with named_origin(ca.issue_cert("other.example.test", "127.0.0.1")) as origin:
        url = f"https://{NAME}:{origin.port}/"
        assert _code(transport, url, dns_servers=(server,), ca_path=ca_file) == PEER_CERT


def test_a_name_that_does_not_resolve_gives_2300006_without_asking_the_system(
    transport: Transport, zone: Zone, server: str, system_lookups: list[str]
) -> None:
    code = _code(transport, "http://nowhere.example.test/", dns_servers=(server,))
    assert code == HOST_RESOLVE
    assert zone.names_asked() == ["nowhere.example.test"]  # NXDOMAIN: no AAAA asked
    assert _leaked(system_lookups) == []


def test_only_the_first_three_servers_are_used(transport: Transport) -> None:
    failing = [Zone({NAME: ["127.0.0.1"]}, rcode=RCODE.SERVFAIL) for _ in range(3)]
    fourth = Zone({NAME: ["127.0.0.1"]})
    with (
        dns_server(failing[0]) as a,
        dns_server(failing[1]) as b,
        dns_server(failing[2]) as c,
        dns_server(fourth) as d,
        named_origin() as origin,
    ):
        servers = (a.address, b.address, c.address, d.address)
        assert _code(transport, f"http://{NAME}:{origin.port}/", dns_servers=servers) == (
            HOST_RESOLVE
        )
        assert [len(z.names_asked()) > 0 for z in failing] == [True, True, True]
        assert fourth.queries == []


def test_a_failing_server_moves_on_to_the_next(transport: Transport) -> None:
    failing, good, spare = Zone(rcode=RCODE.REFUSED), Zone({NAME: ["127.0.0.1"]}), Zone()
    with (
        dns_server(failing) as a,
        silent_dns_server() as (b, swallowed),
        dns_server(good) as c,
        dns_server(spare) as d,
        named_origin() as origin,
    ):
        servers = (a.address, b.address, c.address, d.address)
        resp = send(transport, f"http://{NAME}:{origin.port}/", dns_servers=servers)
    assert resp.status == 200
    assert failing.names_asked()[0] == NAME
    assert swallowed  # the silent one was asked and timed out
    assert (NAME, "A", "udp") in good.queries
    assert spare.queries == []


def test_silent_server_times_out_within_the_connect_timeout(transport: Transport) -> None:
    with silent_dns_server() as (peer, swallowed):
        started = time.monotonic()
        code = _code(transport, f"http://{NAME}/", dns_servers=(peer.address,), connect_timeout=0.6)
        elapsed = time.monotonic() - started
    assert code == HOST_RESOLVE
    assert 0.5 < elapsed < 2.0
    assert swallowed


def test_abort_interrupts_a_lookup(transport: Transport) -> None:
    with silent_dns_server() as (peer, _):
        abort = AbortSignal()
        abort_after(abort, 0.3)
        started = time.monotonic()
        with pytest.raises(HttpError) as info:
            send(transport, f"http://{NAME}/", abort=abort, dns_servers=(peer.address,))
        elapsed = time.monotonic() - started
    assert info.value.code == ABORTED
    assert elapsed < 1.0


def test_answers_are_cached_for_their_ttl(zone: Zone, server: str) -> None:
    host, port = server.split(":")
    resolver = Resolver(DnsConfig(servers=((host, int(port)),)))
    first = resolver.resolve(NAME, 80, socket.AF_INET, AbortSignal(), 2.0)
    second = resolver.resolve(NAME, 443, socket.AF_INET, AbortSignal(), 2.0)
    assert [info[4] for info in first] == [("127.0.0.1", 80)]
    assert [info[4] for info in second] == [("127.0.0.1", 443)]
    assert zone.queries == [(NAME, "A", "udp")]


def test_zero_ttl_answers_are_not_cached(server: str, zone: Zone) -> None:
    zone.ttl = 0
    host, port = server.split(":")
    resolver = Resolver(DnsConfig(servers=((host, int(port)),)))
    for _ in range(2):
        resolver.resolve(NAME, 80, socket.AF_INET, AbortSignal(), 2.0)
    assert len(zone.queries) == 2


def test_requests_with_other_dns_settings_never_share_a_connection(
    transport: Transport, server: str
) -> None:
    with dns_server(Zone()) as empty, named_origin() as origin:
        url = f"http://{NAME}:{origin.port}/"
        assert send(transport, url, dns_servers=(server,)).status == 200
        assert send(transport, url, dns_servers=(server,)).status == 200
        assert origin.connections == 1  # kept alive within one configuration
        assert _code(transport, url, dns_servers=(empty.address,)) == HOST_RESOLVE


def test_ip_literals_and_localhost_never_query_the_servers(
    transport: Transport, zone: Zone, server: str
) -> None:
    with named_origin() as origin:
        for host in ("127.0.0.1", "localhost"):
            resp = send(transport, f"http://{host}:{origin.port}/", dns_servers=(server,))
            assert resp.status == 200
    assert zone.queries == []


# -- dns_over_https ----------------------------------------------------------


@pytest.fixture
def doh(zone: Zone, ca: trustme.CA) -> Iterator[str]:
    with doh_server(zone, ca.issue_cert("127.0.0.1", "localhost")) as url:
        yield url


def test_doh_resolves_and_https_keeps_the_name(
    transport: Transport,
    zone: Zone,
    doh: str,
    ca: trustme.CA,
    ca_file: str,
    system_lookups: list[str],
) -> None:
    with named_origin(ca.issue_cert(NAME)) as origin:
        url = f"https://{NAME}:{origin.port}/doh"
        resp = send(transport, url, dns_over_https=doh, ca_path=ca_file)
    assert resp.status == 200
    assert origin.sni == [NAME]
    assert origin.hosts == [f"{NAME}:{origin.port}"]
    assert (NAME, "A", "POST") in zone.queries
    assert _leaked(system_lookups) == []


def test_doh_for_plain_http(transport: Transport, zone: Zone, doh: str, ca_file: str) -> None:
    with named_origin() as origin:
        resp = send(transport, f"http://{NAME}:{origin.port}/", dns_over_https=doh, ca_path=ca_file)
    assert json.loads(resp.body)["host"] == f"{NAME}:{origin.port}"
    assert zone.names_asked()[0] == NAME


def test_doh_name_that_does_not_resolve_gives_2300006(
    transport: Transport, doh: str, ca_file: str
) -> None:
    code = _code(transport, "http://nowhere.example.test/", dns_over_https=doh, ca_path=ca_file)
    assert code == HOST_RESOLVE


@pytest.mark.parametrize("trust", ["certifi", "another CA"])
def test_doh_endpoint_is_verified_with_the_requests_trust(
    transport: Transport, zone: Zone, doh: str, trust: str, tmp_path: Path
) -> None:
    ca_path = None
    if trust == "another CA":
        ca_path = str(tmp_path / "other.pem")
        trustme.CA().cert_pem.write_to_path(ca_path)
    code = _code(transport, f"http://{NAME}/", dns_over_https=doh, ca_path=ca_path)
    assert code == HOST_RESOLVE
    assert zone.queries == []  # the TLS handshake failed before any question


def test_doh_host_name_is_found_through_dns_servers(
    transport: Transport, zone: Zone, ca: trustme.CA, ca_file: str, system_lookups: list[str]
) -> None:
    zone.records["doh.example.test"] = ["127.0.0.1"]
    with (
        dns_server(zone) as peer,
        doh_server(zone, ca.issue_cert("doh.example.test")) as doh_url,
        named_origin() as origin,
    ):
        doh = doh_url.replace("127.0.0.1", "doh.example.test")
        url = f"http://{NAME}:{origin.port}/"
        resp = send(
            transport, url, dns_over_https=doh, dns_servers=(peer.address,), ca_path=ca_file
        )
    assert resp.status == 200
    assert ("doh.example.test", "A", "udp") in zone.queries
    assert (NAME, "A", "POST") in zone.queries
    assert _leaked(system_lookups) == []


def test_abort_interrupts_a_doh_lookup(transport: Transport, ca_file: str) -> None:
    with socket.socket() as listener:  # accepts (backlog) but never answers TLS
        listener.bind(("127.0.0.1", 0))
        listener.listen(4)
        doh = f"https://127.0.0.1:{listener.getsockname()[1]}/dns-query"
        abort = AbortSignal()
        abort_after(abort, 0.3)
        started = time.monotonic()
        with pytest.raises(HttpError) as info:
            send(transport, f"http://{NAME}/", abort=abort, dns_over_https=doh, ca_path=ca_file)
        elapsed = time.monotonic() - started
    assert info.value.code == ABORTED
    assert elapsed < 1.0


# -- through the public API --------------------------------------------------


def test_options_dns_servers_end_to_end(zone: Zone, system_lookups: list[str]) -> None:
    """``dnsServers`` takes bare addresses (port 53): the server gets a 127.x address."""
    host = f"127.{random.randint(1, 254)}.{random.randint(1, 254)}.{random.randint(1, 254)}"
    try:
        peer_cm = dns_server(zone, host=host, port=53)
        peer = peer_cm.__enter__()
    except OSError as exc:  # not root, or port 53 taken on that address
        pytest.skip(f"cannot bind {host}:53: {exc}")
    try:
        with named_origin() as origin, Scheduler(max_workers=2, name="dns-e2e") as scheduler:
            options = {"dnsServers": [peer.host, "127.0.0.9", "127.0.0.10", "127.0.0.11"]}
            future = netstack.create_http(scheduler).request(
                f"http://{NAME}:{origin.port}/e2e", options
            )
            resp = future.result(timeout=30)
        assert resp.response_code == 200
        assert json.loads(resp.result)["host"] == f"{NAME}:{origin.port}"
        assert resp.performance_timing.dns_timing > 0
        assert _leaked(system_lookups) == []
    finally:
        peer_cm.__exit__(None, None, None)
