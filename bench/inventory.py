"""pyinfra inventory of the bench hosts (``python -m bench up`` writes the state it reads).

Same variables as ``inventories/lab.py`` (CPU mode, the lab's mirrors, toolkit pinned to
1.17.7-1), one TGI service per host on port 8080 bound to 0.0.0.0. ``BENCH_HOSTS=N`` keeps the
first N hosts of the state file. ``BENCH_SSH_PORTS`` (JSON ``{"bench-1": port, ...}``) sends a
host's SSH through the bench's latency relay (bench/relay.py) on 127.0.0.1 at that port.
"""

import json
import os
from pathlib import Path

from lab.inventory_data import lab_host_data

_instance = os.environ.get("TGI_LAB_INSTANCE", "")  # the default state dir as in bench.lab_hosts
_default = f"/tmp/bench-state-{_instance}" if _instance else "/tmp/bench-state"
_state_dir = Path(os.environ.get("TGI_LAB_STATE_DIR", _default))
_state = json.loads((_state_dir / "state.json").read_text())
_limit = int(os.environ.get("BENCH_HOSTS", "0")) or None
_relay_ports = json.loads(os.environ.get("BENCH_SSH_PORTS") or "{}")

SERVICE = {
    "name": "tgi-service",
    "model_id": "HuggingFaceTB/SmolLM2-135M-Instruct",
    "port": 8080,
    "bind": "0.0.0.0",
}


def host_data(address: str, ssh_port: int | None = None) -> dict:
    data = {**lab_host_data(_state, address), "tgi_services": [dict(SERVICE)]}
    if ssh_port:  # through the relay
        data.update(ssh_hostname="127.0.0.1", ssh_port=ssh_port)
    return data


bench = [
    (h["name"], host_data(h["address"], _relay_ports.get(h["name"]))) for h in _state["hosts"]
][:_limit]
