"""NVIDIA Container Toolkit, the current official way, and the Docker runtime entry.

- key dearmored to ``/usr/share/keyrings/nvidia-container-toolkit-keyring.gpg``;
- source ``deb [signed-by=...] <repo>/stable/deb/$(ARCH) /``;
- ``apt-get update`` only when the key or the source changed, and for that source alone: when its
  signature does not verify, the source is disabled again (the host's apt stays usable) and the
  deploy fails with apt's own signature error;
- the four packages, all pinned to ``nvidia_toolkit_version`` when it is set;
- ``nvidia-ctk runtime configure --runtime=docker`` only when daemon.json lacks the runtime;
- optional CDI spec in ``/etc/cdi/nvidia.yaml`` (kept across reboots; ``/var/run/cdi`` is
  cleared at boot), generated again when the driver changed (a record names the driver it was
  generated for) or the toolkit was installed or upgraded;
- the GPU proof (``docker run --gpus all <cuda_image> nvidia-smi --query-gpu=uuid``: the
  container sees the host's GPUs, by UUID).
"""

from __future__ import annotations

import shlex

from pyinfra import host, logger
from pyinfra.api import deploy
from pyinfra.api.exceptions import OperationError
from pyinfra.facts.deb import DebPackages
from pyinfra.facts.files import File
from pyinfra.operations import apt, python, server
from pyinfra.operations.util import any_changed
from tgi_infra.config import HostConfig
from tgi_infra.host import remote
from tgi_infra.host.apt_install import lock_wait_option, run_apt
from tgi_infra.host.docker_engine import install_packages, missing_packages
from tgi_infra.host.facts import CdiSpecState, DaemonJson, NvidiaGpus
from tgi_infra.host.gpu_proof import PROOF_QUERY, compare_gpu_uuids, proof_command
from tgi_infra.host.host_state import Read
from tgi_infra.host.reading import (
    CDI_RECORD_PATH,
    CDI_SPEC_PATH,
    DAEMON_JSON_PATH,
    TOOLKIT_PACKAGES,
    cdi_record_content,
)
from tgi_infra.host.toolkit_upkeep import (
    ToolkitCandidates,
    ToolkitKeyFingerprints,
    blank_daemon_json_command,
    key_rotated,
    pin_missing_from_lists,
    replace_keyring_command,
)
from tgi_infra.services import atomic

KEYRING = "/usr/share/keyrings/nvidia-container-toolkit-keyring.gpg"
SOURCE_LIST = "/etc/apt/sources.list.d/nvidia-container-toolkit.list"
PACKAGES = list(TOOLKIT_PACKAGES)
CDI_SPEC = CDI_SPEC_PATH  # /etc/cdi: kept across reboots (NVIDIA's CDI docs)
CDI_RECORD = CDI_RECORD_PATH
DAEMON_JSON = DAEMON_JSON_PATH


def source_line(cfg: HostConfig) -> str:
    repo = cfg.nvidia_toolkit_repo_url.rstrip("/")
    return f"deb [signed-by={KEYRING}] {repo}/stable/deb/$(ARCH) /\n"


def package_specs(cfg: HostConfig) -> list[str]:
    if cfg.nvidia_toolkit_version:
        return [f"{p}={cfg.nvidia_toolkit_version}" for p in PACKAGES]
    return list(PACKAGES)


TOOLKIT_UPDATE = (
    "apt-get update -o Dir::Etc::sourcelist=sources.list.d/nvidia-container-toolkit.list"
    " -o Dir::Etc::sourceparts=- -o APT::Get::List-Cleanup=0"
)


def _update_toolkit_source(state, host, repo: str, gpgkey_url: str, lock_timeout: int) -> None:
    """apt-get update of the toolkit source alone; on a signature error disable it and fail.
    apt's lists lock is waited for first (``apt_install.run_apt``): a lock held past the
    timeout fails the deploy as such, the source kept."""
    ok, lines = run_apt(state, host, TOOLKIT_UPDATE, lock_timeout)
    text = "\n".join(lines)
    # apt-get update exits 0 on some signature failures: read what it said too
    bad = ("NO_PUBKEY", "couldn't be verified", "is not signed", "BADSIG", "EXPKEYSIG")
    if ok and not any(marker in text for marker in bad):
        return
    remote.run(state, host, f"mv -f {SOURCE_LIST} {SOURCE_LIST}.disabled", print_output=False)
    raise OperationError(
        f"host {host.name}: apt could not verify the NVIDIA Container Toolkit repository "
        f"{repo} with the key from {gpgkey_url}; the source was disabled "
        f"({SOURCE_LIST}.disabled) so apt stays usable. Fix the mirror or "
        f"nvidia_toolkit_gpgkey_url. apt said:\n{text.strip()}"
    )


def reads(cfg: HostConfig, plan) -> list[Read]:
    """What this module reads on a host whose preflight gave ``plan`` (``host_state``)."""
    if plan.skip_engine_and_toolkit:
        return []
    url = cfg.nvidia_toolkit_gpgkey_url
    out = [Read(DebPackages), Read(File, path=KEYRING), *atomic.reads(SOURCE_LIST)]
    out += [Read(ToolkitKeyFingerprints, keyring=KEYRING, url=url), Read(ToolkitCandidates)]
    out.append(Read(DaemonJson))
    if not cfg.cpu_mode:
        out += [Read(NvidiaGpus), Read(CdiSpecState)]
    return out


@deploy("Install NVIDIA Container Toolkit")
def install(cfg: HostConfig, plan) -> list:
    """Returns the operations that may change the host (for the GPU proof's condition)."""
    if plan.skip_engine_and_toolkit:
        host.noop("Docker Desktop carries GPU support: toolkit not installed")
        return []
    ops = install_packages(
        "Install apt prerequisites", ["ca-certificates", "curl", "gnupg"], cfg.apt_lock_timeout
    )
    key = apt.key(
        name="Add NVIDIA's apt key (dearmored)", src=cfg.nvidia_toolkit_gpgkey_url, dest=KEYRING
    )
    source = atomic.put(
        name="Add the NVIDIA Container Toolkit apt source",
        content=source_line(cfg),
        dest=SOURCE_LIST,
        mode=0o644,
    )
    rotated = _replace_rotated_key(cfg)
    # refresh when key or source changed, or when the pinned version is not in the lists yet
    pin = cfg.nvidia_toolkit_version
    refresh = pin_missing_from_lists(pin, host.get_fact(ToolkitCandidates))
    if refresh:
        logger.info(f"{host.print_prefix}{pin} is not in the NVIDIA source's lists: refreshing")
    python.call(
        name="Update apt lists (NVIDIA source, signature checked)",
        function=remote.reported(_update_toolkit_source),
        repo=cfg.nvidia_toolkit_repo_url,
        gpgkey_url=cfg.nvidia_toolkit_gpgkey_url,
        lock_timeout=cfg.apt_lock_timeout,
        **({} if refresh else {"_if": any_changed(key, source, *rotated)}),
    )
    specs = package_specs(cfg)
    if missing_packages(specs):
        ops.append(
            apt.packages(
                name="Install NVIDIA Container Toolkit packages"
                + (f" {cfg.nvidia_toolkit_version}" if cfg.nvidia_toolkit_version else ""),
                packages=specs,
                allow_downgrades=bool(cfg.nvidia_toolkit_version),
                # apt waits for the dpkg locks (unattended-upgrades): apt_install
                extra_install_args=lock_wait_option(cfg.apt_lock_timeout),
            )
        )
    else:
        host.noop("NVIDIA Container Toolkit packages already installed")
    return [*ops, key, source, *rotated]


def _replace_rotated_key(cfg: HostConfig) -> list:
    """Replace the keyring when the key published at the gpgkey URL is another one (NVIDIA
    rotates keys; ``apt.key`` without a key id never touches an existing keyring)."""
    url = cfg.nvidia_toolkit_gpgkey_url
    fingerprints = host.get_fact(ToolkitKeyFingerprints, keyring=KEYRING, url=url)
    if not key_rotated(fingerprints):
        return []
    logger.info(
        f"{host.print_prefix}the key at {url} changed: "
        f"{', '.join(fingerprints['keyring'])} -> {', '.join(fingerprints['published'])}"
    )
    return [
        server.shell(
            name="Replace NVIDIA's apt key (the published key changed)",
            commands=[replace_keyring_command(KEYRING, url)],
        )
    ]


def runtime_configured(daemon: dict | None, set_as_default: bool) -> bool:
    daemon = daemon or {}
    if "nvidia" not in (daemon.get("runtimes") or {}):
        return False
    return not set_as_default or daemon.get("default-runtime") == "nvidia"


@deploy("Configure the nvidia runtime for Docker")
def configure_runtime(cfg: HostConfig, plan):
    """``nvidia-ctk runtime configure`` when daemon.json lacks it. Returns the op (or None)."""
    if plan.skip_engine_and_toolkit:
        return None
    if runtime_configured(host.get_fact(DaemonJson), cfg.nvidia_runtime_default):
        host.noop("daemon.json already has the nvidia runtime")
        return None
    return server.shell(
        name="nvidia-ctk runtime configure --runtime=docker", commands=runtime_commands(cfg)
    )


def runtime_commands(cfg: HostConfig, daemon_json: str = DAEMON_JSON) -> list[str]:
    """A blank daemon.json made ``{}`` (nvidia-ctk fails on it), then nvidia-ctk."""
    cmd = "nvidia-ctk runtime configure --runtime=docker"
    if daemon_json != DAEMON_JSON:
        cmd += f" --config={shlex.quote(daemon_json)}"
    if cfg.nvidia_runtime_default:
        cmd += " --set-as-default"
    return [blank_daemon_json_command(daemon_json), cmd]


def cdi_generate_reason(spec: dict, driver_version: str | None) -> str | None:
    """Why the CDI spec must be generated now (None: it is current). ``spec``: the
    ``CdiSpecState`` fact; ``driver_version``: the driver nvidia-smi reports (None: unknown)."""
    if not spec.get("spec"):
        return f"{CDI_SPEC} is missing"
    recorded = spec.get("driver_version")
    if driver_version and recorded != driver_version:
        was = f"generated for driver {recorded}" if recorded else "no record of its driver"
        return f"the driver is {driver_version} ({was})"
    return None


def cdi_commands(
    driver_version: str | None, spec: str = CDI_SPEC, record: str = CDI_RECORD
) -> list[str]:
    """``nvidia-ctk cdi generate`` into ``spec`` (it writes a temp file in that directory and
    renames it: never half-written), then the record of the driver it describes (written the
    same way, 0644). Without a known driver version the record is removed: the next deploy
    that sees the driver regenerates."""
    directory = shlex.quote(record.rsplit("/", 1)[0] or "/")
    rec, staged = shlex.quote(record), shlex.quote(record + ".tgi-tmp")
    generate = f"nvidia-ctk cdi generate --output={shlex.quote(spec)}"
    if not driver_version:
        return [generate, f"rm -f -- {rec}"]
    content = shlex.quote(cdi_record_content(driver_version, spec))
    return [
        generate,
        f"mkdir -p -m 755 -- {directory} && printf %s {content} > {staged} && "
        f"chmod 644 -- {staged} && mv -f -- {staged} {rec}",
    ]


@deploy("Generate the CDI spec")
def cdi(cfg: HostConfig, plan, toolkit_changed=None) -> None:
    """NVIDIA's CDI spec in ``/etc/cdi`` (``/var/run/cdi`` is cleared at boot), generated again
    when the driver changed since (a record says which driver it describes) or when this
    deploy installed or upgraded the toolkit (``toolkit_changed``, decided when it runs)."""
    if not cfg.nvidia_cdi or plan.skip_engine_and_toolkit:
        return
    if cfg.cpu_mode:
        host.noop("CDI skipped: CPU mode, no GPU to describe")
        return
    gpus = (host.get_fact(NvidiaGpus) or {}).get("gpus") or []
    driver = next((g.get("driver_version") for g in gpus if g.get("driver_version")), None)
    reason = cdi_generate_reason(host.get_fact(CdiSpecState), driver)
    if reason:
        logger.info(f"{host.print_prefix}CDI spec: {reason}: generating it")
    name = f"nvidia-ctk cdi generate --output={CDI_SPEC}"
    commands = cdi_commands(driver)
    if reason:
        server.shell(name=name, commands=commands)
    elif toolkit_changed is not None:
        server.shell(name=name, commands=commands, _if=toolkit_changed)
    else:
        host.noop(f"CDI spec {CDI_SPEC} is current (driver {driver})")


def _gpu_proof(state, host, image: str, expected: list[str]) -> None:
    """``expected``: the host's GPU UUIDs; the container must see exactly those."""
    cmd = proof_command(image)
    ok, output = remote.run(state, host, cmd, print_output=False)
    problem = compare_gpu_uuids(expected, output.stdout_lines) if ok else "the command failed"
    if problem:
        said = "\n".join(output.stdout_lines + output.stderr_lines)
        raise OperationError(
            f"host {host.name}: GPU proof failed: `{cmd}`: {problem}. Check the driver "
            f"(`nvidia-smi -L`), `nvidia-ctk --version` and `docker info | grep -i runtimes`. "
            f"Output:\n{said}"
        )
    logger.info(
        f"{host.print_prefix}GPU proof: the host's {len(expected)} GPU(s) visible inside a "
        "container (UUIDs match)"
    )


@deploy("GPU proof")
def gpu_proof(cfg: HostConfig, plan, run_if) -> None:
    """Containers see the GPUs. Skipped (and said so) in CPU mode.

    Runs whenever provisioning changed something on the host (``run_if``), so a re-run that
    changes nothing stays at 0 changes; ``smoke --host-checks`` checks GPUs in every container.
    """
    if cfg.cpu_mode:
        host.noop("GPU proof skipped: CPU mode (gpus: none)")
        return
    python.call(
        name=f"GPU proof: docker run --gpus all <tgi_cuda_image> {PROOF_QUERY}",
        function=remote.reported(_gpu_proof),
        image=cfg.cuda_image_resolved,
        expected=[g["uuid"] for g in (host.get_fact(NvidiaGpus) or {}).get("gpus") or []],
        _if=run_if,
    )
