"""``tgi-smoke`` / ``python -m tgi_infra.smoke``: post-deploy smoke checks of TGI services.

Exit codes: 0 every check passed, 1 a check failed, 2 usage or configuration error.
"""

from __future__ import annotations

import argparse
import dataclasses
import sys
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from tgi_infra.smoke.targets import Target

EXIT_OK, EXIT_FAILED, EXIT_USAGE = 0, 1, 2


def build_parser() -> argparse.ArgumentParser:
    from tgi_infra.smoke import options
    from tgi_infra.smoke.checks import CHECK_NAMES
    from tgi_infra.smoke.engines import ENGINE_CHECKS

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
    options.add_to_argparse(p)  # the options the pytest plugin takes too (smoke/options.py)
    return p


def _local_target(t: Target) -> Target:
    if t.ssh is None:
        return t
    bind = "127.0.0.1" if t.remote_bind in (None, "localhost") else str(t.remote_bind)
    address = f"[{bind}]" if ":" in bind else bind
    return dataclasses.replace(t, url=f"http://{address}:{t.remote_port}", ssh=None)


def check_host_args(args: argparse.Namespace) -> None:
    from tgi_infra.smoke.targets import TargetConfigError

    no_http = getattr(args, "no_http", False)  # the command line's alone
    if (args.host_checks or args.host or args.local or no_http) and not args.inventory:
        raise TargetConfigError("--host-checks/--host/--local/--no-http need --inventory")
    if args.local and len(args.host) != 1:
        raise TargetConfigError("--local checks the machine it runs on: give exactly one --host")
    if no_http and not args.host_checks:
        raise TargetConfigError("--no-http leaves nothing to run without --host-checks")
    if no_http and args.url:
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


def main(argv: list[str] | None = None) -> int:
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
    if targets:
        from tgi_infra.smoke import preload

        preload.start()  # client-library imports overlap the network work
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
        host_reports = run_hosts(hosts, host_settings)  # smoke/test_hosts.py, by pytest
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
