"""`tgi-deploy` / `python -m tgi_infra`: validate an inventory or render its files offline.

    python -m tgi_infra validate inventories/gpu.py
    python -m tgi_infra render inventories/gpu.py --out build/rendered [--supervisor docker]
    python -m tgi_infra variables            # markdown table of every inventory variable

Nothing connects to a host: the inventory is loaded with pyinfra's own loader
(pyinfra_cli.inventory, which also reads group_data/), and every host is validated before
any file is written.  Exit status: 0 ok, 2 invalid inventory or usage error.

Rendering offline cannot know whether a host runs systemd as PID 1 (the deploy reads that
from facts), so `render` assumes `--supervisor systemd` unless told otherwise; it renders no
secrets (service.env is written only by the deploy).
"""

from __future__ import annotations

import argparse
import os
import sys
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from tgi_infra.config import ConfigError, inventory_variables_markdown, validate_inventory
from tgi_infra.render import SUPERVISORS, render_host

EXIT_INVALID = 2


class InventoryLoadError(Exception):
    pass


def load_inventory(path: str) -> list[tuple[str, dict[str, Any]]]:
    """(host name, host data) for every host of a pyinfra inventory file, without connecting."""
    from pyinfra.api import State
    from pyinfra.context import ctx_state
    from pyinfra_cli.inventory import make_inventory

    if not Path(path).is_file():
        raise InventoryLoadError(f"inventory file not found: {path}")
    try:
        with ctx_state.use(State()):
            inventory = make_inventory(path, cwd=os.getcwd())
    except Exception as exc:  # pyinfra wraps user-code errors in its own exceptions
        inner = getattr(exc, "exception", None) or exc
        where = getattr(exc, "filename", None) or path
        raise InventoryLoadError(
            f"cannot load inventory {path}: {type(inner).__name__} in {where}: {inner}"
        ) from exc
    return [(host.name, host.data.dict()) for host in inventory]


def _validate(path: str) -> dict:
    hosts = load_inventory(path)
    if not hosts:
        raise InventoryLoadError(f"inventory {path} has no hosts")
    return validate_inventory(hosts)


def _print_warnings(configs: dict) -> None:
    for cfg in configs.values():
        for warning in cfg.warnings:
            print(f"warning: {warning}", file=sys.stderr)


def cmd_validate(args: argparse.Namespace) -> int:
    configs = _validate(args.inventory)
    _print_warnings(configs)
    n_services = sum(len(c.tgi_services) for c in configs.values())
    print(f"ok: {len(configs)} host(s), {n_services} service(s) valid in {args.inventory}")
    return 0


def cmd_render(args: argparse.Namespace) -> int:
    configs = _validate(args.inventory)
    _print_warnings(configs)
    out = Path(args.out)
    count = 0
    for host_name, cfg in configs.items():
        if args.limit and host_name not in args.limit:
            continue
        for rendered in render_host(host_name, cfg, args.supervisor):
            target = out / host_name / rendered.service.name
            target.mkdir(parents=True, exist_ok=True)
            for name, (content, mode) in rendered.files.items():
                path = target / name
                path.write_text(content)
                path.chmod(mode)
                count += 1
            print(f"{host_name}/{rendered.service.name}: config-hash {rendered.config_hash}")
    print(f"rendered {count} file(s) under {out}")
    return 0


def cmd_variables(args: argparse.Namespace) -> int:
    sys.stdout.write(inventory_variables_markdown())
    return 0


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="tgi-deploy", description="Validate a TGI inventory or render its files offline."
    )
    sub = parser.add_subparsers(dest="command", required=True)

    p = sub.add_parser("validate", help="validate every host of an inventory")
    p.add_argument("inventory", help="pyinfra inventory file, e.g. inventories/gpu.py")
    p.set_defaults(func=cmd_validate)

    p = sub.add_parser("render", help="render every host's service files locally")
    p.add_argument("inventory", help="pyinfra inventory file, e.g. inventories/gpu.py")
    p.add_argument("--out", required=True, help="output dir: <out>/<host>/<service>/<file>")
    p.add_argument(
        "--supervisor",
        choices=SUPERVISORS,
        default="systemd",
        help="systemd (default; hosts with systemd as PID 1) or docker (e.g. WSL2 "
        "without systemd); the deploy detects this per host",
    )
    p.add_argument("--limit", action="append", help="only this host (repeatable)")
    p.set_defaults(func=cmd_render)

    p = sub.add_parser("variables", help="print the markdown table of inventory variables")
    p.set_defaults(func=cmd_variables)

    from tgi_infra.local_cli import add_commands  # status/start/stop/restart/logs (issue 17)

    add_commands(sub)
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    try:
        return args.func(args)
    except ConfigError as exc:
        print(f"invalid inventory: {len(exc.errors)} error(s):", file=sys.stderr)
        for message in exc.errors:
            print(f"  {message}", file=sys.stderr)
        return EXIT_INVALID
    except InventoryLoadError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return EXIT_INVALID


if __name__ == "__main__":
    sys.exit(main())
