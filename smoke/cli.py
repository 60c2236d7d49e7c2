"""``tgi-smoke`` / ``python -m tgi_infra.smoke``: post-deploy smoke checks of TGI services.

Exit codes: 0 every check passed, 1 a check failed, 2 usage or configuration error.
"""

from __future__ import annotations

import argparse
import dataclasses
import os
import sys
from typing import TYPE_CHECKING

# The suite's modules (httpx, pydantic, the checks) are imported in main(), after the command
# line has forked its worker process (smoke/workers.py), so that the worker's imports start
# at once on the other core.
if TYPE_CHECKING:
    from tgi_infra.smoke.targets import Target

EXIT_OK, EXIT_FAILED, EXIT_USAGE = 0, 1, 2


def _positive(kind: type) -> object:
    def parse(text: str):
        try:
            value = kind(text)
        except ValueError:
            raise argparse.ArgumentTypeError(f"not a number: {text!r}") from None
        if value <= 0:
            raise argparse.ArgumentTypeError(f"must be > 0: {text!r}")
        return value

    return parse


def build_parser() -> argparse.ArgumentParser:
    from tgi_infra.smoke import floors, load
    from tgi_infra.smoke.checks import CHECK_NAMES
    from tgi_infra.smoke.engines import ENGINE_CHECKS, ENGINE_CHOICES

    p = argparse.ArgumentParser(
        prog="tgi-smoke",
        description="Smoke-test deployed inference services (TGI, vLLM, SGLang). Checks, in "
        "order, for TGI: "
        + ", ".join(CHECK_NAMES)
        + "; for vLLM: "
        + ", ".join(ENGINE_CHECKS["vllm"])
        + "; for SGLang: "
        + ", ".join(ENGINE_CHECKS["sglang"])
        + ". Exit 0: all passed, 1: a check failed, 2: usage/config error.",
    )
    src = p.add_argument_group("targets (at least one of --url / --inventory)")
    src.add_argument(
        "--url", action="append", default=[], help="TGI base URL, e.g. http://gpu1:8080 (repeat)"
    )
    src.add_argument(
        "--model-id",
        action="append",
        help="model id /info must report (--url targets; once for all, or once per --url)",
    )
    src.add_argument(
        "--api-key-env",
        action="append",
        metavar="NAME",
        help="env var holding the API key (--url targets; once for all, or once per --url)",
    )
    src.add_argument(
        "--engine",
        action="append",
        choices=ENGINE_CHOICES,
        help="inference engine of the --url targets, which picks the checks (once for all, or "
        "once per --url; default tgi; auto: ask the server after /health). Inventory targets "
        "take their service's engine",
    )
    src.add_argument(
        "--no-semantic",
        action="store_true",
        help="skip the context-QA semantic checks for --url targets",
    )
    src.add_argument(
        "--inventory",
        metavar="FILE",
        help="pyinfra inventory (e.g. inventories/gpu.py): every present TGI service of every host",
    )
    hc = p.add_argument_group(
        "host checks (testinfra, with --inventory): docker -> nvidia-runtime -> container -> host"
    )
    hc.add_argument(
        "--host-checks",
        action="store_true",
        help="check each host over pyinfra's SSH settings before the HTTP checks",
    )
    hc.add_argument(
        "--host",
        action="append",
        default=[],
        metavar="NAME",
        help="only this inventory host (repeat); host and HTTP checks",
    )
    hc.add_argument(
        "--local",
        action="store_true",
        help="run on the host itself (testinfra local://, e.g. inside WSL): needs one --host",
    )
    hc.add_argument("--no-http", action="store_true", help="host checks only, no HTTP smoke checks")
    hc.add_argument(
        "--min-free-gb",
        type=_positive(float),
        default=float(os.environ.get("TGI_SMOKE_MIN_FREE_GB", "20")),
        metavar="GB",
        help="free disk required on the model volume ($TGI_SMOKE_MIN_FREE_GB, 20)",
    )
    hc.add_argument(
        "--restart-window",
        type=_positive(float),
        default=3.0,
        metavar="S",
        help="seconds between the two restart-count samples (3)",
    )
    floors.add_arguments(p)
    load.add_arguments(p)
    p.add_argument(
        "--json", metavar="PATH", help="write the report as JSON (smoke/report-schema.json)"
    )
    p.add_argument("--junit", metavar="PATH", help="write the report as JUnit XML")
    p.add_argument(
        "--concurrency", type=_positive(int), default=8, help="targets checked at once (8)"
    )
    p.add_argument(
        "--ready-timeout",
        type=_positive(float),
        default=600.0,
        metavar="S",
        help="seconds to wait for /health to answer 200 (600)",
    )
    p.add_argument(
        "--timeout",
        type=_positive(float),
        default=60.0,
        metavar="S",
        help="per-request deadline in seconds, whole stream included (60)",
    )
    return p


def _local_target(t: Target) -> Target:
    if t.ssh is None:
        return t
    bind = "127.0.0.1" if t.remote_bind in (None, "localhost") else str(t.remote_bind)
    address = f"[{bind}]" if ":" in bind else bind
    return dataclasses.replace(t, url=f"http://{address}:{t.remote_port}", ssh=None)


def check_host_args(args: argparse.Namespace) -> None:
    from tgi_infra.smoke.targets import TargetConfigError

    if (args.host_checks or args.host or args.local or args.no_http) and not args.inventory:
        raise TargetConfigError("--host-checks/--host/--local/--no-http need --inventory")
    if args.local and len(args.host) != 1:
        raise TargetConfigError("--local checks the machine it runs on: give exactly one --host")
    if args.no_http and not args.host_checks:
        raise TargetConfigError("--no-http leaves nothing to run without --host-checks")
    if args.no_http and args.url:
        raise TargetConfigError("--no-http and --url contradict each other")


def collect_targets(args: argparse.Namespace) -> list[Target]:
    from tgi_infra.smoke.targets import (
        TargetConfigError,
        targets_from_inventory,
        targets_from_urls,
    )

    if not args.url and (args.model_id or args.api_key_env or args.no_semantic or args.engine):
        raise TargetConfigError(
            "--model-id/--api-key-env/--no-semantic/--engine apply to --url targets only"
        )
    if not args.url and not args.inventory:
        raise TargetConfigError("give at least one --url or an --inventory")
    targets: list[Target] = []
    if args.url:
        targets += targets_from_urls(
            args.url, args.model_id, args.api_key_env, not args.no_semantic, args.engine
        )
    if args.inventory:
        inv = targets_from_inventory(args.inventory)
        if args.host:
            inv = [t for t in inv if t.host in args.host]
        if args.local:  # on the host itself: services are reached directly, no tunnel
            inv = [_local_target(t) for t in inv]
        targets += inv
    names = [t.name for t in targets]
    dupes = sorted({n for n in names if names.count(n) > 1})
    if dupes:
        raise TargetConfigError(f"duplicate targets: {', '.join(dupes)}")
    return targets


def _wants_http(argv: list[str]) -> bool:
    """The command line names targets for HTTP checks (a guess before parsing it)."""
    flags = {a.split("=", 1)[0] for a in argv}
    return bool(flags & {"--url", "--inventory"}) and not flags & {"-h", "--help", "--no-http"}


def main(argv: list[str] | None = None, *, command_line: bool | None = None) -> int:
    """``command_line`` (default: ``argv`` is None, i.e. the process's own arguments): the
    process is tgi-smoke itself. The langchain check then runs in a worker process forked first
    thing (smoke/workers.py), and the process ends with os._exit once the report is out: the
    interpreter's teardown of the client libraries' thousands of modules costs ~0.4 s and
    nothing is left to do. Calls from Python run everything in-process and return."""
    if command_line is None:
        command_line = argv is None
    if command_line:
        if _wants_http(sys.argv[1:] if argv is None else argv):
            from tgi_infra.smoke import workers

            workers.start()  # before any thread exists and before the heavy imports
        try:
            code = _main(argv, command_line)
        finally:
            from tgi_infra.smoke import workers

            workers.stop()
        sys.stdout.flush()
        sys.stderr.flush()
        os._exit(code)
    return _main(argv, command_line)


def _main(argv: list[str] | None, worker: bool) -> int:
    from tgi_infra.smoke import load
    from tgi_infra.smoke.targets import TargetConfigError

    parser = build_parser()
    try:
        args = parser.parse_args(argv)
    except SystemExit as exc:  # argparse: --help exits 0, usage errors exit 2
        return int(exc.code or 0)
    try:
        check_host_args(args)
        load_settings = load.settings_from_args(args)
        targets = [] if args.no_http else collect_targets(args)
        hosts = []
        if args.host_checks:
            from tgi_infra.smoke.hostchecks import inventory_hosts

            hosts = inventory_hosts(args.inventory, args.host, local=args.local)
    except (TargetConfigError, ValueError) as exc:
        print(f"tgi-smoke: error: {exc}", file=sys.stderr)
        return EXIT_USAGE
    skip: tuple[str, ...] = ()
    if worker:
        from tgi_infra.smoke import workers

        if workers.started():
            skip = workers.MODULES  # imported by the worker, not here
    if targets:
        from tgi_infra.smoke import preload

        preload.start(skip)  # client-library imports overlap the network work
    return _run(args, targets, hosts, load_settings)


def _run(args: argparse.Namespace, targets: list, hosts: list, load_settings) -> int:
    import time
    from datetime import datetime, timezone

    from tgi_infra.smoke.context import Settings
    from tgi_infra.smoke.report import print_report, write_json, write_junit
    from tgi_infra.smoke.runner import run

    started_at, start = datetime.now(timezone.utc), time.monotonic()
    host_reports = []
    if hosts:
        from tgi_infra.smoke.hostchecks import HostCheckSettings, run_hosts

        host_settings = HostCheckSettings(
            min_free_gb=args.min_free_gb,
            restart_window_s=args.restart_window,
            inventory=args.inventory,
        )
        host_reports = run_hosts(hosts, host_settings, concurrency=args.concurrency)
    settings = Settings(
        ready_timeout=args.ready_timeout,
        timeout=args.timeout,
        progress=lambda line: print(f"tgi-smoke: {line}", file=sys.stderr, flush=True),
        min_tokens_per_s=args.min_tokens_per_s,
        max_ttft_s=args.max_ttft,
        load=load_settings,
    )
    report = run(targets, settings, concurrency=args.concurrency)
    report.hosts = host_reports
    report.started_at, report.duration_s = started_at, time.monotonic() - start
    print_report(report)
    try:
        if args.json:
            write_json(report, args.json)
        if args.junit:
            write_junit(report, args.junit)
    except OSError as exc:
        print(f"tgi-smoke: error: cannot write report: {exc}", file=sys.stderr)
        return EXIT_USAGE
    return EXIT_OK if report.passed else EXIT_FAILED


if __name__ == "__main__":
    sys.exit(main())
