"""A simulated fleet for pyinfra's control-plane cost: many hosts, no machine behind them.

Each host is ``@fake/fleet-NNN`` (pyinfra's own fake connector, no delay) with the bench hosts'
variables, answering every command instantly with what a real, already deployed bench host
answered (``bench/record_facts.py``), translated to the fleet host's name
(``bench/fleet_canned.py``). The real ``deploy/main.py`` then sees up-to-date hosts: a no-op
deploy whose whole cost is on the control machine. ``BENCH_FLEET_FILE`` names the prepared file.
"""

import json
import os

from tgi_infra import pyinfra_bookkeeping

pyinfra_bookkeeping.install()  # as the shipped inventories (inventories/gpu.py) do

_fleet = json.load(open(os.environ["BENCH_FLEET_FILE"]))
_count = int(os.environ.get("BENCH_FLEET_HOSTS", "0")) or None
_data = {k: v for k, v in _fleet["data"].items() if not k.startswith("ssh_")}

fleet = [
    (name, {**_data, "fake_responses": responses, "fake_delay": 0, "fake_delay_jitter": 0})
    for name, responses in list(_fleet["hosts"].items())[:_count]
]
