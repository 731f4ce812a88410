"""The one connect loop (transport/sockets.py) and the transport's import graph.

The loop is shared by the HTTP connections and the DoH resolver; these tests
drive it directly against real loopback listeners.
"""

from __future__ import annotations

import ast
import socket
import threading
import time
from pathlib import Path

import pytest
from tests.servers.raw import full_backlog

import netstack.transport
from netstack.transport.context import AddrInfo
from netstack.transport.exchange import AbortSignal
from netstack.transport.sockets import ExchangeAborted, connect

pytestmark = pytest.mark.timeout(30)


def _info(address: tuple[str, int]) -> AddrInfo:
    return (socket.AF_INET, socket.SOCK_STREAM, socket.IPPROTO_TCP, "", address)


def _closed_port() -> tuple[str, int]:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()  # type: ignore[no-any-return]


def test_the_first_address_that_accepts_is_used() -> None:
    with socket.socket() as server:
        server.bind(("127.0.0.1", 0))
        server.listen(1)
        sock = connect([_info(_closed_port()), _info(server.getsockname())], AbortSignal(), 5.0)
        with sock:
            assert sock.getpeername() == server.getsockname()
            assert sock.gettimeout() == 5.0


def test_when_no_address_accepts_the_last_error_is_raised() -> None:
    with pytest.raises(ConnectionRefusedError):
        connect([_info(_closed_port()), _info(_closed_port())], AbortSignal(), 5.0)
    with pytest.raises(OSError, match="no address"):
        connect([], AbortSignal(), 5.0)


def test_an_aborted_signal_connects_nothing() -> None:
    signal = AbortSignal()
    signal.abort()
    with socket.socket() as server:
        server.bind(("127.0.0.1", 0))
        server.listen(1)
        server.settimeout(0.2)
        with pytest.raises(ExchangeAborted):
            connect([_info(server.getsockname())], signal, 5.0)
        with pytest.raises(TimeoutError):
            server.accept()  # no connection was even attempted


def test_an_abort_from_another_thread_ends_a_hanging_connect() -> None:
    signal = AbortSignal()
    with full_backlog() as address:
        threading.Timer(0.2, signal.abort).start()
        started = time.monotonic()
        with pytest.raises(ExchangeAborted):
            connect([_info(address)], signal, 20.0)
        assert time.monotonic() - started < 2.0


def _transport_imports() -> dict[str, set[str]]:
    """Module -> the netstack.transport modules it imports (lazy and TYPE_CHECKING too)."""
    package = Path(netstack.transport.__file__).parent
    graph: dict[str, set[str]] = {}
    for path in package.glob("*.py"):
        imported: set[str] = set()
        for node in ast.walk(ast.parse(path.read_text())):
            if isinstance(node, ast.ImportFrom) and node.module:
                names = [node.module] + [f"{node.module}.{a.name}" for a in node.names]
            elif isinstance(node, ast.Import):
                names = [a.name for a in node.names]
            else:
                continue
            for name in names:
                if name.startswith("netstack.transport.") and name.count(".") == 2:
                    imported.add(name.rsplit(".", 1)[1])
        graph[path.stem] = imported - {path.stem}
    return graph


def test_the_transport_has_no_import_cycle() -> None:
    graph = _transport_imports()
    assert {"connection", "context", "dns", "resolver", "sockets"} <= graph.keys()
    state: dict[str, int] = {}
    cycles: list[list[str]] = []

    def visit(module: str, path: list[str]) -> None:
        state[module] = 1
        for nxt in sorted(graph.get(module, ())):
            if state.get(nxt) == 1:
                cycles.append([*path[path.index(nxt) :], nxt])
            elif nxt not in state:
                visit(nxt, [*path, nxt])
        state[module] = 2

    for module in sorted(graph):
        if module not in state:
            visit(module, [module])
    assert cycles == []


def test_the_socket_primitives_are_a_leaf_under_connection_and_resolver() -> None:
    graph = _transport_imports()
    assert graph["sockets"] <= {"context", "exchange"}
    assert graph["context"] <= {"exchange"}
    assert "sockets" in graph["connection"]
    assert "sockets" in graph["resolver"]
