#!/usr/bin/env bash
# Managed by tgi-infra (deploy/render.py): edits are overwritten by the next deploy.
# (Re)creates container tgi-awq on quantized: model TheBloke/Llama-2-13B-chat-AWQ, supervisor systemd.
# Secrets reach the container only through the env file, never this command line.
set -euo pipefail

env_file=/opt/tgi/tgi-awq/service.env
if [[ ! -f "${env_file}" ]]; then
  echo "missing ${env_file} (written by the deploy, mode 0600)" >&2
  exit 1
fi

# Stop the unit first so that its `docker start -a` does not race the replacement.
systemctl stop tgi-tgi-awq.service 2>/dev/null || true
# Replace any previous container of this name; the model cache under /data is kept.
# Stopped first with the engine's drain time (SIGTERM; SIGKILL after 120 s): the
# requests in flight finish.
docker stop -t 120 tgi-awq >/dev/null 2>&1 || true
docker rm -f tgi-awq >/dev/null 2>&1 || true

docker create \
  --name tgi-awq \
  --label tgi-infra.managed=true \
  --label tgi-infra.config-hash=4299fcfa2efdde707682c65e3c544d80f3078985a24b0881e7c882a736e81982 \
  --label tgi-infra.service=tgi-awq \
  --label tgi-infra.model-id=TheBloke/Llama-2-13B-chat-AWQ \
  --label tgi-infra.engine=tgi \
  --label tgi-infra.supervisor=systemd \
  --label tgi-infra.port=8080 \
  --label tgi-infra.unit=tgi-tgi-awq.service \
  --restart no \
  --stop-timeout 120 \
  --gpus '"device=0"' \
  --shm-size 1g \
  -p '[::1]:8080:80' \
  -v /var/lib/tgi/data:/data \
  --env-file /opt/tgi/tgi-awq/service.env \
  ghcr.io/huggingface/text-generation-inference:3.3.7 \
  --model-id TheBloke/Llama-2-13B-chat-AWQ \
  --num-shard 1 \
  --quantize awq \
  --max-input-tokens 3000 \
  --max-total-tokens 4096 \
  --cuda-graphs 1,2,4 \
  --port 80

systemctl reset-failed tgi-tgi-awq.service 2>/dev/null || true
systemctl start tgi-tgi-awq.service
