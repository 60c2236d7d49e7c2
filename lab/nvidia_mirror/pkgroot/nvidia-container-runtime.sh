#!/bin/sh
# STAND-IN for NVIDIA's `nvidia-container-runtime` @VERSION@ (nvidia-container-toolkit-base).
# The real program is an OCI runtime shim: on `create` it injects the NVIDIA prestart hook /
# CDI devices into the OCI spec, then forwards every call to runc. There are no GPUs in the
# TGI lab, so this stand-in forwards every call to runc unchanged, which keeps
# `docker run --runtime=nvidia ...` working. It is NOT NVIDIA software.
# Contract: lab/nvidia_mirror/CONTRACT.md
set -e

find_runc() {
    for candidate in /usr/bin/runc /usr/sbin/runc /usr/local/bin/runc /usr/local/sbin/runc; do
        if [ -x "$candidate" ]; then
            echo "$candidate"
            return 0
        fi
    done
    command -v runc 2>/dev/null
}

RUNC="$(find_runc || true)"
if [ -z "$RUNC" ]; then
    echo "nvidia-container-runtime (STAND-IN): runc not found in /usr/bin, /usr/sbin or PATH" >&2
    exit 1
fi

if [ "$1" = "--version" ] || [ "$1" = "-v" ]; then
    echo "NVIDIA Container Runtime version @VERSION@"
    echo "commit: @COMMIT@"
    echo "spec: 1.2.0"
    echo ""
    exec "$RUNC" --version
fi

exec "$RUNC" "$@"
