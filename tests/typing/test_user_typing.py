"""mypy --strict on user code: misuse fails, correct use passes.

Each ``bad_*.py`` snippet here misuses the API in one way and must be
rejected with the error code named below; ``good_usage.py`` must pass. mypy
runs once, in a subprocess, on this checkout's ``src`` (``MYPYPATH``).
"""

from __future__ import annotations

import os
import re
import subprocess
import sys
from pathlib import Path

import pytest

HERE = Path(__file__).resolve().parent
SRC = HERE.parents[1] / "src"

#: snippet -> the mypy error codes its misuse may produce (one of them is required).
BAD = {
    "bad_option_key.py": ("arg-type", "typeddict-unknown-key"),
    "bad_option_value.py": ("arg-type", "typeddict-item", "dict-item"),
    "bad_response_attribute.py": ("attr-defined",),
    "bad_stream_result.py": ("attr-defined",),
}

pytestmark = pytest.mark.timeout(300)


@pytest.fixture(scope="module")
def mypy_output(tmp_path_factory: pytest.TempPathFactory) -> dict[str, list[str]]:
    """mypy's error lines per snippet file name."""
    pytest.importorskip("mypy")
    snippets = ["good_usage.py", *BAD]
    env = {**os.environ, "MYPYPATH": str(SRC)}
    result = subprocess.run(
        [
            sys.executable, "-m", "mypy", "--strict", "--follow-imports=silent",
            "--no-error-summary", "--show-error-codes", "--hide-error-context",
            "--cache-dir", str(tmp_path_factory.mktemp("mypy-cache")),
            *snippets,
        ],
        capture_output=True, text=True, timeout=280, cwd=HERE, env=env, check=False,
    )  # fmt: skip
    assert "error: Cannot find implementation or library stub" not in result.stdout
    errors: dict[str, list[str]] = {name: [] for name in snippets}
    for line in result.stdout.splitlines():
        name = line.split(":", 1)[0]
        if name in errors and ": error:" in line:
            errors[name].append(line)
    assert result.returncode == (1 if any(errors.values()) else 0), result.stdout + result.stderr
    return errors


def test_correct_usage_passes_mypy_strict(mypy_output: dict[str, list[str]]) -> None:
    assert mypy_output["good_usage.py"] == []


@pytest.mark.parametrize(("snippet", "codes"), sorted(BAD.items()))
def test_each_misuse_is_an_error(
    mypy_output: dict[str, list[str]], snippet: str, codes: tuple[str, ...]
) -> None:
    errors = mypy_output[snippet]
    assert errors, f"mypy accepted {snippet}"
    found = {code for line in errors for code in re.findall(r"\[([a-z-]+)\]$", line)}
    assert found & set(codes), errors


def test_the_typed_dict_has_both_spellings_of_every_option() -> None:
    from netstack import HttpRequestOptionsDict
    from netstack.options import OPTION_KEYS

    assert set(HttpRequestOptionsDict.__annotations__) == set(OPTION_KEYS)
