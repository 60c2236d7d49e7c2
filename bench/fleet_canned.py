"""Canned answers for the simulated fleet, translated from the recorded host to each fleet host.

What a host answers depends on its name in two places only: the sha1 (and sha256/md5) of the
rendered files, whose header names the host, and the ``tgi-infra.config-hash`` label of the
container (a hash of those files). ``translate`` swaps the recorded host's values for the fleet
host's, computed with the same ``deploy/services/render.py``; every other answer is kept as
recorded.
Done before the timed run (``write_fleet``), so the timing holds pyinfra's and our deploy's work
only, not the bench's.
"""

from __future__ import annotations

import hashlib
import json
import os
from pathlib import Path

from tgi_infra.config import load_host_config
from tgi_infra.services.render import env_file_content, render_service, secrets_digest


def _digests(content: str) -> list[str]:
    data = content.encode()
    return [
        hashlib.sha1(data).hexdigest(),
        hashlib.sha256(data).hexdigest(),
        hashlib.md5(data).hexdigest(),
    ]


def host_values(host_name: str, data: dict) -> list[str]:
    """Host-dependent values in a fixed order: per file its digests, then each config hash."""
    cfg = load_host_config(host_name, data)
    values: list[str] = []
    for svc in cfg.present_services():
        digest = secrets_digest(svc, os.environ)
        rendered = render_service(host_name, cfg, svc, "systemd", secrets_digest=digest)
        for rel in sorted(rendered.files):
            values += _digests(rendered.files[rel][0])
        values += _digests(env_file_content(svc, os.environ))
        values.append(rendered.config_hash)
    return values


def translate(canned: dict[str, dict], mapping: dict[str, str]) -> dict[str, dict]:
    """The canned answers with every old value replaced, longest command first (pyinfra's fake
    connector matches by substring, first match wins: an exact command then matches itself)."""
    out = {}
    for cmd in sorted(canned, key=len, reverse=True):
        resp = dict(canned[cmd])
        for key in ("stdout", "stderr"):
            lines = []
            for line in resp.get(key) or []:
                for old, new in mapping.items():
                    if old in line:
                        line = line.replace(old, new)
                lines.append(line)
            resp[key] = lines
        out[cmd] = resp
    return out


def write_fleet(canned: dict, recorded_name: str, data: dict, count: int, out: Path) -> Path:
    old = host_values(recorded_name, data)
    fleet = {}
    for i in range(1, count + 1):
        name = f"@fake/fleet-{i:03d}"
        mapping = {o: n for o, n in zip(old, host_values(name, data), strict=True) if o != n}
        fleet[name] = translate(canned, mapping)
    out.write_text(json.dumps({"data": data, "hosts": fleet}))
    return out
