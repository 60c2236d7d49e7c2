"""The smoke suite's pytest plugin (entry point ``pytest11``: loaded wherever tgi-infra is
installed, so the suite runs outside the checkout)::

    pytest --pyargs tgi_infra.smoke --url http://host:8080 [--url ...] [--model-id ORG/NAME]
    pytest --pyargs tgi_infra.smoke --inventory inventories/gpu.py [--host-checks]
    pytest --pyargs tgi_infra.smoke --url ... [--min-tokens-per-s X] [--max-ttft S]
        [--load N [--load-duration S] [--load-requests N] [--load-max NAME=V] [--load-min NAME=V]]

In a checkout, ``pytest smoke --url ...`` is the same. The options are the command line's
(smoke/options.py), but its reports, concurrency and --no-http; its --timeout is
--request-timeout here. Each (target, check) is one test, in the CLI's check order, on the
target's TargetSession (smoke/runner.py, the command line's code path); with ``--load N`` one
more ``load`` test per target, its figures as JUnit properties. With ``--host-checks`` the
host checks of smoke/test_hosts.py, one test per check and host (service, volume); the command
line's ``--host-checks`` runs those same tests through ``run_host_tests``. Collecting the suite
without ``--url``/``--inventory`` is a usage error (pytest exit status 4), never a green run
that checked nothing. The options are added to every pytest run of the environment; the
suite's modules are imported only when it runs.
"""

from __future__ import annotations

import pytest

NO_TARGET = (
    "the TGI smoke suite needs a target: --url http://host:8080 (repeatable) or "
    "--inventory FILE (e.g. pytest --pyargs tgi_infra.smoke --url http://127.0.0.1:8080)"
)


def pytest_addoption(parser: pytest.Parser) -> None:
    """The command line's options (smoke/options.py), but those of its own reports, its
    concurrency and --no-http; its --timeout is --request-timeout here (pytest-timeout's)."""
    from tgi_infra.smoke import options

    options.add_to_pytest(parser)


def pytest_configure(config: pytest.Config) -> None:
    """Bad load options are a usage error (exit status 4) before anything runs (bad values of
    each option are refused by its type, as on the command line)."""
    given = [getattr(config.option, k, None) for k in ("load", "load_requests")]
    given += [getattr(config.option, k, None) for k in ("load_max", "load_min")]
    if any(v not in (None, []) for v in given):  # else nothing to check, nothing imported
        _floors_and_load(config)


def _floors_and_load(config: pytest.Config) -> tuple[float | None, float | None, object]:
    """(--min-tokens-per-s, --max-ttft, LoadSettings or None), checked as the CLI does."""
    from tgi_infra.smoke import load

    if not hasattr(config.option, "load_duration"):  # plugin blocked (-p no:...)
        return None, None, None
    try:
        settings = load.settings_from_args(config.option)
    except ValueError as exc:
        raise pytest.UsageError(str(exc)) from exc
    return config.option.min_tokens_per_s, config.option.max_ttft, settings


def _targets(config: pytest.Config) -> list:
    """The command line's targets (smoke/cli.py collect_targets) from the same options."""
    from tgi_infra.smoke.cli import check_host_args, collect_targets
    from tgi_infra.smoke.targets import TargetConfigError

    if not (config.option.url or config.option.inventory):
        return []  # refused in pytest_collection_modifyitems, as a usage error
    try:
        check_host_args(config.option)
        return collect_targets(config.option)
    except TargetConfigError as exc:
        raise pytest.UsageError(str(exc)) from exc


def pytest_generate_tests(metafunc: pytest.Metafunc) -> None:
    for fixture in ("tgi_host", "tgi_service", "tgi_volume"):
        if fixture in metafunc.fixturenames:
            _parametrize_hosts(metafunc, fixture)
    if "smoke_case" not in metafunc.fixturenames:
        return
    from tgi_infra.smoke.engines import checks_for

    targets = _targets(metafunc.config)
    if not targets:  # refused in pytest_collection_modifyitems, as a usage error
        metafunc.parametrize("smoke_case", [None], ids=["no-target"])
        return
    # the target's engine's checks; every check for auto (those of other engines are skipped
    # once ``ready`` has detected the engine); with --load, a ``load`` test after them
    load = _floors_and_load(metafunc.config)[2] is not None
    cases = [
        (t, name) for t in targets for name in [*checks_for(t.engine), *(["load"] if load else [])]
    ]
    metafunc.parametrize("smoke_case", cases, ids=[f"{t.name}::{n}" for t, n in cases])


def pytest_collection_modifyitems(config: pytest.Config, items: list[pytest.Item]) -> None:
    """The suite collected without a target is a usage error (exit status 4), not a pass."""
    fixtures = {"smoke_case", "tgi_host", "tgi_service", "tgi_volume"}
    ours = [i for i in items if fixtures & set(getattr(i, "fixturenames", ()))]
    if config.stash.get(HOST_RUN, None) is not None:  # run_host_tests: hosts given
        return
    # without --host-checks the host tests are not part of the run (not a row of skips)
    no_host = [i for i in items if getattr(i, "callspec", None) and _no_host(i)]
    if no_host:
        config.hook.pytest_deselected(items=no_host)
        items[:] = [i for i in items if i not in no_host]
    if ours and not (config.getoption("--url") or config.getoption("--inventory")):
        raise pytest.UsageError(NO_TARGET)


def _no_host(item: pytest.Item) -> bool:
    return any(
        item.callspec.params.get(f, 0) is None for f in ("tgi_host", "tgi_service", "tgi_volume")
    )


class _Sessions:
    """One TargetSession per target (smoke/runner.py, as the command line's), opened by its
    first test; all closed at the end of the pytest session."""

    def __init__(self, settings):
        self.settings = settings
        self.opened: dict[str, object] = {}

    def get(self, target):
        from tgi_infra.smoke.runner import TargetSession

        if target.name not in self.opened:
            self.opened[target.name] = TargetSession(target, self.settings)
        return self.opened[target.name]

    def close(self) -> None:
        for session in self.opened.values():
            session.close()


@pytest.fixture(scope="session")
def smoke_sessions(request: pytest.FixtureRequest):
    from tgi_infra.smoke.context import Settings

    min_tokens_per_s, max_ttft_s, load = _floors_and_load(request.config)
    sessions = _Sessions(
        Settings(
            ready_timeout=request.config.getoption("--ready-timeout"),
            timeout=request.config.getoption("--request-timeout"),
            min_tokens_per_s=min_tokens_per_s,
            max_ttft_s=max_ttft_s,
            load=load,
        )
    )
    try:
        yield sessions
    finally:
        sessions.close()


# -- host checks (smoke/test_hosts.py) -------------------------------------------------------

HOST_RUN = pytest.StashKey["_HostRunRequest"]()
HOSTS = pytest.StashKey[tuple]()
AUTOLOAD = "PYTEST_DISABLE_PLUGIN_AUTOLOAD"
NO_HOSTS = "host checks need --inventory and --host-checks"


class _HostRunRequest:
    """``run_host_tests``'s hosts and settings, handed to this run's fixtures (a plugin)."""

    def __init__(self, hosts, settings, workdir):
        self.hosts, self.settings, self.workdir = hosts, settings, workdir
        self.reports: list | None = None

    def pytest_configure(self, config: pytest.Config) -> None:
        config.stash[HOST_RUN] = self


def _host_run(config: pytest.Config):
    """(hosts, settings, workdir) of this run's host checks, or None when it has none."""
    import os

    from tgi_infra.smoke.cli import check_host_args
    from tgi_infra.smoke.hostchecks import HostCheckSettings, inventory_hosts
    from tgi_infra.smoke.targets import TargetConfigError

    request = config.stash.get(HOST_RUN, None)
    if request is not None:
        return request.hosts, request.settings, request.workdir
    if HOSTS in config.stash:  # read once: the inventory loads in a child process
        return config.stash[HOSTS]
    o = config.option
    if not (o.inventory and o.host_checks):
        return None
    try:
        check_host_args(o)
        hosts = inventory_hosts(o.inventory, o.host, local=o.local)
    except TargetConfigError as exc:
        raise pytest.UsageError(str(exc)) from exc
    settings = HostCheckSettings(
        min_free_gb=o.min_free_gb,
        restart_window_s=o.restart_window,
        inventory=o.inventory,
        environ=os.environ,
    )
    config.stash[HOSTS] = (hosts, settings, None)
    return config.stash[HOSTS]


def _parametrize_hosts(metafunc: pytest.Metafunc, fixture: str) -> None:
    from tgi_infra.smoke.hostchecks import services_of, volumes_of

    run = _host_run(metafunc.config)
    if run is None:
        skip = pytest.mark.skip(reason=NO_HOSTS)
        metafunc.parametrize(fixture, [pytest.param(None, marks=skip, id="no-host")])
        return
    hosts = run[0]
    if fixture == "tgi_host":
        cases = [(name, None) for name, _, _ in hosts]
        ids = [name for name, _ in cases]
    elif fixture == "tgi_service":
        cases = [(name, s.name) for name, cfg, _ in hosts for s in services_of(cfg)]
        ids = [f"{h}/{s}" for h, s in cases]
    else:
        cases = [(name, v) for name, cfg, _ in hosts for v in volumes_of(cfg)]
        ids = [f"{h}:{v}" for h, v in cases]
    if not cases:
        skip = pytest.mark.skip(reason=f"no {fixture.removeprefix('tgi_')} to check")
        metafunc.parametrize(fixture, [pytest.param(None, marks=skip, id="none")])
        return
    metafunc.parametrize(fixture, cases, ids=ids, indirect=True)


@pytest.fixture(scope="session")
def tgi_host_run(request: pytest.FixtureRequest):
    """The hosts of the run (smoke/hostchecks.py HostRun): connected on first use, their
    checks' records handed to ``run_host_tests`` at the end."""
    from tgi_infra.smoke.hostchecks import HostRun

    hosts, settings, workdir = _host_run(request.config)
    run = HostRun(hosts, settings, workdir)
    try:
        yield run
    finally:
        caller = request.config.stash.get(HOST_RUN, None)
        if caller is not None:
            caller.reports = run.reports()
        run.close()


class _HostUnderCheck:
    """One host in one test: ``check(layer, name, fn, *args)`` runs ``fn(host, *args)``,
    records it, and passes, fails or skips the test as the check did."""

    def __init__(self, checked, node: pytest.Item):
        self.checked, self.node = checked, node

    def check(self, layer: str, name: str, fn, *args, service: str | None = None) -> None:
        from tgi_infra.smoke.hostchecks import FAILED, SKIPPED, run_check

        if service is None and args and hasattr(args[0], "name"):
            service = args[0].name
        c = run_check(self.checked, layer, name, fn, *args, service=service)
        self.node.user_properties.append((c.label, f"{c.status}: {c.message}"))
        if c.status == FAILED:
            pytest.fail(f"{self.checked.name} :: {layer} :: {c.label}: {c.message}", pytrace=False)
        if c.status == SKIPPED:
            pytest.skip(c.message)


@pytest.fixture
def tgi_host(request: pytest.FixtureRequest, tgi_host_run) -> _HostUnderCheck:
    return _HostUnderCheck(tgi_host_run.get(request.param[0]), request.node)


@pytest.fixture
def tgi_service(request: pytest.FixtureRequest, tgi_host_run) -> tuple:
    host, service = request.param
    checked = tgi_host_run.get(host)
    svc = next(s for s in checked.services() if s.name == service)
    return _HostUnderCheck(checked, request.node), svc


@pytest.fixture
def tgi_volume(request: pytest.FixtureRequest, tgi_host_run) -> tuple:
    host, volume = request.param
    return _HostUnderCheck(tgi_host_run.get(host), request.node), volume


def run_host_tests(hosts: list, settings, workdir: str | None = None) -> list:
    """The host checks of these (name, HostConfig, Connection) hosts: smoke/test_hosts.py run
    by pytest in this process, quietly; their records (HostReport per host) come back."""
    import contextlib
    import io
    import os
    import tempfile
    from pathlib import Path

    from tgi_infra.smoke import test_hosts

    request = _HostRunRequest(hosts, settings, workdir)
    with tempfile.TemporaryDirectory(prefix="tgi-hostchecks-pytest-") as root:
        args = [str(Path(test_hosts.__file__)), "-q", "-s", "--assert=plain"]
        args += ["--import-mode=importlib", "-c", os.devnull, "--rootdir", root]
        # this plugin alone: the environment's other plugins cost seconds to load (langsmith's
        # ~10 s) and none is needed
        args += ["-p", __name__, "-p", "no:cacheprovider"]
        out = io.StringIO()
        saved = os.environ.get(AUTOLOAD)
        os.environ[AUTOLOAD] = "1"
        try:
            with contextlib.redirect_stdout(out), contextlib.redirect_stderr(out):
                code = pytest.main(args, plugins=[request])
        finally:
            if saved is None:
                os.environ.pop(AUTOLOAD, None)
            else:
                os.environ[AUTOLOAD] = saved
    if request.reports is None or code not in (pytest.ExitCode.OK, pytest.ExitCode.TESTS_FAILED):
        raise RuntimeError(f"host checks: pytest exited {code!r}:\n{out.getvalue()[-3000:]}")
    return request.reports
