"""CLI verbs for the services on this machine (``python -m tgi_infra status|start|stop|restart|
logs``), registered on the package CLI (deploy/cli/commands.py); the work is done by
tgi_infra.local.

    python -m tgi_infra status [NAME] [--json]
    python -m tgi_infra start NAME [--wait SECONDS]
    python -m tgi_infra stop NAME
    python -m tgi_infra restart NAME [--wait SECONDS]
    python -m tgi_infra logs NAME [-n LINES] [-f]

Exit status: 0 ok; 1 the service or Docker said no (no daemon, no permission on its socket,
no such service, systemctl refused, not ready in time).
"""

from __future__ import annotations

import argparse
import json
import signal
import sys

EXIT_ERROR = 1
COLUMNS = ("name", "model_id", "engine", "supervisor", "port", "state", "health", "config_hash")


def _cell(row: dict, column: str) -> str:
    value = row[column]
    if value is None:
        return "-"
    return str(value)[:12] if column == "config_hash" else str(value)


def _table(rows: list[dict]) -> str:
    cells = [list(COLUMNS)] + [[_cell(r, c) for c in COLUMNS] for r in rows]
    widths = [max(len(row[i]) for row in cells) for i in range(len(COLUMNS))]
    return "\n".join(
        "  ".join(v.ljust(w) for v, w in zip(row, widths, strict=True)).rstrip() for row in cells
    )


def cmd_status(args: argparse.Namespace) -> int:
    from tgi_infra import local

    found = [local.status(args.name)] if args.name else local.services()
    rows = [s.as_dict() for s in found]
    if args.json:
        print(json.dumps(rows, indent=2))
    elif not rows:
        print("no services deployed by tgi-infra on this machine")
    else:
        print(_table(rows))
        for s in found:
            where = f"unit {s.unit}" if s.unit else "Docker restart policy"
            print(f"{s.name}: {s.url or 'no published port'}, supervised by {where}")
    return 0


def _act(args: argparse.Namespace) -> int:
    from tgi_infra import local

    svc = getattr(local, args.command)(args.name)
    how = f"systemctl {args.command} {svc.unit}" if svc.supervisor == "systemd" else "docker"
    print(f"{svc.name}: {args.command} done ({how}); container {svc.state}")
    if getattr(args, "wait", None):
        svc = local.wait_ready(args.name, timeout=args.wait)
        print(f"{svc.name}: ready at {svc.url} ({svc.model_id})")
    return 0


def cmd_logs(args: argparse.Namespace) -> int:
    from tgi_infra import local

    if args.follow:
        # "until interrupted" holds whatever SIGINT disposition was inherited: a script's
        # background job starts with SIGINT ignored, and `kill -INT` must still end the follow
        previous = signal.signal(signal.SIGINT, signal.default_int_handler)
        try:
            for line in local.follow_logs(args.name, args.lines):
                sys.stdout.write(line)
                sys.stdout.flush()
        except KeyboardInterrupt:
            pass
        finally:
            signal.signal(signal.SIGINT, previous)
        return 0
    sys.stdout.write(local.logs(args.name, args.lines))
    return 0


def _guarded(func):
    def run(args: argparse.Namespace) -> int:
        from tgi_infra.local import LocalError

        try:
            return func(args)
        except LocalError as exc:
            print(f"error: {exc}", file=sys.stderr)
            return EXIT_ERROR

    return run


def add_commands(sub) -> None:
    """Register status/start/stop/restart/logs on the package CLI's subparsers."""
    p = sub.add_parser("status", help="services on this machine: model, port, health, hash")
    p.add_argument("name", nargs="?", help="one service (default: all)")
    p.add_argument("--json", action="store_true", help="JSON list instead of a table")
    p.set_defaults(func=_guarded(cmd_status))
    for verb, text in (
        ("start", "start a service on this machine (its systemd unit, or docker start)"),
        ("stop", "stop a service on this machine (its systemd unit, or docker stop)"),
        ("restart", "restart a service on this machine (its systemd unit, or docker)"),
    ):
        p = sub.add_parser(verb, help=text)
        p.add_argument("name", help="service (container) name")
        if verb != "stop":
            p.add_argument(
                "--wait", type=float, metavar="SECONDS", help="then wait until /health is 200"
            )
        p.set_defaults(func=_guarded(_act))
    p = sub.add_parser("logs", help="a service's log (its unit's journal, or docker logs)")
    p.add_argument("name", help="service (container) name")
    p.add_argument("-n", "--lines", type=int, default=200, help="last N lines (default 200)")
    p.add_argument("-f", "--follow", action="store_true", help="keep following")
    p.set_defaults(func=_guarded(cmd_logs))
