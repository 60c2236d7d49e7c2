"""The floor environment (.venv-floor) of scripts/setup.sh and scripts/test.sh.

``python scripts/floors.py test-tools`` prints the dev extra's test tools, one a line: what the
unit suite needs besides the package (the extra's own references to tgi-infra's extras and the
linter left out).

``python scripts/floors.py check`` (run with .venv-floor's interpreter) exits 1 naming each
runtime dependency of ``[project] dependencies`` that is not installed at exactly its declared
``>=`` floor: a floor that the resolver had to lift (another dependency needs more) or could not
install is a floor that lies.
"""

from __future__ import annotations

import importlib.metadata as md
import sys
from pathlib import Path

import tomllib
from packaging.requirements import Requirement
from packaging.version import Version

PYPROJECT = Path(__file__).resolve().parents[1] / "pyproject.toml"
NOT_TEST_TOOLS = {"tgi-infra", "ruff"}


def _project() -> dict:
    return tomllib.loads(PYPROJECT.read_text())["project"]


def test_tools() -> list[str]:
    return [
        r
        for r in _project()["optional-dependencies"]["dev"]
        if Requirement(r).name.lower() not in NOT_TEST_TOOLS
    ]


def floor_problems() -> list[str]:
    problems = []
    for text in _project()["dependencies"]:
        req = Requirement(text)
        if req.marker is not None and not req.marker.evaluate():
            continue
        floors = [s.version for s in req.specifier if s.operator == ">="]
        if len(floors) != 1:
            problems.append(f"{req.name}: declares no single '>=' floor ({text!r})")
            continue
        try:
            installed = md.version(req.name)
        except md.PackageNotFoundError:
            problems.append(f"{req.name}: not installed (declared floor {floors[0]})")
            continue
        if Version(installed) != Version(floors[0]):
            problems.append(
                f"{req.name}: declared floor {floors[0]}, but the lowest resolution installed "
                f"{installed} (raise the floor to what really installs)"
            )
    return problems


def main(argv: list[str]) -> int:
    if argv == ["test-tools"]:
        print("\n".join(test_tools()))
        return 0
    if argv == ["check"]:
        problems = floor_problems()
        for p in problems:
            print(f"[floor] {p}", file=sys.stderr)
        if not problems:
            print("[floor] every runtime dependency is installed at its declared floor")
        return 1 if problems else 0
    print("usage: floors.py test-tools | check", file=sys.stderr)
    return 2


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
