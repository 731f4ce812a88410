"""using_proxy: a real proxy (proxy.py) on loopback sees the requests it should, and only those.

HTTP goes to the proxy in absolute form, HTTPS through CONNECT; HttpProxy's
exclusion_list and NO_PROXY go direct; ``using_proxy=True`` follows the
environment, credentials included. The proxy's recorder plugin writes a line
per request before connecting upstream, so it is complete once we have the
response. The system resolver is guarded: made-up names never leave the
machine.
"""

from __future__ import annotations

import base64
import json
import socket
import time
from collections.abc import Iterator

import pytest
import trustme
from name_guard import guard_system_resolver
from tests.servers.dns_server import Zone, dns_server, named_origin
from tests.servers.origin import origin
from tests.servers.proxy_server import ProxyServer, proxy_server
from transport_helpers import abort_after, send

import netstack
from netstack import HttpError, HttpProxy, Scheduler
from netstack.errors import ABORTED, CONNECT_FAILED, PROXY_RESOLVE, RECEIVE_FAILED
from netstack.transport import AbortSignal, Transport
from netstack.transport.proxy import bypassed, choose, excluded

_ENV = ("http_proxy", "https_proxy", "all_proxy", "no_proxy")


@pytest.fixture(autouse=True)
def system_lookups(monkeypatch: pytest.MonkeyPatch) -> list[str]:
    for name in _ENV:
        monkeypatch.delenv(name, raising=False)
        monkeypatch.delenv(name.upper(), raising=False)
    monkeypatch.delenv("REQUEST_METHOD", raising=False)
    return guard_system_resolver(monkeypatch)


@pytest.fixture(scope="module")
def proxy(tmp_path_factory: pytest.TempPathFactory) -> Iterator[ProxyServer]:
    with proxy_server(tmp_path_factory.mktemp("proxy")) as server:
        yield server


@pytest.fixture(scope="module")
def auth_proxy(tmp_path_factory: pytest.TempPathFactory) -> Iterator[ProxyServer]:
    with proxy_server(tmp_path_factory.mktemp("auth-proxy"), "--basic-auth", "alice:p@ss") as s:
        yield s


@pytest.fixture(scope="module")
def http_origin() -> Iterator[str]:
    with origin() as url:
        yield url


@pytest.fixture(scope="module")
def ca() -> trustme.CA:
    return trustme.CA()


@pytest.fixture(scope="module")
def ca_file(ca: trustme.CA, tmp_path_factory: pytest.TempPathFactory) -> str:
    path = tmp_path_factory.mktemp("proxy-ca") / "ca.pem"
    ca.cert_pem.write_to_path(str(path))
    return str(path)


def _lines(proxy: ProxyServer, tag: str) -> list[str]:
    return [line for line in proxy.seen() if tag in line]


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


# -- through the proxy --------------------------------------------------------


def test_http_is_forwarded_in_absolute_form(
    transport: Transport, proxy: ProxyServer, http_origin: str
) -> None:
    url = f"{http_origin}/echo?tag=absolute"
    resp = send(transport, url, proxy=HttpProxy("127.0.0.1", proxy.port))
    assert resp.status == 200
    echoed = json.loads(resp.body)["headers"]
    assert echoed["Host"] == http_origin.removeprefix("http://")
    assert "proxy.py" in echoed["Via"]
    netloc = http_origin.removeprefix("http://")
    assert _lines(proxy, "tag=absolute") == [f"GET {netloc} {url} -"]


def test_https_goes_through_a_connect_tunnel(
    transport: Transport, proxy: ProxyServer, ca: trustme.CA, ca_file: str
) -> None:
    with named_origin(ca.issue_cert("127.0.0.1")) as server:
        netloc = f"127.0.0.1:{server.port}"
        resp = send(
            transport,
            f"https://{netloc}/tunnel",
            proxy=HttpProxy("127.0.0.1", proxy.port),
            ca_path=ca_file,
        )
    assert resp.status == 200
    assert json.loads(resp.body) == {"host": netloc, "path": "/tunnel"}
    assert _lines(proxy, netloc) == [f"CONNECT {netloc} {netloc} -"]
    t = resp.timings
    # dns/tcp: reaching the proxy; tls: the origin's handshake inside the tunnel;
    # first_receive: the origin's status line, not the proxy's CONNECT reply.
    assert 0 < t.dns <= t.tcp <= t.tls <= t.first_send <= t.first_receive


def test_keep_alive_through_the_proxy(
    transport: Transport, proxy: ProxyServer, http_origin: str
) -> None:
    via = HttpProxy("127.0.0.1", proxy.port)
    for _ in range(3):
        assert send(transport, f"{http_origin}/echo?tag=reuse", proxy=via).status == 200
    assert len(_lines(proxy, "tag=reuse")) == 3


def test_proxied_and_direct_requests_never_share_connections(
    transport: Transport, proxy: ProxyServer, http_origin: str
) -> None:
    url = f"{http_origin}/echo?tag=separate"
    direct = send(transport, url)
    proxied = send(transport, url, proxy=HttpProxy("127.0.0.1", proxy.port))
    again = send(transport, url)
    assert "Via" not in json.loads(direct.body)["headers"]
    assert "Via" in json.loads(proxied.body)["headers"]
    assert "Via" not in json.loads(again.body)["headers"]
    assert len(_lines(proxy, "tag=separate")) == 1


def test_abort_through_the_proxy(
    transport: Transport, proxy: ProxyServer, http_origin: str
) -> None:
    abort = AbortSignal()
    abort_after(abort, 0.3)
    started = time.monotonic()
    with pytest.raises(HttpError) as info:
        send(
            transport,
            f"{http_origin}/slow?chunks=50&ms=100",
            abort=abort,
            proxy=HttpProxy("127.0.0.1", proxy.port),
        )
    assert info.value.code == ABORTED
    assert time.monotonic() - started < 1.3


def test_abort_during_the_tls_handshake_inside_a_tunnel(
    transport: Transport, proxy: ProxyServer, ca_file: str
) -> None:
    with socket.socket() as silent:  # the tunnel opens, TLS never answers
        silent.bind(("127.0.0.1", 0))
        silent.listen(4)
        abort = AbortSignal()
        abort_after(abort, 0.3)
        started = time.monotonic()
        with pytest.raises(HttpError) as info:
            send(
                transport,
                f"https://127.0.0.1:{silent.getsockname()[1]}/",
                abort=abort,
                proxy=HttpProxy("127.0.0.1", proxy.port),
                ca_path=ca_file,
            )
    assert info.value.code == ABORTED
    assert time.monotonic() - started < 1.3


# -- exclusions ----------------------------------------------------------------


def test_exclusion_list_goes_direct(
    transport: Transport, proxy: ProxyServer, http_origin: str
) -> None:
    via = HttpProxy("127.0.0.1", proxy.port, ("localhost", "127.0.0.1"))
    resp = send(transport, f"{http_origin}/echo?tag=excluded", proxy=via)
    assert "Via" not in json.loads(resp.body)["headers"]
    assert _lines(proxy, "tag=excluded") == []


def test_suffix_exclusion_goes_direct(
    transport: Transport, proxy: ProxyServer, system_lookups: list[str]
) -> None:
    zone = Zone({"api.example.test": ["127.0.0.1"]})
    via = HttpProxy("127.0.0.1", proxy.port, ("*.example.test",))
    with dns_server(zone) as dns, named_origin() as server:
        netloc = f"api.example.test:{server.port}"
        resp = send(transport, f"http://{netloc}/", proxy=via, dns_servers=(dns.address,))
    assert json.loads(resp.body)["host"] == netloc
    assert _lines(proxy, netloc) == []
    assert system_lookups == []


@pytest.mark.parametrize(
    ("host", "patterns", "expected"),
    [
        ("api.example.com", ["api.example.com"], True),
        ("API.Example.com.", ["api.example.com"], True),
        ("api.example.com", ["*.example.com"], True),
        ("a.b.example.com", ["*.example.com"], True),
        ("example.com", ["*.example.com"], False),
        ("badexample.com", ["*.example.com"], False),
        ("api.example.com", ["example.com"], False),
        ("[::1]", ["::1"], True),
        ("anything", ["*"], True),
        ("anything", [], False),
    ],
)
def test_exclusion_patterns(host: str, patterns: list[str], expected: bool) -> None:
    assert excluded(host, patterns) == expected


@pytest.mark.parametrize(
    ("host", "port", "no_proxy", "expected"),
    [
        ("example.com", 80, "example.com", True),
        ("api.example.com", 80, ".example.com", True),
        ("api.example.com", 80, "example.com", True),
        ("badexample.com", 80, "example.com", False),
        ("example.com", 8080, "example.com:8080", True),
        ("example.com", 80, "example.com:8080", False),
        ("10.1.2.3", 80, "10.0.0.0/8", True),
        ("11.1.2.3", 80, "10.0.0.0/8", False),
        ("[::1]", 80, "::1", True),
        ("anything", 80, "a.org, *", True),
        ("anything", 80, "", False),
    ],
)
def test_no_proxy_matching(host: str, port: int, no_proxy: str, expected: bool) -> None:
    assert bypassed(host, port, no_proxy) == expected


# -- the environment -------------------------------------------------------------


def test_using_proxy_true_follows_http_proxy(
    transport: Transport, proxy: ProxyServer, http_origin: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("HTTP_PROXY", proxy.url)
    resp = send(transport, f"{http_origin}/echo?tag=env", proxy=True)
    assert "Via" in json.loads(resp.body)["headers"]
    assert len(_lines(proxy, "tag=env")) == 1


def test_using_proxy_true_follows_https_proxy(
    transport: Transport,
    proxy: ProxyServer,
    ca: trustme.CA,
    ca_file: str,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setenv("https_proxy", f"127.0.0.1:{proxy.port}")  # no scheme: http://
    with named_origin(ca.issue_cert("127.0.0.1")) as server:
        netloc = f"127.0.0.1:{server.port}"
        resp = send(transport, f"https://{netloc}/", proxy=True, ca_path=ca_file)
    assert resp.status == 200
    assert _lines(proxy, netloc) == [f"CONNECT {netloc} {netloc} -"]


def test_no_proxy_goes_direct(
    transport: Transport, proxy: ProxyServer, http_origin: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("HTTP_PROXY", proxy.url)
    monkeypatch.setenv("NO_PROXY", "example.org,127.0.0.1")
    resp = send(transport, f"{http_origin}/echo?tag=noproxy", proxy=True)
    assert "Via" not in json.loads(resp.body)["headers"]
    assert _lines(proxy, "tag=noproxy") == []


def test_without_using_proxy_the_environment_is_ignored(
    transport: Transport, proxy: ProxyServer, http_origin: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("HTTP_PROXY", proxy.url)
    send(transport, f"{http_origin}/echo?tag=unset")
    assert choose(None, "http", "127.0.0.1", 80) is None
    assert _lines(proxy, "tag=unset") == []


def test_credentials_in_the_environment_become_proxy_authorization(
    transport: Transport,
    auth_proxy: ProxyServer,
    http_origin: str,
    ca: trustme.CA,
    ca_file: str,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    with_credentials = f"http://alice:p%40ss@127.0.0.1:{auth_proxy.port}"
    monkeypatch.setenv("HTTP_PROXY", with_credentials)
    monkeypatch.setenv("HTTPS_PROXY", with_credentials)
    expected = "Basic " + base64.b64encode(b"alice:p@ss").decode()
    resp = send(transport, f"{http_origin}/echo?tag=auth", proxy=True)
    assert resp.status == 200
    assert "Proxy-Authorization" not in json.loads(resp.body)["headers"]
    assert _lines(auth_proxy, "tag=auth")[0].endswith(expected)
    with named_origin(ca.issue_cert("127.0.0.1")) as server:
        netloc = f"127.0.0.1:{server.port}"
        assert send(transport, f"https://{netloc}/", proxy=True, ca_path=ca_file).status == 200
    assert _lines(auth_proxy, netloc) == [f"CONNECT {netloc} {netloc} {expected}"]


def test_missing_credentials_are_refused_by_the_proxy(
    transport: Transport,
    auth_proxy: ProxyServer,
    http_origin: str,
    ca: trustme.CA,
    ca_file: str,
) -> None:
    via = HttpProxy("127.0.0.1", auth_proxy.port)
    assert send(transport, f"{http_origin}/echo?tag=noauth", proxy=via).status == 407
    with named_origin(ca.issue_cert("127.0.0.1")) as server, pytest.raises(HttpError) as info:
        send(transport, f"https://127.0.0.1:{server.port}/", proxy=via, ca_path=ca_file)
    assert info.value.code == RECEIVE_FAILED  # curl: "CONNECT tunnel failed, response 407"
    assert "407" in info.value.detail


# -- failures ------------------------------------------------------------------


@pytest.mark.parametrize("scheme", ["http", "https"])
def test_unresolvable_proxy_gives_2300005(
    transport: Transport, scheme: str, system_lookups: list[str]
) -> None:
    with pytest.raises(HttpError) as info:
        send(transport, f"{scheme}://127.0.0.1:9/", proxy=HttpProxy("proxy.invalid", 3128))
    assert info.value.code == PROXY_RESOLVE
    assert system_lookups == ["proxy.invalid"]  # refused by the guard, never sent


def test_proxy_name_resolves_through_dns_servers(
    transport: Transport, proxy: ProxyServer, http_origin: str, system_lookups: list[str]
) -> None:
    zone = Zone({"proxy.example.test": ["127.0.0.1"]})
    with dns_server(zone) as dns:
        resp = send(
            transport,
            f"{http_origin}/echo?tag=proxyname",
            proxy=HttpProxy("proxy.example.test", proxy.port),
            dns_servers=(dns.address,),
        )
        with pytest.raises(HttpError) as info:
            send(
                transport,
                f"{http_origin}/echo",
                proxy=HttpProxy("nowhere.example.test", proxy.port),
                dns_servers=(dns.address,),
            )
    assert resp.status == 200
    assert len(_lines(proxy, "tag=proxyname")) == 1
    assert resp.timings.dns > 0  # resolving the proxy
    assert info.value.code == PROXY_RESOLVE
    assert "proxy.example.test" in zone.names_asked()
    assert system_lookups == []


def test_refused_proxy_connection_gives_2300007(transport: Transport, http_origin: str) -> None:
    via = HttpProxy("127.0.0.1", _free_port())
    with pytest.raises(HttpError) as info:
        send(transport, f"{http_origin}/echo", proxy=via)
    assert info.value.code == CONNECT_FAILED


def test_unsupported_proxy_scheme_in_the_environment(
    transport: Transport, http_origin: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("HTTP_PROXY", "socks5://127.0.0.1:1080")
    with pytest.raises(HttpError) as info:
        send(transport, f"{http_origin}/echo", proxy=True)
    assert info.value.code == 2300001


# -- through the public API -------------------------------------------------------


def test_options_using_proxy_end_to_end(proxy: ProxyServer, http_origin: str) -> None:
    with Scheduler(max_workers=2, name="proxy-e2e") as scheduler:
        options = {"usingProxy": HttpProxy("127.0.0.1", proxy.port)}
        future = netstack.create_http(scheduler).request(f"{http_origin}/echo?tag=e2e", options)
        resp = future.result(timeout=30)
    assert resp.response_code == 200
    assert "Via" in json.loads(resp.result)["headers"]
    assert len(_lines(proxy, "tag=e2e")) == 1
    assert resp.performance_timing.dns_timing > 0
