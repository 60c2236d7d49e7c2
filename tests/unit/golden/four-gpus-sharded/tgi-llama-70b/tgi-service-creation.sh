#!/usr/bin/env bash
# Managed by tgi-infra (deploy/render.py): edits are overwritten by the next deploy.
# (Re)creates container tgi-llama-70b on four-gpus-sharded: model meta-llama/Llama-3.1-70B-Instruct, supervisor systemd.
# Secrets reach the container only through the env file, never this command line.
set -euo pipefail

env_file=/opt/tgi/tgi-llama-70b/service.env
if [[ ! -f "${env_file}" ]]; then
  echo "missing ${env_file} (written by the deploy, mode 0600)" >&2
  exit 1
fi

# Stop the unit first so that its `docker start -a` does not race the replacement.
systemctl stop tgi-tgi-llama-70b.service 2>/dev/null || true
# Replace any previous container of this name; the model cache under /data is kept.
# Stopped first with the engine's drain time (SIGTERM; SIGKILL after 120 s): the
# requests in flight finish.
docker stop -t 120 tgi-llama-70b >/dev/null 2>&1 || true
docker rm -f tgi-llama-70b >/dev/null 2>&1 || true

docker create \
  --name tgi-llama-70b \
  --label tgi-infra.managed=true \
  --label tgi-infra.config-hash=740671f357a2ed9a98061dd31443b0af51cf97e7ae9904f11bad4073037f9649 \
  --label tgi-infra.service=tgi-llama-70b \
  --label tgi-infra.model-id=meta-llama/Llama-3.1-70B-Instruct \
  --label tgi-infra.engine=tgi \
  --label tgi-infra.supervisor=systemd \
  --label tgi-infra.port=8080 \
  --label tgi-infra.unit=tgi-tgi-llama-70b.service \
  --restart no \
  --stop-timeout 120 \
  --gpus '"device=0,1,2,3"' \
  --shm-size 64g \
  -p 0.0.0.0:8080:80 \
  -v /var/lib/tgi/data:/data \
  --env-file /opt/tgi/tgi-llama-70b/service.env \
  ghcr.io/huggingface/text-generation-inference:3.3.7 \
  --model-id meta-llama/Llama-3.1-70B-Instruct \
  --revision main \
  --num-shard 4 \
  --sharded true \
  --dtype bfloat16 \
  --max-input-tokens 8000 \
  --max-total-tokens 8192 \
  --max-batch-prefill-tokens 8192 \
  --max-batch-total-tokens 65536 \
  --max-concurrent-requests 64 \
  --port 80

systemctl reset-failed tgi-tgi-llama-70b.service 2>/dev/null || true
systemctl start tgi-tgi-llama-70b.service
