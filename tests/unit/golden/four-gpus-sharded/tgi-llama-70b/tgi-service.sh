#!/usr/bin/env bash
# Managed by tgi-infra (deploy/render.py): edits are overwritten by the next deploy.
# Starts the existing container tgi-llama-70b (create it with tgi-service-creation.sh).
set -euo pipefail

exec systemctl start tgi-tgi-llama-70b.service
