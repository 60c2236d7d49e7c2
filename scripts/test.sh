#!/usr/bin/env bash
# The whole test suite: lint (ruff, shellcheck), unit tests, and the lab tests (real Docker,
# systemd, sshd, apt and pyinfra against container hosts). `.ci/run` runs exactly this.
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/.."
if [[ ${EUID} -ne 0 ]]; then  # apt-get and the Docker Engine need root
  exec sudo -E bash "$0" "$@"
fi
bash scripts/setup.sh

echo "[test] ruff"
.venv/bin/ruff check .
.venv/bin/ruff format --check .
echo "[test] shellcheck"
shellcheck scripts/*.sh .ci/run

echo "[test] pytest"
set +e
.venv/bin/python -m pytest tests lab -p no:cacheprovider "$@"
rc=$?
set -e
if ((rc == 5)); then
  echo "[test] pytest collected no tests: that is a failure" >&2
  exit 1
fi
exit "${rc}"
