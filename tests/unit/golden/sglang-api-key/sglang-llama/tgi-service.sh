#!/usr/bin/env bash
# Managed by tgi-infra (deploy/render.py): edits are overwritten by the next deploy.
# Starts the existing container sglang-llama (create it with tgi-service-creation.sh).
set -euo pipefail

exec docker start sglang-llama
