"""The package as a pyinfra user uses it, against the lab.

- a user's own deploy file, in a folder outside the repository, imports ``tgi_infra`` and calls
  its deploys (``deploy_gpu_host``, ``deploy_services``) with the real pyinfra CLI; the smoke
  suite then passes on what it deployed;
- ``tgi-infra render`` prints, per service, the config hash the deploy wrote on the container
  label (supervisor per host given on the command line).
"""

from __future__ import annotations

import json
import re
import subprocess
import sys
import textwrap
from pathlib import Path

from lab import lab
from lab.conftest import REPO, lab_env, run_smoke

USER_DEPLOY = """
# A user's deploy file: nothing of the repository but the installed package.
from tgi_infra import deploy_gpu_host, deploy_services

deploy_gpu_host()
deploy_services(overrides={"tgi_ready_timeout": 600})
"""

HOST = "lab-linux-2"


def test_a_users_deploy_file_imports_and_runs_the_package(deployed_lab, tmp_path):
    (tmp_path / "my_deploy.py").write_text(textwrap.dedent(USER_DEPLOY))
    # a deploy.py of the user's own in the folder must not be picked up by the package
    (tmp_path / "deploy.py").write_text('raise SystemExit("the user\'s deploy.py was imported")\n')
    # the service's container is gone: the user's deploy must bring it back
    lab.exec_on(deployed_lab, HOST, "docker rm -f tgi-service")
    pyinfra = Path(sys.executable).with_name("pyinfra")
    env = lab_env(PYTHONPATH=str(REPO))  # inventories/lab.py reads lab/ (not the package)
    proc = subprocess.run(
        [str(pyinfra), "-y", str(REPO / "inventories/lab.py"), "my_deploy.py", "--limit", HOST],
        cwd=tmp_path,
        env=env,
        capture_output=True,
        text=True,
        timeout=900,
    )
    out = proc.stdout + proc.stderr
    assert proc.returncode == 0, out[-6000:]
    assert "was imported" not in out
    assert "tgi_infra.deploy_services" in out  # pyinfra names the package's deploy
    running = lab.exec_on(deployed_lab, HOST, "docker inspect -f '{{.State.Running}}' tgi-service")
    assert running.strip() == "true"
    smoke = run_smoke("--host", HOST)
    assert smoke.returncode == 0, smoke.stdout[-5000:] + smoke.stderr[-2000:]


def test_render_prints_the_hash_label_the_deploy_wrote(deployed_lab, tmp_path):
    proc = subprocess.run(
        [sys.executable, "-m", "tgi_infra", "render", "inventories/lab.py"]
        + ["--out", str(tmp_path / "rendered")]
        + ["--systemd", "lab-linux-*", "--no-systemd", "lab-wsl-1"],
        cwd=REPO,
        env=lab_env(),
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert proc.returncode == 0, proc.stderr
    printed = re.findall(
        r"^(\S+)/(\S+): supervisor \w+, config-hash ([0-9a-f]{64})$", proc.stdout, re.M
    )
    assert len(printed) >= 4, proc.stdout
    for host, service, config_hash in printed:
        labels = json.loads(
            lab.exec_on(
                deployed_lab, host, f"docker inspect -f '{{{{json .Config.Labels}}}}' {service}"
            )
        )
        assert labels["tgi-infra.config-hash"] == config_hash, (host, service)
