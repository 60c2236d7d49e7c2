#!/usr/bin/env bash
# The main job on the embedded default: bring up the container lab, deploy it with the real
# `pyinfra inventories/lab.py deploy/main.py` over SSH, and run the smoke suite against every
# deployed service. Ends with the smoke results table.
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/.."
if [[ ${EUID} -ne 0 ]]; then  # apt-get and the Docker Engine need root
  exec sudo -E bash "$0" "$@"
fi
bash scripts/setup.sh
exec .venv/bin/python -m lab demo "$@"
