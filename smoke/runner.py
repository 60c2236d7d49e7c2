"""Run every check against every target, targets concurrently (bounded).

One code path per target for both front ends: a ``TargetSession`` opens the target (SSH tunnel
when needed, ``ready``, the metrics baseline) and runs its checks one by one, each skipped with
the reason when the target could not be opened. The command line runs a session's checks in
order (``run_target``); the pytest plugin asks the same session for one check per test.
"""

from __future__ import annotations

import contextlib
import time
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from datetime import datetime, timezone

from tgi_infra.host.reading import FAILED, PASSED, SKIPPED  # noqa: F401 (check status names)
from tgi_infra.smoke.checks import CHECKS, take_metrics_baseline
from tgi_infra.smoke.context import CheckFailed, CheckSkipped, Settings, TargetContext
from tgi_infra.smoke.engines import checks_for
from tgi_infra.smoke.targets import Target
from tgi_infra.smoke.tunnel import TunnelError, ssh_tunnel


@dataclass
class CheckResult:
    name: str
    status: str
    duration_s: float
    message: str = ""
    measurements: dict | None = None
    load: dict | None = None  # the ``load`` phase's summary (smoke/load.py)


@dataclass
class TargetReport:
    target: Target
    url: str | None
    checks: list[CheckResult] = field(default_factory=list)
    duration_s: float = 0.0
    # the engine checked: the target's, or the one ``ready`` detected (None: auto, not known)
    engine: str | None = None

    @property
    def passed(self) -> bool:
        return all(c.status != FAILED for c in self.checks)


@dataclass
class RunReport:
    targets: list[TargetReport]
    started_at: datetime
    duration_s: float
    # host checks (smoke/hostchecks.py HostReport), when run with --host-checks
    hosts: list = field(default_factory=list)

    @property
    def passed(self) -> bool:
        return all(t.passed for t in self.targets) and all(h.passed for h in self.hosts)

    def counts(self) -> dict[str, int]:
        checks = [c for t in self.targets for c in t.checks]
        return {
            "targets": len(self.targets),
            "checks": len(checks),
            PASSED: sum(c.status == PASSED for c in checks),
            FAILED: sum(c.status == FAILED for c in checks),
            SKIPPED: sum(c.status == SKIPPED for c in checks),
        }


def _key_hint(ctx: TargetContext) -> str:
    """What to do about an HTTP 401, said once per target."""
    if ctx.target.api_key:
        return (
            f"the service refused the API key in ${ctx.target.api_key_env}: check that it holds "
            "the key the service was deployed with (its API_KEY)"
        )
    return (
        "the service requires an API key and none is configured for this target: put the key "
        "in an environment variable and pass its name with --api-key-env NAME (--url "
        "targets), or set api_key_env on the service in the inventory"
    )


def run_check(name: str, ctx: TargetContext) -> CheckResult:
    start = time.monotonic()
    if ctx.auth_refused and name != "ready":
        return CheckResult(
            name, SKIPPED, 0.0, f"not run: the service answered HTTP 401 (see {ctx.auth_refused})"
        )
    if name not in checks_for(ctx.engine):
        return CheckResult(name, SKIPPED, 0.0, f"not a check of {ctx.engine} services")
    try:
        outcome = CHECKS[name](ctx)
    except CheckFailed as exc:
        if exc.got.startswith("HTTP 401"):  # one clear failure instead of one per check
            ctx.auth_refused = name
            exc = CheckFailed(exc.sent, exc.expected, f"{exc.got}: {_key_hint(ctx)}")
        return CheckResult(name, FAILED, time.monotonic() - start, str(exc))
    except CheckSkipped as exc:
        return CheckResult(name, SKIPPED, time.monotonic() - start, str(exc))
    except Exception as exc:  # a bug or an unforeseen client error: report, don't crash the run
        return CheckResult(
            name, FAILED, time.monotonic() - start, f"unexpected {type(exc).__name__}: {exc}"
        )
    m = outcome.measurements.as_dict() if outcome.measurements else None
    return CheckResult(name, PASSED, time.monotonic() - start, outcome.message, m)


@contextlib.contextmanager
def reachable_url(target: Target, settings: Settings) -> Iterator[str]:
    """The target's base URL, through an SSH tunnel when it binds loopback on its host."""
    if target.ssh is None:
        yield str(target.url)
        return
    assert target.remote_bind is not None and target.remote_port is not None
    with ssh_tunnel(
        target.ssh, target.remote_bind, target.remote_port, timeout=min(settings.timeout, 30)
    ) as url:
        yield url


class TargetSession:
    """One target's run: ``check("ready")`` opens it (tunnel, context, ``ready``, metrics
    baseline), every other check runs on it or is skipped saying why the target is not open."""

    def __init__(self, target: Target, settings: Settings):
        self.target, self.settings = target, settings
        self.url: str | None = target.url
        self.ctx: TargetContext | None = None
        self.ready: CheckResult | None = None
        self.not_run = ""  # why the checks after ``ready`` do not run
        self._stack = contextlib.ExitStack()

    @property
    def engine(self) -> str | None:
        """The engine checked: the target's, or the one ``ready`` detected (None: not known)."""
        engine = self.ctx.engine if self.ctx is not None else self.target.engine
        return None if engine == "auto" else engine

    def names(self) -> list[str]:
        """The checks of this target in order (the detected engine's once ``ready`` ran),
        ``load`` last with --load."""
        engine = self.ctx.engine if self.ctx is not None else self.target.engine
        return [*checks_for(engine), *(["load"] if self.settings.load is not None else [])]

    def open(self) -> CheckResult:
        if self.ready is not None:
            return self.ready
        start = time.monotonic()
        try:
            self.url = self._stack.enter_context(reachable_url(self.target, self.settings))
        except TunnelError as exc:
            failure = CheckFailed(
                f"ssh -N -L to {self.target.describe()}",
                f"a local port forward to {self.target.remote_bind}:{self.target.remote_port}",
                str(exc),
            )
            self.not_run = "not run: no SSH tunnel"
            self.ready = CheckResult("ready", FAILED, time.monotonic() - start, str(failure))
            return self.ready
        self.ctx = TargetContext(target=self.target, base_url=self.url, settings=self.settings)
        self._stack.callback(self.ctx.close)
        self.ready = run_check("ready", self.ctx)
        if self.ready.status == PASSED:
            take_metrics_baseline(self.ctx)
        else:
            self.not_run = "not run: service not ready"
        return self.ready

    def check(self, name: str) -> CheckResult:
        ready = self.open()
        if name == "ready":
            return ready
        if self.not_run or self.ctx is None:
            return CheckResult(name, SKIPPED, 0.0, self.not_run)
        if name == "load":
            return run_load_check(self.ctx)
        return run_check(name, self.ctx)

    def close(self) -> None:
        self._stack.close()


def run_target(target: Target, settings: Settings) -> TargetReport:
    """Every check of the target, in order, ``ready`` first."""
    start = time.monotonic()
    session = TargetSession(target, settings)
    report = TargetReport(target=target, url=target.url, engine=session.engine)
    try:
        report.checks.append(session.open())
        report.checks += [session.check(name) for name in session.names() if name != "ready"]
    finally:
        session.close()
        report.url, report.engine = session.url, session.engine
    report.duration_s = time.monotonic() - start
    return report


def run_load_check(ctx: TargetContext) -> CheckResult:
    """The --load phase as a ``load`` result: failed when a threshold is not met."""
    from tgi_infra.smoke.load import describe, run_load

    start = time.monotonic()
    if ctx.auth_refused:
        return CheckResult("load", SKIPPED, 0.0, "not run: the service answered HTTP 401")
    summary = run_load(ctx, ctx.settings.load)
    duration = time.monotonic() - start
    line = describe(summary)
    if summary["violations"]:
        failure = CheckFailed(
            f"--load: POST {'/generate_stream' if ctx.engine == 'tgi' else '/v1/completions'} "
            f"x {summary['streams']} concurrent streams",
            "the --load-max/--load-min thresholds met and at least one request answered",
            f"{'; '.join(summary['violations'])} ({line})",
        )
        return CheckResult("load", FAILED, duration, str(failure), load=summary)
    return CheckResult("load", PASSED, duration, line, load=summary)


def run(targets: list[Target], settings: Settings, concurrency: int = 8) -> RunReport:
    started_at = datetime.now(timezone.utc)
    start = time.monotonic()
    workers = max(1, min(concurrency, len(targets)))
    with ThreadPoolExecutor(max_workers=workers, thread_name_prefix="smoke") as pool:
        reports = list(pool.map(lambda t: run_target(t, settings), targets))
    return RunReport(targets=reports, started_at=started_at, duration_s=time.monotonic() - start)
