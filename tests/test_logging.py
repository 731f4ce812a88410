"""The library is silent unless the program configures logging."""

from __future__ import annotations

import subprocess
import sys
import textwrap

import pytest

pytestmark = pytest.mark.timeout(60)

_PROGRAM = textwrap.dedent(
    """
    import netstack
    from netstack.cli.demo import origin

    with origin() as base, netstack.Scheduler(max_workers=2) as scheduler:
        ok = netstack.create_http(scheduler).request(base + "/cacheable").result(timeout=20)
        failed = netstack.create_http(scheduler).request("http://127.0.0.1:1/")
        try:
            failed.result(timeout=20)
        except netstack.HttpError:
            pass
        assert ok.response_code == 200
    {extra}
    """
)


def _run(extra: str = "") -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-c", _PROGRAM.format(extra=extra)],
        capture_output=True,
        text=True,
        timeout=50,
        check=False,
    )


def test_a_program_that_configures_nothing_prints_nothing() -> None:
    result = _run()
    assert result.returncode == 0, result.stderr
    assert result.stdout == ""
    assert result.stderr == ""


def test_enabling_the_netstack_logger_shows_request_events() -> None:
    program = _PROGRAM.replace(
        "import netstack\n",
        "import logging, sys\nlogging.basicConfig(level=logging.DEBUG, stream=sys.stdout)\n"
        "import netstack\n",
        1,
    )
    result = subprocess.run(
        [sys.executable, "-c", program.format(extra="")],
        capture_output=True,
        text=True,
        timeout=50,
        check=False,
    )
    assert result.returncode == 0, result.stderr
    for event in ("queued", "started", "finished", "failed"):
        assert event in result.stdout
    assert "request_id" in result.stdout


def test_importing_netstack_leaves_structlog_and_dnspython_unloaded() -> None:
    """Logging and the own-resolver code load on first use, not with the library."""
    program = textwrap.dedent(
        """
        import sys
        import threading
        from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

        import netstack

        class Handler(BaseHTTPRequestHandler):
            def do_GET(self):
                self.send_response(200)
                self.send_header("Content-Length", "2")
                self.end_headers()
                self.wfile.write(b"ok")

            def log_message(self, *args):
                pass

        server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        threading.Thread(target=server.serve_forever, daemon=True).start()
        base = f"http://127.0.0.1:{server.server_address[1]}"
        with netstack.Scheduler(max_workers=2) as scheduler:
            assert scheduler.submit(base + "/").result(timeout=20).result == "ok"
        server.shutdown()
        heavy = sorted(m for m in ("structlog", "rich", "dns", "asyncio") if m in sys.modules)
        print(",".join(heavy))
        """
    )
    result = subprocess.run(
        [sys.executable, "-c", program], capture_output=True, text=True, timeout=50, check=False
    )
    assert result.returncode == 0, result.stderr
    assert result.stdout.strip() == ""
