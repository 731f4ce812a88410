"""``netstack get``: the real console script in a subprocess, against loopback origins."""

from __future__ import annotations

import argparse
import base64
import hashlib
import json
import ssl
from collections.abc import Iterator
from pathlib import Path

import pytest
import trustme
from cli_helpers import closed_port, run_cli, serve

from netstack import ClientCert, HttpDataType, HttpProtocol, HttpProxy
from netstack.cli import get

pytestmark = pytest.mark.timeout(90)


def test_the_body_goes_to_stdout_untouched(origin: str) -> None:
    result = run_cli("get", f"{origin}/binary")
    assert (result.returncode, result.stderr) == (0, b"")
    assert result.stdout == bytes(range(256))


def test_include_prints_the_status_line_and_headers_before_the_body(origin: str) -> None:
    result = run_cli("get", "-i", f"{origin}/text")
    assert result.returncode == 0, result.stderr
    head, _, body = result.stdout.partition(b"\r\n\r\n")
    lines = head.decode().split("\r\n")
    assert lines[0] == "HTTP 200 OK"
    assert "Content-Type: text/plain; charset=utf-8" in lines
    assert body == b"hello netstack\n"


def test_method_headers_and_data_are_sent(origin: str) -> None:
    result = run_cli(
        "get", "-X", "put", "-H", "X-One: 1", "-H", "X-Two:  two ", "-H",
        "Content-Type: text/plain", "-d", "hello", f"{origin}/echo",
    )  # fmt: skip
    assert result.returncode == 0, result.stderr
    echo = json.loads(result.stdout)
    assert echo["method"] == "PUT"
    assert echo["headers"]["X-One"] == "1"
    assert echo["headers"]["X-Two"] == "two"
    assert echo["body"] == "hello"


def test_data_from_a_file_is_sent_as_bytes_and_implies_post(origin: str, tmp_path: Path) -> None:
    payload = bytes(range(256)) * 4
    (tmp_path / "payload.bin").write_bytes(payload)
    result = run_cli("get", "-d", f"@{tmp_path / 'payload.bin'}", f"{origin}/echo")
    assert result.returncode == 0, result.stderr
    echo = json.loads(result.stdout)
    assert echo["method"] == "POST"
    assert (echo["length"], echo["sha256"]) == (len(payload), hashlib.sha256(payload).hexdigest())


def test_data_from_stdin(origin: str) -> None:
    result = run_cli("get", "-d", "@-", f"{origin}/echo", input=b"from stdin")
    assert result.returncode == 0, result.stderr
    assert json.loads(result.stdout)["body"] == "from stdin"


def test_data_from_a_missing_file_is_a_parameter_error(origin: str, tmp_path: Path) -> None:
    result = run_cli("get", "-d", f"@{tmp_path / 'missing'}", f"{origin}/echo")
    assert result.returncode == 2
    assert b"error 401" in result.stderr


def test_json_prints_the_whole_response(origin: str) -> None:
    result = run_cli("get", "--json", f"{origin}/text")
    assert result.returncode == 0, result.stderr
    record = json.loads(result.stdout)
    assert record["response_code"] == 200
    assert record["result"] == "hello netstack\n"
    assert record["header"]["Content-Type"] == "text/plain; charset=utf-8"
    assert record["cookies"].splitlines()[0].startswith("a=1")
    assert record["cookies"].splitlines()[1].startswith("b=2")
    assert record["from_cache"] is False
    assert record["url"] == f"{origin}/text"
    assert record["performance_timing"]["total_timing"] > 0
    assert "queue_timing" in record["performance_timing"]


def test_json_gives_a_binary_body_in_base64(origin: str) -> None:
    result = run_cli("get", "--json", f"{origin}/binary")
    assert result.returncode == 0, result.stderr
    record = json.loads(result.stdout)
    assert base64.b64decode(record["result_base64"]) == bytes(range(256))
    assert "result" not in record


def test_cache_dir_persists_the_cache_between_runs(origin: str, tmp_path: Path) -> None:
    cache = tmp_path / "cache"
    url = f"{origin}/cacheable/one"
    first = run_cli("get", "--json", "--cache-dir", str(cache), url)
    second = run_cli("get", "--json", "--cache-dir", str(cache), url)
    assert first.returncode == second.returncode == 0, (first.stderr, second.stderr)
    assert json.loads(first.stdout)["from_cache"] is False
    assert json.loads(second.stdout)["from_cache"] is True
    assert json.loads(second.stdout)["result"] == "cached one"
    assert any(cache.iterdir())


def test_timeout_ends_the_request_with_2300028(origin: str) -> None:
    result = run_cli("get", "--timeout", "200", f"{origin}/slow?ms=3000")
    assert result.returncode == 1
    assert b"error 2300028: Operation timeout." in result.stderr


def test_priority_is_accepted_in_range_and_rejected_outside(origin: str) -> None:
    assert run_cli("get", "--priority", "1000", f"{origin}/text").returncode == 0
    result = run_cli("get", "--priority", "0", f"{origin}/text")
    assert result.returncode == 2
    assert b"error 401" in result.stderr
    assert b"priority" in result.stderr


def test_a_failure_prints_the_code_and_message_and_exits_1() -> None:
    result = run_cli("get", f"http://127.0.0.1:{closed_port()}/")
    assert result.returncode == 1
    assert result.stdout == b""
    assert b"netstack: error 2300007: Failed to connect to the server." in result.stderr


def test_max_limit_caps_the_body(origin: str) -> None:
    result = run_cli("get", "--max-limit", "100", f"{origin}/big?n=1000")
    assert result.returncode == 1
    assert b"error 2300063" in result.stderr


@pytest.fixture
def tls_origin(tmp_path: Path) -> Iterator[tuple[str, Path]]:
    ca = trustme.CA()
    context = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
    ca.issue_cert("127.0.0.1").configure_cert(context)
    bundle = tmp_path / "ca.pem"
    ca.cert_pem.write_to_path(str(bundle))
    with serve(ssl_context=context) as base:
        yield base, bundle


def test_cacert_trusts_that_ca(tls_origin: tuple[str, Path]) -> None:
    base, bundle = tls_origin
    trusted = run_cli("get", "--cacert", str(bundle), f"{base}/text")
    assert trusted.returncode == 0, trusted.stderr
    assert trusted.stdout == b"hello netstack\n"
    untrusted = run_cli("get", f"{base}/text")
    assert untrusted.returncode == 1
    assert b"error 2300060" in untrusted.stderr


def test_http2_is_asked_for_and_falls_back_to_http11(origin: str) -> None:
    result = run_cli("get", "--http2", f"{origin}/text")
    assert result.returncode == 0, result.stderr
    assert result.stdout == b"hello netstack\n"


def test_proxy_sends_the_request_through_the_proxy(origin: str) -> None:
    """The origin plays the proxy: it gets the absolute URI of an unresolvable host."""
    result = run_cli("get", "--proxy", origin, "http://netstack-test.invalid/echo")
    assert result.returncode == 0, result.stderr
    assert json.loads(result.stdout)["headers"]["Host"] == "netstack-test.invalid"


def test_a_malformed_proxy_or_header_is_a_parameter_error(origin: str) -> None:
    assert run_cli("get", "--proxy", "http://:80", f"{origin}/text").returncode == 2
    result = run_cli("get", "-H", "no colon", f"{origin}/text")
    assert result.returncode == 2
    assert b"header" in result.stderr


def test_verbose_logs_every_request_event_to_stderr(origin: str) -> None:
    result = run_cli("get", "-vv", f"{origin}/text")
    assert result.returncode == 0, result.stderr
    assert result.stdout == b"hello netstack\n"
    for event in (b"queued", b"started", b"finished"):
        assert event in result.stderr


def test_log_json_writes_one_json_object_a_line() -> None:
    result = run_cli("-v", "--log-json", "get", f"http://127.0.0.1:{closed_port()}/")
    assert result.returncode == 1
    logs = [json.loads(line) for line in result.stderr.splitlines() if line.startswith(b"{")]
    assert {"failed", "get_failed"} <= {log["event"] for log in logs}
    assert all("timestamp" in log and "level" in log for log in logs)


@pytest.mark.parametrize("command", [[], ["get"], ["batch"], ["demo"]])
def test_help_shows_examples(command: list[str]) -> None:
    result = run_cli(*command, "--help")
    assert result.returncode == 0
    assert b"examples:" in result.stdout


def test_flags_become_request_options() -> None:
    """What the transport honours later (HTTP/2, proxy, client certs) is passed through now."""
    parser = argparse.ArgumentParser()
    get.add_arguments(parser)
    args = parser.parse_args(
        ["--http2", "--proxy", "proxy.example:3128", "--cert", "c.pem", "--key", "k.pem",
         "--cert-type", "P12", "--key-password", "pw", "--cacert", "ca.pem", "--timeout", "5",
         "--priority", "7", "--max-limit", "9", "-H", "A: b", "http://x/"]
    )  # fmt: skip
    assert get.build_options(args) == {
        "header": {"A": "b"},
        "priority": 7,
        "readTimeout": 5,
        "connectTimeout": 5,
        "usingProtocol": HttpProtocol.HTTP2,
        "caPath": "ca.pem",
        "usingProxy": HttpProxy("proxy.example", 3128),
        "clientCert": ClientCert(
            cert_path="c.pem", key_path="k.pem", cert_type="P12", key_password="pw"
        ),
        "maxLimit": 9,
        "expectDataType": HttpDataType.ARRAY_BUFFER,
    }
