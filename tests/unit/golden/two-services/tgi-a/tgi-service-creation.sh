#!/usr/bin/env bash
# Managed by tgi-infra (deploy/render.py): edits are overwritten by the next deploy.
# (Re)creates container tgi-a on two-services: model Qwen/Qwen2.5-7B-Instruct, supervisor systemd.
# Secrets reach the container only through the env file, never this command line.
set -euo pipefail

env_file=/srv/tgi/tgi-a/service.env
if [[ ! -f "${env_file}" ]]; then
  echo "missing ${env_file} (written by the deploy, mode 0600)" >&2
  exit 1
fi

# Stop the unit first so that its `docker start -a` does not race the replacement.
systemctl stop tgi-tgi-a.service 2>/dev/null || true
# Replace any previous container of this name; the model cache under /data is kept.
# Stopped first with the engine's drain time (SIGTERM; SIGKILL after 120 s): the
# requests in flight finish.
docker stop -t 120 tgi-a >/dev/null 2>&1 || true
docker rm -f tgi-a >/dev/null 2>&1 || true

docker create \
  --name tgi-a \
  --label tgi-infra.managed=true \
  --label tgi-infra.config-hash=cd7cd0bd5e93fa043e061188256b063c55a7ec88078c3f45de34324ddb149b64 \
  --label tgi-infra.service=tgi-a \
  --label tgi-infra.model-id=Qwen/Qwen2.5-7B-Instruct \
  --label tgi-infra.engine=tgi \
  --label tgi-infra.supervisor=systemd \
  --label tgi-infra.port=8080 \
  --label tgi-infra.unit=tgi-tgi-a.service \
  --restart no \
  --stop-timeout 120 \
  --gpus '"device=0,1"' \
  --shm-size 8g \
  -p 127.0.0.1:8080:80 \
  -v /var/lib/tgi/data:/data \
  --env-file /srv/tgi/tgi-a/service.env \
  ghcr.io/huggingface/text-generation-inference:3.3.7 \
  --model-id Qwen/Qwen2.5-7B-Instruct \
  --num-shard 2 \
  --port 80

systemctl reset-failed tgi-tgi-a.service 2>/dev/null || true
systemctl start tgi-tgi-a.service
