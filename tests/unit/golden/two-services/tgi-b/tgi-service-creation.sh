#!/usr/bin/env bash
# Managed by tgi-infra (deploy/render.py): edits are overwritten by the next deploy.
# (Re)creates container tgi-b on two-services: model mistralai/Mistral-7B-Instruct-v0.3, supervisor systemd.
# Secrets reach the container only through the env file, never this command line.
set -euo pipefail

env_file=/srv/tgi/tgi-b/service.env
if [[ ! -f "${env_file}" ]]; then
  echo "missing ${env_file} (written by the deploy, mode 0600)" >&2
  exit 1
fi

# Stop the unit first so that its `docker start -a` does not race the replacement.
systemctl stop tgi-tgi-b.service 2>/dev/null || true
# Replace any previous container of this name; the model cache under /data is kept.
# Stopped first with the engine's drain time (SIGTERM; SIGKILL after 120 s): the
# requests in flight finish.
docker stop -t 120 tgi-b >/dev/null 2>&1 || true
docker rm -f tgi-b >/dev/null 2>&1 || true

docker create \
  --name tgi-b \
  --label tgi-infra.managed=true \
  --label tgi-infra.config-hash=1d645767c2a8aa2b4b82f54980b6c85a87ec88ce4bbc534768b1f91e239af45c \
  --label tgi-infra.service=tgi-b \
  --label tgi-infra.model-id=mistralai/Mistral-7B-Instruct-v0.3 \
  --label tgi-infra.engine=tgi \
  --label tgi-infra.supervisor=systemd \
  --label tgi-infra.port=8081 \
  --label tgi-infra.unit=tgi-tgi-b.service \
  --restart no \
  --stop-timeout 120 \
  --gpus '"device=2,3"' \
  --shm-size 8g \
  -p 127.0.0.1:8081:80 \
  -v tgi-cache:/data \
  --env-file /srv/tgi/tgi-b/service.env \
  ghcr.io/huggingface/text-generation-inference:3.3.7 \
  --model-id mistralai/Mistral-7B-Instruct-v0.3 \
  --num-shard 2 \
  --port 80

systemctl reset-failed tgi-tgi-b.service 2>/dev/null || true
systemctl start tgi-tgi-b.service
