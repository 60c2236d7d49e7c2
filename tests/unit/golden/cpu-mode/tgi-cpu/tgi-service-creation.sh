#!/usr/bin/env bash
# Managed by tgi-infra (deploy/render.py): edits are overwritten by the next deploy.
# (Re)creates container tgi-cpu on cpu-mode: model /data/models/tiny-gpt2, supervisor docker.
# Secrets reach the container only through the env file, never this command line.
set -euo pipefail

env_file=/opt/tgi/tgi-cpu/service.env
if [[ ! -f "${env_file}" ]]; then
  echo "missing ${env_file} (written by the deploy, mode 0600)" >&2
  exit 1
fi

# Replace any previous container of this name; the model cache under /data is kept.
# Stopped first with the engine's drain time (SIGTERM; SIGKILL after 120 s): the
# requests in flight finish.
docker stop -t 120 tgi-cpu >/dev/null 2>&1 || true
docker rm -f tgi-cpu >/dev/null 2>&1 || true

docker run -d \
  --name tgi-cpu \
  --label tgi-infra.managed=true \
  --label tgi-infra.config-hash=31bc469344d63249452458e165eb4ac14da2b9aaf8175416763a7ba5e0887cad \
  --label tgi-infra.service=tgi-cpu \
  --label tgi-infra.model-id=/data/models/tiny-gpt2 \
  --label tgi-infra.engine=tgi \
  --label tgi-infra.supervisor=docker \
  --label tgi-infra.port=8080 \
  --restart unless-stopped \
  --stop-timeout 120 \
  --shm-size 1g \
  -p 127.0.0.1:8080:80 \
  -v /var/lib/tgi/data:/data \
  --env-file /opt/tgi/tgi-cpu/service.env \
  registry.lab:5000/huggingface/text-generation-inference:3.3.7 \
  --model-id /data/models/tiny-gpt2 \
  --num-shard 1 \
  --port 80 \
  --disable-custom-kernels
