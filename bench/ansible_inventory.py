"""The Ansible side's inventory, generated from the same bench state and config model.

``write(n, out_dir)`` writes ``out_dir/hosts.json`` (an Ansible YAML/JSON inventory: group
``bench`` with the first ``n`` bench hosts, the SSH key from the state, host key checking off;
address and port those of the pyinfra inventory, so both go through the latency relay or not)
and, per host, the TGI files rendered by ``deploy/services/render.py`` under
``out_dir/rendered/<host>/``
with the same ``HostConfig`` the pyinfra deploy builds, so both tools run the same
``tgi-service-creation.sh``.
"""

from __future__ import annotations

import json
import os
from pathlib import Path

from tgi_infra.config import load_host_config
from tgi_infra.services.render import env_file_content, render_service, secrets_digest, unit_name

SSH_ARGS = "-o StrictHostKeyChecking=no -o UserKnownHostsFile=/dev/null"


def _pyinfra_hosts(n: int) -> list[tuple[str, dict]]:
    os.environ["BENCH_HOSTS"] = str(n)
    from importlib import reload

    import bench.inventory as inv

    return reload(inv).bench


def write(n: int, out_dir: Path) -> Path:
    out_dir.mkdir(parents=True, exist_ok=True)
    hosts: dict[str, dict] = {}
    for name, data in _pyinfra_hosts(n):
        cfg = load_host_config(name, data)
        (svc,) = cfg.present_services()
        rendered = render_service(
            name, cfg, svc, "systemd", secrets_digest=secrets_digest(svc, os.environ)
        )
        rdir = out_dir / "rendered" / name
        rdir.mkdir(parents=True, exist_ok=True)
        files = []
        for rel, (content, mode) in sorted(rendered.files.items()):
            (rdir / rel).write_text(content)
            if not rel.endswith(".service"):
                files.append({"name": rel, "mode": f"0{mode:o}"})
        (rdir / "service.env").write_text(env_file_content(svc, os.environ))
        hosts[name] = {
            "ansible_host": data["ssh_hostname"],
            "ansible_port": data.get("ssh_port", 22),
            "ansible_user": data["ssh_user"],
            "ansible_ssh_private_key_file": data["ssh_key"],
            "ansible_ssh_common_args": SSH_ARGS,
            "docker_insecure_registries": cfg.docker_insecure_registries,
            "nvidia_toolkit_repo_url": cfg.nvidia_toolkit_repo_url.rstrip("/"),
            "nvidia_toolkit_gpgkey_url": cfg.nvidia_toolkit_gpgkey_url,
            "nvidia_toolkit_version": cfg.nvidia_toolkit_version,
            "tgi_rendered_dir": str(rdir),
            "tgi_service_dir": cfg.service_dir(svc),
            "tgi_service_name": svc.name,
            "tgi_unit": unit_name(svc),
            "tgi_files": files,
            "tgi_image": rendered.image,
            "tgi_config_hash": rendered.config_hash,
            "tgi_port": svc.port,
        }
    path = out_dir / "hosts.json"
    path.write_text(json.dumps({"bench": {"hosts": hosts}}, indent=2) + "\n")
    return path
