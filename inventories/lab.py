"""Inventory of the container lab (``python -m lab up`` writes the addresses it reads).

Same variables as ``inventories/gpu.py``; what differs is what an air-gapped site would set:
the NVIDIA apt mirror, the image mirror (an HTTP registry, hence ``docker_insecure_registries``)
and CPU mode (``gpus: none``: the lab has no GPU). The TGI image in the lab registry is the TGI
stand-in (lab/tgi_standin), under the upstream repository path; so are vLLM's and SGLang's
(lab/vllm_standin, lab/sglang_standin): lab-linux-1 runs a vLLM service next to its two TGI
services, lab-linux-2 an SGLang service with an API key next to its TGI service.
"""

import json
import os
from pathlib import Path

from tgi_infra import pyinfra_bookkeeping
from tgi_infra.cli.pyinfra_entry import quiet_paramiko

from lab.inventory_data import ENGINE_CPU_IMAGES, lab_host_data

quiet_paramiko()  # a dead host is one line (see inventories/gpu.py)
pyinfra_bookkeeping.install()  # see inventories/gpu.py

_state_dir = Path(
    os.environ.get("TGI_LAB_STATE_DIR", Path(__file__).resolve().parent.parent / "lab/.state")
)
_state = json.loads((_state_dir / "state.json").read_text())
_addr = {h["name"]: h["address"] for h in _state["hosts"]}

# Per-host service settings can be overridden by the tests through TGI_LAB_OVERRIDES
# ({"host": {"tgi_services": [...]}}), the way a user edits this file.
_overrides = json.loads(os.environ.get("TGI_LAB_OVERRIDES", "{}"))


def _host(name: str, **data):
    merged = {**lab_host_data(_state, _addr[name]), **data, **_overrides.get(name, {})}
    return (name, merged)


_hosts = {
    # two services on one systemd host: separate ports, different limits and dtype settings
    "lab-linux-1": dict(
        tgi_services=[
            {
                "name": "tgi-service",
                "model_id": "HuggingFaceTB/SmolLM2-135M-Instruct",
                "port": 8080,
                "bind": "0.0.0.0",
                "max_input_tokens": 1024,
                "max_total_tokens": 2048,
                "max_batch_prefill_tokens": 2048,
            },
            {
                "name": "tgi-small",
                "model_id": "HuggingFaceTB/SmolLM2-360M-Instruct",
                "port": 8081,
                "bind": "0.0.0.0",
                "max_input_tokens": 512,
                "max_total_tokens": 1024,
                "max_concurrent_requests": 16,
                "smoke_semantic": True,
            },
            {
                # vLLM next to the TGI services (issue 16): `vllm serve MODEL ...`, port 8000
                # in the container; the lab registry's image is the vLLM stand-in
                "name": "vllm-service",
                "engine": "vllm",
                "image": ENGINE_CPU_IMAGES["vllm"],  # CPU mode: vLLM's CPU build
                "model_id": "HuggingFaceTB/SmolLM2-135M-Instruct",
                "port": 8082,
                "bind": "0.0.0.0",
                "max_total_tokens": 2048,  # --max-model-len
                "max_concurrent_requests": 16,  # --max-num-seqs
            },
        ]
    ),
    # the host that starts with a daemon.json of its own; its service needs an API key
    "lab-linux-2": dict(
        tgi_services=[
            {
                "name": "tgi-service",
                "model_id": "Qwen/Qwen2.5-0.5B-Instruct",
                "port": 8080,
                "bind": "0.0.0.0",
                "api_key_env": "TGI_LAB_API_KEY",
            },
            {
                # SGLang with an API key (read in-process from service.env, never argv)
                "name": "sglang-service",
                "engine": "sglang",
                "image": ENGINE_CPU_IMAGES["sglang"],  # CPU mode: SGLang's Xeon build
                "model_id": "Qwen/Qwen2.5-0.5B-Instruct",
                "port": 8081,
                "bind": "0.0.0.0",
                "max_total_tokens": 2048,  # --context-length
                "api_key_env": "TGI_LAB_API_KEY",
            },
        ]
    ),
    # WSL2-like host: no systemd, Docker's restart policy supervises the container
    "lab-wsl-1": dict(
        tgi_services=[
            {
                "name": "tgi-service",
                "model_id": "HuggingFaceTB/SmolLM2-135M-Instruct",
                "port": 8080,
                "bind": "0.0.0.0",
            }
        ]
    ),
}

lab_linux = [_host(n, **d) for n, d in _hosts.items() if n in _addr and "linux" in n]
lab_wsl = [_host(n, **d) for n, d in _hosts.items() if n in _addr and "wsl" in n]
