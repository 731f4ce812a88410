"""The layers of docs/architecture.md hold: import-linter's contracts pass, no import cycle.

The contracts live in pyproject.toml (``[tool.importlinter]``); ``lint-imports``
runs them here in a subprocess, so the suite (and CI) fails on a layer
violation exactly as ``tox -e lint`` does. The cycle check walks grimp's
module graph (every import counts: lazy ones, and those under
``TYPE_CHECKING``) and finds strongly connected components.
"""

from __future__ import annotations

import os
import re
import shutil
import subprocess
from pathlib import Path

import pytest

grimp = pytest.importorskip("grimp")
tomllib = pytest.importorskip("tomllib")  # Python 3.11+

ROOT = Path(__file__).resolve().parents[1]


def _config() -> dict[str, object]:
    config: dict[str, object] = tomllib.loads((ROOT / "pyproject.toml").read_text())["tool"][
        "importlinter"
    ]
    return config


def _contract(contract_id: str) -> dict[str, object]:
    contracts = _config()["contracts"]
    assert isinstance(contracts, list)
    return next(c for c in contracts if c.get("id") == contract_id)


@pytest.mark.timeout(300)
def test_lint_imports_keeps_every_contract() -> None:
    command = shutil.which("lint-imports")
    assert command is not None, "import-linter is in the test extra"
    env = {**os.environ, "PYTHONPATH": os.pathsep.join([str(ROOT / "src"), str(ROOT)])}
    done = subprocess.run(
        [command, "--config", str(ROOT / "pyproject.toml"), "--no-cache"],
        cwd=ROOT,
        env=env,
        capture_output=True,
        text=True,
        timeout=280,
        check=False,
    )
    assert done.returncode == 0, done.stdout + done.stderr
    assert "0 broken" in done.stdout


def test_the_layers_contract_names_every_top_level_module() -> None:
    """A new module must be placed in a layer (or it escapes the contract)."""
    layers = _contract("layers")["layers"]
    assert isinstance(layers, list)
    listed = {name.strip() for layer in layers for name in layer.replace("|", ":").split(":")}
    src = ROOT / "src" / "netstack"
    present = {
        f"netstack.{p.stem}" for p in src.iterdir() if p.suffix == ".py" and p.stem[0] != "_"
    } | {f"netstack.{p.name}" for p in src.iterdir() if (p / "__init__.py").exists()}
    assert present - listed == set()
    assert listed - present == set()


def _cycles(graph: object, ignored: set[tuple[str, str]]) -> list[list[str]]:
    """Strongly connected components of more than one module (iterative Tarjan)."""
    modules = sorted(graph.modules)  # type: ignore[attr-defined]
    edges = {
        m: sorted(
            i
            for i in graph.find_modules_directly_imported_by(m)  # type: ignore[attr-defined]
            if (m, i) not in ignored
        )
        for m in modules
    }
    index: dict[str, int] = {}
    low: dict[str, int] = {}
    stack: list[str] = []
    on_stack: set[str] = set()
    found: list[list[str]] = []
    for root in modules:
        if root in index:
            continue
        work = [(root, 0)]
        while work:
            node, i = work.pop()
            if i == 0:
                index[node] = low[node] = len(index)
                stack.append(node)
                on_stack.add(node)
            if i < len(edges[node]):
                work.append((node, i + 1))
                nxt = edges[node][i]
                if nxt not in index:
                    work.append((nxt, 0))
                elif nxt in on_stack:
                    low[node] = min(low[node], index[nxt])
                continue
            if low[node] == index[node]:
                component = []
                while True:
                    member = stack.pop()
                    on_stack.discard(member)
                    component.append(member)
                    if member == node:
                        break
                if len(component) > 1:
                    found.append(sorted(component))
            if work:
                parent = work[-1][0]
                low[parent] = min(low[parent], low[node])
    return found


def test_no_import_cycles_beyond_those_the_contract_still_allows() -> None:
    graph = grimp.build_graph("netstack", include_external_packages=False)
    allowed = _contract("acyclic").get("ignore_imports", [])
    assert isinstance(allowed, list)
    ignored = {tuple(part.strip() for part in rule.split("->")) for rule in allowed}
    assert _cycles(graph, ignored) == []  # type: ignore[arg-type]


def test_the_cycle_check_finds_a_cycle() -> None:
    """The check itself can fail: a two-module cycle in a throwaway package is found."""
    graph = grimp.ImportGraph()
    for name in ("pkg", "pkg.a", "pkg.b", "pkg.c"):
        graph.add_module(name)
    graph.add_import(importer="pkg.a", imported="pkg.b")
    graph.add_import(importer="pkg.b", imported="pkg.a")
    graph.add_import(importer="pkg.b", imported="pkg.c")
    assert _cycles(graph, set()) == [["pkg.a", "pkg.b"]]
    assert _cycles(graph, {("pkg.b", "pkg.a")}) == []


def test_architecture_doc_names_every_module_of_the_layers() -> None:
    """docs/architecture.md is the picture of the contract: a module added to a layer is in it."""
    text = (ROOT / "docs" / "architecture.md").read_text()
    layers = _contract("layers")["layers"]
    assert isinstance(layers, list)
    for layer in layers:
        for name in layer.replace("|", ":").split(":"):
            assert name.strip().rpartition(".")[2] in text, name


def test_the_project_points_only_inside_itself() -> None:
    """README, docs, sources and tests cite no design document outside the repository."""
    outside = re.compile(r"DESIGN(?:\.md)?\s*§|\.\./shared|/work/[s]hared")
    paths = [ROOT / "README.md", ROOT / "CHANGELOG.md", *(ROOT / "docs").glob("*.md")]
    for tree in ("src", "tests", "benchmarks", "examples"):
        paths += (ROOT / tree).rglob("*.py")
    offenders = [
        f"{path.relative_to(ROOT)}:{number}"
        for path in paths
        for number, line in enumerate(path.read_text(encoding="utf-8").splitlines(), 1)
        if outside.search(line)
    ]
    assert offenders == []
