"""Host data every lab inventory shares (``inventories/lab.py``, ``bench/inventory.py``).

What an air-gapped site sets, read from a lab state file: SSH with the lab's key, CPU mode (the
lab has no GPU), the NVIDIA apt mirror stand-in, the lab registry as image mirror (HTTP, hence
``docker_insecure_registries``) and the toolkit pinned to the older of the mirror's versions.
Pure data, no imports beyond the standard library: inventories load it quickly.
"""

from __future__ import annotations

import os

# The lab has no GPU: its vLLM and SGLang services name the engines' CPU builds in `image` (what
# a CPU-only site sets; deploy/config/rules.py CPU_IMAGES). lab/lab.py pushes the vLLM and
# SGLang stand-ins to the lab registry under these names too, next to the CUDA images' names.
ENGINE_CPU_IMAGES = {
    "vllm": "public.ecr.aws/q9t5s3a7/vllm-cpu-release-repo:v0.33.0",
    "sglang": "lmsysorg/sglang:v0.5.23-xeon",
}


def lab_host_data(state: dict, address: str) -> dict:
    return {
        "ssh_hostname": address,
        "ssh_user": "root",
        "ssh_key": state["ssh_key"],
        "ssh_strict_host_key_checking": "no",
        "ssh_known_hosts_file": "/dev/null",
        "tgi_gpus": "none",
        "tgi_docker_insecure_registries": [state["registry"]],
        "tgi_image_mirror": state["registry"],
        "tgi_nvidia_toolkit_repo_url": state["nvidia_repo_url"],
        "tgi_nvidia_toolkit_gpgkey_url": state["nvidia_gpgkey_url"],
        # the older of the mirror's two versions: proves the pin, not apt's newest
        "tgi_nvidia_toolkit_version": os.environ.get("TGI_LAB_TOOLKIT_VERSION", "1.17.7-1"),
        "tgi_ready_timeout": 300,
        # air-gapped: no Hub (lab/test_fleet_changes.py turns the check on per host against
        # the Hub stand-in, lab/hub_standin, through HF_ENDPOINT)
        "tgi_hub_check": False,
    }
