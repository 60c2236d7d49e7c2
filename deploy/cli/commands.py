"""`tgi-infra` / `python -m tgi_infra`: the one command line, with subcommands.

    tgi-infra validate inventories/gpu.py [--limit PATTERN]
    tgi-infra render inventories/gpu.py --out build/rendered [--limit PATTERN] \\
        [--systemd PATTERN] [--no-systemd PATTERN] [--gpu-count HOST=N]
    tgi-infra variables            # markdown table of every inventory variable
    tgi-infra export kubernetes inventories/gpu.py --out k8s [--limit PATTERN] \\
        [--gpu-count HOST=N] ...   # Deployments + Services as a kustomize base
    tgi-infra smoke ...            # the smoke suite (same as `tgi-smoke ...`)
    tgi-infra rollout inventories/gpu.py --batch 2   # deploys N hosts at a time (rollout.py)
    tgi-infra status|start|stop|restart|logs ...   # this machine's services (local_cli.py)
    tgi-infra deploy inventories/gpu.py [pyinfra options, e.g. -y --limit HOST]

`deploy` runs the real pyinfra CLI with the package's deploy/main.py (tgi_infra.cli.deploy_runner):
unlike
plain `pyinfra`, it exits non-zero (130) when interrupted with Ctrl-C.

Nothing connects to a host (``validate`` asks the Hub, which is not a host, whether each
model can be read: ``tgi_infra.services.hub.hub_findings``): the inventory is loaded with
pyinfra's own loader (pyinfra_cli.inventory, which also reads group_data/), hosts are
selected as pyinfra's ``--limit`` does (host names, group names, globs; comma-separated or
repeated), and every selected host is validated before any file is written; the other hosts'
errors are warnings. ``validate`` also checks this machine's environment as the deploy will
read it: an ``api_key_env`` naming an unset variable is an error; a model the Hub refuses
(gated or private without a token that may read it) is a warning, and a Hub not asked
(``tgi_hub_check: false``, unreachable, ``HF_HUB_OFFLINE=1``) is a note saying so.
Exit status: 0 ok, 2 invalid inventory or usage error.

Subcommands live in one registry (``SUBCOMMANDS``): ``subcommand(...)`` registers one with
its argparse setup, or as a pass-through that gets the raw arguments (``smoke``).

Rendering offline cannot read whether a host runs systemd as PID 1 (the deploy reads that
from facts): give it with ``--systemd``/``--no-systemd`` host patterns (names, groups,
globs), else ``--supervisor`` (default systemd) applies. The config hash printed is the one
the deploy writes on the container label (same function, same secrets digest from this
environment; no secret is rendered: service.env is written only by the deploy).
"""

from __future__ import annotations

import argparse
import os
import sys
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path

from tgi_infra.config import ConfigError, inventory_variables_markdown, validate_inventory
from tgi_infra.config.inventory import InventoryLoadError, LoadedInventory, load, split_patterns
from tgi_infra.services.render import SUPERVISORS, render_for_deploy

EXIT_INVALID = 2


@dataclass(frozen=True)
class Subcommand:
    name: str
    help: str
    run: Callable[..., int]
    configure: Callable[[argparse.ArgumentParser], None] | None = None
    passthrough: bool = False  # run(argv) gets the raw arguments after the name


SUBCOMMANDS: dict[str, Subcommand] = {}


def subcommand(
    name: str,
    help: str,
    configure: Callable[[argparse.ArgumentParser], None] | None = None,
    passthrough: bool = False,
):
    """Register ``run`` as ``tgi-infra <name>``."""

    def register(run: Callable[..., int]) -> Callable[..., int]:
        SUBCOMMANDS[name] = Subcommand(name, help, run, configure, passthrough)
        return run

    return register


def _print_warnings(warnings: Sequence[str]) -> None:
    for warning in warnings:
        print(f"warning: {warning}", file=sys.stderr)


def _validated(args: argparse.Namespace) -> tuple[LoadedInventory, dict]:
    loaded = load(args.inventory)
    selected = loaded.select(args.limit)
    configs = validate_inventory(loaded.items(), sources=loaded.sources(), selected=selected)
    _print_warnings(configs.warnings)
    return loaded, configs


def _add_inventory(p: argparse.ArgumentParser) -> None:
    p.add_argument("inventory", help="pyinfra inventory file, e.g. inventories/gpu.py")
    p.add_argument(
        "--limit",
        action="append",
        metavar="PATTERN",
        help="only these hosts, as pyinfra's --limit: host name, group name or glob "
        "(comma-separated or repeated); the other hosts' errors become warnings",
    )


@subcommand(
    "validate",
    "validate the selected hosts of an inventory; contacts no host, asks the Hub (HF_ENDPOINT) "
    "about each model unless tgi_hub_check: false or HF_HUB_OFFLINE=1",
    _add_inventory,
)
def cmd_validate(args: argparse.Namespace) -> int:
    from tgi_infra.services.hub import hub_findings

    loaded = load(args.inventory)
    selected = loaded.select(args.limit)
    # with this environment: an api_key_env naming an unset variable is an error here too
    configs = validate_inventory(
        loaded.items(), sources=loaded.sources(), selected=selected, environ=os.environ
    )
    hub_warnings, notes = hub_findings(configs, os.environ)
    _print_warnings([*configs.warnings, *hub_warnings])
    for note in notes:
        print(f"note: {note}", file=sys.stderr)
    n_services = sum(len(c.tgi_services) for c in configs.values())
    print(f"ok: {len(configs)} host(s), {n_services} service(s) valid in {args.inventory}")
    return 0


def _configure_render(p: argparse.ArgumentParser) -> None:
    _add_inventory(p)
    p.add_argument("--out", required=True, help="output dir: <out>/<host>/<service>/<file>")
    p.add_argument(
        "--systemd",
        action="append",
        metavar="PATTERN",
        help="hosts that run systemd as PID 1 (names, groups, globs; comma-separated)",
    )
    p.add_argument(
        "--no-systemd",
        action="append",
        metavar="PATTERN",
        help="hosts without systemd as PID 1 (e.g. WSL2 by default): Docker supervises",
    )
    p.add_argument(
        "--supervisor",
        choices=SUPERVISORS,
        default="systemd",
        help="for hosts named by neither --systemd nor --no-systemd (default systemd)",
    )
    p.add_argument(
        "--gpu-count",
        action="append",
        metavar="PATTERN=N",
        help="GPUs the host has (the deploy reads it from nvidia-smi); matters for "
        'gpus: "all" services without num_shard',
    )


def supervisors_from_args(
    loaded: LoadedInventory, names: Sequence[str], args: argparse.Namespace
) -> dict[str, str]:
    """host name -> supervisor, from --systemd / --no-systemd patterns, else --supervisor."""
    with_systemd = set(loaded.select(args.systemd)) if split_patterns(args.systemd) else set()
    without = set(loaded.select(args.no_systemd)) if split_patterns(args.no_systemd) else set()
    both = sorted(with_systemd & without & set(names))
    if both:
        raise InventoryLoadError(f"hosts named by both --systemd and --no-systemd: {both}")
    return {
        n: "systemd" if n in with_systemd else "docker" if n in without else args.supervisor
        for n in names
    }


def gpu_counts_from_args(loaded: LoadedInventory, args: argparse.Namespace) -> dict[str, int]:
    out: dict[str, int] = {}
    for item in args.gpu_count or ():
        pattern, sep, count = item.rpartition("=")
        if not sep or not count.isdigit():
            raise InventoryLoadError(f"--gpu-count {item!r}: expected PATTERN=N")
        for name in loaded.select([pattern]):
            out[name] = int(count)
    return out


@subcommand("render", "render the selected hosts' service files locally", _configure_render)
def cmd_render(args: argparse.Namespace) -> int:
    loaded, configs = _validated(args)
    supervisors = supervisors_from_args(loaded, list(configs), args)
    gpu_counts = gpu_counts_from_args(loaded, args)
    out = Path(args.out)
    count = 0
    for host_name, cfg in configs.items():
        for svc in cfg.present_services():
            rendered = render_for_deploy(
                host_name, cfg, svc, supervisors[host_name], gpu_counts.get(host_name), os.environ
            )
            target = out / host_name / rendered.service.name
            target.mkdir(parents=True, exist_ok=True)
            for name, (content, mode) in rendered.files.items():
                path = target / name
                path.write_text(content)
                path.chmod(mode)
                count += 1
            print(
                f"{host_name}/{rendered.service.name}: supervisor {rendered.supervisor}, "
                f"config-hash {rendered.config_hash}"
            )
    print(f"rendered {count} file(s) for {len(configs)} host(s) under {out}")
    return 0


def _configure_export(p: argparse.ArgumentParser) -> None:
    targets = p.add_subparsers(dest="target", required=True, metavar="TARGET")
    k8s = targets.add_parser(
        "kubernetes",
        help="plain Kubernetes objects per service, as a kustomize base (kubectl apply -k)",
        description="Export the selected hosts' services as Deployments and Services (a "
        "kustomize base): the same engine arguments as the Docker render, Secrets referenced "
        "by name only. Refuses what Kubernetes cannot express, naming the field; lists what "
        "does not map.",
    )
    k8s.add_argument("inventory", nargs="?", help="pyinfra inventory file, e.g. inventories/gpu.py")
    k8s.add_argument(
        "--limit",
        action="append",
        metavar="PATTERN",
        help="only these hosts (names, groups, globs), as `render --limit`",
    )
    k8s.add_argument("--out", help="output folder: <out>/kustomization.yaml, <out>/<host>/...")
    k8s.add_argument(
        "--mapping",
        action="store_true",
        help="print the markdown table of what each inventory variable becomes, and exit",
    )
    k8s.add_argument(
        "--gpu-count",
        action="append",
        metavar="PATTERN=N",
        help='GPUs the host has: needed for gpus: "all" services (as `render --gpu-count`)',
    )
    k8s.add_argument(
        "--gpu-ids-as-count",
        action="store_true",
        help="export a list of N device ids as N GPUs (the device plugin picks which)",
    )
    k8s.add_argument("--runtime-class", metavar="NAME", help="pods' runtimeClassName (nvidia)")
    k8s.add_argument(
        "--cache",
        choices=("hostpath", "pvc"),
        default="hostpath",
        help="model cache: the volume's host path (default, reuses weights on the node) or "
        "a PersistentVolumeClaim per service",
    )
    k8s.add_argument("--cache-size", default="100Gi", help="PVC size with --cache pvc (100Gi)")
    k8s.add_argument("--storage-class", metavar="NAME", help="PVC storageClassName")
    k8s.add_argument(
        "--service-type",
        choices=("NodePort", "LoadBalancer"),
        default="NodePort",
        help="Service type of services not bound to loopback (those get ClusterIP)",
    )
    k8s.add_argument("--max-surge", metavar="N|N%%", help="rolling update instead of Recreate")
    k8s.add_argument("--max-unavailable", metavar="N|N%%", help="rolling update, as --max-surge")
    k8s.add_argument(
        "--no-node-selector",
        dest="node_selector",
        action="store_false",
        help="do not pin each pod to its inventory host (nodeSelector kubernetes.io/hostname)",
    )
    k8s.add_argument("--namespace", metavar="NS", help="namespace: in the top kustomization")
    k8s.add_argument(
        "--secret-name", default="tgi-infra-secrets", help="the Secret the pods read tokens from"
    )


@subcommand("export", "export the inventory to another platform: kubernetes", _configure_export)
def cmd_export(args: argparse.Namespace) -> int:
    from tgi_infra.export import kubernetes as k8s

    if args.mapping:
        sys.stdout.write(k8s.mapping_markdown())
        return 0
    if not args.inventory or not args.out:
        print("error: export kubernetes needs INVENTORY and --out DIR", file=sys.stderr)
        return EXIT_INVALID
    loaded, configs = _validated(args)
    opts = k8s.ExportOptions(
        gpu_counts=gpu_counts_from_args(loaded, args),
        gpu_ids_as_count=args.gpu_ids_as_count,
        runtime_class=args.runtime_class,
        cache=args.cache,
        cache_size=args.cache_size,
        storage_class=args.storage_class,
        service_type=args.service_type,
        max_surge=args.max_surge,
        max_unavailable=args.max_unavailable,
        node_selector=args.node_selector,
        namespace=args.namespace,
        secret_name=args.secret_name,
    )
    try:
        out = Path(args.out)
        export = k8s.export_inventory(configs, opts, os.environ, str(out))
        k8s.write_export(export, out)
    except k8s.ExportError as exc:
        print(f"cannot export to Kubernetes: {exc.report()}", file=sys.stderr)
        return EXIT_INVALID
    for es in export.services:
        gpus = f"{es.gpus} GPU(s)" if es.gpus else "no GPU"
        print(f"{es.host_name}/{es.service.name}: {gpus}, config-hash {es.config_hash}")
    print(f"exported {len(export.services)} service(s) under {out}: kubectl apply -k {out}")
    sys.stdout.write("\n" + export.notes)
    return 0


@subcommand("variables", "print the markdown table of inventory variables")
def cmd_variables(args: argparse.Namespace) -> int:
    sys.stdout.write(inventory_variables_markdown())
    return 0


def _configure_rollout(p: argparse.ArgumentParser) -> None:
    from tgi_infra.cli import rollout

    rollout.add_arguments(p)


@subcommand(
    "rollout", "roll a change N hosts at a time, smoke-gated (deploys!)", _configure_rollout
)
def cmd_rollout(args: argparse.Namespace) -> int:
    from tgi_infra.cli import rollout

    loaded = load(args.inventory)
    configs = validate_inventory(loaded.items(), sources=loaded.sources())  # nothing runs if bad
    _print_warnings(configs.warnings)
    return rollout.cmd_rollout(args, list(configs))


@subcommand("smoke", "run the smoke suite (tgi-infra smoke --help)", passthrough=True)
def cmd_smoke(argv: Sequence[str]) -> int:
    from tgi_infra.smoke.cli import main as smoke_main

    return smoke_main(list(argv))


@subcommand(
    "deploy",
    "run the deploy: pyinfra INVENTORY <package>/main.py [pyinfra options]; exits 130 when "
    "interrupted (plain pyinfra exits 0)",
    passthrough=True,
)
def cmd_deploy(argv: Sequence[str]) -> int:
    from tgi_infra.cli.deploy_runner import pyinfra_command, run_step

    argv = list(argv)
    if not argv or argv[0] in ("-h", "--help"):
        print(
            "usage: tgi-infra deploy INVENTORY [pyinfra options, e.g. -y --limit HOST]\n"
            "runs pyinfra INVENTORY <tgi_infra>/main.py; exit status 130 when interrupted",
            file=sys.stderr if not argv else sys.stdout,
        )
        return EXIT_INVALID if not argv else 0
    inventory, extra = argv[0], argv[1:]
    if not Path(inventory).is_file():
        print(f"error: inventory file not found: {inventory}", file=sys.stderr)
        return EXIT_INVALID
    cmd = pyinfra_command(inventory, *extra)
    print("deploying: pyinfra " + " ".join(cmd[3:]), file=sys.stderr, flush=True)
    return run_step("the deploy (pyinfra)", cmd)


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="tgi-infra",
        description="Deploy TGI on NVIDIA GPU hosts with pyinfra: validate, render, smoke.",
    )
    sub = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")
    for cmd in SUBCOMMANDS.values():
        p = sub.add_parser(cmd.name, help=cmd.help, add_help=not cmd.passthrough)
        if cmd.configure:
            cmd.configure(p)
        p.set_defaults(func=cmd.run)

    from tgi_infra.cli.local_verbs import add_commands  # status/start/stop/restart/logs (issue 17)

    add_commands(sub)
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    argv = list(sys.argv[1:] if argv is None else argv)
    if argv and argv[0] in SUBCOMMANDS and SUBCOMMANDS[argv[0]].passthrough:
        return SUBCOMMANDS[argv[0]].run(argv[1:])
    args = build_parser().parse_args(argv)
    try:
        return args.func(args)
    except ConfigError as exc:
        print(f"invalid inventory: {exc.report()}", file=sys.stderr)
        return EXIT_INVALID
    except InventoryLoadError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return EXIT_INVALID


if __name__ == "__main__":
    sys.exit(main())
