"""pyinfra inventory of the bench hosts (``python -m bench up`` writes the state it reads).

Same variables as ``inventories/lab.py`` (CPU mode, the lab's mirrors, toolkit pinned to
1.17.7-1), one TGI service per host on port 8080 bound to 0.0.0.0. ``BENCH_HOSTS=N`` keeps the
first N hosts of the state file.
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

SERVICE = {
    "name": "tgi-service",
    "model_id": "HuggingFaceTB/SmolLM2-135M-Instruct",
    "port": 8080,
    "bind": "0.0.0.0",
}


def host_data(address: str) -> dict:
    return {**lab_host_data(_state, address), "tgi_services": [dict(SERVICE)]}


bench = [(h["name"], host_data(h["address"])) for h in _state["hosts"]][:_limit]
