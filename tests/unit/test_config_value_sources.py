"""An invalid VALUE (not only an unknown key) names the file it came from:
``group_data/<group>.py``, or the inventory file itself (real ``tgi-infra validate``
subprocess, pyinfra's own loader, nothing connects)."""

from __future__ import annotations

import subprocess
import sys
import textwrap
from pathlib import Path

INVENTORY = """
gpu_servers = [
    ("h1", {"tgi_gpus": "none"}),
    ("h2", {
        "tgi_gpus": "none",
        "tgi_ready_timeout": "xyz",
        "tgi_services": [{"name": "svc-b", "model_id": "org/m", "port": "nope"}],
    }),
]
"""

GROUP_DATA = """
tgi_ready_timeout = "abc"
tgi_services = [{"name": "svc-a", "model_id": "org/m", "port": "abc"}]
"""


def test_invalid_values_name_the_file_that_set_them(tmp_path: Path):
    (tmp_path / "inventories/group_data").mkdir(parents=True)
    inv = tmp_path / "inventories/fleet.py"
    inv.write_text(textwrap.dedent(INVENTORY))
    (tmp_path / "inventories/group_data/gpu_servers.py").write_text(textwrap.dedent(GROUP_DATA))
    proc = subprocess.run(
        [sys.executable, "-m", "tgi_infra", "validate", str(inv)],
        cwd=tmp_path,
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert proc.returncode == 2, proc.stdout
    lines = proc.stderr.splitlines()

    def line(*parts: str) -> str:
        found = [x for x in lines if all(p in x for p in parts)]
        assert len(found) == 1, (parts, proc.stderr)
        return found[0]

    group_file = "set in inventories/group_data/gpu_servers.py"
    # host h1 takes both values from group data
    assert line("host h1: field tgi_ready_timeout: value 'abc'").endswith(group_file)
    assert line("host h1: service svc-a: field port: value 'abc'").endswith(group_file)
    # host h2 sets its own in the inventory file (host data wins over group data)
    assert line("host h2: field tgi_ready_timeout: value 'xyz'").endswith(
        "set in inventories/fleet.py"
    )
    assert line("host h2: service svc-b: field port: value 'nope'").endswith(
        "set in inventories/fleet.py"
    )
