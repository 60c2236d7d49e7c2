#!/usr/bin/env bash
# Managed by tgi-infra (deploy/render.py): edits are overwritten by the next deploy.
# (Re)creates container vllm-qwen on vllm-two-gpus: model Qwen/Qwen2.5-7B-Instruct, engine vLLM, supervisor systemd.
# Secrets reach the container only through the env file, never this command line.
set -euo pipefail

env_file=/opt/tgi/vllm-qwen/service.env
if [[ ! -f "${env_file}" ]]; then
  echo "missing ${env_file} (written by the deploy, mode 0600)" >&2
  exit 1
fi

# Stop the unit first so that its `docker start -a` does not race the replacement.
systemctl stop tgi-vllm-qwen.service 2>/dev/null || true
# Replace any previous container of this name; the model cache under /root/.cache/huggingface is kept.
# Stopped first with the engine's drain time (SIGTERM; SIGKILL after 30 s): the
# requests in flight finish.
docker stop -t 30 vllm-qwen >/dev/null 2>&1 || true
docker rm -f vllm-qwen >/dev/null 2>&1 || true

docker create \
  --name vllm-qwen \
  --label tgi-infra.managed=true \
  --label tgi-infra.config-hash=f3ff5468c3b45b37453ac35c1e8d8ea343e7520dc01fc1444e0e0a8985398b39 \
  --label tgi-infra.service=vllm-qwen \
  --label tgi-infra.model-id=Qwen/Qwen2.5-7B-Instruct \
  --label tgi-infra.engine=vllm \
  --label tgi-infra.supervisor=systemd \
  --label tgi-infra.port=8000 \
  --label tgi-infra.unit=tgi-vllm-qwen.service \
  --restart no \
  --stop-timeout 30 \
  --gpus '"device=0,1"' \
  --ipc=host \
  -p 127.0.0.1:8000:8000 \
  -v /var/lib/tgi/data:/root/.cache/huggingface \
  --env-file /opt/tgi/vllm-qwen/service.env \
  vllm/vllm-openai:v0.33.0 \
  Qwen/Qwen2.5-7B-Instruct \
  --revision main \
  --tensor-parallel-size 2 \
  --dtype bfloat16 \
  --max-model-len 8192 \
  --max-num-seqs 64 \
  --gpu-memory-utilization 0.85 \
  --enable-prefix-caching

systemctl reset-failed tgi-vllm-qwen.service 2>/dev/null || true
systemctl start tgi-vllm-qwen.service
