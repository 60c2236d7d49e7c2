#!/usr/bin/env bash
# Managed by tgi-infra (deploy/render.py): edits are overwritten by the next deploy.
# (Re)creates container vllm-local on gpu-b: model /data/models/my-finetune, engine vLLM, supervisor systemd.
# Secrets reach the container only through the env file, never this command line.
set -euo pipefail

env_file=/srv/engines/vllm-local/service.env
if [[ ! -f "${env_file}" ]]; then
  echo "missing ${env_file} (written by the deploy, mode 0600)" >&2
  exit 1
fi

# Stop the unit first so that its `docker start -a` does not race the replacement.
systemctl stop tgi-vllm-local.service 2>/dev/null || true
# Replace any previous container of this name; the model cache under /root/.cache/huggingface is kept.
# Stopped first with the engine's drain time (SIGTERM; SIGKILL after 30 s): the
# requests in flight finish.
docker stop -t 30 vllm-local >/dev/null 2>&1 || true
docker rm -f vllm-local >/dev/null 2>&1 || true

docker create \
  --name vllm-local \
  --label tgi-infra.managed=true \
  --label tgi-infra.config-hash=b86d124532b4a1e0246bdec620512aabf9e17e9765f07fee60bf5bfdd1ae253b \
  --label tgi-infra.service=vllm-local \
  --label tgi-infra.model-id=/data/models/my-finetune \
  --label tgi-infra.engine=vllm \
  --label tgi-infra.supervisor=systemd \
  --label tgi-infra.port=8082 \
  --label tgi-infra.unit=tgi-vllm-local.service \
  --restart no \
  --stop-timeout 30 \
  --gpus '"device=2"' \
  --ipc=host \
  -p 127.0.0.1:8082:8000 \
  -v engine-cache:/root/.cache/huggingface \
  --env-file /srv/engines/vllm-local/service.env \
  vllm/vllm-openai:v0.33.0 \
  /root/.cache/huggingface/models/my-finetune \
  --tensor-parallel-size 1 \
  --max-num-batched-tokens 4096 \
  --cudagraph-capture-sizes 1 2 4 8

systemctl reset-failed tgi-vllm-local.service 2>/dev/null || true
systemctl start tgi-vllm-local.service
