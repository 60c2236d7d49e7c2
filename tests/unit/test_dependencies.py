"""The package's runtime dependencies are exactly what a deploy, a smoke run and the local
control import: every third-party module imported anywhere in the shipped package (deploy/,
smoke/) belongs to a distribution declared in ``[project] dependencies``, or, where it belongs
only to an extra, is imported inside ``try: ... except ImportError`` (an optional feature)."""

from __future__ import annotations

import ast
import importlib.metadata as md
import re
import sys
from pathlib import Path

import pytest
import tomllib

REPO = Path(__file__).resolve().parents[2]
SHIPPED = [REPO / "deploy", REPO / "smoke"]


def _norm(name: str) -> str:
    return re.sub(r"[-_.]+", "-", name).lower()


def _requirement_name(req: str) -> str:
    return _norm(re.split(r"[\s<>=!~;\[]", req, maxsplit=1)[0])


def _declared() -> tuple[set[str], set[str]]:
    project = tomllib.loads((REPO / "pyproject.toml").read_text())["project"]
    runtime = {_requirement_name(r) for r in project["dependencies"]}
    extras = {
        _requirement_name(r) for reqs in project["optional-dependencies"].values() for r in reqs
    }
    return runtime, extras


def _guarded(tree: ast.AST) -> set[int]:
    """ids of import nodes inside a try whose handlers catch ImportError/ModuleNotFoundError."""
    out: set[int] = set()
    for node in ast.walk(tree):
        if not isinstance(node, ast.Try):
            continue
        names = set()
        for h in node.handlers:
            for n in ast.walk(h.type) if h.type is not None else []:
                if isinstance(n, ast.Name):
                    names.add(n.id)
        if names & {"ImportError", "ModuleNotFoundError", "Exception"}:
            for stmt in node.body:
                out |= {
                    id(n) for n in ast.walk(stmt) if isinstance(n, (ast.Import, ast.ImportFrom))
                }
    return out


def _imports() -> list[tuple[str, str, bool]]:
    """(top-level module, file, guarded) for every absolute import in the shipped package."""
    found = []
    for root in SHIPPED:
        for path in root.rglob("*.py"):
            tree = ast.parse(path.read_text(), str(path))
            guarded = _guarded(tree)
            for node in ast.walk(tree):
                if isinstance(node, ast.Import):
                    mods = [a.name for a in node.names]
                elif isinstance(node, ast.ImportFrom) and node.level == 0 and node.module:
                    mods = [node.module]
                else:
                    continue
                for m in mods:
                    found.append(
                        (m.split(".")[0], str(path.relative_to(REPO)), id(node) in guarded)
                    )
    return found


@pytest.mark.langchain  # the guarded langchain imports must resolve to a distribution
def test_every_third_party_import_of_the_package_is_a_declared_dependency():
    runtime, extras = _declared()
    dists = md.packages_distributions()
    problems = []
    for top, where, guarded in _imports():
        if top in sys.stdlib_module_names or top in ("tgi_infra", "__future__"):
            continue
        names = {_norm(d) for d in dists.get(top, [])}
        assert names, f"{where}: imports {top!r}, which no installed distribution provides"
        if names & runtime:
            continue
        if guarded and names & extras:
            continue
        problems.append(f"{where}: imports {top} ({', '.join(sorted(names))})")
    assert not problems, "not a declared runtime dependency:\n" + "\n".join(sorted(set(problems)))


def test_the_check_sees_the_imports_that_matter():
    """Guard against a scan that finds nothing: the modules the issue names are seen."""
    tops = {top for top, _, _ in _imports()}
    assert {"pyinfra", "pydantic", "jinja2", "httpx", "openai", "requests", "docker"} <= tops
