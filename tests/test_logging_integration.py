"""How netstack's events look under the program's own logging setup (each in a subprocess).

stdlib logging configured, structlog not: one clean line per record, the
level and time only once (the handler's). A structlog-aware handler
(``ProcessorFormatter``) gets the event dict itself. structlog configured:
events flow through the program's processors.
"""

from __future__ import annotations

import json
import re
import subprocess
import sys
import textwrap

import pytest

pytestmark = pytest.mark.timeout(60)

_REQUESTS = """
from netstack.cli.demo import origin
with origin() as base, netstack.Scheduler(max_workers=2) as scheduler:
    ok = scheduler.submit(base + "/cacheable").result(timeout=20)
    assert ok.response_code == 200
    try:
        scheduler.submit("http://127.0.0.1:1/").result(timeout=20)
    except netstack.HttpError:
        pass
"""


def _run(setup: str) -> subprocess.CompletedProcess[str]:
    program = textwrap.dedent(setup) + "\nimport netstack\n" + textwrap.dedent(_REQUESTS)
    result = subprocess.run(
        [sys.executable, "-c", program], capture_output=True, text=True, timeout=50, check=False
    )
    assert result.returncode == 0, result.stderr
    return result


def test_stdlib_basic_config_gives_one_clean_line_per_record() -> None:
    result = _run(
        """
        import logging, sys
        logging.basicConfig(
            level=logging.DEBUG, stream=sys.stdout,
            format="%(asctime)s %(levelname)s %(name)s: %(message)s",
        )
        logging.getLogger("urllib3").setLevel(logging.WARNING)
        """
    )
    lines = [line for line in result.stdout.splitlines() if " netstack" in line]
    assert len(lines) >= 4, result.stdout
    shape = re.compile(
        r"^\d{4}-\d\d-\d\d \d\d:\d\d:\d\d,\d{3} (DEBUG|INFO|WARNING|ERROR) netstack: "
        r"[a-z0-9_]+( [a-z0-9_]+=\S.*)?$"
    )
    for line in lines:
        assert shape.match(line), line
        assert len(re.findall(r"\d{4}-\d\d-\d\d", line)) == 1, line  # the handler's time only
        assert len(re.findall(r"(?i)\b(debug|info|warning)\b", line)) == 1, line
        assert "{" not in line.split(": ", 1)[1][:1]  # not a dict repr
    events = {line.split(": ", 1)[1].split(" ")[0] for line in lines}
    assert {"queued", "started", "finished", "failed"} <= events
    assert any("request_id=" in line for line in lines)


def test_a_processor_formatter_handler_receives_the_event_dict_unrendered() -> None:
    result = _run(
        """
        import logging, sys
        import structlog
        handler = logging.StreamHandler(sys.stdout)
        handler.setFormatter(structlog.stdlib.ProcessorFormatter(
            processors=[
                structlog.stdlib.ProcessorFormatter.remove_processors_meta,
                structlog.processors.JSONRenderer(),
            ],
        ))
        logging.getLogger("netstack").addHandler(handler)
        logging.getLogger("netstack").setLevel(logging.DEBUG)
        """
    )
    records = [json.loads(line) for line in result.stdout.splitlines()]
    assert records
    finished = [r for r in records if r["event"] == "finished"]
    assert finished
    assert isinstance(finished[0]["request_id"], int)
    assert {r["event"] for r in records} >= {"queued", "started", "failed"}


def test_with_structlog_configured_events_flow_through_its_processors() -> None:
    result = _run(
        """
        import logging, sys
        import structlog
        def tag(logger, method_name, event_dict):
            event_dict["seen_by"] = "my-processor"
            event_dict["level"] = method_name
            return event_dict
        structlog.configure(
            processors=[tag, structlog.processors.JSONRenderer()],
            logger_factory=structlog.PrintLoggerFactory(sys.stdout),
        )
        logging.getLogger("netstack").setLevel(logging.DEBUG)  # which events: stdlib's level
        """
    )
    records = [json.loads(line) for line in result.stdout.splitlines()]
    assert records
    assert all(r["seen_by"] == "my-processor" for r in records)
    assert {r["event"] for r in records} >= {"queued", "started", "finished", "failed"}
    assert {r["level"] for r in records} >= {"debug"}
