"""The deploy: ``pyinfra inventories/gpu.py deploy/main.py``.

It reads like the steps a person takes on a GPU host:

1. validate every selected host's config (nothing is changed anywhere if one is wrong);
2. preflight: read the host (distro, WSL or not, systemd, Docker, driver, GPUs) and refuse
   what cannot work, before any host is changed;
3. install Docker Engine (unless one is there; Docker Desktop on WSL is used as it is);
4. install the NVIDIA Container Toolkit from its signed apt repository;
5. configure the nvidia runtime in daemon.json (every existing key kept) and restart Docker only
   if daemon.json changed or the running daemon does not match it;
6. prove containers see the GPUs (skipped in CPU mode) whenever provisioning changed the host;
7. install, start and wait for every TGI service.

Steps 1-6 are ``deploy_gpu_host``, step 7 ``deploy_services`` (``deploy/deploys.py``): the same
calls a user puts in their own deploy file (``from tgi_infra import deploy_gpu_host, ...``).
"""

from tgi_infra.deploys import deploy_gpu_host, deploy_services

deploy_gpu_host()
deploy_services()
