"""Host profiles: the shapes of host users really have, each run through the whole pipeline.

Each profile is one lab host of its own (``lab-<profile>-1``, started bare), on the lab's
infra (apt cache, registry, NVIDIA mirror stand-in). A run is what a user does:

1. the real ``pyinfra -y inventories/lab_profiles.py deploy/main.py`` (timed);
2. the smoke suite with the host checks (``python -m smoke --inventory ... --host-checks``);
3. a second deploy, which must change nothing.

``python -m lab profiles`` runs the CI subset, ``python -m lab profiles --all`` every profile,
``python -m lab profiles NAME...`` the named ones; ``pytest lab/test_profiles.py`` runs the
same through pytest (``TGI_LAB_PROFILES=all`` or ``=name,name`` selects; default: the CI set).

This module is pure data at import time (``inventories/lab_profiles.py`` imports it); the runner
imports Docker and the lab lazily.
"""

from __future__ import annotations

import json
import os
import re
import subprocess
import sys
import time
from dataclasses import asdict, dataclass, field
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
INVENTORY = "inventories/lab_profiles.py"


@dataclass(frozen=True)
class Profile:
    name: str
    kind: str  # lab host kind (lab/images.py, lab/host_kinds.py)
    release: str  # Debian release (lab/images.py RELEASES)
    ci: bool  # run by .ci/run (scripts/test.sh)
    what: str
    host_data: dict = field(default_factory=dict)

    @property
    def host(self) -> str:
        return f"lab-{self.name}-1"


PROFILES: list[Profile] = [
    Profile(
        "sudo",
        "linux-sudo",
        "bookworm",
        True,
        "SSH as the non-root user `deploy` with passwordless sudo (`_sudo: True`); sshd refuses "
        "root logins",
        {"ssh_user": "deploy", "_sudo": True},
    ),
    Profile("debian11", "linux", "bullseye", False, "Debian 11 bullseye, systemd, SSH as root"),
    Profile("debian12", "linux", "bookworm", False, "Debian 12 bookworm, systemd, SSH as root"),
    Profile("debian13", "linux", "trixie", False, "Debian 13 trixie, systemd, SSH as root"),
    Profile(
        "wsl", "wsl", "bookworm", False, "WSL2 distro without systemd (WSL's default before 0.67)"
    ),
    Profile(
        "wsl-systemd",
        "wsl-systemd",
        "bookworm",
        True,
        "WSL2 distro with `[boot] systemd=true` and Docker Engine in the distro",
    ),
    Profile(
        "wsl-desktop",
        "wsl-desktop",
        "bookworm",
        True,
        "WSL2 distro with systemd and Docker Desktop's WSL integration (engine outside the "
        "distro, no docker.service; lab/docker_desktop/CONTRACT.md)",
    ),
]
BY_NAME = {p.name: p for p in PROFILES}
BY_HOST = {p.host: p for p in PROFILES}

# One service per profile host, behind an API key: the ready wait reads the 0600 service.env
SERVICE = {
    "name": "tgi-service",
    "model_id": "HuggingFaceTB/SmolLM2-135M-Instruct",
    "port": 8080,
    "bind": "0.0.0.0",
    "api_key_env": "TGI_LAB_API_KEY",
}


def select(spec: str | None) -> list[Profile]:
    """``ci`` (default), ``all`` or comma-separated names."""
    spec = (spec or "ci").strip()
    if spec == "ci":
        return [p for p in PROFILES if p.ci]
    if spec == "all":
        return list(PROFILES)
    names = [n.strip() for n in spec.split(",") if n.strip()]
    unknown = [n for n in names if n not in BY_NAME]
    if unknown:
        raise ValueError(f"unknown profile(s) {unknown}; allowed: ci, all, {', '.join(BY_NAME)}")
    return [BY_NAME[n] for n in names]


def state_file(profile: Profile) -> str:
    return f"profile-{profile.name}.json"


@dataclass
class ProfileResult:
    profile: str
    host: str
    deploy_rc: int
    deploy_s: float
    first_changes: int | None
    second_rc: int | None = None
    second_s: float | None = None
    second_changes: int | None = None
    smoke_rc: int | None = None
    smoke: dict = field(default_factory=dict)  # passed / failed / skipped (HTTP checks)
    host_checks: dict = field(default_factory=dict)  # passed / failed / skipped
    outputs: dict = field(default_factory=dict)  # tails, for failures

    @property
    def ok(self) -> bool:
        return (
            self.deploy_rc == 0
            and self.second_rc == 0
            and self.second_changes == 0
            and self.smoke_rc == 0
            and not self.smoke.get("failed")
            and not self.host_checks.get("failed")
        )

    def row(self) -> str:
        s, h = self.smoke, self.host_checks
        return (
            f"| {self.profile} | {'pass' if self.ok else 'FAIL'} | {self.deploy_s:.1f} s "
            f"({self.first_changes} changes) | {self.second_changes} | "
            f"{s.get('passed', '-')}/{s.get('failed', '-')}/{s.get('skipped', '-')} | "
            f"{h.get('passed', '-')}/{h.get('failed', '-')}/{h.get('skipped', '-')} |"
        )


TABLE_HEAD = (
    "| profile | result | first deploy | changes on 2nd deploy | smoke passed/failed/skipped "
    "| host checks passed/failed/skipped |\n|---|---|---|---|---|---|"
)


def _totals(output: str) -> int | None:
    m = re.search(r"Grand total\s+(\S+)\s+(\S+)\s+(\S+)\s+(\S+)", output)
    if not m:
        return None
    return 0 if m.group(2) == "-" else int(m.group(2))


def profile_env(profile: Profile, sdir: Path, base: dict | None = None) -> dict[str, str]:
    env = dict(os.environ if base is None else base)
    env["TGI_LAB_STATE_DIR"] = str(sdir)
    env["TGI_LAB_PROFILE_STATE"] = str(sdir / state_file(profile))
    env.setdefault("TGI_LAB_API_KEY", "lab-profile-key-5f0c2e")
    return env


def _deploy(env: dict, timeout: int) -> tuple[int, float, str]:
    pyinfra = Path(sys.executable).with_name("pyinfra")
    start = time.monotonic()
    proc = subprocess.run(
        [str(pyinfra), "-y", INVENTORY, "deploy/main.py"],
        cwd=REPO,
        env=env,
        capture_output=True,
        text=True,
        timeout=timeout,
    )
    return proc.returncode, time.monotonic() - start, proc.stdout + proc.stderr


def _counts(statuses: list[str]) -> dict[str, int]:
    return {k: statuses.count(k) for k in ("passed", "failed", "skipped")}


def run_profile(profile: Profile, env: dict | None = None, keep: bool | None = None):
    """Bring the profile's host up bare, deploy, smoke + host checks, deploy again."""
    import docker

    from lab import lab

    spec = lab.HostSpec(profile.host, profile.kind, release=profile.release)
    state = lab.up(hosts=[spec], fresh=True, state_file=state_file(profile))
    sdir = Path(state.state_dir)
    env = profile_env(profile, sdir, env)
    try:
        rc, secs, out = _deploy(env, timeout=1200)
        result = ProfileResult(profile.name, profile.host, rc, secs, _totals(out))
        result.outputs["deploy"] = out[-6000:]
        if rc != 0:
            return result
        report = sdir / f"profile-{profile.name}-smoke.json"
        smoke = subprocess.run(
            [sys.executable, "-m", "smoke", "--inventory", INVENTORY, "--host-checks"]
            + ["--min-free-gb", "0.1", "--json", str(report)],
            cwd=REPO,
            env=env,
            capture_output=True,
            text=True,
            timeout=600,
        )
        result.smoke_rc = smoke.returncode
        result.outputs["smoke"] = (smoke.stdout + smoke.stderr)[-6000:]
        if report.exists():
            data = json.loads(report.read_text())
            result.smoke = {k: data["summary"][k] for k in ("passed", "failed", "skipped")}
            result.host_checks = _counts(
                [
                    c["status"]
                    for h in data.get("hosts", [])
                    for layer in h["layers"]
                    for c in layer.get("checks", [])
                ]
            )
        rc2, secs2, out2 = _deploy(env, timeout=600)
        result.second_rc, result.second_s, result.second_changes = rc2, secs2, _totals(out2)
        result.outputs["second"] = out2[-6000:]
        return result
    finally:
        keep = os.environ.get("TGI_LAB_KEEP") == "1" if keep is None else keep
        if not keep:
            lab.remove_host(docker.from_env(timeout=600), profile.host)


def main(argv: list[str]) -> int:
    import argparse

    parser = argparse.ArgumentParser(prog="python -m lab profiles", description=__doc__)
    parser.add_argument("names", nargs="*", help="profiles to run (default: the CI set)")
    parser.add_argument("--all", action="store_true", help="every profile")
    parser.add_argument("--list", action="store_true", help="list the profiles and exit")
    parser.add_argument("--json", metavar="PATH", help="write the results as JSON")
    args = parser.parse_args(argv)
    if args.list:
        for p in PROFILES:
            print(f"{p.name:12} {'ci ' if p.ci else '   '} {p.what}")
        return 0
    chosen = select("all" if args.all else ",".join(args.names) or "ci")
    results = []
    for p in chosen:
        print(f"[profiles] {p.name}: {p.what}", flush=True)
        r = run_profile(p)
        results.append(r)
        print(TABLE_HEAD.splitlines()[0] + "\n" + r.row(), flush=True)
        if not r.ok:
            for what, tail in r.outputs.items():
                print(f"--- {what} (tail) ---\n{tail[-3000:]}", flush=True)
    print("\n" + TABLE_HEAD)
    for r in results:
        print(r.row())
    if args.json:
        rows = [{**asdict(r), "ok": r.ok, "outputs": None} for r in results]
        Path(args.json).write_text(json.dumps(rows, indent=2) + "\n")
    return 0 if all(r.ok for r in results) else 1
