"""A pyinfra inventory read offline: pyinfra's own loader, pyinfra's host selection, and the
file each host-data key came from.

- ``load(path)`` loads an inventory file with ``pyinfra_cli.inventory.make_inventory`` (which
  also reads ``group_data/*.py`` next to the file and in the current folder) and records which
  group data file set which key (pyinfra's loader reads them one by one, later files winning);
- ``select(inventory, patterns)`` picks hosts the way ``pyinfra --limit`` does: a group name,
  else a glob on host names (``fnmatch``); a comma-separated pattern is several patterns;
- ``key_sources(host, ...)`` names, for every data key of a host, where pyinfra took it from:
  the inventory file (host or group data), ``group_data/<group>.py``, or ``--data``.

Nothing here connects to a host. ``load`` runs pyinfra's loader in a child process
(``python -m tgi_infra.config.inventory FILE``, same interpreter and working folder): importing
``pyinfra_cli`` runs gevent's ``monkey.patch_all()``, which would turn the caller's threads,
sockets and subprocesses into greenlets (the ``tgi-infra`` CLI, a test process); it also keeps
the inventory's own Python code out of the caller. The child sends back plain data (host names
and data in pyinfra's order, group members, each key's source) as a pickle; what it prints
(pyinfra's warnings, the inventory's own output) goes to the caller's stderr.
"""

from __future__ import annotations

import ast
import os
import pickle
import subprocess
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
    """An inventory as pyinfra loaded it, as plain data (no pyinfra objects)."""

    path: str
    hosts: list[tuple[str, dict[str, Any]]]  # (name, pyinfra's merged host data), in order
    groups: dict[str, list[str]] = field(default_factory=dict)  # group -> host names, in order
    key_files: dict[str, dict[str, str]] = field(default_factory=dict)  # host -> key -> file

    @property
    def names(self) -> list[str]:
        return [name for name, _ in self.hosts]

    def items(self) -> list[tuple[str, dict[str, Any]]]:
        return [(name, dict(data)) for name, data in self.hosts]

    def sources(self) -> dict[str, dict[str, str]]:
        return {name: dict(keys) for name, keys in self.key_files.items()}

    def select(self, patterns: Iterable[str] | None) -> list[str]:
        return select_names(self.names, self.groups, patterns)


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
    """Load a pyinfra inventory file without connecting to any host (pyinfra's loader runs in
    a child process; see the module docstring)."""
    if not Path(path).is_file():
        raise InventoryLoadError(f"inventory file not found: {path}")
    proc = subprocess.run(
        [sys.executable, "-m", "tgi_infra.config.inventory", path],
        capture_output=True,
        cwd=os.getcwd(),
    )
    if proc.stderr:
        sys.stderr.write(proc.stderr.decode(errors="replace"))
        sys.stderr.flush()
    try:
        kind, value = pickle.loads(proc.stdout)
    except Exception as exc:  # the child died before answering
        raise InventoryLoadError(
            f"cannot load inventory {path}: the loader exited {proc.returncode}"
        ) from exc
    if kind == "error":
        raise InventoryLoadError(value)
    return LoadedInventory(path, **value)


def _load_here(path: str) -> dict[str, Any]:
    """pyinfra's loader in this process (the child's side of ``load``)."""
    from pyinfra.api import State
    from pyinfra.context import ctx_state
    from pyinfra_cli.inventory import make_inventory

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
    return {
        "hosts": [(h.name, h.data.dict()) for h in inventory],
        "groups": {g: [h.name for h in hosts] for g, hosts in inventory.groups.items()},
        "key_files": {
            h.name: key_sources(h, inventory, group_files, _display(path)) for h in inventory
        },
    }


def _picklable(value: Any) -> Any:
    """``value`` with what cannot be pickled (an object of a class defined in the inventory
    file) replaced by its ``str``."""
    try:
        pickle.dumps(value)
        return value
    except Exception:
        pass
    if isinstance(value, dict):
        return {_picklable(k): _picklable(v) for k, v in value.items()}
    if isinstance(value, (list, tuple, set, frozenset)):
        return type(value)(_picklable(v) for v in value)
    return str(value)


def _child_main(path: str) -> int:
    answer = os.fdopen(os.dup(1), "wb")
    os.dup2(2, 1)  # what pyinfra or the inventory prints goes to stderr, never into the answer
    sys.stdout = sys.stderr
    try:
        result: tuple[str, Any] = ("ok", _load_here(path))
    except InventoryLoadError as exc:
        result = ("error", str(exc))
    try:
        data = pickle.dumps(result)
    except Exception:
        data = pickle.dumps(_picklable(result))
    answer.write(data)
    answer.close()
    return 0


def split_patterns(patterns: Iterable[str] | None) -> list[str]:
    return [p.strip() for arg in patterns or () for p in arg.split(",") if p.strip()]


def select(inventory, patterns: Iterable[str] | None) -> list[str]:
    """Host names of a pyinfra ``Inventory`` matched as ``pyinfra --limit`` does (see
    ``select_names``)."""
    groups = getattr(inventory, "groups", {})
    return select_names(
        [h.name for h in inventory],
        {g: [h.name for h in hosts] for g, hosts in groups.items()},
        patterns,
    )


def select_names(
    names: Iterable[str], groups: Mapping[str, list[str]], patterns: Iterable[str] | None
) -> list[str]:
    """Host names matched as ``pyinfra --limit`` does (group name, else glob); all without
    patterns. A pattern that matches nothing is an error (pyinfra only warns: offline, a
    typo would silently select nothing)."""
    names = list(names)
    wanted = split_patterns(patterns)
    if not wanted:
        return names
    chosen: list[str] = []
    for pattern in wanted:
        group = groups.get(pattern)
        hosts = group if group else [name for name in names if fnmatch(name, pattern)]
        if not hosts:
            raise InventoryLoadError(
                f"no host or group matches {pattern!r}; hosts: "
                f"{', '.join(names)}; groups: "
                f"{', '.join(sorted(groups))}"
            )
        chosen += [name for name in hosts if name not in chosen]
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


if __name__ == "__main__":
    sys.exit(_child_main(sys.argv[1]))
