"""pyinfra inventory of the bench hosts (``python -m bench up`` writes the state it reads).

Same variables as ``inventories/lab.py`` (CPU mode, the lab's mirrors, toolkit pinned to
1.17.7-1), one TGI service per host on port 8080 bound to 0.0.0.0. ``BENCH_HOSTS=N`` keeps the
first N hosts of the state file.
"""

import json
import os
from pathlib import Path

_state_dir = Path(os.environ.get("TGI_LAB_STATE_DIR", "/tmp/bench-state"))
_state = json.loads((_state_dir / "state.json").read_text())
_limit = int(os.environ.get("BENCH_HOSTS", "0")) or None

SERVICE = {
    "name": "tgi-service",
    "model_id": "HuggingFaceTB/SmolLM2-135M-Instruct",
    "port": 8080,
    "bind": "0.0.0.0",
}


def host_data(address: str) -> dict:
    return {
        "ssh_hostname": address,
        "ssh_user": "root",
        "ssh_key": _state["ssh_key"],
        "ssh_strict_host_key_checking": "no",
        "ssh_known_hosts_file": "/dev/null",
        "gpus": "none",
        "docker_insecure_registries": [_state["registry"]],
        "image_mirror": _state["registry"],
        "nvidia_toolkit_repo_url": _state["nvidia_repo_url"],
        "nvidia_toolkit_gpgkey_url": _state["nvidia_gpgkey_url"],
        "nvidia_toolkit_version": "1.17.7-1",
        "ready_timeout": 300,
        "tgi_services": [dict(SERVICE)],
    }


bench = [(h["name"], host_data(h["address"])) for h in _state["hosts"]][:_limit]
