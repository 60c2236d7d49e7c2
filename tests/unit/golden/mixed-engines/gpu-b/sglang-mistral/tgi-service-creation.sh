#!/usr/bin/env bash
# Managed by tgi-infra (deploy/render.py): edits are overwritten by the next deploy.
# (Re)creates container sglang-mistral on gpu-b: model mistralai/Mistral-7B-Instruct-v0.3, engine SGLang, supervisor systemd.
# Secrets reach the container only through the env file, never this command line.
set -euo pipefail

env_file=/srv/engines/sglang-mistral/service.env
if [[ ! -f "${env_file}" ]]; then
  echo "missing ${env_file} (written by the deploy, mode 0600)" >&2
  exit 1
fi

# Stop the unit first so that its `docker start -a` does not race the replacement.
systemctl stop tgi-sglang-mistral.service 2>/dev/null || true
# Replace any previous container of this name; the model cache under /root/.cache/huggingface is kept.
# Stopped first with the engine's drain time (SIGTERM; SIGKILL after 120 s): the
# requests in flight finish.
docker stop -t 120 sglang-mistral >/dev/null 2>&1 || true
docker rm -f sglang-mistral >/dev/null 2>&1 || true

docker create \
  --name sglang-mistral \
  --label tgi-infra.managed=true \
  --label tgi-infra.config-hash=bec8c3bd234fad8649180cfd2b17b4d7d8ddcad327ac298230d44b9777a57931 \
  --label tgi-infra.service=sglang-mistral \
  --label tgi-infra.model-id=mistralai/Mistral-7B-Instruct-v0.3 \
  --label tgi-infra.engine=sglang \
  --label tgi-infra.supervisor=systemd \
  --label tgi-infra.port=8080 \
  --label tgi-infra.unit=tgi-sglang-mistral.service \
  --restart no \
  --stop-timeout 120 \
  --gpus '"device=0,1"' \
  --ipc=host \
  -p 127.0.0.1:8080:30000 \
  -v /var/lib/tgi/data:/root/.cache/huggingface \
  --env-file /srv/engines/sglang-mistral/service.env \
  lmsysorg/sglang:v0.5.23 \
  python3 -m sglang.launch_server \
  --model-path mistralai/Mistral-7B-Instruct-v0.3 \
  --tp-size 2 \
  --context-length 8192 \
  --max-total-tokens 65536 \
  --max-running-requests 32 \
  --host 0.0.0.0 \
  --port 30000 \
  --enable-metrics

systemctl reset-failed tgi-sglang-mistral.service 2>/dev/null || true
systemctl start tgi-sglang-mistral.service
