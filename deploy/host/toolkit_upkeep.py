"""Keeping the NVIDIA Container Toolkit set-up right after the first deploy (issue 12):

* a blank ``/etc/docker/daemon.json`` made ``{}`` before ``nvidia-ctk runtime configure``
  (Docker 23+ accepts a 0-byte or whitespace-only file - moby PR #42393 -, 20.10 refuses to
  start with it - moby issue #41268 -; nvidia-ctk fails on it with "unable to load config for
  runtime docker: EOF": pkg/config/engine/docker/option.go);
* the apt lists refreshed when the pinned ``nvidia_toolkit_version`` is not in them
  (:class:`ToolkitCandidates`, ``apt-cache madison``);
* the signing keyring replaced when the published key's fingerprint differs from the keyring's
  (:class:`ToolkitKeyFingerprints`; NVIDIA rotates keys: libnvidia-container issue 109).

Facts decide (pure ``parse_*`` functions, tested on recorded output), operations act.
"""

from __future__ import annotations

import shlex
from typing import Any

from pyinfra.api import FactBase

MARK = "@@tgi-infra:"


def blank_daemon_json_command(path: str) -> str:
    """sh: when ``path`` exists and holds only whitespace, write ``{}`` into it (the same inode:
    owner and mode kept; nothing is lost, there was nothing). Exits 0 otherwise."""
    q = shlex.quote(path)
    return f"if [ -f {q} ] && ! grep -q '[^[:space:]]' {q}; then printf '{{}}\\n' > {q}; fi"


# --------------------------------------------------------------------------------------------
# the pinned version in the apt lists (defect 4)

TOOLKIT_PACKAGE = "nvidia-container-toolkit"


def parse_madison(lines: list[str]) -> list[str]:
    """``apt-cache madison`` lines -> versions found in the apt lists (``| Packages`` rows)."""
    versions: list[str] = []
    for line in lines:
        parts = [p.strip() for p in line.split("|")]
        if len(parts) == 3 and parts[2].endswith("Packages") and parts[1] not in versions:
            versions.append(parts[1])
    return versions


class ToolkitCandidates(FactBase):
    """Versions of ``nvidia-container-toolkit`` in this host's apt lists (``apt-cache
    madison``); [] when apt knows none (lists never fetched, source absent)."""

    def command(self) -> str:
        return (
            "if command -v apt-cache >/dev/null 2>&1; then "
            f"apt-cache madison {TOOLKIT_PACKAGE} 2>/dev/null; fi; true"
        )

    @staticmethod
    def default() -> list[str]:
        return []

    def process(self, output: list[str]) -> list[str]:
        return parse_madison(output)


def pin_missing_from_lists(pin: str | None, candidates: list[str]) -> bool:
    """True when a pinned version must be looked for by refreshing the lists."""
    return bool(pin) and pin not in candidates


# --------------------------------------------------------------------------------------------
# the signing key: published vs. installed (defect 6)


def parse_key_fingerprints(lines: list[str]) -> dict[str, Any]:
    """Output of :class:`ToolkitKeyFingerprints` -> ``{"keyring": [fpr...] | None,
    "published": [fpr...] | None}`` (None: absent, or could not be read/fetched).

    Fingerprints are the primary keys' (``fpr`` right after a ``pub`` record of
    ``gpg --with-colons``), sorted.
    """
    result: dict[str, Any] = {"keyring": None, "published": None}
    current: str | None = None
    after_pub = False
    for line in lines:
        if line.startswith(MARK):
            name = line[len(MARK) :].strip()
            current = name if name in result else None
            if current:
                result[current] = []
            after_pub = False
            continue
        if current is None:
            continue
        kind, fields = line.split(":", 1)[0], line.split(":")
        if kind == "fpr" and after_pub and len(fields) > 9 and fields[9]:
            result[current].append(fields[9].upper())
        if kind in ("pub", "sub", "fpr"):
            after_pub = kind == "pub"
    for key in result:
        if result[key] is not None:
            result[key] = sorted(set(result[key])) or None
    return result


class ToolkitKeyFingerprints(FactBase):
    """Fingerprints of the keys in the installed keyring and of the key published at the
    ``nvidia_toolkit_gpgkey_url`` (fetched now, on the host, as apt would see it).

    A section is left out (None) when the keyring is absent, the URL cannot be fetched, or
    gpg/curl are not installed yet (a fresh host: the keyring is created then anyway).
    """

    def command(self, keyring: str, url: str) -> str:
        k, u = shlex.quote(keyring), shlex.quote(url)
        show = 'gpg --batch --homedir "$g" --with-colons --show-keys'
        return (
            "if command -v gpg >/dev/null 2>&1; then g=$(mktemp -d); "
            f"if [ -s {k} ]; then echo '{MARK}keyring'; {show} {k} 2>/dev/null; fi; "
            "if command -v curl >/dev/null 2>&1; then "
            f'if curl -fsSL --max-time 60 {u} -o "$g/published"; then '
            f"echo '{MARK}published'; {show} \"$g/published\" 2>/dev/null; fi; fi; "
            'rm -rf "$g"; fi; true'
        )

    @staticmethod
    def default() -> dict[str, Any]:
        return {"keyring": None, "published": None}

    def process(self, output: list[str]) -> dict[str, Any]:
        return parse_key_fingerprints(output)


def key_rotated(fingerprints: dict[str, Any]) -> bool:
    """The keyring exists and the published key is a different one."""
    have, published = fingerprints.get("keyring"), fingerprints.get("published")
    return bool(have) and bool(published) and have != published


def replace_keyring_command(keyring: str, url: str) -> str:
    """sh: fetch the published key, dearmor it to a temp file next to the keyring, then move it
    into place (apt never sees a half-written keyring)."""
    k, u = shlex.quote(keyring), shlex.quote(url)
    tmp = shlex.quote(keyring + ".tgi-new")
    return (
        f"curl -fsSL --max-time 60 {u} | gpg --batch --yes --dearmor -o {tmp} && "
        f"chmod 644 {tmp} && mv -f {tmp} {k}"
    )
