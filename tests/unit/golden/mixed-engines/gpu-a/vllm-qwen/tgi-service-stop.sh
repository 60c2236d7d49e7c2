#!/usr/bin/env bash
# Managed by tgi-infra (deploy/render.py): edits are overwritten by the next deploy.
# Stops container vllm-qwen (SIGTERM, then SIGKILL after 30 s).
set -euo pipefail

exec systemctl stop tgi-vllm-qwen.service
