#!/usr/bin/env bash
# Set up a fresh Debian/Ubuntu machine (as root) for the lab and the tests: system packages,
# a running Docker Engine, and the project's virtualenv (.venv). Safe to run again: it only
# does what is missing.
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/.."

if [[ ${EUID} -ne 0 ]]; then
  echo "setup needs root (apt-get, dockerd): run it with sudo" >&2
  exit 2
fi

packages=(docker.io debootstrap shellcheck openssh-client gnupg gpgv dpkg-dev curl
          ca-certificates python3 python3-venv systemd iproute2)
missing=()
for p in "${packages[@]}"; do
  dpkg-query -W -f='${Status}' "${p}" 2>/dev/null | grep -q "ok installed" || missing+=("${p}")
done
if ((${#missing[@]})); then
  echo "[setup] apt-get install ${missing[*]}"
  apt-get update -qq
  DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends \
    "${missing[@]}" >/dev/null
fi

if ! docker info >/dev/null 2>&1; then
  echo "[setup] starting dockerd"
  if [[ -d /run/systemd/system ]]; then
    systemctl start docker
  else
    nohup dockerd >/var/log/dockerd.log 2>&1 &
  fi
  for _ in $(seq 60); do
    docker info >/dev/null 2>&1 && break
    sleep 1
  done
  docker info >/dev/null 2>&1 || { echo "dockerd did not start; see /var/log/dockerd.log" >&2; exit 1; }
fi

stamp=.venv/.installed-$(sha256sum pyproject.toml | cut -c1-16)
if [[ ! -f ${stamp} ]]; then
  echo "[setup] building .venv from pyproject.toml"
  [[ -x .venv/bin/python ]] || python3 -m venv .venv
  .venv/bin/python -m pip install -q --upgrade pip >/dev/null
  .venv/bin/python -m pip install -q -e '.[dev]'
  rm -f .venv/.installed-*
  touch "${stamp}"
fi
# .venv-floor: the package's runtime dependencies at their declared floors (uv's lowest-direct
# resolution, from PyPI) plus the dev extra's test tools held to those versions; scripts/test.sh
# runs the unit suite with it, so a floor in pyproject.toml that no longer works fails there.
floor_stamp=.venv-floor/.installed-$(sha256sum pyproject.toml scripts/floors.py | sha256sum | cut -c1-16)
if [[ ! -f ${floor_stamp} ]]; then
  echo "[setup] building .venv-floor: runtime dependencies at their declared floors"
  rm -rf .venv-floor
  export UV_PYTHON_DOWNLOADS=never  # the interpreter of .venv, never a downloaded one
  .venv/bin/uv venv -q --seed .venv-floor --python .venv/bin/python
  .venv/bin/uv pip install -q --python .venv-floor/bin/python --resolution lowest-direct -e .
  .venv/bin/uv pip freeze -q --python .venv-floor/bin/python --exclude-editable \
    >.venv-floor/floor-pins.txt
  mapfile -t tools < <(.venv-floor/bin/python scripts/floors.py test-tools)
  .venv/bin/uv pip install -q --python .venv-floor/bin/python \
    --constraint .venv-floor/floor-pins.txt "${tools[@]}"
  touch "${floor_stamp}"
fi
echo "[setup] ready: $(docker version --format 'Docker {{.Server.Version}}'), $(.venv/bin/pyinfra --version)"
