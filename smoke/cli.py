"""``tgi-smoke`` / ``python -m smoke``: post-deploy smoke checks of TGI services.

Exit codes: 0 every check passed, 1 a check failed, 2 usage or configuration error.
"""

from __future__ import annotations

import argparse
import sys

from smoke.checks import CHECK_NAMES
from smoke.context import Settings
from smoke.targets import Target, TargetConfigError, targets_from_inventory, targets_from_urls

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
    p = argparse.ArgumentParser(
        prog="tgi-smoke",
        description="Smoke-test deployed Text Generation Inference services. Checks, in order: "
        + ", ".join(CHECK_NAMES)
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
        "--no-semantic",
        action="store_true",
        help="skip the context-QA semantic checks for --url targets",
    )
    src.add_argument(
        "--inventory",
        metavar="FILE",
        help="pyinfra inventory (e.g. inventories/gpu.py): every present TGI service of every host",
    )
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


def collect_targets(args: argparse.Namespace) -> list[Target]:
    if not args.url and (args.model_id or args.api_key_env or args.no_semantic):
        raise TargetConfigError(
            "--model-id/--api-key-env/--no-semantic apply to --url targets only"
        )
    if not args.url and not args.inventory:
        raise TargetConfigError("give at least one --url or an --inventory")
    targets: list[Target] = []
    if args.url:
        targets += targets_from_urls(
            args.url, args.model_id, args.api_key_env, not args.no_semantic
        )
    if args.inventory:
        targets += targets_from_inventory(args.inventory)
    names = [t.name for t in targets]
    dupes = sorted({n for n in names if names.count(n) > 1})
    if dupes:
        raise TargetConfigError(f"duplicate targets: {', '.join(dupes)}")
    return targets


def main(argv: list[str] | None = None) -> int:
    parser = build_parser()
    try:
        args = parser.parse_args(argv)
    except SystemExit as exc:  # argparse: --help exits 0, usage errors exit 2
        return int(exc.code or 0)
    try:
        targets = collect_targets(args)
    except TargetConfigError as exc:
        print(f"tgi-smoke: error: {exc}", file=sys.stderr)
        return EXIT_USAGE

    from smoke.report import print_report, write_json, write_junit
    from smoke.runner import run

    settings = Settings(ready_timeout=args.ready_timeout, timeout=args.timeout)
    report = run(targets, settings, concurrency=args.concurrency)
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
