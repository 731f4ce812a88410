"""Re-export the loopback servers for tests run with the prepend import mode."""

from __future__ import annotations

from tests.servers.origin import origin
from tests.servers.raw import full_backlog, raw_server, read_request, reset, response

__all__ = ["full_backlog", "origin", "raw_server", "read_request", "reset", "response"]
