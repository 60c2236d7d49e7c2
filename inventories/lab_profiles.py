"""Inventory of one lab host profile (lab/profiles.py), as ``python -m lab profiles`` runs it.

``TGI_LAB_PROFILE_STATE`` names the profile's state file (written by ``lab.up``); the host data
is the lab's (lab/inventory_data.py) plus what the profile adds (e.g. ``ssh_user: deploy`` and
``_sudo: True``), and one service behind an API key.
"""

import json
import os
from pathlib import Path

from lab.inventory_data import lab_host_data
from lab.profiles import BY_HOST, SERVICE

_state = json.loads(Path(os.environ["TGI_LAB_PROFILE_STATE"]).read_text())
_overrides = json.loads(os.environ.get("TGI_LAB_OVERRIDES", "{}"))

lab_profiles = [
    (
        h["name"],
        {
            **lab_host_data(_state, h["address"]),
            **BY_HOST[h["name"]].host_data,
            "tgi_services": [dict(SERVICE)],
            **_overrides.get(h["name"], {}),
        },
    )
    for h in _state["hosts"]
]
