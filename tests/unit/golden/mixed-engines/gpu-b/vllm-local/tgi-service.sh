#!/usr/bin/env bash
# Managed by tgi-infra (deploy/render.py): edits are overwritten by the next deploy.
# Starts the existing container vllm-local (create it with tgi-service-creation.sh).
set -euo pipefail

exec systemctl start tgi-vllm-local.service
