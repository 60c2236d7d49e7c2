"""``python -m bench run --out bench/RESULTS.md``: the whole benchmark (see bench/README.md).

Sections (``--only``): ``peers`` (scenario 0: this package vs the published Ansible roles of
bench/peers/, on the bench lab hosts; every run is appended to ``bench/raw/peers.json`` as one
table), ``deploy`` (scenarios 1-2 on the bench lab hosts, vs our own Ansible port), ``smoke``
(scenario 3, local stand-ins), ``fleet`` (scenario 4, simulated hosts). Raw samples go to
``bench/raw/*.json``; RESULTS.md is written from every raw file present, so sections can be
re-run on their own.
``python -m bench report`` rewrites RESULTS.md from the raw files; ``python -m bench down``
removes the bench hosts (and nothing else).
"""

from __future__ import annotations

import argparse
import json
import os
import shlex
import sys
import time
from pathlib import Path

from bench import lab_hosts, machine
from bench.results import render

HERE = Path(__file__).resolve().parent
RAW = HERE / "raw"
SECTIONS = ("peers", "deploy", "smoke", "fleet")


def _ints(text: str) -> list[int]:
    return [int(x) for x in text.split(",") if x]


def _rtts(text: str) -> list[float]:
    """``--rtt-ms 0,50``: added round trips in milliseconds, each 0 or more."""
    out = []
    for x in (x.strip() for x in text.split(",") if x.strip()):
        try:
            v = float(x)
        except ValueError:
            v = -1.0
        if not v >= 0:
            raise argparse.ArgumentTypeError(
                f"{x!r} is not a round trip: allowed are milliseconds >= 0, e.g. 0,50"
            )
        out.append(v)
    if not out:
        raise argparse.ArgumentTypeError("no round trip given: e.g. --rtt-ms 0,50")
    return out


def _log(item) -> None:
    print(f"[bench {time.strftime('%H:%M:%S')}] {json.dumps(item)}", flush=True)


def _load(name: str):
    path = RAW / f"{name}.json"
    return json.loads(path.read_text()) if path.exists() else None


def write_report(out: Path) -> None:
    meta = _load("meta") or {}
    deploy = _load("deploy") or []
    text = render(
        "` then `".join(meta.get("commands") or ["python -m bench run"]),
        meta.get("machine") or machine.describe(),
        deploy,
        _load("smoke"),
        _load("fleet"),
        meta.get("notes", []),
        _load("fleet_change"),
        _load("peers"),
        meta.get("peers_notes", []),
    )
    out.write_text(text)
    print(f"wrote {out}")


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(prog="python -m bench")
    sub = p.add_subparsers(dest="cmd", required=True)
    run = sub.add_parser("run", help="measure and write RESULTS.md")
    run.add_argument("--out", default=str(HERE / "RESULTS.md"))
    run.add_argument("--reps", type=int, default=3, help="first-provisioning repetitions (3)")
    run.add_argument("--noop-reps", type=int, default=3, help="no-op re-runs after each first (3)")
    run.add_argument(
        "--first-reps-8",
        type=int,
        default=None,
        help="first-provisioning repetitions for 8 hosts (default: --reps)",
    )
    run.add_argument("--sizes", type=_ints, default=[1, 4, 8], help="bench host counts (1,4,8)")
    run.add_argument("--smoke-sizes", type=_ints, default=[1, 16])
    run.add_argument("--smoke-reps", type=int, default=5)
    run.add_argument("--fleet-sizes", type=_ints, default=[100, 500])
    run.add_argument(
        "--peers-tools",
        default="pyinfra,peers",
        help="tools of the peers section, in A/B order (pyinfra,peers; add ansible for the port)",
    )
    run.add_argument(
        "--rtt-ms",
        type=_rtts,
        default=None,
        help="peers section: added SSH round trips in ms, each repetition once per value, through"
        " bench/relay.py (e.g. 0,50; default: the hosts reached directly)",
    )
    run.add_argument("--only", default=",".join(SECTIONS), help="sections to run (all)")
    run.add_argument("--keep-hosts", action="store_true", help="leave the bench hosts running")
    rep = sub.add_parser("report", help="rewrite RESULTS.md from bench/raw/")
    rep.add_argument("--out", default=str(HERE / "RESULTS.md"))
    sub.add_parser("down", help="remove the bench hosts bench-1..bench-8")
    args = p.parse_args(argv)
    if args.cmd == "down":
        lab_hosts.remove()
        return 0
    if args.cmd == "report":
        write_report(Path(args.out))
        return 0
    os.environ.setdefault("TGI_LAB_STATE_DIR", lab_hosts.DEFAULT_STATE_DIR)
    RAW.mkdir(exist_ok=True)
    only = [s for s in args.only.split(",") if s]
    if args.rtt_ms is not None and "peers" not in only:
        p.error(f"--rtt-ms applies to the peers section, which --only {args.only} leaves out")
    meta = _load("meta") or {"notes": []}
    command = " ".join(
        [".venv/bin/python -m bench", *map(shlex.quote, sys.argv[1:] if argv is None else argv)]
    )
    if set(only) == set(SECTIONS):
        meta["commands"] = []  # a full run starts the record again
    elif "command" in meta:  # written by an older bench
        meta["commands"] = [meta.pop("command")]
    meta.setdefault("commands", []).append(command)
    meta["machine"] = machine.describe()
    (RAW / "meta.json").write_text(json.dumps(meta, indent=1))
    try:
        if "peers" in only:
            from bench import peers_bench

            peers_bench.measure(
                args.sizes,
                args.reps,
                args.noop_reps,
                [t for t in args.peers_tools.split(",") if t],
                command,
                _log,
                RAW / "peers.json",
                args.rtt_ms,
            )
        if "deploy" in only:
            from bench import deploys

            first_reps = {8: args.first_reps_8} if args.first_reps_8 else {}
            deploys.measure(
                args.sizes, args.reps, args.noop_reps, first_reps, _log, RAW / "deploy.json"
            )
        if "smoke" in only:
            from bench import smoke_overhead

            res = smoke_overhead.measure(args.smoke_sizes, args.smoke_reps, _log)
            (RAW / "smoke.json").write_text(json.dumps(res, indent=1))
        if "fleet" in only:
            from bench import fleet

            res = fleet.measure(
                args.fleet_sizes, args.reps, Path(lab_hosts.bench_state_dir()) / "fleet", _log
            )
            (RAW / "fleet.json").write_text(json.dumps(res, indent=1))
    finally:
        if not args.keep_hosts:
            lab_hosts.remove()
    write_report(Path(args.out))
    return 0


if __name__ == "__main__":
    sys.exit(main())
