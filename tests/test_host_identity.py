"""One host identity: the host key, the domain rules and the socket agree on every URL.

Origins listen on distinct loopback addresses with one port and answer with
the address they were reached on; a loopback DNS server maps names (one of
them internationalised) to them. Hypothesis spells the authority every way
(userinfo, backslashes, IDN U- and A-labels, mixed case, trailing dots, IPv6
literals) and checks: an ambiguous authority is refused (2300003) and never
connects; otherwise the host key is the target's canonical name, a host the
rules refuse ends with 2300998 and never connects, and any other request
reaches exactly the address its host key names.
"""

from __future__ import annotations

import os
import socket
import subprocess
import sys
import textwrap
from collections.abc import Iterator
from contextlib import ExitStack
from dataclasses import dataclass
from pathlib import Path

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from tests.servers.dns_server import Zone, dns_server
from tests.servers.raw import RawServer, raw_server, read_request, response

from netstack import HttpError, PolitenessPolicy, Scheduler
from netstack.errors import BAD_URL, HOST_NOT_ALLOWED
from netstack.hosts import canonical_host
from netstack.prepare import parse_target

DNS_ADDRESS = "127.0.0.153"  # the dns_servers option takes an address (port 53)


@dataclass(frozen=True)
class Target:
    """A host as the test knows it: its spellings, canonical form and address."""

    spellings: tuple[str, ...]
    canonical: str
    address: str


TARGETS = (
    Target(("a1.example",), "a1.example", "127.0.0.2"),
    Target(("bücher.example", "xn--bcher-kva.example"), "xn--bcher-kva.example", "127.0.0.3"),
    Target(("b2.example",), "b2.example", "127.0.0.4"),
    Target(("127.0.0.2",), "127.0.0.2", "127.0.0.2"),
    Target(("127.0.0.4",), "127.0.0.4", "127.0.0.4"),
)
IPV6 = Target(("[::1]", "[0:0::1]", "[0:0:0:0:0:0:0:1]"), "::1", "::1")


def _answer(conn: socket.socket, _: int) -> None:
    """Answer every request on the connection with the address it was accepted on."""
    address = conn.getsockname()[0].encode()
    with conn:  # closed after its last answer, so a pooled client never waits on it
        for _ in range(1000):
            if not read_request(conn):
                return
            conn.sendall(response(address))


def _ipv6_available() -> bool:
    try:
        with socket.socket(socket.AF_INET6, socket.SOCK_STREAM) as probe:
            probe.bind(("::1", 0))
    except OSError:
        return False
    return True


@dataclass
class Peers:
    port: int
    servers: list[RawServer]
    targets: tuple[Target, ...]
    #: False where port 53 cannot be bound: only IP literals are reachable then.
    dns: bool

    def accepted(self) -> int:
        return sum(s.accepted for s in self.servers)

    def options(self, **more: object) -> dict[str, object]:
        """Request options: names resolve through the loopback DNS server when there is one."""
        return {"dns_servers": [DNS_ADDRESS], **more} if self.dns else dict(more)

    def need_dns(self) -> None:
        if not self.dns:
            pytest.skip(f"cannot run a DNS server on {DNS_ADDRESS}:53 (no right to bind it)")


@pytest.fixture(scope="module")
def peers() -> Iterator[Peers]:
    zone = Zone({t.canonical: [t.address] for t in TARGETS if not t.canonical[0].isdigit()})
    with ExitStack() as stack:
        try:
            stack.enter_context(dns_server(zone, host=DNS_ADDRESS, port=53))
            dns = True
        except OSError:  # port 53 needs the right to bind it: IP literals only
            dns = False
        first = stack.enter_context(raw_server(_answer, host="127.0.0.2"))
        servers = [first]
        for host in ("127.0.0.3", "127.0.0.4"):
            servers.append(stack.enter_context(raw_server(_answer, host=host, port=first.port)))
        targets = TARGETS if dns else tuple(t for t in TARGETS if t.canonical[0].isdigit())
        if _ipv6_available():
            with_v6 = stack.enter_context(raw_server(_answer, host="::1", port=first.port))
            servers.append(with_v6)
            targets = (*targets, IPV6)
        yield Peers(first.port, servers, targets, dns)


@st.composite
def spelled(draw: st.DrawFn, target: Target) -> str:
    """One spelling of ``target``: any case per character, maybe a trailing dot."""
    text = draw(st.sampled_from(target.spellings))
    flips = draw(st.lists(st.booleans(), min_size=len(text), max_size=len(text)))
    text = "".join(c.upper() if flip else c for c, flip in zip(text, flips, strict=True))
    if not text.startswith("[") and draw(st.booleans()):
        text += "."
    return text


@dataclass(frozen=True)
class Case:
    url: str
    target: Target
    ambiguous: bool
    blocked: frozenset[str]
    allowed: frozenset[str] | None


@st.composite
def cases(draw: st.DrawFn, peers: Peers) -> Case:
    targets = peers.targets
    target = draw(st.sampled_from(targets))
    other = draw(st.sampled_from(targets))
    host = draw(spelled(target))
    port = peers.port
    userinfo = draw(
        st.sampled_from(["", "user:pw@", "u@", f"{other.spellings[0]}:{port}@", "a@b@"])
    )
    tail = draw(st.sampled_from(["", f"\\@{other.spellings[0]}", "\\"]))
    url = f"http://{userinfo}{host}:{port}{tail}/p?q=1"
    # an IPv4 address with a trailing dot is a name to the resolver: refused too
    ipv4_dot = host.endswith(".") and host[0].isdigit()
    ambiguous = userinfo == "a@b@" or bool(tail) or ipv4_dot
    canon = [t.canonical for t in targets]
    blocked = draw(st.frozensets(st.sampled_from(canon), max_size=2))
    allowed = draw(st.none() | st.frozensets(st.sampled_from(canon), max_size=3))
    return Case(url, target, ambiguous, blocked, allowed)


def _patterns(canonicals: frozenset[str], targets: tuple[Target, ...]) -> list[str]:
    """The rules as a user writes them: the first spelling (a U-label for the IDN)."""
    return [t.spellings[0].strip("[]") for t in targets if t.canonical in canonicals]


@settings(
    max_examples=60,
    deadline=None,
    suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow],
)
@given(data=st.data())
def test_host_key_rules_and_socket_agree(peers: Peers, data: st.DataObject) -> None:
    case = data.draw(cases(peers))
    before = peers.accepted()
    if case.ambiguous:
        with pytest.raises(HttpError) as refused:
            parse_target(case.url)
        assert refused.value.code == BAD_URL
    else:
        assert parse_target(case.url)[1] == case.target.canonical
    with Scheduler(
        max_workers=1,
        allowed_hosts=None if case.allowed is None else _patterns(case.allowed, peers.targets),
        blocked_hosts=_patterns(case.blocked, peers.targets),
    ) as scheduler:
        future = scheduler.submit(case.url, peers.options(readTimeout=5000, connectTimeout=5000))
        error = future.exception(timeout=20)
    allowed = case.target.canonical not in case.blocked and (
        case.allowed is None or case.target.canonical in case.allowed
    )
    if case.ambiguous or not allowed:
        assert isinstance(error, HttpError)
        assert error.code == (BAD_URL if case.ambiguous else HOST_NOT_ALLOWED)
        assert peers.accepted() == before  # never connected
    else:
        assert error is None, error
        assert future.result().result == case.target.address


def test_the_backslash_userinfo_trick_cannot_bypass_politeness(peers: Peers) -> None:
    """Issue repro: ``http://127.0.0.2:P\\@a1.example/`` is refused, not keyed as a1.example."""
    url = f"http://127.0.0.2:{peers.port}\\@a1.example/"
    before = peers.accepted()
    with Scheduler(politeness=PolitenessPolicy(min_delay=0.5)) as scheduler:
        futures = [scheduler.submit(url) for _ in range(10)]
        codes = [getattr(f.exception(timeout=10), "code", None) for f in futures]
    assert codes == [BAD_URL] * 10
    assert peers.accepted() == before


@pytest.mark.parametrize(
    ("rules", "url_host", "allowed"),
    [
        ({"blocked_hosts": ["bücher.example"]}, "xn--bcher-kva.example", False),
        ({"blocked_hosts": ["xn--bcher-kva.example"]}, "BÜCHER.example.", False),
        ({"allowed_hosts": ["bücher.example"]}, "xn--bcher-kva.example", True),
        ({"allowed_hosts": ["bücher.example"]}, "bücher.example", True),
        ({"allowed_hosts": ["*.example"]}, "Bücher.EXAMPLE", True),
        ({"blocked_hosts": ["*.example"]}, "xn--bcher-kva.example.", False),
        ({"blocked_hosts": ["A1.example."]}, "a1.EXAMPLE.", False),
        ({"allowed_hosts": ["::1"]}, "[0:0::1]", True),
    ],
)
def test_rules_compare_hosts_in_one_canonical_form(
    peers: Peers, rules: dict[str, list[str]], url_host: str, allowed: bool
) -> None:
    if url_host.startswith("[") and IPV6 not in peers.targets:
        pytest.skip("no IPv6 loopback")
    if allowed and not url_host.startswith("["):
        peers.need_dns()  # only a refused name never needs resolving
    url = f"http://{url_host}:{peers.port}/"
    before = peers.accepted()
    with Scheduler(**rules) as scheduler:  # type: ignore[arg-type]
        error = scheduler.submit(url, peers.options()).exception(timeout=20)
    if allowed:
        assert error is None
    else:
        assert getattr(error, "code", None) == HOST_NOT_ALLOWED
        assert peers.accepted() == before


@pytest.mark.parametrize(
    "host", ["127.2", "0x7f.0.0.2", "2130706434", "127.000.0.2", "0177.0.0.2", "127.0.0.2."]
)
def test_an_ipv4_address_in_another_notation_is_refused(peers: Peers, host: str) -> None:
    """The system resolver reads these as 127.0.0.2; a rule on 127.0.0.2 would not."""
    before = peers.accepted()
    with Scheduler(blocked_hosts=["127.0.0.2"]) as scheduler:
        error = scheduler.submit(f"http://{host}:{peers.port}/").exception(timeout=20)
    assert getattr(error, "code", None) == BAD_URL
    assert peers.accepted() == before


@pytest.mark.parametrize(
    "url",
    [
        "http://a@b@127.0.0.2/",
        "http://127.0.0.2\\@a1.example/",
        "http://127.0.0.2:80\\@a1.example/",
        "http://%31%32%37.0.0.2/",
        "http://a1.exa%6dple/",
        "HTTP://127.0.0.2\\x/",
    ],
)
def test_ambiguous_authorities_are_2300003(url: str) -> None:
    with pytest.raises(HttpError) as refused:
        parse_target(url)
    assert refused.value.code == BAD_URL


def test_spellings_of_one_host_share_one_host_key() -> None:
    keys = {
        parse_target(url)[1]
        for url in (
            "http://bücher.example/",
            "http://BÜCHER.Example./x",
            "http://user:pw@xn--bcher-kva.example:8080/",
            "https://XN--BCHER-KVA.EXAMPLE/",
        )
    }
    assert keys == {"xn--bcher-kva.example"}
    assert parse_target("http://[0:0::1]:80/")[1] == canonical_host("::1") == "::1"


@pytest.mark.parametrize("spelling", ["BÜCHER.example.", "xn--bcher-kva.EXAMPLE"])
def test_a_redirect_is_checked_on_the_same_identity(peers: Peers, spelling: str) -> None:
    """A Location in raw UTF-8 (or its A-label) to a blocked name ends with 2300998."""
    location = f"http://{spelling}:{peers.port}/".encode()

    def send_location(conn: socket.socket, _: int) -> None:
        with conn:
            if read_request(conn):
                head = b"HTTP/1.1 302 Found\r\nContent-Length: 0\r\nLocation: "
                conn.sendall(head + location + b"\r\n\r\n")

    before = peers.accepted()
    with (
        raw_server(send_location, host="127.0.0.5") as start,
        Scheduler(blocked_hosts=["bücher.example"]) as scheduler,
    ):
        options = peers.options()
        error = scheduler.submit(start.url("/"), options).exception(timeout=20)
        assert getattr(error, "code", None) == HOST_NOT_ALLOWED
        peers.need_dns()
        allowed = Scheduler(blocked_hosts=["b2.example"])
        try:  # the same redirect, not blocked, reaches the IDN host's address
            answer = allowed.submit(start.url("/"), options).result(timeout=20)
        finally:
            allowed.shutdown()
    assert answer.result == "127.0.0.3"
    assert peers.accepted() == before + 1


def test_without_idna_an_international_name_is_refused_naming_the_extra() -> None:
    """idna is optional: a U-label pattern is a 401 naming it, a U-label URL a 2300003."""
    code = textwrap.dedent(
        """
        import sys
        sys.modules["idna"] = None
        from netstack import HttpError, Scheduler
        from netstack.prepare import parse_target
        try:
            Scheduler(blocked_hosts=["bücher.example"])
        except HttpError as exc:
            print(exc.code, exc.message)
        try:
            parse_target("http://bücher.example/")
        except HttpError as exc:
            print(exc.code)
        print(parse_target("http://XN--BCHER-KVA.example./")[1])
        """
    )
    root = Path(__file__).resolve().parents[1]
    env = {**os.environ, "PYTHONPATH": os.pathsep.join([str(root / "src"), str(root)])}
    command = [sys.executable, "-c", code]
    done = subprocess.run(command, capture_output=True, text=True, env=env, timeout=60, check=True)
    refused, url, key = done.stdout.splitlines()
    assert refused.startswith("401 ")
    assert "pip install 'netstack[idna]'" in refused
    assert (url, key) == (str(BAD_URL), "xn--bcher-kva.example")
