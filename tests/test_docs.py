"""The API reference builds from the docstrings without a warning, and the wording stands alone.

``tox -e docs`` runs the same pdoc command; here it runs in the suite so CI
checks it on every change.
"""

from __future__ import annotations

import ast
import os
import re
import subprocess
import sys
from pathlib import Path

import pytest

import netstack

ROOT = Path(__file__).resolve().parents[1]
SRC = ROOT / "src"

#: The command ``tox -e docs`` runs (tox.ini), output directory last.
PDOC = [sys.executable, "-W", "error", "-m", "pdoc", "netstack", "!netstack\\..*", "-o"]


@pytest.mark.timeout(120)
def test_the_api_reference_builds_with_warnings_as_errors(tmp_path: Path) -> None:
    pytest.importorskip("pdoc")
    env = {**os.environ, "PYTHONPATH": os.pathsep.join([str(SRC), str(ROOT)])}
    result = subprocess.run(
        [*PDOC, str(tmp_path)], capture_output=True, text=True, timeout=100, env=env, check=False
    )
    assert result.returncode == 0, result.stderr
    assert "Warn" not in result.stderr, result.stderr
    page = (tmp_path / "netstack.html").read_text()
    for name in netstack.__all__:
        assert f'id="{name}"' in page, name
    for member in ("HttpResponse.json", "HttpResponse.raise_for_status", "RequestMethod.PATCH"):
        assert f'id="{member}"' in page, member


def test_tox_docs_runs_that_command() -> None:
    tox = (ROOT / "tox.ini").read_text()
    assert "[testenv:docs]" in tox
    assert "python -W error -m pdoc netstack '!netstack\\..*' -o" in tox


def _strings(path: Path) -> list[tuple[int, str]]:
    tree = ast.parse(path.read_text(), str(path))
    return [
        (node.lineno, node.value)
        for node in ast.walk(tree)
        if isinstance(node, ast.Constant) and isinstance(node.value, str)
    ]


def test_no_message_or_docstring_says_seed() -> None:
    """Users never met the "seed"; where the origin matters, it is @ohos.net.http."""
    found = [
        f"{path.relative_to(ROOT)}:{line}: {text[:60]!r}"
        for path in sorted((SRC / "netstack").rglob("*.py"))
        for line, text in _strings(path)
        if re.search(r"\bseed", text, re.IGNORECASE)
    ]
    assert found == []


def test_license_and_changelog_are_there() -> None:
    license_text = (ROOT / "LICENSE").read_text()
    assert "Apache License" in license_text
    assert "Version 2.0, January 2004" in license_text
    assert 'license = "Apache-2.0"' in (ROOT / "pyproject.toml").read_text()
    changelog = (ROOT / "CHANGELOG.md").read_text()
    assert "keepachangelog.com" in changelog
    assert re.search(r"^## \[Unreleased\]", changelog, re.M)
