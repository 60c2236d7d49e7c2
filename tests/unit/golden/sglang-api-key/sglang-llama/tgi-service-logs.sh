#!/usr/bin/env bash
# Managed by tgi-infra (deploy/render.py): edits are overwritten by the next deploy.
# Follows the logs of container sglang-llama; the first argument is the number of lines to show.
set -euo pipefail

tail_lines="${1:-200}"
exec docker logs --tail "${tail_lines}" -f sglang-llama
