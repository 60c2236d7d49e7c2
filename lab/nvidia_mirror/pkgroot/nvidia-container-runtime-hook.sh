#!/bin/sh
# STAND-IN for NVIDIA's `nvidia-container-runtime-hook` @VERSION@ (nvidia-container-toolkit).
# The real program is an OCI prestart hook that calls `nvidia-container-cli configure` to
# mount the driver and GPUs into a container that asked for them. The TGI lab has no GPUs:
# this stand-in reads the OCI state from stdin and does nothing. It is NOT NVIDIA software.
# Contract: lab/nvidia_mirror/CONTRACT.md

case "$1" in
    --version|-version|-v)
        echo "NVIDIA Container Runtime Hook version @VERSION@"
        echo "commit: @COMMIT@"
        exit 0
        ;;
    prestart|poststart|poststop|"")
        cat >/dev/null 2>&1 || true
        exit 0
        ;;
    *)
        echo "nvidia-container-runtime-hook (STAND-IN): unknown command: $1" >&2
        exit 2
        ;;
esac
