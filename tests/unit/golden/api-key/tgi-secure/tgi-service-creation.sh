#!/usr/bin/env bash
# Managed by tgi-infra (deploy/render.py): edits are overwritten by the next deploy.
# (Re)creates container tgi-secure on api-key: model google/gemma-2-9b-it, supervisor docker.
# Secrets reach the container only through the env file, never this command line.
set -euo pipefail

env_file=/opt/tgi/tgi-secure/service.env
if [[ ! -f "${env_file}" ]]; then
  echo "missing ${env_file} (written by the deploy, mode 0600)" >&2
  exit 1
fi

# Replace any previous container of this name; the model cache under /data is kept.
# Stopped first with the engine's drain time (SIGTERM; SIGKILL after 120 s): the
# requests in flight finish.
docker stop -t 120 tgi-secure >/dev/null 2>&1 || true
docker rm -f tgi-secure >/dev/null 2>&1 || true

docker run -d \
  --name tgi-secure \
  --label tgi-infra.managed=true \
  --label tgi-infra.config-hash=5628c3bc69bd3c6238ebca75055fd96aebcf7c7c700273d9a20292a83c403851 \
  --label tgi-infra.service=tgi-secure \
  --label tgi-infra.model-id=google/gemma-2-9b-it \
  --label tgi-infra.engine=tgi \
  --label tgi-infra.supervisor=docker \
  --label tgi-infra.port=8080 \
  --restart unless-stopped \
  --stop-timeout 120 \
  --gpus all \
  --shm-size 1g \
  -p 0.0.0.0:8080:80 \
  -v /var/lib/tgi/data:/data \
  --env-file /opt/tgi/tgi-secure/service.env \
  ghcr.io/huggingface/text-generation-inference:3.3.7 \
  --model-id google/gemma-2-9b-it \
  --port 80 \
  --max-best-of 1 \
  --trust-remote-code \
  --json-output
