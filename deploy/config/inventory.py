"""A pyinfra inventory read offline: pyinfra's own loader, pyinfra's host selection, and the
file each host-data key came from.

- ``load(path)`` loads an inventory file with ``pyinfra_cli.inventory.make_inventory`` (which
  also reads ``group_data/*.py`` next to the file and in the current folder) and records which
  group data file set which key (pyinfra's loader reads them one by one, later files winning);
- ``select(inventory, patterns)`` picks hosts the way ``pyinfra --limit`` does: a group name,
  else a glob on host names (``fnmatch``); a comma-separated pattern is several patterns;
- ``key_sources(host, ...)`` names, for every data key of a host, where pyinfra took it from:
  the inventory file (host or group data), ``group_data/<group>.py``, or ``--data``.

Nothing here connects to a host. Imports pyinfra only when called.
"""

from __future__ import annotations

import ast
import os
import sys
from collections.abc import Iterable, Mapping
from contextlib import contextmanager
from dataclasses import dataclass, field
from fnmatch import fnmatch
from pathlib import Path
from typing import Any


class InventoryLoadError(Exception):
    pass


def _display(path: str | Path) -> str:
    path = Path(path).resolve()
    try:
        return str(path.relative_to(Path.cwd()))
    except ValueError:
        return str(path)


@dataclass
class LoadedInventory:
    path: str
    inventory: Any  # pyinfra.api.Inventory
    group_files: dict[tuple[str, str], str] = field(default_factory=dict)

    @property
    def names(self) -> list[str]:
        return [h.name for h in self.inventory]

    def items(self) -> list[tuple[str, dict[str, Any]]]:
        return [(h.name, h.data.dict()) for h in self.inventory]

    def sources(self) -> dict[str, dict[str, str]]:
        return {
            h.name: key_sources(h, self.inventory, self.group_files, _display(self.path))
            for h in self.inventory
        }

    def select(self, patterns: Iterable[str] | None) -> list[str]:
        return select(self.inventory, patterns)


@contextmanager
def _recording_group_files(group_files: dict[tuple[str, str], str]):
    """Record (group, key) -> file while pyinfra's loader reads group data files."""
    import pyinfra_cli.inventory as cli_inventory

    original = cli_inventory._get_group_data

    def recording(dirname_or_filename: str):
        found = original(dirname_or_filename)
        base = Path(dirname_or_filename)
        for group, data in found.items():
            path = base if base.is_file() else base / f"{group}.py"
            for key in data:
                group_files[(group, key)] = _display(path)
        return found

    cli_inventory._get_group_data = recording
    try:
        yield
    finally:
        cli_inventory._get_group_data = original


def load(path: str) -> LoadedInventory:
    """Load a pyinfra inventory file without connecting to any host."""
    from pyinfra.api import State
    from pyinfra.context import ctx_state
    from pyinfra_cli.inventory import make_inventory

    if not Path(path).is_file():
        raise InventoryLoadError(f"inventory file not found: {path}")
    group_files: dict[tuple[str, str], str] = {}
    try:
        with ctx_state.use(State()), _recording_group_files(group_files):
            inventory = make_inventory(path, cwd=os.getcwd())
    except Exception as exc:  # pyinfra wraps user-code errors in its own exceptions
        inner = getattr(exc, "exception", None) or exc
        where = getattr(exc, "filename", None) or path
        raise InventoryLoadError(
            f"cannot load inventory {path}: {type(inner).__name__} in {where}: {inner}"
        ) from exc
    if not list(inventory):
        raise InventoryLoadError(f"inventory {path} has no hosts")
    return LoadedInventory(path, inventory, group_files)


def split_patterns(patterns: Iterable[str] | None) -> list[str]:
    return [p.strip() for arg in patterns or () for p in arg.split(",") if p.strip()]


def select(inventory, patterns: Iterable[str] | None) -> list[str]:
    """Host names matched as ``pyinfra --limit`` does (group name, else glob); all without
    patterns. A pattern that matches nothing is an error (pyinfra only warns: offline, a
    typo would silently select nothing)."""
    wanted = split_patterns(patterns)
    if not wanted:
        return [h.name for h in inventory]
    chosen: list[str] = []
    for pattern in wanted:
        group = inventory.groups.get(pattern) if hasattr(inventory, "groups") else None
        hosts = group if group else [h for h in inventory if fnmatch(h.name, pattern)]
        if not hosts:
            raise InventoryLoadError(
                f"no host or group matches {pattern!r}; hosts: "
                f"{', '.join(h.name for h in inventory)}; groups: "
                f"{', '.join(sorted(getattr(inventory, 'groups', {})))}"
            )
        chosen += [h.name for h in hosts if h.name not in chosen]
    return chosen


def _assigned_names(path: Path) -> set[str]:
    """Top-level names a group data file assigns (read, never run)."""
    try:
        tree = ast.parse(path.read_text(), str(path))
    except (OSError, SyntaxError, ValueError):
        return set()
    names: set[str] = set()
    for node in tree.body:
        targets = node.targets if isinstance(node, ast.Assign) else [getattr(node, "target", None)]
        for target in targets:
            if isinstance(target, ast.Name):
                names.add(target.id)
    return names


def group_files_on_disk(folders: Iterable[str | Path]) -> dict[tuple[str, str], str]:
    """(group, key) -> file for the group data files in ``folders`` (in pyinfra's order, later
    folders winning), read without running them: for the deploy, where pyinfra's CLI loaded
    the inventory before our code runs."""
    out: dict[tuple[str, str], str] = {}
    for folder in folders:
        folder = Path(folder)
        if not folder.is_dir():
            continue
        for path in sorted(folder.glob("*.py")):
            for key in _assigned_names(path):
                out[(path.stem, key)] = _display(path)
    return out


def deploy_group_data_folders(cwd: str | None) -> list[Path]:
    """Where ``pyinfra INVENTORY DEPLOY`` looked for group data: ``<cwd>/group_data`` and
    ``group_data`` beside the inventory file (the first existing ``.py`` argument)."""
    folders = [Path(cwd or os.getcwd()) / "group_data"]
    for arg in sys.argv[1:]:
        if arg.endswith(".py") and Path(arg).is_file():
            folder = Path(arg).resolve().parent / "group_data"
            if folder not in folders:
                folders.append(folder)
            break
    return folders


def key_sources(
    host,
    inventory,
    group_files: Mapping[tuple[str, str], str],
    inventory_file: str = "the inventory",
) -> dict[str, str]:
    """key -> where pyinfra took this host's value from (its own data precedence: ``--data``,
    host data, group data with the last group winning, then the ``all`` data)."""
    out: dict[str, str] = {}

    def note(keys: Iterable[str], where: str) -> None:
        for key in keys:
            out.setdefault(key, where)

    note(inventory.get_override_data() or {}, "--data on the command line")
    note(inventory.get_host_data(host.name) or {}, inventory_file)
    for group in reversed(list(host.groups)):
        for key in inventory.get_group_data(group) or {}:
            note([key], group_files.get((group, key), inventory_file))
    for key in inventory.get_data() or {}:
        note([key], group_files.get(("all", key), inventory_file))
    return out
