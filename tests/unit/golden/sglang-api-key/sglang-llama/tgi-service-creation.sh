#!/usr/bin/env bash
# Managed by tgi-infra (deploy/render.py): edits are overwritten by the next deploy.
# (Re)creates container sglang-llama on sglang-api-key: model meta-llama/Llama-3.1-8B-Instruct, engine SGLang, supervisor docker.
# Secrets reach the container only through the env file, never this command line.
set -euo pipefail

env_file=/opt/tgi/sglang-llama/service.env
if [[ ! -f "${env_file}" ]]; then
  echo "missing ${env_file} (written by the deploy, mode 0600)" >&2
  exit 1
fi

# Replace any previous container of this name; the model cache under /root/.cache/huggingface is kept.
# Stopped first with the engine's drain time (SIGTERM; SIGKILL after 120 s): the
# requests in flight finish.
docker stop -t 120 sglang-llama >/dev/null 2>&1 || true
docker rm -f sglang-llama >/dev/null 2>&1 || true

docker run -d \
  --name sglang-llama \
  --label tgi-infra.managed=true \
  --label tgi-infra.config-hash=763879d31fc1d2814fe99db04cdcd285e6b04524ccf8f7b11d8f9211eefcbd3b \
  --label tgi-infra.service=sglang-llama \
  --label tgi-infra.model-id=meta-llama/Llama-3.1-8B-Instruct \
  --label tgi-infra.engine=sglang \
  --label tgi-infra.supervisor=docker \
  --label tgi-infra.port=30000 \
  --restart unless-stopped \
  --stop-timeout 120 \
  --gpus '"device=0"' \
  --shm-size 16g \
  -p 0.0.0.0:30000:30000 \
  -v /var/lib/tgi/data:/root/.cache/huggingface \
  --env-file /opt/tgi/sglang-llama/service.env \
  lmsysorg/sglang:v0.5.23 \
  python3 -c 'import os, runpy, sys; key = os.environ.get("API_KEY", ""); sys.argv = ["sglang.launch_server", *sys.argv[1:], *(["--api-key", key] if key else [])]; runpy.run_module("sglang.launch_server", run_name="__main__", alter_sys=True)' \
  --model-path meta-llama/Llama-3.1-8B-Instruct \
  --tp-size 1 \
  --quantization fp8 \
  --context-length 16384 \
  --cuda-graph-backend-decode disabled \
  --cuda-graph-backend-prefill disabled \
  --host 0.0.0.0 \
  --port 30000 \
  --enable-metrics \
  --attention-backend flashinfer
