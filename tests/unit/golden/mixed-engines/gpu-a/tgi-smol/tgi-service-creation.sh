#!/usr/bin/env bash
# Managed by tgi-infra (deploy/render.py): edits are overwritten by the next deploy.
# (Re)creates container tgi-smol on gpu-a: model HuggingFaceTB/SmolLM2-1.7B-Instruct, supervisor systemd.
# Secrets reach the container only through the env file, never this command line.
set -euo pipefail

env_file=/opt/tgi/tgi-smol/service.env
if [[ ! -f "${env_file}" ]]; then
  echo "missing ${env_file} (written by the deploy, mode 0600)" >&2
  exit 1
fi

# Stop the unit first so that its `docker start -a` does not race the replacement.
systemctl stop tgi-tgi-smol.service 2>/dev/null || true
# Replace any previous container of this name; the model cache under /data is kept.
# Stopped first with the engine's drain time (SIGTERM; SIGKILL after 120 s): the
# requests in flight finish.
docker stop -t 120 tgi-smol >/dev/null 2>&1 || true
docker rm -f tgi-smol >/dev/null 2>&1 || true

docker create \
  --name tgi-smol \
  --label tgi-infra.managed=true \
  --label tgi-infra.config-hash=b2ef239b565da0014713808d6bed0f0a2ec1761aa9e082d409c4ae92276b1f74 \
  --label tgi-infra.service=tgi-smol \
  --label tgi-infra.model-id=HuggingFaceTB/SmolLM2-1.7B-Instruct \
  --label tgi-infra.engine=tgi \
  --label tgi-infra.supervisor=systemd \
  --label tgi-infra.port=8080 \
  --label tgi-infra.unit=tgi-tgi-smol.service \
  --restart no \
  --stop-timeout 120 \
  --gpus '"device=0"' \
  --shm-size 1g \
  -p 127.0.0.1:8080:80 \
  -v /var/lib/tgi/data:/data \
  --env-file /opt/tgi/tgi-smol/service.env \
  ghcr.io/huggingface/text-generation-inference:3.3.7 \
  --model-id HuggingFaceTB/SmolLM2-1.7B-Instruct \
  --num-shard 1 \
  --port 80

systemctl reset-failed tgi-tgi-smol.service 2>/dev/null || true
systemctl start tgi-tgi-smol.service
