#!/usr/bin/env bash
# Managed by tgi-infra (deploy/render.py): edits are overwritten by the next deploy.
# (Re)creates container vllm-qwen on gpu-a: model Qwen/Qwen2.5-7B-Instruct, engine vLLM, supervisor systemd.
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
  --label tgi-infra.config-hash=1fd466ae2dcb862f1ec38d71801b7674079186a8320bab9c38569abf939cf27b \
  --label tgi-infra.service=vllm-qwen \
  --label tgi-infra.model-id=Qwen/Qwen2.5-7B-Instruct \
  --label tgi-infra.engine=vllm \
  --label tgi-infra.supervisor=systemd \
  --label tgi-infra.port=8081 \
  --label tgi-infra.unit=tgi-vllm-qwen.service \
  --restart no \
  --stop-timeout 30 \
  --gpus '"device=1,2"' \
  --ipc=host \
  -p 127.0.0.1:8081:8000 \
  -v /var/lib/tgi/data:/root/.cache/huggingface \
  --env-file /opt/tgi/vllm-qwen/service.env \
  vllm/vllm-openai:v0.33.0 \
  Qwen/Qwen2.5-7B-Instruct \
  --tensor-parallel-size 2 \
  --quantization fp8 \
  --enforce-eager

systemctl reset-failed tgi-vllm-qwen.service 2>/dev/null || true
systemctl start tgi-vllm-qwen.service
