#!/bin/sh
# STAND-IN for NVIDIA's `nvidia-container-cli` @VERSION@ (libnvidia-container-tools).
# The real program (C, libnvidia-container) talks to the NVIDIA driver through NVML. The TGI
# lab has no driver, so every command that needs the driver fails exactly like the real tool
# on a host whose driver is not loaded. It is NOT NVIDIA software.
# Contract: lab/nvidia_mirror/CONTRACT.md

while [ $# -gt 0 ]; do
    case "$1" in
        --version|-V)
            echo "cli-version: @VERSION@"
            echo "lib-version: @VERSION@"
            echo "build date: STAND-IN (not an NVIDIA build)"
            echo "build revision: @COMMIT@"
            echo "build compiler: none (shell script stand-in)"
            echo "build platform: $(uname -m)"
            echo "build flags: STAND-IN"
            exit 0
            ;;
        --help|-h|-\?)
            echo "Usage: nvidia-container-cli [OPTION...] COMMAND [ARG...]"
            echo "STAND-IN: commands info, list, configure fail: no NVIDIA driver in the lab"
            exit 0
            ;;
        -*)
            shift
            ;;
        info|list|configure)
            echo "nvidia-container-cli: initialization error: nvml error: driver not loaded" >&2
            exit 1
            ;;
        *)
            echo "nvidia-container-cli: unrecognized command \`$1'" >&2
            echo "Try \`nvidia-container-cli --help' or \`nvidia-container-cli --usage' for more information." >&2
            exit 1
            ;;
    esac
done
echo "nvidia-container-cli: missing command" >&2
exit 1
