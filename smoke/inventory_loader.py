"""Load a pyinfra inventory file with pyinfra's own loader, in a child process.

``python -m tgi_infra.smoke.inventory_loader FILE`` prints ``[[host name, host data], ...]`` as JSON
(host data = pyinfra's merged host/group/all data, ``ssh_*`` included).

A child process because importing ``pyinfra_cli`` runs gevent's ``monkey.patch_all()``,
which would turn the smoke runner's threads and sockets into greenlets; it also keeps the
inventory's own Python code out of the smoke process.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from typing import Any


class InventoryLoadError(Exception):
    pass


def _jsonable(value: Any) -> Any:
    if isinstance(value, (set, frozenset)):
        return sorted(value, key=str)
    return str(value)


def load(path: str, timeout: float = 120.0) -> list[tuple[str, dict[str, Any]]]:
    try:
        proc = subprocess.run(
            [sys.executable, "-m", "tgi_infra.smoke.inventory_loader", path],
            capture_output=True,
            text=True,
            timeout=timeout,
            cwd=os.getcwd(),
        )
    except subprocess.TimeoutExpired as exc:
        raise InventoryLoadError(f"loading took over {timeout:g}s") from exc
    if proc.returncode != 0:
        lines = (proc.stderr or proc.stdout).strip().splitlines()
        raise InventoryLoadError(lines[-1] if lines else f"loader exited {proc.returncode}")
    return [(name, data) for name, data in json.loads(proc.stdout)]


def _main(path: str) -> int:
    import logging

    from pyinfra.api import State
    from pyinfra.context import ctx_state
    from pyinfra_cli.inventory import make_inventory

    logging.disable(logging.WARNING)
    ctx_state.set(State())
    try:
        inventory = make_inventory(path, cwd=os.getcwd())
    except Exception as exc:
        print(f"{type(exc).__name__}: {exc}", file=sys.stderr)
        return 1
    hosts = [[host.name, host.data.dict()] for host in inventory]
    sys.stdout.write(json.dumps(hosts, default=_jsonable))
    return 0


if __name__ == "__main__":
    sys.exit(_main(sys.argv[1]))
