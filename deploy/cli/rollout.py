"""``tgi-infra rollout``: roll a change across a fleet N hosts at a time, gated by smoke checks.

pyinfra's own ``--serial`` runs each *operation* host by host and ``--parallel`` bounds how many
hosts run an operation at once; neither waits for a host to be proven before touching the
next, so the rollout drives pyinfra itself, one batch at a time with ``--limit``:

1. ``pyinfra -y --limit <host>... <inventory> deploy/main.py`` for the batch, with
   ``TGI_INFRA_KEEP_PREVIOUS=1``: every replaced container keeps its predecessor, stopped, as
   ``<name>-previous`` (``swap.py``); a service that does not become ready is rolled back by the
   deploy itself;
2. the smoke checks (a chosen subset of ``tgi_infra.smoke``; default per engine,
   ``DEFAULT_CHECKS``: ``ready,info``, the engine's own generation route and ``chat``) against
   every service of the batch's hosts; a chosen check that is not one of a service's engine
   (smoke/engines.py, e.g. TGI's ``generate`` on vLLM) is shown as skipped for that service;
3. every host that passed is committed (``deploy/swap_finish.py``, ``TGI_SWAP_FINISH=commit``:
   the previous containers are removed); the first failing host stops the rollout and is rolled
   back (``TGI_SWAP_FINISH=rollback``: its previous containers serve again); later batches are
   not touched.

The summary lists the hosts done, rolled back and untouched; exit 0 only when every host is done.

pyinfra runs through :func:`tgi_infra.cli.deploy_runner.run_step` (and
``tgi_infra.cli.pyinfra_entry``: a dead
host is one line): plain pyinfra exits 0 on Ctrl-C, so an interrupted batch would have looked
deployed. An interrupt (Ctrl-C, ``kill -INT``) stops the rollout where it is: no smoke checks,
no commit or rollback, later batches untouched; the summary names the interrupted batch and the
rollout exits 130 (:data:`tgi_infra.cli.deploy_runner.EXIT_INTERRUPTED`).
"""

from __future__ import annotations

import argparse
import os
import sys
import time
from dataclasses import dataclass, field
from pathlib import Path

from tgi_infra.cli.deploy_runner import EXIT_INTERRUPTED, run_step

# the gate per engine: readiness, the served model, one completion by the engine's own route
# (TGI /generate, SGLang's native /generate, vLLM's /v1/completions), one chat completion
DEFAULT_CHECKS = {
    "tgi": ("ready", "info", "generate", "chat"),
    "vllm": ("ready", "info", "completions", "chat"),
    "sglang": ("ready", "info", "sglang_generate", "chat"),
}


def default_checks(engine: str) -> tuple[str, ...]:
    return DEFAULT_CHECKS.get(engine, DEFAULT_CHECKS["tgi"])


def _default_text() -> str:
    return "; ".join(f"{e}: {','.join(c)}" for e, c in DEFAULT_CHECKS.items())


PACKAGE_DIR = Path(__file__).resolve().parents[1]  # the package root (swap_finish.py)
KEEP_PREVIOUS_ENV = "TGI_INFRA_KEEP_PREVIOUS"
FINISH_ENV = "TGI_SWAP_FINISH"


@dataclass
class Summary:
    done: list[str] = field(default_factory=list)
    rolled_back: list[str] = field(default_factory=list)
    untouched: list[str] = field(default_factory=list)
    causes: dict[str, str] = field(default_factory=dict)
    seconds: float = 0.0
    interrupted: list[str] = field(default_factory=list)

    def text(self) -> str:
        lines = [
            f"rollout summary ({self.seconds:.0f}s):",
            f"  done:        {', '.join(self.done) or '-'}",
            f"  rolled back: {', '.join(self.rolled_back) or '-'}",
            f"  untouched:   {', '.join(self.untouched) or '-'}",
        ]
        if self.interrupted:
            lines.append(
                f"  interrupted: {', '.join(self.interrupted)} (may be partly changed: run the "
                "rollout again)"
            )
        for host, cause in self.causes.items():
            lines.append(f"  {host}: {cause}")
        return "\n".join(lines)


def batches(hosts: list[str], size: int) -> list[list[str]]:
    if size < 1:
        raise ValueError(f"--batch must be at least 1, not {size}")
    return [hosts[i : i + size] for i in range(0, len(hosts), size)]


class Interrupted(Exception):
    """A pyinfra step was interrupted (SIGINT): the rollout stops where it is."""


def _pyinfra(inventory: str, deploy: Path, hosts: list[str], env: dict[str, str]) -> int:
    cmd = [sys.executable, "-m", "tgi_infra.cli.pyinfra_entry", "-y"]
    for h in hosts:
        cmd += ["--limit", h]
    cmd += [inventory, str(deploy)]
    print(f"[rollout] pyinfra {' '.join(cmd[3:])}", flush=True)
    what = "the deploy (pyinfra)" if deploy.name == "main.py" else f"pyinfra {deploy.name}"
    rc = run_step(what, cmd, env=env)
    if rc == EXIT_INTERRUPTED:
        raise Interrupted
    return rc


def smoke_failures(
    inventory: str, hosts: list[str], checks: tuple[str, ...] | None
) -> dict[str, str]:
    """host -> first failed check (service: check: message) among its services.

    ``checks`` None: each service's engine's ``DEFAULT_CHECKS``. A chosen check that is not one
    of the service's engine is printed as skipped for it and does not fail the host."""
    from tgi_infra.smoke.checks import CHECKS, take_metrics_baseline
    from tgi_infra.smoke.context import Settings, TargetContext
    from tgi_infra.smoke.engines import checks_for
    from tgi_infra.smoke.runner import PASSED, reachable_url, run_check
    from tgi_infra.smoke.targets import targets_from_inventory

    settings = Settings(ready_timeout=120.0, timeout=60.0)
    failures: dict[str, str] = {}
    for target in targets_from_inventory(inventory):
        if target.host not in hosts or target.host in failures:
            continue
        with reachable_url(target, settings) as url:
            ctx = TargetContext(target=target, base_url=url, settings=settings)
            try:
                chosen = default_checks(target.engine) if checks is None else checks
                for name in ("ready", *[c for c in chosen if c != "ready"]):
                    if name not in CHECKS:
                        raise ValueError(f"unknown smoke check {name!r}; known: {list(CHECKS)}")
                    if target.engine != "auto" and name not in checks_for(target.engine):
                        print(
                            f"[rollout] {target.host}/{target.service}: {name}: skipped (not a "
                            f"check of {target.engine} services)"
                        )
                        continue
                    result = run_check(name, ctx)
                    if name == "ready" and result.status == PASSED:
                        take_metrics_baseline(ctx)
                    print(f"[rollout] {target.host}/{target.service}: {name}: {result.status}")
                    if result.status != PASSED:
                        failures[target.host] = f"{target.service}: {name}: {result.message}"
                        break
            finally:
                ctx.close()
    return failures


def _batch(
    inventory: str,
    deploy: Path,
    group: list[str],
    checks: tuple[str, ...] | None,
    env,
    summary: Summary,
) -> bool:
    """Deploy, check and commit or roll back one batch; True when the rollout must stop."""
    rc = _pyinfra(inventory, deploy, group, env)
    failed = smoke_failures(inventory, group, checks)
    if rc != 0:
        for h in group:
            failed.setdefault(h, f"the deploy failed (pyinfra exit {rc}); see its output")
    good = [h for h in group if h not in failed]
    finish = PACKAGE_DIR / "swap_finish.py"
    if good:
        _pyinfra(inventory, finish, good, {**env, FINISH_ENV: "commit"})
        summary.done += good
    if not failed:
        return False
    bad = [h for h in group if h in failed]
    back = _pyinfra(inventory, finish, bad, {**env, FINISH_ENV: "rollback"})
    if back != 0:
        failed = {h: f"{failed[h]}; ROLLBACK FAILED (pyinfra exit {back})" for h in bad}
    summary.rolled_back += bad
    summary.causes.update({h: failed[h] for h in bad})
    return True


def rollout(
    inventory: str,
    hosts: list[str],
    batch: int,
    checks: tuple[str, ...] | None = None,
    deploy: Path = PACKAGE_DIR / "main.py",
) -> Summary:
    start = time.monotonic()
    summary = Summary()
    groups = batches(hosts, batch)
    env = dict(os.environ, **{KEEP_PREVIOUS_ENV: "1"})
    for i, group in enumerate(groups):
        print(f"[rollout] batch {i + 1}/{len(groups)}: {', '.join(group)}", flush=True)
        try:
            stop = _batch(inventory, deploy, group, checks, env, summary)
        except (Interrupted, KeyboardInterrupt):  # stop here: no smoke, commit or rollback
            summary.interrupted = [h for h in group if h not in summary.done]
            stop = True
        if stop:
            summary.untouched = [h for g in groups[i + 1 :] for h in g]
            break
    summary.seconds = time.monotonic() - start
    return summary


def add_arguments(p: argparse.ArgumentParser) -> None:
    p.add_argument("inventory", help="pyinfra inventory file, e.g. inventories/gpu.py")
    p.add_argument("--batch", type=int, default=1, help="hosts changed at once (1)")
    p.add_argument(
        "--checks",
        default=None,
        help="smoke checks each service must pass before the next batch (default, per engine: "
        f"{_default_text()}); a check another engine lacks is skipped for it",
    )
    p.add_argument("--limit", action="append", help="only these hosts, in inventory order")


def cmd_rollout(args: argparse.Namespace, hosts: list[str]) -> int:
    from tgi_infra.smoke.checks import CHECK_NAMES

    if args.limit:
        hosts = [h for h in hosts if h in args.limit]
    checks = (
        None
        if args.checks is None
        else tuple(c.strip() for c in args.checks.split(",") if c.strip())
    )
    unknown = [c for c in checks or () if c not in CHECK_NAMES]
    if unknown or args.batch < 1:
        print(
            f"error: --checks {','.join(unknown)}: unknown smoke check(s); allowed: "
            f"{','.join(CHECK_NAMES)}"
            if unknown
            else f"error: --batch {args.batch}: at least 1",
            file=sys.stderr,
        )
        return 2
    summary = rollout(args.inventory, hosts, args.batch, checks)
    print(summary.text(), flush=True)
    if summary.interrupted:
        return EXIT_INTERRUPTED
    return 0 if not summary.rolled_back else 1
