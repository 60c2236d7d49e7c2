"""Second half of a rollout step (``rollout.py``): ``pyinfra <inventory> deploy/swap_finish.py``.

``TGI_SWAP_FINISH=commit``: the previous containers the deploy kept (``<name>-previous``) are
removed. ``TGI_SWAP_FINISH=rollback``: every service that has one gets it back (the new
container is removed, the previous one renamed and started, and the deploy waits for it).
"""

import os

from pyinfra import host
from pyinfra.operations import python
from tgi_infra.config.current_host import DeployConfigError, host_config
from tgi_infra.host.facts import SystemdPid1
from tgi_infra.host.remote import reported
from tgi_infra.services import swap
from tgi_infra.services.operations import _probe
from tgi_infra.services.render import stop_timeout, unit_name

action = os.environ.get("TGI_SWAP_FINISH", "")
if action not in ("commit", "rollback"):
    raise DeployConfigError(f"TGI_SWAP_FINISH must be commit or rollback, not {action!r}")
cfg = host_config()
systemd = bool(host.get_fact(SystemdPid1))
for svc in cfg.present_services():
    python.call(
        name=f"{svc.name}: {action} (previous container)",
        function=reported(swap.finish),
        action=action,
        name_=svc.name,
        unit=unit_name(svc) if systemd else None,
        probe=_probe(cfg, svc),
        stop_timeout=stop_timeout(svc),
    )
