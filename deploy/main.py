"""The deploy: ``pyinfra inventories/gpu.py deploy/main.py``.

It reads like the steps a person takes on a GPU host:

1. validate every host's config (nothing is changed anywhere if any host is wrong);
2. preflight: read the host (distro, WSL or not, systemd, Docker, driver, GPUs) and refuse
   what cannot work, before any host is changed;
3. install Docker Engine (unless one is there; Docker Desktop on WSL is used as it is);
4. install the NVIDIA Container Toolkit from its signed apt repository;
5. configure the nvidia runtime in daemon.json (every existing key kept) and restart Docker only
   if daemon.json changed;
6. prove containers see the GPUs (skipped in CPU mode) whenever provisioning changed the host;
7. install, start and wait for every TGI service.
"""

from pyinfra.operations.util import any_changed
from tgi_infra import docker_engine, nvidia_toolkit, tgi_services
from tgi_infra.context import host_config
from tgi_infra.provision import preflight_plan

cfg = host_config()
plan = preflight_plan(cfg)

provisioning = docker_engine.install(cfg, plan)
daemon_json = [docker_engine.configure_daemon(cfg, plan)]
provisioning += nvidia_toolkit.install(cfg, plan)
daemon_json.append(nvidia_toolkit.configure_runtime(cfg, plan))
daemon_json = [op for op in daemon_json if op is not None]
docker_engine.ensure_running(cfg, plan, restart_if=any_changed(*daemon_json))
nvidia_toolkit.cdi(cfg, plan)
nvidia_toolkit.gpu_proof(cfg, plan, run_if=any_changed(*provisioning, *daemon_json))
tgi_services.deploy_services(cfg, plan)
