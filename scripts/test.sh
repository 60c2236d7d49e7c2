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

echo "[test] unit tests at the runtime dependencies' declared floors (.venv-floor)"
# the langchain extra's integrations need newer openai and huggingface_hub than the package's
# floors: the tests that need them run in the pytest step below, not here. A floor can make a
# test hang (gevent 24.10 did): --timeout fails that test instead of stalling CI
set +e
floor_start=${SECONDS}
.venv-floor/bin/python scripts/floors.py check &&
  .venv-floor/bin/python -m pytest tests/unit -p no:cacheprovider -q -m "not langchain" \
    --timeout 900
floor_rc=$?
set -e
echo "[test] floor run: exit ${floor_rc} in $((SECONDS - floor_start)) s"

echo "[test] pytest"
set +e
.venv/bin/python -m pytest tests lab -p no:cacheprovider "$@"
rc=$?
set -e
if ((rc == 5)); then
  echo "[test] pytest collected no tests: that is a failure" >&2
  exit 1
fi
if ((floor_rc != 0)); then
  echo "[test] the floor run failed (exit ${floor_rc}): a declared floor in pyproject.toml" \
    "does not work; raise it (see the floor run's output above)" >&2
  ((rc != 0)) || rc=1
fi
exit "${rc}"
