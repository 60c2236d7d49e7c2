#!/usr/bin/env bash
# The whole test suite: lint (ruff, shellcheck), unit tests, and the lab tests (real Docker,
# systemd, sshd, apt and pyinfra against container hosts). `.ci/run` runs exactly this.
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/.."
if [[ ${EUID} -ne 0 ]]; then  # apt-get and the Docker Engine need root
  exec sudo -E bash "$0" "$@"
fi
bash scripts/setup.sh

# The suite starts hundreds of Python processes (pytest workers, pyinfra and CLI runs): with
# bytecode caching off (PYTHONDONTWRITEBYTECODE, set in some CI images) each one compiles the
# package again and pytest rewrites every test module again (about 2.6 CPU-s per pytest process
# here). The suite caches bytecode under build/pycache instead, whatever the caller's setting.
# The tests that run the CLI with a clean environment (as a user's shell has it) do not inherit
# this: Python caches their bytecode beside the sources, in the __pycache__ folders git ignores.
unset PYTHONDONTWRITEBYTECODE
export PYTHONPYCACHEPREFIX="${PWD}/build/pycache"

echo "[test] ruff"
.venv/bin/ruff check .
.venv/bin/ruff format --check .
echo "[test] shellcheck"
shellcheck scripts/*.sh .ci/run

# The lab tests run on TGI_LAB_WORKERS labs side by side (default 4; lab/instances.py), one per
# pytest-xdist worker. They come up in the background now, each with the lab tests' first
# deploy (image builds, infra, hosts, apt installs: mostly waiting on apt and Docker), while
# the unit tests use the CPU; the lab tests then reuse them (TGI_LAB_REUSE=1).
lab_workers=${TGI_LAB_WORKERS:-4}
lab_log=lab/.up-workers.log
echo "[test] bringing up ${lab_workers} labs in the background (log: ${lab_log})"
.venv/bin/python -m lab up --fresh --deploy --workers "${lab_workers}" >"${lab_log}" 2>&1 &
lab_up=$!

# pytest in two runs with the caller's arguments ("$@"; .ci/run passes -v --durations=15): the
# unit tests in parallel (pytest-xdist; TGI_TEST_WORKERS, default 4: they mostly wait on
# subprocesses, so more workers than the CI's 2 cores pay off), then the lab tests (each test
# file whole on one worker's lab: --dist loadfile; lab/scheduling.py), with the floor run below
# beside both. The release checks (-m release: wheel build and install, golden-file update
# mode) run here; leave them out while developing with -m "not release". A run that collects no
# tests is a failure.
rc=0
run_pytest() {
  local what=$1 code
  shift
  echo "[test] pytest ${what}"
  set +e
  "${PYTHON:-.venv/bin/python}" -m pytest "$@"
  code=$?
  set -e
  if ((code == 5)); then
    echo "[test] pytest ${what} collected no tests: that is a failure" >&2
    code=1
  fi
  if ((code != 0 && rc == 0)); then
    rc=${code}
  fi
}
# the unit tests again at the runtime dependencies' declared floors (.venv-floor, built by
# setup.sh with uv's lowest-direct resolution): a floor in pyproject.toml that does not work
# fails here. The langchain extra's integrations need newer openai and huggingface_hub than the
# package's floors: those tests run in the unit run only, as do the release checks (they build
# and install a wheel at the newest dependencies, not at the floors) and the tests of the lab's
# and bench's own tools (-m tooling: the package is not what they test). A floor can make a test
# hang (gevent 24.10 did): --timeout fails that test instead of stalling CI.
# This run starts once the labs are up and goes beside the rest of the unit run and the lab run,
# at a lower CPU priority (nice 10): it takes the CPU they leave (the unit run ends on a few
# long tests, the labs wait on their hosts part of the time). Started earlier, beside the labs
# coming up, it was starved (load 30) until its subprocess timeouts failed. Its output follows
# the lab's.
floors() {
  echo "[test] floors: the runtime dependencies installed at exactly their declared floors"
  if .venv-floor/bin/python scripts/floors.py check; then
    PYTHON=.venv-floor/bin/python run_pytest "tests at the dependency floors (.venv-floor)" \
      tests/unit -p no:cacheprovider -q -m "not langchain and not release and not tooling" \
      --timeout 900 -n "${TGI_TEST_WORKERS:-4}"
  else
    echo "[test] a declared floor in pyproject.toml is not what installs (see above)" >&2
    ((rc != 0)) || rc=1
  fi
  return "${rc}"
}
floor_log=build/floors.log
mkdir -p build
echo "[test] floors: running once the labs are up (log: ${floor_log}, printed at the end)"
# shellcheck disable=SC2030,SC2031  # the subshell's own rc: the floor run's status alone
(
  while kill -0 "${lab_up}" 2>/dev/null; do sleep 2; done
  renice -n 10 -p "${BASHPID}" >/dev/null
  rc=0
  floors
) >"${floor_log}" 2>&1 &
floor_run=$!

run_pytest "tests (unit, parallel)" tests -p no:cacheprovider -n "${TGI_TEST_WORKERS:-4}" "$@"

if ! wait "${lab_up}"; then
  cat "${lab_log}" >&2
  echo "[test] bringing the labs up failed (above); the lab tests run without them" >&2
fi

TGI_LAB_REUSE=1 run_pytest "lab (${lab_workers} labs)" lab -p no:cacheprovider \
  -n "${lab_workers}" --dist loadfile --no-loadscope-reorder "$@"

floor_rc=0
wait "${floor_run}" || floor_rc=$?
cat "${floor_log}"
# shellcheck disable=SC2031  # this rc is the unit and lab runs' (the subshell's was its own)
if ((floor_rc != 0 && rc == 0)); then
  rc=${floor_rc}
fi
exit "${rc}"
