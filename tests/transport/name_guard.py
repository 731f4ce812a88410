"""Keeps made-up names on this machine: the system resolver only sees loopback.

``guard_system_resolver(monkeypatch)`` replaces ``socket.getaddrinfo`` for the
test: loopback literals and ``localhost`` resolve as usual; any other name is
recorded and refused with ``EAI_NONAME`` (what a resolver says for
``.invalid``/``.test`` names), so no query ever leaves 127.0.0.0/8. Tests
assert on the returned list that their names never reached it.
"""

from __future__ import annotations

import ipaddress
import socket
from typing import Any

import pytest


def _loopback(name: str) -> bool:
    if name.rstrip(".").lower() == "localhost":
        return True
    try:
        return ipaddress.ip_address(name.strip("[]").split("%")[0]).is_loopback
    except ValueError:
        return False


def guard_system_resolver(monkeypatch: pytest.MonkeyPatch) -> list[str]:
    asked: list[str] = []
    real = socket.getaddrinfo

    def guarded(host: Any, *args: Any, **kwargs: Any) -> Any:
        name = host.decode() if isinstance(host, bytes) else str(host)
        if _loopback(name):
            return real(host, *args, **kwargs)
        asked.append(name)
        raise socket.gaierror(socket.EAI_NONAME, f"{name}: refused by the test's resolver guard")

    monkeypatch.setattr(socket, "getaddrinfo", guarded)
    return asked
