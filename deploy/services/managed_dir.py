"""What the deploy made in a service directory, and removing only that.

At creation the deploy writes ``<tgi_root>/<name>/.tgi-infra-managed`` (first line ``tgi-infra
service <name>``) before any other file. ``present: false`` then removes only the file names the
deploy writes (``MANAGED_FILES``, the marker, staging directories of
``deploy/services/atomic.py``), and
the directory itself only when nothing else is left in it. A directory without the marker (not
made by tgi-infra, or by a version before markers) is left alone, and a directory holding other
files is kept; both are said in the output. Never ``rm -rf`` of a directory.
"""

from __future__ import annotations

import posixpath
import shlex

from pyinfra import host, logger
from pyinfra.api import FactBase, StringCommand, operation
from tgi_infra.services.atomic import STAGE_SUFFIX
from tgi_infra.services.render import (
    CREATE_SCRIPT,
    ENV_EXAMPLE,
    ENV_FILE,
    LOGS_SCRIPT,
    START_SCRIPT,
    STOP_SCRIPT,
)

MARKER = ".tgi-infra-managed"
MANAGED_FILES = (CREATE_SCRIPT, START_SCRIPT, STOP_SCRIPT, LOGS_SCRIPT, ENV_FILE, ENV_EXAMPLE)
# written for a while only: the env file kept for a rollback (swap.py, and its staged copy),
# the non-secret lines staged for a merge (env_secrets.py); removed with the rest
TRANSIENT_FILES = (f".{ENV_FILE}.previous", f".{ENV_FILE}.previous.new", f".{ENV_FILE}.new")
# the rendered files kept with it during a swap (their systemd unit's copy too: .tgi-NAME.service
# .previous), and their staged copies
KEPT_SUFFIXES = (".previous", ".previous.new")
_MARK = "@@tgi-infra-managed:"


def marker_content(service: str) -> str:
    return (
        f"tgi-infra service {service}\n"
        "This directory was created by tgi-infra. `present: false` removes only these files:\n"
        + "".join(f"{n}\n" for n in MANAGED_FILES)
    )


def is_managed_name(entry: str) -> bool:
    """A name the deploy writes into a service directory."""
    if entry in MANAGED_FILES or entry in TRANSIENT_FILES or entry == MARKER:
        return True
    for suffix in KEPT_SUFFIXES:
        kept = entry[1 : -len(suffix)] if entry.startswith(".") and entry.endswith(suffix) else ""
        if kept in MANAGED_FILES or (kept.startswith("tgi-") and kept.endswith(".service")):
            return True
    return is_stage_name(entry)


def is_stage_name(entry: str) -> bool:
    """A staging directory of ``deploy/services/atomic.py`` for one of the managed files."""
    if not (entry.startswith(".") and entry.endswith(STAGE_SUFFIX)):
        return False
    return entry[1 : -len(STAGE_SUFFIX)] in (*MANAGED_FILES, MARKER)


def parse_managed_dir(lines: list[str]) -> dict | None:
    section = None
    out: dict = {"marker": None, "entries": []}
    seen = False
    for line in lines:
        if line.startswith(_MARK):
            section = line[len(_MARK) :].strip()
            seen = seen or section == "exists"
            continue
        if section == "marker" and out["marker"] is None:
            out["marker"] = line.strip()
        elif section == "entries" and line:
            out["entries"].append(line)
    return out if seen else None


class ManagedDir(FactBase):
    """``None`` when ``path`` is not a directory, else ``{"marker": <first line of the marker or
    None>, "entries": [names in it]}``."""

    def command(self, path: str) -> str:
        d = shlex.quote(path)
        m = shlex.quote(posixpath.join(path, MARKER))
        return (
            f"if [ -d {d} ] && [ ! -L {d} ]; then echo '{_MARK}exists'; "
            f"if [ -f {m} ]; then echo '{_MARK}marker'; head -n 1 {m}; fi; "
            f"echo '{_MARK}entries'; ls -A1 -- {d}; fi; true"
        )

    @staticmethod
    def default():
        return None

    def process(self, output: list[str]) -> dict | None:
        return parse_managed_dir(output)


@operation()
def remove_service_dir(path: str, service: str):
    """Remove what the deploy wrote in ``path`` (see module doc); keep everything else."""
    state = host.get_fact(ManagedDir, path=path)
    if state is None:
        host.noop(f"{path} is absent")
        return
    if state["marker"] != f"tgi-infra service {service}":
        host.log_styled(
            f"keeping {path}: it has no {MARKER} marker for service {service}, so tgi-infra did "
            "not create it; nothing in it was removed",
            fg="yellow",
            log_func=logger.warning,
        )
        return
    ours = [e for e in state["entries"] if is_managed_name(e)]
    foreign = [e for e in state["entries"] if not is_managed_name(e)]
    files = " ".join(shlex.quote(posixpath.join(path, e)) for e in ours if not is_stage_name(e))
    stages = " ".join(shlex.quote(posixpath.join(path, e)) for e in ours if is_stage_name(e))
    remove = f"rm -f -- {files}" if files else "true"
    if stages:
        remove += f" && rm -rf -- {stages}"
    if foreign:
        host.log_styled(
            f"keeping {path}: it holds files tgi-infra did not write "
            f"({', '.join(sorted(foreign)[:10])}); only tgi-infra's files were removed",
            fg="yellow",
            log_func=logger.warning,
        )
        if ours:
            yield StringCommand(remove)
    else:
        yield StringCommand(f"{remove} && rmdir -- {shlex.quote(path)}")
