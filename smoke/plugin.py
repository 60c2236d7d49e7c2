"""The smoke suite's pytest plugin (entry point ``pytest11``: loaded wherever tgi-infra is
installed, so the suite runs outside the checkout)::

    pytest --pyargs tgi_infra.smoke --url http://host:8080 [--url ...] [--model-id ORG/NAME]
    pytest --pyargs tgi_infra.smoke --inventory inventories/gpu.py [--host-checks]
    pytest --pyargs tgi_infra.smoke --url ... [--min-tokens-per-s X] [--max-ttft S]
        [--load N [--load-duration S] [--load-requests N] [--load-max NAME=V] [--load-min NAME=V]]

In a checkout, ``pytest smoke --url ...`` is the same. Each (target, check) is one test, in the
CLI's check order, running the same check functions (smoke/checks.py); with ``--load N`` one
more ``load`` test per target (smoke/load.py), its figures as JUnit properties; the floors and
load options are the CLI's, checked the same way. With ``--host-checks`` one test per host
and layer. Collecting the suite without ``--url``/``--inventory`` is a usage
error (pytest exit status 4), never a green run that checked nothing. The options are added to
every pytest run of the environment; the suite's modules are imported only when it runs.
"""

from __future__ import annotations

import contextlib

import pytest

NO_TARGET = (
    "the TGI smoke suite needs a target: --url http://host:8080 (repeatable) or "
    "--inventory FILE (e.g. pytest --pyargs tgi_infra.smoke --url http://127.0.0.1:8080)"
)


def pytest_addoption(parser: pytest.Parser) -> None:
    g = parser.getgroup("tgi-smoke", "TGI smoke targets")
    g.addoption("--url", action="append", default=[], help="TGI base URL (repeat)")
    g.addoption("--inventory", help="pyinfra inventory file: every present TGI service")
    g.addoption("--model-id", action="append", help="expected model id for --url targets")
    g.addoption("--api-key-env", action="append", help="API key env var for --url targets")
    g.addoption("--no-semantic", action="store_true", help="skip semantic checks (--url)")
    g.addoption(
        "--engine",
        action="append",
        choices=("tgi", "vllm", "sglang", "auto"),
        help="engine of the --url targets (default tgi; once, or once per --url)",
    )
    g.addoption("--ready-timeout", type=float, default=600.0, help="seconds to wait for /health")
    # --timeout belongs to pytest-timeout, hence the longer name here.
    g.addoption("--request-timeout", type=float, default=60.0, help="per-request deadline (s)")
    g.addoption(
        "--host-checks",
        action="store_true",
        help="with --inventory: also the testinfra host checks, one test per host and layer",
    )
    g.addoption("--min-free-gb", type=float, default=20.0, help="host checks: model volume free")
    # the CLI's throughput floor (smoke/floors.py) and load (smoke/load.py) options
    g.addoption("--min-tokens-per-s", type=float, help="decode tokens/s floor (0: off)")
    g.addoption("--max-ttft", type=float, help="first-token limit in seconds (0: off)")
    g.addoption("--load", type=int, help="after the checks: N concurrent streams per target")
    g.addoption("--load-duration", type=float, default=30.0, help="load: seconds (30)")
    g.addoption("--load-requests", type=int, help="load: stop after N requests in all")
    g.addoption("--load-max", action="append", default=[], help="load: NAME=VALUE upper limit")
    g.addoption("--load-min", action="append", default=[], help="load: NAME=VALUE lower limit")


LOAD_OPTIONS = ("--load", "--load-requests", "--load-max", "--load-min", "--load-duration")


def pytest_configure(config: pytest.Config) -> None:
    """Bad floor/load options are a usage error (exit status 4) before anything runs."""
    given = [o for o in ("--min-tokens-per-s", "--max-ttft", *LOAD_OPTIONS[:4])]
    if any(config.getoption(o) not in (None, []) for o in given):
        _floors_and_load(config)


def _floors_and_load(config: pytest.Config) -> tuple[float | None, float | None, object]:
    """(--min-tokens-per-s, --max-ttft, LoadSettings or None), checked as the CLI does."""
    import argparse

    from tgi_infra.smoke import load

    floors = {}
    for name in ("--min-tokens-per-s", "--max-ttft"):
        value = config.getoption(name)
        if value is not None and not value >= 0:
            raise pytest.UsageError(f"{name} must be >= 0 (0: off), got {value:g}")
        floors[name] = value
    if config.getoption("--load") is not None and not 1 <= config.getoption("--load") <= (
        load.MAX_STREAMS
    ):
        raise pytest.UsageError(f"--load must be a stream count 1..{load.MAX_STREAMS}")
    args = argparse.Namespace(
        **{
            k: config.getoption(f"--{k.replace('_', '-')}")
            for k in ("load", "load_duration", "load_requests", "load_max", "load_min")
        }
    )
    try:
        settings = load.settings_from_args(args)
    except ValueError as exc:
        raise pytest.UsageError(str(exc)) from exc
    return floors["--min-tokens-per-s"], floors["--max-ttft"], settings


def _targets(config: pytest.Config) -> list:
    from tgi_infra.smoke.targets import TargetConfigError, targets_from_inventory, targets_from_urls

    urls = config.getoption("--url")
    inventory = config.getoption("--inventory")
    try:
        targets = []
        if urls:
            targets += targets_from_urls(
                urls,
                config.getoption("--model-id"),
                config.getoption("--api-key-env"),
                not config.getoption("--no-semantic"),
                config.getoption("--engine"),
            )
        if inventory:
            targets += targets_from_inventory(inventory)
    except TargetConfigError as exc:
        raise pytest.UsageError(str(exc)) from exc
    return targets


def pytest_generate_tests(metafunc: pytest.Metafunc) -> None:
    if "host_layer" in metafunc.fixturenames:
        _parametrize_host_layers(metafunc)
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
    ours = [i for i in items if {"smoke_case", "host_layer"} & set(getattr(i, "fixturenames", ()))]
    if ours and not (config.getoption("--url") or config.getoption("--inventory")):
        raise pytest.UsageError(NO_TARGET)


class _Sessions:
    """One TargetContext per target (tunnel + ready + metrics baseline), opened on first use."""

    def __init__(self, settings):
        self.settings = settings
        self.stack = contextlib.ExitStack()
        self.opened: dict[str, tuple] = {}

    def get(self, target) -> tuple:
        from tgi_infra.smoke.checks import take_metrics_baseline
        from tgi_infra.smoke.context import TargetContext
        from tgi_infra.smoke.runner import PASSED, CheckResult, reachable_url, run_check

        if target.name not in self.opened:
            try:
                url = self.stack.enter_context(reachable_url(target, self.settings))
            except Exception as exc:
                self.opened[target.name] = (None, CheckResult("ready", "failed", 0.0, str(exc)))
                return self.opened[target.name]
            ctx = TargetContext(target=target, base_url=url, settings=self.settings)
            self.stack.callback(ctx.close)
            ready = run_check("ready", ctx)
            if ready.status == PASSED:
                take_metrics_baseline(ctx)
            self.opened[target.name] = (ctx, ready)
        return self.opened[target.name]


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
    with sessions.stack:
        yield sessions


def _parametrize_host_layers(metafunc: pytest.Metafunc) -> None:
    from tgi_infra.smoke.hostchecks import LAYERS, inventory_hosts
    from tgi_infra.smoke.targets import TargetConfigError

    inventory = metafunc.config.getoption("--inventory")
    if not (inventory and metafunc.config.getoption("--host-checks")):
        skip = pytest.mark.skip(reason="host checks need --inventory and --host-checks")
        metafunc.parametrize("host_layer", [pytest.param(None, marks=skip, id="no-host")])
        return
    try:
        names = [name for name, _, _ in inventory_hosts(inventory)]
    except TargetConfigError as exc:
        raise pytest.UsageError(str(exc)) from exc
    cases = [(h, layer) for h in names for layer in LAYERS]
    metafunc.parametrize("host_layer", cases, ids=[f"{h}::{layer}" for h, layer in cases])


@pytest.fixture(scope="session")
def host_reports(request: pytest.FixtureRequest):
    """Every host's checks, run once (hosts concurrently), by host name."""
    from tgi_infra.smoke.hostchecks import HostCheckSettings, inventory_hosts, run_hosts

    inventory = request.config.getoption("--inventory")
    settings = HostCheckSettings(
        min_free_gb=request.config.getoption("--min-free-gb"), inventory=inventory
    )
    return {r.host: r for r in run_hosts(inventory_hosts(inventory), settings)}
