"""Keeping the NVIDIA Container Toolkit set-up right after the first deploy (issue 12):

* a blank ``/etc/docker/daemon.json`` made ``{}`` before ``nvidia-ctk runtime configure``
  (Docker accepts a 0-byte or whitespace-only file; nvidia-ctk fails on it with
  "unable to load config for runtime docker: EOF": pkg/config/engine/docker/option.go);
* the apt lists refreshed when the pinned ``nvidia_toolkit_version`` is not in them
  (:class:`ToolkitCandidates`, ``apt-cache madison``);
* the signing keyring replaced when the published key's fingerprint differs from the keyring's
  (:class:`ToolkitKeyFingerprints`; NVIDIA rotates keys: libnvidia-container issue 109).

Facts decide (pure ``parse_*`` functions, tested on recorded output), operations act.
"""

from __future__ import annotations

import shlex

MARK = "@@tgi-infra:"


def blank_daemon_json_command(path: str) -> str:
    """sh: when ``path`` exists and holds only whitespace, write ``{}`` into it (the same inode:
    owner and mode kept; nothing is lost, there was nothing). Exits 0 otherwise."""
    q = shlex.quote(path)
    return f"if [ -f {q} ] && ! grep -q '[^[:space:]]' {q}; then printf '{{}}\\n' > {q}; fi"
