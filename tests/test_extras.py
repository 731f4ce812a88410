"""A lean core: optional features name the extra that installs them.

The quick tests hide one optional package from a subprocess
(``sys.modules[name] = None`` makes its import fail); the slow one installs
the project into a fresh virtualenv with no extras at all and makes a real
request from it to a loopback server.
"""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
import textwrap
from pathlib import Path
from typing import Any

import pytest

ROOT = Path(__file__).resolve().parents[1]
SRC = ROOT / "src"

#: A loopback server and requests that need each extra; prints one line per check.
_PROBE = """
import http.server, json, subprocess, sys, threading
import netstack

class Handler(http.server.BaseHTTPRequestHandler):
    def do_GET(self):
        body = b"lean"
        self.send_response(200)
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)
    def log_message(self, *args):
        pass

server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Handler)
threading.Thread(target=server.serve_forever, daemon=True).start()
url = f"http://127.0.0.1:{server.server_port}/"
results = {"file": netstack.__file__}
response = netstack.create_http().request(url).result(timeout=30)
results["plain"] = [response.response_code, response.result]
checks = {
    "http2": {"usingProtocol": netstack.HttpProtocol.HTTP2},
    "dns": {"dnsServers": ["127.0.0.1"]},
    "doh": {"dnsOverHttps": "https://127.0.0.1/dns-query"},
    "tls": {"clientCert": {"certPath": "c.pem", "keyPath": "k.pem"}},
    "pins": {"certificatePinning": {"publicKeyHash": "AAAA"}},
    "http3": {"usingProtocol": netstack.HttpProtocol.HTTP3},
}
for name, options in checks.items():
    try:
        got = netstack.create_http().request(url, options).result(timeout=30)
        results[name] = ["ok", got.response_code]
    except netstack.HttpError as error:
        results[name] = [error.code, error.message]
server.shutdown()
print(json.dumps(results))
"""


def _probe(
    python: str, hide: tuple[str, ...] = (), env: dict[str, str] | None = None
) -> dict[str, Any]:
    import json

    hiding = "".join(f"sys.modules[{name!r}] = None\n" for name in hide)
    code = f"import sys\n{hiding}{_PROBE}"
    result = subprocess.run(
        [python, "-c", code], capture_output=True, timeout=120, env=env, check=False, text=True
    )
    assert result.returncode == 0, result.stderr
    return json.loads(result.stdout)


def _local_env() -> dict[str, str]:
    env = {**os.environ, "PYTHONPATH": os.pathsep.join([str(SRC), str(ROOT)])}
    for name in ("http_proxy", "https_proxy", "HTTP_PROXY", "HTTPS_PROXY", "all_proxy"):
        env.pop(name, None)
    return env


@pytest.mark.parametrize(
    ("hidden", "names", "extra"),
    [
        (("h2",), ["http2"], "http2"),
        (("dns",), ["dns", "doh"], "dns"),
        (("cryptography",), ["tls", "pins"], "tls"),
        (("httptools",), [], "speedups"),  # http.client's parser instead
    ],
)
def test_a_missing_package_is_a_401_naming_its_extra(
    hidden: tuple[str, ...], names: list[str], extra: str
) -> None:
    results = _probe(sys.executable, hidden, _local_env())
    assert results["plain"] == [200, "lean"]
    for name in names:
        code, message = results[name]
        assert code == 401
        assert f"pip install 'netstack[{extra}]'" in message
    assert results["http3"] == ["ok", 200]  # HTTP3 falls back quietly


def test_the_command_without_rich_names_the_cli_extra() -> None:
    code = "import sys\nsys.modules['rich'] = None\nfrom netstack.cli import main\nsys.exit(main())"
    result = subprocess.run(
        [sys.executable, "-c", code, "get", "http://127.0.0.1:9/"],
        capture_output=True,
        timeout=60,
        env=_local_env(),
        check=False,
        text=True,
    )
    assert result.returncode == 2
    assert "pip install 'netstack[cli]'" in result.stderr


def test_core_dependencies_are_the_lean_four_and_test_pulls_every_extra() -> None:
    tomllib = pytest.importorskip("tomllib")  # Python 3.11+
    project = tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]
    names = sorted(
        dep.split(">")[0].split("<")[0].split("=")[0].split("[")[0].strip()
        for dep in project["dependencies"]
    )
    assert names == ["cachetools", "certifi", "structlog", "urllib3"]
    extras = project["optional-dependencies"]
    optional = {"http2", "dns", "tls", "brotli", "zstd", "cli", "redis", "idna", "speedups"}
    assert set(extras) >= {*optional, "all"}
    assert extras["all"] == ["netstack[http2,dns,tls,brotli,zstd,cli,redis,idna,speedups]"]
    assert "netstack[all]" in extras["test"]


@pytest.mark.slow
@pytest.mark.timeout(600)
def test_a_fresh_venv_without_extras_imports_requests_and_names_missing_extras(
    tmp_path: Path,
) -> None:
    """``pip install .`` with no extras: a plain request works, HTTP/2 is a 401 naming h2."""
    project = tmp_path / "project"
    project.mkdir()
    for name in ("pyproject.toml", "README.md", "LICENSE"):
        if (ROOT / name).exists():
            shutil.copy(ROOT / name, project / name)
    shutil.copytree(SRC, project / "src", ignore=shutil.ignore_patterns("__pycache__", "*.pyc"))
    venv = tmp_path / "venv"
    subprocess.run([sys.executable, "-m", "venv", str(venv)], check=True, timeout=300)
    bindir = venv / ("Scripts" if os.name == "nt" else "bin")
    python = str(bindir / "python")
    env = {k: v for k, v in os.environ.items() if k not in ("PYTHONPATH", "VIRTUAL_ENV")}
    for name in ("http_proxy", "https_proxy", "HTTP_PROXY", "HTTPS_PROXY", "all_proxy"):
        env.pop(name, None)
    install = subprocess.run(
        [python, "-m", "pip", "install", "-q", "--disable-pip-version-check", str(project)],
        capture_output=True,
        text=True,
        timeout=480,
        env=env,
        cwd=tmp_path,
        check=False,
    )
    assert install.returncode == 0, install.stdout + install.stderr
    listed = subprocess.run(
        [python, "-m", "pip", "list", "--format=freeze"],
        capture_output=True,
        text=True,
        timeout=120,
        env=env,
        check=True,
    ).stdout.lower()
    installed = {line.split("==")[0] for line in listed.split()}
    for optional in ("h2", "dnspython", "cryptography", "rich", "brotli", "redis", "httptools"):
        assert optional not in installed, listed
    assert {"netstack", "urllib3", "certifi", "cachetools", "structlog"} <= installed
    probe = _probe_in(python, env, tmp_path)
    assert probe["file"].startswith(str(venv))
    assert probe["plain"] == [200, "lean"]
    assert probe["http2"][0] == 401
    assert "pip install 'netstack[http2]'" in probe["http2"][1]
    assert "pip install 'netstack[dns]'" in probe["dns"][1]
    assert "pip install 'netstack[tls]'" in probe["tls"][1]
    command = subprocess.run(
        [str(bindir / "netstack"), "get", "http://127.0.0.1:9/"],
        capture_output=True,
        text=True,
        timeout=120,
        env=env,
        check=False,
    )
    assert command.returncode == 2
    assert "pip install 'netstack[cli]'" in command.stderr


def _probe_in(python: str, env: dict[str, str], cwd: Path) -> dict[str, Any]:
    import json

    script = cwd / "probe.py"
    script.write_text(textwrap.dedent(_PROBE))
    result = subprocess.run(
        [python, str(script)], capture_output=True, text=True, timeout=120, env=env, cwd=cwd,
        check=False,
    )  # fmt: skip
    assert result.returncode == 0, result.stderr
    return json.loads(result.stdout)
