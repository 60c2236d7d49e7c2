#!/usr/bin/env bash
# Managed by tgi-infra (deploy/render.py): edits are overwritten by the next deploy.
# Stops container tgi-cpu (SIGTERM, then SIGKILL after 120 s).
set -euo pipefail

exec docker stop -t 120 tgi-cpu
