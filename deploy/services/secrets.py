"""Secrets in a service's env file, decided apart from the config hash.

The config hash (render.py) covers everything but the secrets' values. Whether the env file
changes is decided here, from sha256 digests the host reports (never the values):

- every secret the service names is set on this machine: the env file is written as usual;
  when it differs from the host's, the service is restarted once to apply it (said so);
- a secret is not set on this machine (a deploy from a laptop without ``HF_TOKEN``): the host's
  value is kept. Nothing is written when the rest of the file is the same; otherwise the
  non-secret lines are replaced on the host and the kept secret lines copied over from the old
  file, on the host (the value never travels). The deploy says which services keep a token.
"""

from __future__ import annotations

import hashlib
import shlex
from collections.abc import Mapping
from dataclasses import dataclass, field

from pyinfra.api import FactBase
from tgi_infra.config import TGIService
from tgi_infra.services.render import env_file_content, secret_vars

# the secret lines of service.env (VLLM_API_KEY: vLLM's copy of API_KEY)
SECRET_NAMES = ("HF_TOKEN", "API_KEY", "VLLM_API_KEY")


class EnvFileDigests(FactBase):
    """sha256 of ``path``: whole, without the lines of ``without``, without any secret line;
    then the secret names in it. None when the file is missing. Values never leave the host."""

    def command(self, path: str, without: tuple[str, ...] = ()) -> str:
        p = shlex.quote(path)
        names = "|".join(SECRET_NAMES)
        drop = shlex.quote(f"^({'|'.join(without)})=") if without else "'^$^'"
        return (
            f"if [ -f {p} ]; then sha256sum < {p} | cut -d' ' -f1; "
            f"{{ grep -vE {drop} {p} || true; }} | sha256sum | cut -d' ' -f1; "
            f"{{ grep -vE '^({names})=' {p} || true; }} | sha256sum | cut -d' ' -f1; "
            f"grep -oE '^({names})=' {p} | tr -d '=' | tr '\\n' ' '; echo; fi"
        )

    @staticmethod
    def default():
        return None

    def process(self, output: list[str]):
        lines = [line.strip() for line in output]
        if len(lines) < 3:
            return None
        return {
            "full": lines[0],
            "without": lines[1],
            "public": lines[2],
            "secrets": lines[3].split() if len(lines) > 3 else [],
        }


def sha256(text: str) -> str:
    return hashlib.sha256(text.encode()).hexdigest()


@dataclass
class EnvPlan:
    content: str | None = None  # write this whole file (None: do not write it)
    merge: str | None = None  # or: these non-secret lines, keeping `keep` from the host's file
    keep: list[str] = field(default_factory=list)  # container env names kept from the host
    changed: bool = False  # the file changes: a running container must be restarted
    secrets_changed: bool = False  # ... because a secret's value changed
    notes: list[str] = field(default_factory=list)


def missing_targets(svc: TGIService, environ: Mapping[str, str]) -> list[str]:
    return [target for target, src in secret_vars(svc).items() if not environ.get(src)]


def plan_env(svc: TGIService, environ: Mapping[str, str], on_host: dict | None) -> EnvPlan:
    """What to do with ``service.env``; ``on_host`` is the ``EnvFileDigests`` fact taken with
    ``without=missing_targets(svc, environ)``."""
    content = env_file_content(svc, environ)
    missing = missing_targets(svc, environ)
    if on_host is None:
        return EnvPlan(content=content, changed=True)
    keep = [t for t in missing if t in on_host["secrets"]]
    if not keep:
        if sha256(content) == on_host["full"]:
            return EnvPlan()
        # only secrets differ when the non-secret lines are the same as the host's
        public_same = sha256(_without(content, list(SECRET_NAMES))) == on_host["public"]
        return EnvPlan(content=content, changed=True, secrets_changed=public_same)
    sources = ", ".join(secret_vars(svc)[t] for t in keep)
    notes = [
        f"service {svc.name} keeps the {', '.join(keep)} already on the host ({sources} is "
        "not set on this machine)"
    ]
    if sha256(content) == on_host["without"]:
        return EnvPlan(keep=keep, notes=notes)
    return EnvPlan(merge=content, keep=keep, changed=True, notes=notes)


def _without(content: str, targets: list[str]) -> str:
    lines = content.splitlines(keepends=True)
    return "".join(line for line in lines if not any(line.startswith(t + "=") for t in targets))


def merge_command(env_path: str, staged: str, keep: list[str]) -> str:
    """Append the kept secret lines of ``env_path`` to ``staged`` (0600) and move it in place."""
    pattern = shlex.quote(f"^({'|'.join(keep)})=")
    e, s = shlex.quote(env_path), shlex.quote(staged)
    return (
        f"umask 077; {{ grep -E {pattern} {e} || true; }} >> {s} && chmod 600 {s} && mv -f {s} {e}"
    )
