"""`pyinfra … --dry` on a mixed fleet lists each operation once, with the hosts it really
applies to: operation names do not vary per host at one call site.

Two hosts on pyinfra's own ``@fake`` connector (no machine behind them; facts answered from
``fake_responses``): a Debian host with systemd, ``docker.io`` and two services, and a WSL
host without systemd, ``docker-ce`` and one differently named service. The real CLI prepares
the real ``deploy/main.py`` (``--debug-operations --json``: the plan, nothing executed).
"""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

from tests.helpers.fake_fleet import FAKE_FLEET

REPO = Path(__file__).resolve().parents[2]


def plan(tmp_path: Path) -> list[dict]:
    (tmp_path / "fleet.py").write_text(FAKE_FLEET)
    pyinfra = Path(sys.executable).with_name("pyinfra")
    proc = subprocess.run(
        [
            str(pyinfra),
            "-y",
            "fleet.py",
            str(REPO / "deploy/main.py"),
            "--debug-operations",
            "--json",
        ],
        cwd=tmp_path,
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert proc.returncode == 0, proc.stdout[-3000:] + proc.stderr[-3000:]
    return json.loads(proc.stdout)["op_order"]


def test_each_operation_has_one_name_and_its_real_hosts(tmp_path):
    ops = plan(tmp_path)
    by_name: dict[str, list[list[str]]] = {}
    for op in ops:
        assert len(op["names"]) == 1, f"one call site, several names: {op['names']}"
        short = op["names"][0].rsplit(" | ", 1)[-1]
        by_name.setdefault(short, []).append(op["hosts"])
    both, deb, wsl = ["@fake/deb", "@fake/wsl"], ["@fake/deb"], ["@fake/wsl"]
    # docker.io on one host, docker-ce (its repo first) on the other: one operation, both hosts
    assert by_name["Install Docker Engine packages"] == [both]
    assert by_name["Add Docker's apt repository"] == [wsl]
    assert by_name["Docker running and enabled"] == [deb]
    assert by_name["Docker running (no systemd)"] == [wsl]
    # the first service of each host, then beta on deb only: its unit only where systemd runs
    assert by_name["TGI service: (re)create container"] == [both, deb]
    assert by_name["TGI service: systemd unit"] == [deb, deb]
    assert "@fake/wsl" not in str(by_name["TGI service: systemd unit"])
    # no operation name carries a host's own value (service names, packages, images)
    text = json.dumps([op["names"] for op in ops])
    for value in ("alpha", "beta", "gamma", "docker.io", "docker-ce,", "nvidia/cuda"):
        assert value not in text, value
