"""The inventory you edit: which hosts get TGI, and how.

Validate and preview without touching any host:
    python -m tgi_infra validate inventories/gpu.py
    python -m tgi_infra render inventories/gpu.py --out build/rendered --systemd gpu_servers
Deploy:
    export HF_TOKEN=hf_...          # read on THIS machine, written only to service.env (0600)
    pyinfra inventories/gpu.py deploy/main.py

This is a pyinfra inventory: every list of hosts below is a group, each host is
("address", {host data}).  Connection settings are pyinfra's own (`ssh_user`, `ssh_port`,
`ssh_key`, `_sudo`, ...); the other keys are this project's variables, shown with their
defaults.  `python -m tgi_infra variables` prints the full table.  Only the NAMES of
environment variables holding secrets belong here, never the token or key itself.
"""

from tgi_infra import pyinfra_bookkeeping
from tgi_infra.cli.pyinfra_entry import quiet_paramiko

# a dead host is pyinfra's one line "[host] SSH error (...)", without paramiko's traceback
# (pyinfra connects before it loads deploy/main.py; --debug keeps paramiko's logging)
quiet_paramiko()
# pyinfra's bookkeeping without its discarded work, from the inventory on (it builds the
# inventory before it loads deploy/main.py): a large fleet's time (deploy/pyinfra_bookkeeping.py)
pyinfra_bookkeeping.install()

gpu_servers = [
    (
        "gpu-1.example.com",
        {
            # --- connection (pyinfra) ---
            "ssh_user": "ubuntu",
            "_sudo": True,
            # --- host ---
            "tgi_gpus": "all",  # "all": GPU host, NVIDIA driver required | "none": CPU mode
            "tgi_docker_source": "distro",  # "distro" (Ubuntu/Debian docker.io) | "docker-ce"
            # "tgi_docker_ce_repo_url": "https://download.docker.com/linux",  # + /<distro-id>
            # "tgi_docker_users": [],  # users added to the docker group, e.g. ["ubuntu"]
            # "tgi_docker_insecure_registries": [],  # e.g. ["mirror.local:5000"] (HTTP mirror)
            # "tgi_nvidia_toolkit_repo_url": "https://nvidia.github.io/libnvidia-container",
            # "tgi_nvidia_toolkit_gpgkey_url": "https://nvidia.github.io/libnvidia-container/gpgkey",
            # "tgi_nvidia_toolkit_version": None,  # e.g. "1.17.8-1" pins all toolkit packages
            # "tgi_nvidia_runtime_default": False,  # nvidia-ctk runtime configure --set-as-default
            # "tgi_nvidia_cdi": False,  # /etc/cdi/nvidia.yaml, again after a driver change
            # "tgi_cuda_image": "nvidia/cuda:12.4.1-base-ubuntu22.04",  # GPU proof image
            # "tgi_root": "/opt/tgi",  # files go to <tgi_root>/<service name>/
            # "tgi_image_mirror": None,  # e.g. "mirror.local:5000" replaces ghcr.io / docker.io
            # "tgi_ready_timeout": 1800,  # seconds to wait for each service to answer
            "tgi_services": [
                {
                    "name": "tgi-llama",  # default "tgi-service"; container + unit name
                    "model_id": "meta-llama/Llama-3.1-8B-Instruct",  # required
                    # "revision": None,  # branch, tag or commit sha
                    # "image": "ghcr.io/huggingface/text-generation-inference:3.3.7",
                    "gpus": 2,  # "all" (default) | count N (devices 0..N-1) | ids [0, 1] | "none"
                    # "num_shard": None,  # default: number of GPUs assigned (2 here)
                    # "sharded": None,  # true needs 2+ shards, false needs exactly 1
                    # "quantize": None,  # awq, eetq, exl2, gptq, marlin, bitsandbytes, fp8...
                    "dtype": "bfloat16",  # float16 | bfloat16 | None (not with quantize)
                    "max_input_tokens": 4096,  # must be < max_total_tokens
                    "max_total_tokens": 8192,  # must be <= max_batch_total_tokens
                    # "max_batch_prefill_tokens": None,  # must be >= max_input_tokens
                    # "max_batch_total_tokens": None,
                    # "max_concurrent_requests": None,  # TGI default 128
                    # "cuda_graphs": None,  # e.g. [1, 2, 4, 8]; [0] disables
                    "port": 8080,  # host port; the container listens on 80
                    "bind": "127.0.0.1",  # "0.0.0.0" exposes the port on every interface
                    "shm_size": "16g",  # default "1g"; sharded services need more than 1g
                    # "volume": "/var/lib/tgi/data",  # mounted at /data (HF cache), shared
                    "hf_token_env": "HF_TOKEN",  # NAME of the env var holding the HF token
                    # "api_key_env": None,  # NAME of the env var holding an API key
                    # "extra_args": [],  # more launcher flags, e.g. ["--max-best-of", "1"]
                    # "env": {},  # non-secret container environment
                    # "present": True,  # False stops and removes the service
                    # "smoke_semantic": True,  # run the context-QA smoke checks
                },
            ],
        },
    ),
]

# A Windows workstation with WSL2 (NVIDIA driver installed on Windows; WSL2 exposes the GPU
# to Linux).  Without systemd as PID 1 the container runs under Docker's own restart policy
# (`--restart unless-stopped`) instead of a systemd unit; the deploy detects this.
# Uncomment and adjust:
#
# wsl_workstations = [
#     (
#         "wsl-ws-1.example.com",
#         {
#             "ssh_user": "me",
#             "ssh_port": 2222,  # sshd inside WSL2, forwarded by Windows
#             "_sudo": True,
#             "tgi_gpus": "all",
#             "tgi_docker_source": "docker-ce",
#             "tgi_docker_users": ["me"],
#             "tgi_services": [
#                 {
#                     "name": "tgi-small",
#                     "model_id": "Qwen/Qwen2.5-1.5B-Instruct",
#                     "gpus": 1,  # device 0
#                     "quantize": "bitsandbytes-nf4",
#                     "max_input_tokens": 2048,
#                     "max_total_tokens": 4096,
#                     "port": 8080,
#                     "api_key_env": "TGI_API_KEY",  # clients send Authorization: Bearer <key>
#                 },
#             ],
#         },
#     ),
# ]
