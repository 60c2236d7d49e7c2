"""docs/architecture.md says what the code is: every module of deploy/ and smoke/ is in its
module tables and every module it names exists, its command table lists exactly the verbs of
`tgi-infra`'s parser, and the host paths it names are the deploy's own constants."""

from __future__ import annotations

import argparse
import re
from pathlib import Path

from tgi_infra.cli.commands import build_parser
from tgi_infra.host import reading
from tgi_infra.services import managed_dir

REPO = Path(__file__).resolve().parents[2]
DOC = (REPO / "docs/architecture.md").read_text()


def _section(title: str) -> str:
    return DOC.split(f"\n## {title}\n", 1)[1].split("\n## ", 1)[0]


def _modules_on_disk() -> set[str]:
    found = set()
    for package in ("deploy", "smoke"):
        for path in (REPO / package).rglob("*.py"):
            rel = path.relative_to(REPO).as_posix()
            if "__pycache__" not in rel and "/reference/" not in rel:
                found.add(rel)
    return found


def test_every_module_is_in_the_module_tables_and_every_row_exists():
    rows = set(re.findall(r"^\| `((?:deploy|smoke)/[\w/]+\.py)` \|", _section("Modules"), re.M))
    on_disk = _modules_on_disk()
    assert not on_disk - rows, f"modules missing from docs/architecture.md: {on_disk - rows}"
    assert not rows - on_disk, f"docs/architecture.md names missing modules: {rows - on_disk}"


def test_every_module_path_named_anywhere_exists():
    named = set(re.findall(r"\b((?:deploy|smoke)/[\w/]+\.py)\b", DOC))
    missing = sorted(p for p in named if not (REPO / p).is_file())
    assert not missing, f"docs/architecture.md names missing files: {missing}"


def _parser_verbs() -> set[str]:
    parser = build_parser()
    (sub,) = [a for a in parser._actions if isinstance(a, argparse._SubParsersAction)]
    return set(sub.choices)


def test_the_command_table_lists_exactly_the_cli_verbs():
    listed = set(re.findall(r"^\| `tgi-infra (\w+)` \|", _section("Command line"), re.M))
    verbs = _parser_verbs()
    assert {"validate", "render", "deploy", "status"} <= verbs  # the parser was read
    assert listed == verbs, (
        f"not in docs/architecture.md: {verbs - listed}; not a verb: {listed - verbs}"
    )


def test_host_paths_are_the_deploys_constants():
    section = _section("What the deploy keeps on a host")
    for path in (
        reading.DAEMON_JSON_ADDED_PATH,
        reading.CDI_RECORD_PATH,
        reading.CDI_SPEC_PATH,
        reading.NVIDIA_DEV_CHAR_RULE_PATH,
        reading.DAEMON_JSON_PATH,
        reading.WSL_CONF_PATH,
        managed_dir.MARKER,
    ):
        assert f"`{path}`" in section, path
    records = set(re.findall(rf"{re.escape(reading.STATE_DIR)}/[\w.-]+", DOC))
    assert records == {reading.DAEMON_JSON_ADDED_PATH, reading.CDI_RECORD_PATH}, records
