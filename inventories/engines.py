"""An example fleet mixing the three engines (issue 16): TGI, vLLM and SGLang side by side.

Every service uses the same fields; `engine` picks what runs them (docs/engines.md). The NAMES
below are read on this machine and written only to service.env (0600); validate checks that
they are set, as the deploy does. Validate and preview without touching any host, then deploy:
    export HF_TOKEN=hf_... SERVING_API_KEY=...
    python -m tgi_infra validate inventories/engines.py
    python -m tgi_infra render inventories/engines.py --out build/rendered
    pyinfra inventories/engines.py deploy/main.py
"""

gpu_servers = [
    (
        "gpu-1.example.com",
        {
            "ssh_user": "ubuntu",
            "_sudo": True,
            "tgi_services": [
                {
                    # TGI (the default engine): text-generation-launcher, container port 80
                    "name": "tgi-smol",
                    "model_id": "HuggingFaceTB/SmolLM2-1.7B-Instruct",
                    "gpus": [0],
                    "max_input_tokens": 3072,
                    "max_total_tokens": 4096,
                    "port": 8080,
                },
                {
                    # vLLM: `vllm serve MODEL`, container port 8000, --ipc=host
                    "name": "vllm-qwen",
                    "engine": "vllm",
                    "model_id": "Qwen/Qwen2.5-7B-Instruct",
                    "gpus": [1, 2],  # --tensor-parallel-size 2
                    "dtype": "bfloat16",
                    "max_total_tokens": 8192,  # --max-model-len
                    "max_concurrent_requests": 64,  # --max-num-seqs
                    "api_key_env": "SERVING_API_KEY",  # VLLM_API_KEY in service.env
                    "extra_args": ["--gpu-memory-utilization", "0.85", "--enable-prefix-caching"],
                    "port": 8081,
                },
            ],
        },
    ),
    (
        "gpu-2.example.com",
        {
            "ssh_user": "ubuntu",
            "_sudo": True,
            "tgi_services": [
                {
                    # SGLang: python3 -m sglang.launch_server --host 0.0.0.0 --port 30000
                    "name": "sglang-llama",
                    "engine": "sglang",
                    "model_id": "meta-llama/Llama-3.1-8B-Instruct",
                    "gpus": [0, 1],  # --tp-size 2
                    "max_total_tokens": 16384,  # --context-length
                    "max_concurrent_requests": 128,  # --max-running-requests
                    "api_key_env": "SERVING_API_KEY",  # --api-key in-process, never argv
                    "port": 8080,
                },
            ],
        },
    ),
]
