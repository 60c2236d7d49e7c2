"""The deploy honours pyinfra's ``--limit``: a config error on a host that is not selected is a
warning, not a refusal; on a selected host it stops the deploy, naming the file that set an
unknown key (group data read by pyinfra's loader). Real pyinfra CLI, real deploy/main.py, hosts
on pyinfra's ``@fake`` connector (plan only: ``--debug-operations``, nothing executed)."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

from tests.helpers.fake_fleet import FAKE_FLEET

REPO = Path(__file__).resolve().parents[2]


def deploy(tmp_path: Path, *extra: str) -> subprocess.CompletedProcess:
    pyinfra = Path(sys.executable).with_name("pyinfra")
    return subprocess.run(
        [str(pyinfra), "-y", "inventories/fleet.py", str(REPO / "deploy/main.py"), *extra]
        + ["--debug-operations"],
        cwd=tmp_path,
        capture_output=True,
        text=True,
        timeout=120,
    )


def test_unselected_hosts_errors_are_warnings_selected_hosts_errors_stop(tmp_path):
    (tmp_path / "inventories/group_data").mkdir(parents=True)
    (tmp_path / "inventories/fleet.py").write_text(FAKE_FLEET)
    # a typo in the wsl group's data file: only @fake/wsl has it
    (tmp_path / "inventories/group_data/wsl.py").write_text("tgi_ready_timout = 60\n")

    whole = deploy(tmp_path)
    out = whole.stdout + whole.stderr
    assert whole.returncode != 0, out[-3000:]
    assert "invalid inventory, no host was changed" in out
    assert "host @fake/wsl: variable tgi_ready_timout (set in inventories/group_data/wsl.py)" in out
    assert "did you mean tgi_ready_timeout?" in out

    limited = deploy(tmp_path, "--limit", "debian")
    out = limited.stdout + limited.stderr
    assert limited.returncode == 0, out[-3000:]
    assert "host @fake/wsl: variable tgi_ready_timout" in out  # shown, as a warning
    assert "(host not selected, not deployed)" in out
    assert "[@fake/deb] Ready" in out and "[@fake/wsl] Ready" not in out
