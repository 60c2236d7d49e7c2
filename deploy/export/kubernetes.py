"""The inventory as plain Kubernetes objects: `tgi-infra export kubernetes INVENTORY --out DIR`.

Per present service a Deployment and a Service (and a PersistentVolumeClaim with `cache="pvc"`),
per host a `kustomization.yaml` (the image mirror as its `images:` rewrite), and one at the top
that lists the hosts, so that `kubectl apply -k DIR` (or `DIR/HOST`) takes the base as is.
Secrets are referenced (`secretKeyRef` into one Secret keyed by the control machine's variable
NAMES), never read: the export prints the `kubectl create secret` command to run.

The container runs exactly what `docker run` runs in the Docker render: image and arguments
come from `tgi_infra.services.render.engine_command`, the one builder of both. What cannot be
expressed
(a list of device ids, a name Kubernetes refuses, `gpus: "all"` without the host's GPU count)
is refused with the host, service and field named, before anything is written; what has no
Kubernetes counterpart (host provisioning, the supervisor, the smoke floors) is listed in the
output (`NOT_MAPPED`), never dropped silently. `mapping_markdown()` is docs/kubernetes.md's table.
"""

from __future__ import annotations

import hashlib
import ipaddress
import json
import math
import re
import shlex
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Literal

import yaml
from tgi_infra.config import HostConfig, TGIService, host_key, shm_bytes, split_image
from tgi_infra.config.errors import ConfigError
from tgi_infra.engines import engine_spec
from tgi_infra.engines.spec import COMMON_FIELDS
from tgi_infra.host.reading import LABEL_HASH
from tgi_infra.services.render import (
    EngineCommand,
    engine_command,
    secret_vars,
    shared_memory,
    stop_timeout,
)

# Kubernetes versions whose schemas every exported object is checked against (tests, with
# kubernetes-validate in strict mode); the objects use only GA fields older than all of them
SUPPORTED_KUBERNETES: tuple[str, ...] = ("1.29", "1.30", "1.31", "1.32", "1.33")

GPU_RESOURCE = "nvidia.com/gpu"  # NVIDIA's device plugin (GPU Operator)
PORT_NAME = "http"
CONTAINER_PORT_PROTOCOL = "TCP"
SECRET_NAME = "tgi-infra-secrets"
CACHE_VOLUME = "model-cache"
SHM_VOLUME = "dshm"
SHM_PATH = "/dev/shm"
CACHE_PVC_SUFFIX = "-cache"
NODE_LABEL = "kubernetes.io/hostname"
# A pod without a GPU resource still sees every GPU when the image sets NVIDIA_VISIBLE_DEVICES
# (CUDA images do) and the node's default runtime is NVIDIA's; `void` gives runc's behaviour,
# which is what `docker run` without `--gpus` gives (NVIDIA Container Toolkit docs).
NO_GPU_ENV = ("NVIDIA_VISIBLE_DEVICES", "void")
LABEL_NAME = "app.kubernetes.io/name"  # the engine
LABEL_INSTANCE = "app.kubernetes.io/instance"  # the service name: the selector
LABEL_MANAGED_BY = "app.kubernetes.io/managed-by"
MANAGED_BY = "tgi-infra"
ANNOTATION_HASH = LABEL_HASH
ANNOTATION_HOST = "tgi-infra.host"
ANNOTATION_MODEL = "tgi-infra.model-id"
KUSTOMIZATION = "kustomization.yaml"
NOTES_FILE = "EXPORT-NOTES.md"
NOTES_HEADER = "# Kubernetes export: what to run, what was not mapped"
HEADER = "# Managed by tgi-infra (export kubernetes): edits are overwritten by the next export."

# probes: the startup probe allows `tgi_ready_timeout` (download and warm-up), as the deploy's
# readiness wait does; then readiness and liveness on the engine's health route
PROBE_PERIOD_S = 10
PROBE_TIMEOUT_S = 5
READINESS_FAILURES = 3
LIVENESS_PERIOD_S = 30
LIVENESS_TIMEOUT_S = 10
LIVENESS_FAILURES = 3
# the Deployment's progress deadline: the startup allowance plus Kubernetes' default deadline
# (600 s) for pulling the image first, so that `kubectl rollout status` waits as long as the
# probes do
PULL_ALLOWANCE_S = 600

CacheKind = Literal["hostpath", "pvc"]
ServiceType = Literal["NodePort", "LoadBalancer"]

# RFC 1035 label: what a Service name must be (the strictest of the names a service becomes:
# Deployment, Service, container port target, PVC prefix)
DNS1035_RE = re.compile(r"^[a-z]([-a-z0-9]*[a-z0-9])?$")
DNS1123_LABEL_RE = re.compile(r"^[a-z0-9]([-a-z0-9]*[a-z0-9])?$")
DNS1123_SUBDOMAIN_RE = re.compile(
    r"^[a-z0-9]([-a-z0-9]*[a-z0-9])?(\.[a-z0-9]([-a-z0-9]*[a-z0-9])?)*$"
)
LABEL_VALUE_RE = re.compile(r"^(([A-Za-z0-9][-A-Za-z0-9_.]*)?[A-Za-z0-9])?$")
QUANTITY_RE = re.compile(r"^[0-9]+(\.[0-9]+)?(Ki|Mi|Gi|Ti|Pi|Ei|k|M|G|T|P|E)?$")
INT_OR_PERCENT_RE = re.compile(r"^(0|[1-9][0-9]*)%?$")
DNS1035_ALLOWED = (
    "a DNS-1035 label: at most 63 characters, lowercase letters, digits and '-', starting "
    "with a letter and ending with a letter or digit"
)

# What each inventory variable becomes. Rows are (fields, Kubernetes, note); every field of the
# config model is in exactly one row or in NOT_MAPPED (a test holds this), so that a new
# variable cannot be dropped silently.
ENGINE_FIELDS = (
    "engine",
    "image",
    *(f for f in COMMON_FIELDS if f not in ("api_key_env", "port", "bind", "shm_size")),
    "extra_args",
)
MAPPING: tuple[tuple[tuple[str, ...], str, str], ...] = (
    (
        ENGINE_FIELDS,
        "container `image` and `args`",
        "exactly the arguments after the image of the Docker render (one builder: "
        "`tgi_infra.services.render.engine_command`); no `command`, so the image's entrypoint "
        "runs, as "
        "with `docker run IMAGE ARGS`",
    ),
    (
        (host_key("image_mirror"),),
        f"`{KUSTOMIZATION}` `images:` (`newName`) of the host",
        "the objects keep the inventory's image; `kubectl kustomize` writes the mirrored one",
    ),
    (
        ("gpus", host_key("gpus")),
        f'`resources.limits["{GPU_RESOURCE}"]`',
        '`N` -> N; `"all"` -> the host\'s GPU count (`--gpu-count HOST=N`, as `render`; '
        "refused without it); a list of device ids is refused (the device plugin picks the "
        'devices; `--gpu-ids-as-count` exports N ids as N GPUs); `"none"` -> no GPU resource '
        f"and `{NO_GPU_ENV[0]}={NO_GPU_ENV[1]}`; `--runtime-class` sets `runtimeClassName`",
    ),
    (
        ("name",),
        "`metadata.name` of the Deployment and the Service; label "
        f"`{LABEL_INSTANCE}` (the selector)",
        f"must be {DNS1035_ALLOWED}; refused otherwise, with the closest valid name (never "
        "renamed silently); unique among the exported hosts",
    ),
    (
        ("shm_size",),
        f"`emptyDir` (`medium: Memory`) at `{SHM_PATH}`",
        "`sizeLimit` from `shm_size` (TGI always; vLLM/SGLang when set); vLLM/SGLang's "
        "`--ipc=host` -> no `sizeLimit` (bounded by the node's memory, as the host's /dev/shm)",
    ),
    (
        ("volume",),
        f"volume `{CACHE_VOLUME}` at the engine's cache mount",
        "`hostPath` (`DirectoryOrCreate`) at the same path: weights already on the node are "
        f"reused (a Docker volume name is refused); `--cache pvc`: a PersistentVolumeClaim "
        f"`NAME{CACHE_PVC_SUFFIX}` (`--cache-size`, `--storage-class`)",
    ),
    (
        ("hf_token_env",),
        "env `HF_TOKEN` from `secretKeyRef` (`optional: true`)",
        f"Secret `{SECRET_NAME}` (`--secret-name`), key: the variable's NAME; the export prints "
        "the `kubectl create secret` command (values never read nor written)",
    ),
    (
        ("api_key_env",),
        "env `API_KEY` (vLLM: and `VLLM_API_KEY`) from `secretKeyRef`",
        "same Secret, key: the variable's NAME, required; SGLang's key wrapper stays in `args`",
    ),
    (
        ("env",),
        "container `env` (plain values)",
        "no secrets (refused by validation); `enableServiceLinks: false`: no variables injected "
        "beyond service.env's, as under Docker",
    ),
    (
        (host_key("ready_timeout"),),
        "`startupProbe`",
        f"`httpGet` on the engine's health route, every {PROBE_PERIOD_S} s, "
        f"`failureThreshold` = timeout / {PROBE_PERIOD_S} (rounded up); then "
        f"`readinessProbe` (every {PROBE_PERIOD_S} s) and `livenessProbe` (every "
        f"{LIVENESS_PERIOD_S} s) on the same route and port; the Deployment's "
        f"`progressDeadlineSeconds` = timeout + {PULL_ALLOWANCE_S} (the image pull)",
    ),
    (
        ("port", "bind"),
        f"Service port `port` -> container port `{PORT_NAME}`",
        "`bind` on loopback -> `ClusterIP`; otherwise `NodePort` (the node port is allocated "
        "by Kubernetes), or `LoadBalancer` with `--service-type LoadBalancer`",
    ),
    (
        ("present",),
        "`false`: left out",
        "an object applied earlier stays until `kubectl delete` (the export prints it)",
    ),
    (
        ("tgi_services",),
        "one Deployment (`replicas: 1`) and one Service per present service",
        "`strategy: Recreate` (no spare GPU for a surge), `--max-surge` / `--max-unavailable` "
        f"for a rolling update; `nodeSelector` `{NODE_LABEL}: HOST` (`--no-node-selector`); "
        "`terminationGracePeriodSeconds`: the Docker stop timeout (the engine's drain setting, "
        "e.g. TGI's `--graceful-termination-timeout`, plus teardown); the "
        f"config hash as pod annotation `{ANNOTATION_HASH}`",
    ),
)

_PROVISION = "host provisioning: NVIDIA's GPU Operator and the cluster's container runtime do it"
NOT_MAPPED: dict[str, str] = {
    host_key("docker_source"): _PROVISION,
    host_key("apt_lock_timeout"): _PROVISION,
    host_key("docker_ce_repo_url"): _PROVISION,
    host_key("docker_users"): _PROVISION,
    host_key("docker_insecure_registries"): _PROVISION
    + " (an HTTP mirror is the runtime's registry configuration)",
    host_key("nvidia_toolkit_repo_url"): _PROVISION,
    host_key("nvidia_toolkit_gpgkey_url"): _PROVISION,
    host_key("nvidia_toolkit_version"): _PROVISION,
    host_key("nvidia_runtime_default"): _PROVISION,
    host_key("nvidia_cdi"): _PROVISION,
    host_key("cuda_image"): "the GPU proof: the GPU Operator's validator checks each node",
    host_key("tgi_root"): "no files on the node: the objects carry the whole service",
    host_key("host_timeout"): "SSH keepalive of the deploy: nothing connects to the nodes",
    host_key("hub_check"): "the deploy's Hub check before a change: the pod downloads at start",
    "smoke_semantic": "smoke suite: `tgi-smoke --no-semantic` (the export prints the command)",
    "smoke_min_tokens_per_s": "smoke floor: `tgi-smoke --min-tokens-per-s` (printed)",
    "smoke_max_ttft_s": "smoke floor: `tgi-smoke --max-ttft` (printed)",
}
# not a variable: how the deploy runs things on a host, listed in every export's notes
NOT_MAPPED_ALWAYS = (
    "the supervisor (systemd unit, or Docker's restart policy on WSL2 and hosts without "
    "systemd): the kubelet restarts the container; WSL2 workstations are not Kubernetes nodes",
    "the smoke checks: `tgi-smoke` runs through a port-forward (the export prints the commands)",
)


class ExportError(ConfigError):
    """Everything the export refuses, one message each (host, service, field, what is allowed);
    nothing is written."""


@dataclass(frozen=True)
class ExportOptions:
    gpu_counts: Mapping[str, int] = field(default_factory=dict)  # host -> GPUs ("all")
    gpu_ids_as_count: bool = False
    runtime_class: str | None = None
    cache: CacheKind = "hostpath"
    cache_size: str = "100Gi"
    storage_class: str | None = None
    service_type: ServiceType = "NodePort"  # for services not bound to loopback
    max_surge: str | None = None
    max_unavailable: str | None = None
    node_selector: bool = True
    namespace: str | None = None
    secret_name: str = SECRET_NAME


@dataclass(frozen=True)
class ExportedService:
    host_name: str
    service: TGIService
    command: EngineCommand
    gpus: int  # the GPU resource asked for (0: none)
    objects: tuple[dict[str, Any], ...]  # Deployment, Service[, PersistentVolumeClaim]
    config_hash: str
    secret_keys: tuple[str, ...]  # the Secret's keys it reads (variable NAMES)

    def file_name(self, kind: str) -> str:
        return f"{self.service.name}-{kind.lower()}.yaml"


@dataclass(frozen=True)
class Export:
    services: tuple[ExportedService, ...]
    files: dict[str, str]  # path relative to the output folder -> content
    notes: str  # what to run, what was not mapped (also NOTES_FILE)
    secret_command: str | None


# ---------------------------------------------------------------------------------------
# names
# ---------------------------------------------------------------------------------------


def closest_dns1035(name: str) -> str:
    """The closest DNS-1035 label: lowercase, other characters '-', a letter first."""
    out = re.sub(r"[^a-z0-9-]+", "-", name.lower())
    out = re.sub(r"-{2,}", "-", out).strip("-")
    if not out or not out[0].isalpha():
        out = "svc-" + out
    return out[:63].rstrip("-")


def _k8s_quantity(docker_size: str) -> str:
    """Docker's `16g` (binary units) -> Kubernetes' `16Gi`; bytes when no unit fits."""
    n = shm_bytes(docker_size)
    for unit, scale in (("Ti", 1024**4), ("Gi", 1024**3), ("Mi", 1024**2), ("Ki", 1024)):
        if n % scale == 0:
            return f"{n // scale}{unit}"
    return str(n)


def _int_or_percent(value: str) -> int | str:
    return value if value.endswith("%") else int(value)


def option_problems(opts: ExportOptions) -> list[str]:
    """Usage errors of the options (before any host is looked at)."""
    problems = []
    if opts.runtime_class is not None and not (
        len(opts.runtime_class) <= 253 and DNS1123_SUBDOMAIN_RE.match(opts.runtime_class)
    ):
        problems.append(
            f"--runtime-class {opts.runtime_class!r}: not a RuntimeClass name (a DNS-1123 "
            "subdomain: lowercase letters, digits, '-' and '.')"
        )
    if not QUANTITY_RE.match(opts.cache_size):
        problems.append(f"--cache-size {opts.cache_size!r}: not a Kubernetes quantity (100Gi)")
    if opts.storage_class is not None and not DNS1123_SUBDOMAIN_RE.match(opts.storage_class):
        problems.append(f"--storage-class {opts.storage_class!r}: not a StorageClass name")
    if opts.namespace is not None and not (
        len(opts.namespace) <= 63 and DNS1123_LABEL_RE.match(opts.namespace)
    ):
        problems.append(
            f"--namespace {opts.namespace!r}: not a namespace name (a DNS-1123 label: at most "
            "63 lowercase letters, digits and '-', starting and ending with a letter or digit)"
        )
    if not (len(opts.secret_name) <= 253 and DNS1123_SUBDOMAIN_RE.match(opts.secret_name)):
        problems.append(
            f"--secret-name {opts.secret_name!r}: not a Secret name (a DNS-1123 subdomain: "
            "lowercase letters, digits, '-' and '.')"
        )
    for flag, value in (
        ("--max-surge", opts.max_surge),
        ("--max-unavailable", opts.max_unavailable),
    ):
        if value is not None and not INT_OR_PERCENT_RE.match(value):
            problems.append(f"{flag} {value!r}: an integer >= 0 or a percentage like 25%")
    if opts.max_surge is not None and opts.max_unavailable is not None:
        if {opts.max_surge.rstrip("%"), opts.max_unavailable.rstrip("%")} == {"0"}:
            problems.append(
                "--max-surge and --max-unavailable are both 0: a rolling update could never "
                "replace the pod (Kubernetes refuses it)"
            )
    return problems


# ---------------------------------------------------------------------------------------
# one service
# ---------------------------------------------------------------------------------------


def _where(host_name: str, svc: TGIService) -> str:
    return f"host {host_name}: service {svc.name}: "


def _gpu_count(
    host_name: str, cfg: HostConfig, svc: TGIService, opts: ExportOptions, problems: list[str]
) -> tuple[int, int | None]:
    """(GPUs the pod asks for, the host GPU count for `engine_command`)."""
    where = _where(host_name, svc)
    ids = svc.gpu_ids(cfg)
    if ids == []:
        return 0, None
    if ids is None:
        count = opts.gpu_counts.get(host_name)
        if not count:
            default = " (the default)" if "gpus" not in svc.model_fields_set else ""
            problems.append(
                f"{where}field gpus: value 'all'{default} cannot be exported without the host's "
                "GPU count (a pod asks for a number of GPUs); allowed: give it with --gpu-count "
                f"{host_name}=N, or set gpus to a count"
            )
            return 0, None
        return count, count
    if not isinstance(svc.gpus, int) and not opts.gpu_ids_as_count:
        problems.append(
            f"{where}field gpus: value {list(ids)!r} is not allowed in Kubernetes (a list of "
            "device ids: the device plugin picks which GPUs a pod gets); allowed: a count "
            f'(gpus: {len(ids)}), "all" with --gpu-count, "none", or --gpu-ids-as-count to '
            f"export these ids as {len(ids)} GPU(s)"
        )
    return len(ids), None


def _env(svc: TGIService, opts: ExportOptions, gpus: int) -> list[dict[str, Any]]:
    """service.env's names in its order: the secrets (references), then `env`."""
    out: list[dict[str, Any]] = []
    for target, source in secret_vars(svc).items():
        ref = {"name": opts.secret_name, "key": source}
        if source == svc.hf_token_env and source != svc.api_key_env:
            ref["optional"] = True  # a public model needs no token (the deploy leaves it out)
        out.append({"name": target, "valueFrom": {"secretKeyRef": ref}})
    for key, value in sorted(svc.env.items()):
        out.append({"name": key, "value": value})
    if gpus == 0 and NO_GPU_ENV[0] not in svc.env:
        out.append({"name": NO_GPU_ENV[0], "value": NO_GPU_ENV[1]})
    return out


def _probe(path: str, period: int, timeout: int, failures: int) -> dict[str, Any]:
    return {
        "httpGet": {"path": path, "port": PORT_NAME},
        "periodSeconds": period,
        "timeoutSeconds": timeout,
        "failureThreshold": failures,
    }


def _labels(svc: TGIService) -> dict[str, str]:
    return {
        LABEL_NAME: svc.engine,
        LABEL_INSTANCE: svc.name,
        LABEL_MANAGED_BY: MANAGED_BY,
    }


def _digest(objects: Sequence[dict[str, Any]], command: EngineCommand) -> str:
    h = hashlib.sha256(b"tgi-infra/kubernetes/v1\0")
    h.update(json.dumps(list(objects), sort_keys=True).encode())
    h.update(f"\0image\0{command.resolved_image}\0".encode())
    return h.hexdigest()


def export_service(
    host_name: str, cfg: HostConfig, svc: TGIService, opts: ExportOptions, problems: list[str]
) -> ExportedService | None:
    """The objects of one service; problems are appended (None when there are any)."""
    where = _where(host_name, svc)
    before = len(problems)
    if not (len(svc.name) <= 63 and DNS1035_RE.match(svc.name)):
        problems.append(
            f"{where}field name: value {svc.name!r} is not allowed in Kubernetes (it names the "
            f"Deployment and the Service); allowed: {DNS1035_ALLOWED}; closest valid name: "
            f"{closest_dns1035(svc.name)!r}"
        )
    if opts.cache == "hostpath" and not svc.volume.startswith("/"):
        problems.append(
            f"{where}field volume: value {svc.volume!r} is a Docker volume, which Kubernetes "
            "cannot mount; allowed: an absolute host path (mounted as hostPath), or --cache pvc"
        )
    gpus, host_gpu_count = _gpu_count(host_name, cfg, svc, opts, problems)
    num_shard = svc.resolved_num_shard(cfg, host_gpu_count)
    if gpus and num_shard is not None and num_shard > gpus:
        problems.append(
            f"{where}field num_shard: value {num_shard} is more than the {gpus} GPU(s) the pod "
            f"asks for; allowed: at most {gpus}"
        )
    if len(problems) > before:
        return None

    spec = engine_spec(svc.engine)
    command = engine_command(svc, cfg, host_gpu_count)
    labels = _labels(svc)
    container: dict[str, Any] = {
        "name": svc.engine,
        "image": command.image,
        "args": list(command.args),
        "ports": [
            {
                "name": PORT_NAME,
                "containerPort": command.port,
                "protocol": CONTAINER_PORT_PROTOCOL,
            }
        ],
    }
    env = _env(svc, opts, gpus)
    if env:
        container["env"] = env
    if gpus:
        container["resources"] = {"limits": {GPU_RESOURCE: gpus}}
    container["volumeMounts"] = [
        {"name": CACHE_VOLUME, "mountPath": command.cache_mount},
        {"name": SHM_VOLUME, "mountPath": SHM_PATH},
    ]
    container["startupProbe"] = _probe(
        spec.health_path,
        PROBE_PERIOD_S,
        PROBE_TIMEOUT_S,
        max(1, math.ceil(cfg.ready_timeout / PROBE_PERIOD_S)),
    )
    container["readinessProbe"] = _probe(
        spec.health_path, PROBE_PERIOD_S, PROBE_TIMEOUT_S, READINESS_FAILURES
    )
    container["livenessProbe"] = _probe(
        spec.health_path, LIVENESS_PERIOD_S, LIVENESS_TIMEOUT_S, LIVENESS_FAILURES
    )

    cache_name = svc.name + CACHE_PVC_SUFFIX
    if opts.cache == "pvc":
        cache_volume: dict[str, Any] = {
            "name": CACHE_VOLUME,
            "persistentVolumeClaim": {"claimName": cache_name},
        }
    else:
        cache_volume = {
            "name": CACHE_VOLUME,
            "hostPath": {"path": svc.volume, "type": "DirectoryOrCreate"},
        }
    shm: dict[str, Any] = {"medium": "Memory"}
    size = shared_memory(svc)
    if size is not None:
        shm["sizeLimit"] = _k8s_quantity(size)

    pod: dict[str, Any] = {"enableServiceLinks": False}
    if opts.runtime_class:
        pod["runtimeClassName"] = opts.runtime_class
    if opts.node_selector:
        pod["nodeSelector"] = {NODE_LABEL: host_name}
    pod["terminationGracePeriodSeconds"] = stop_timeout(svc)  # the engine's drain + teardown
    pod["containers"] = [container]
    pod["volumes"] = [cache_volume, {"name": SHM_VOLUME, "emptyDir": shm}]

    if opts.max_surge is None and opts.max_unavailable is None:
        strategy: dict[str, Any] = {"type": "Recreate"}
    else:
        rolling: dict[str, Any] = {}
        if opts.max_surge is not None:
            rolling["maxSurge"] = _int_or_percent(opts.max_surge)
        if opts.max_unavailable is not None:
            rolling["maxUnavailable"] = _int_or_percent(opts.max_unavailable)
        strategy = {"type": "RollingUpdate", "rollingUpdate": rolling}

    deployment: dict[str, Any] = {
        "apiVersion": "apps/v1",
        "kind": "Deployment",
        "metadata": {
            "name": svc.name,
            "labels": dict(labels),
            "annotations": {ANNOTATION_HOST: host_name, ANNOTATION_MODEL: svc.model_id},
        },
        "spec": {
            "replicas": 1,
            "progressDeadlineSeconds": cfg.ready_timeout + PULL_ALLOWANCE_S,
            "selector": {"matchLabels": {LABEL_INSTANCE: svc.name}},
            "strategy": strategy,
            "template": {"metadata": {"labels": dict(labels)}, "spec": pod},
        },
    }
    bind = ipaddress.ip_address(svc.bind)
    service: dict[str, Any] = {
        "apiVersion": "v1",
        "kind": "Service",
        "metadata": {"name": svc.name, "labels": dict(labels)},
        "spec": {
            "type": "ClusterIP" if bind.is_loopback else opts.service_type,
            "selector": {LABEL_INSTANCE: svc.name},
            "ports": [
                {
                    "name": PORT_NAME,
                    "port": svc.port,
                    "targetPort": PORT_NAME,
                    "protocol": CONTAINER_PORT_PROTOCOL,
                }
            ],
        },
    }
    objects: list[dict[str, Any]] = [deployment, service]
    if opts.cache == "pvc":
        claim: dict[str, Any] = {
            "accessModes": ["ReadWriteOnce"],
            "resources": {"requests": {"storage": opts.cache_size}},
        }
        if opts.storage_class:
            claim["storageClassName"] = opts.storage_class
        objects.append(
            {
                "apiVersion": "v1",
                "kind": "PersistentVolumeClaim",
                "metadata": {"name": cache_name, "labels": dict(labels)},
                "spec": claim,
            }
        )
    config_hash = _digest(objects, command)
    deployment["spec"]["template"]["metadata"]["annotations"] = {ANNOTATION_HASH: config_hash}
    return ExportedService(
        host_name=host_name,
        service=svc,
        command=command,
        gpus=gpus,
        objects=tuple(objects),
        config_hash=config_hash,
        secret_keys=tuple(dict.fromkeys(secret_vars(svc).values())),
    )


# ---------------------------------------------------------------------------------------
# the base: files, kustomizations, notes
# ---------------------------------------------------------------------------------------


def _yaml(doc: dict[str, Any]) -> str:
    return HEADER + "\n" + yaml.safe_dump(doc, sort_keys=False, default_flow_style=False, width=100)


def image_name(ref: str) -> str:
    """The image's name as kustomize matches it: the reference without tag or digest."""
    name = ref.split("@", 1)[0]
    last = name.rsplit("/", 1)[-1]
    if ":" in last:
        name = name[: len(name) - len(last)] + last.split(":", 1)[0]
    return name


def _images(cfg: HostConfig, services: Sequence[ExportedService]) -> list[dict[str, str]]:
    """kustomize `images:` entries rewriting each image to its mirror (`tgi_image_mirror`)."""
    if not cfg.image_mirror:
        return []
    out: dict[str, dict[str, str]] = {}
    for es in services:
        name = image_name(es.command.image)
        out[name] = {"name": name, "newName": f"{cfg.image_mirror}/{split_image(name)[1]}"}
    return [out[n] for n in sorted(out)]


def not_mapped(cfg: HostConfig, services: Sequence[TGIService]) -> list[str]:
    """The variables this host sets that have no Kubernetes counterpart."""
    lines = [
        f"`{host_key(f)}`: {NOT_MAPPED[host_key(f)]}"
        for f in type(cfg).model_fields
        if f in cfg.model_fields_set and host_key(f) in NOT_MAPPED
    ]
    for svc in services:
        for f in ("smoke_semantic", "smoke_min_tokens_per_s", "smoke_max_ttft_s"):
            if f in svc.model_fields_set:
                lines.append(f"service {svc.name}: `{f}`: {NOT_MAPPED[f]}")
    return lines


def secret_command(keys: Sequence[str], opts: ExportOptions) -> str:
    """`kubectl create secret` for the Secret the pods read: the values come from this shell's
    variables through bash builtins (`printf`, `${!n}`), so they are never in a command line;
    unset variables are left out, as in service.env."""
    names = " ".join(keys)
    ns = f" --namespace {opts.namespace}" if opts.namespace else ""
    return (
        f"kubectl create secret generic {opts.secret_name}{ns} \\\n"
        f"  --from-env-file=<(for n in {names}; do "
        '[ -n "${!n-}" ] && printf \'%s=%s\\n\' "$n" "${!n}"; done) \\\n'
        "  --dry-run=client -o yaml | kubectl apply --server-side -f -"
    )


def _smoke_command(es: ExportedService, local_port: int) -> str:
    svc = es.service
    argv = [
        "tgi-smoke",
        "--url",
        f"http://127.0.0.1:{local_port}",
        "--engine",
        svc.engine,
        "--model-id",
        svc.model_id,
    ]
    if svc.api_key_env:
        argv += ["--api-key-env", svc.api_key_env]
    if not svc.smoke_semantic:
        argv.append("--no-semantic")
    if es.gpus == 0:  # CPU mode: the deploy's smoke run skips the floors there
        argv += ["--min-tokens-per-s", "0", "--max-ttft", "0"]
    else:
        argv += ["--min-tokens-per-s", f"{svc.smoke_min_tokens_per_s:g}"]
        argv += ["--max-ttft", f"{svc.smoke_max_ttft_s:g}"]
    return " ".join(shlex.quote(a) for a in argv)


def _notes(
    services: Sequence[ExportedService],
    configs: Mapping[str, HostConfig],
    left_out: Sequence[tuple[str, str]],
    secret_cmd: str | None,
    unset: Sequence[str],
    opts: ExportOptions,
    out: str,
) -> str:
    ns = f" -n {opts.namespace}" if opts.namespace else ""
    lines = [NOTES_HEADER, ""]
    if secret_cmd:
        lines += ["## The Secret (values from this shell's environment, never written)", ""]
        lines += ["```bash", secret_cmd, "```", ""]
        for name in unset:
            lines.append(f"- `{name}` is not set in the exporting environment: set it first.")
        if unset:
            lines.append("")
    lines += ["## Apply", "", "```bash", f"kubectl apply -k {out}   # or {out}/HOST", "```", ""]
    lines += ["## Smoke-test each service through a port-forward", "", "```bash"]
    used: set[int] = set()
    for es in services:
        local = es.service.port  # the port clients used; the next free one if taken
        while local in used:
            local += 1
        used.add(local)
        lines.append(f"kubectl{ns} port-forward service/{es.service.name} {local}:{local} &")
        lines.append(_smoke_command(es, local))
    lines += ["```", ""]
    if opts.node_selector:
        lines += [
            f"Pods are pinned to the inventory host by `nodeSelector` `{NODE_LABEL}`: check "
            f"that the node labels match (`kubectl get nodes -L {NODE_LABEL}`), or export with "
            "`--no-node-selector`.",
            "",
        ]
    lines += ["## Not mapped", ""]
    for host_name, cfg in configs.items():
        present = [es.service for es in services if es.host_name == host_name]
        for line in not_mapped(cfg, present):
            lines.append(f"- host {host_name}: {line}")
    for line in NOT_MAPPED_ALWAYS:
        lines.append(f"- {line}")
    for host_name, name in left_out:
        lines.append(
            f"- host {host_name}: service {name}: `present: false`, left out (applied earlier? "
            f"`kubectl{ns} delete deployment,service {name}`)"
        )
    return "\n".join(lines) + "\n"


def export_inventory(
    configs: Mapping[str, HostConfig],
    opts: ExportOptions,
    environ: Mapping[str, str],
    out: str = "OUT_DIR",
) -> Export:
    """Every present service of the given hosts; ExportError lists every refusal at once.

    `environ` is read only to say which of the referenced variables are unset here (their
    NAMES); no value is read into any output. `out` is the folder the notes name."""
    problems = option_problems(opts)
    exported: list[ExportedService] = []
    left_out: list[tuple[str, str]] = []
    owner: dict[str, str] = {}
    for host_name, cfg in configs.items():
        if (
            opts.node_selector
            and cfg.present_services()
            and not (len(host_name) <= 63 and LABEL_VALUE_RE.match(host_name))
        ):
            problems.append(
                f"host {host_name}: the host name is not a Kubernetes label value, so it cannot "
                f"select the node ({NODE_LABEL}); allowed: at most 63 letters, digits, '-', "
                "'_', '.', starting and ending with a letter or digit; or --no-node-selector"
            )
        for svc in cfg.tgi_services:
            if not svc.present:
                left_out.append((host_name, svc.name))
                continue
            if svc.name in owner:
                problems.append(
                    f"{_where(host_name, svc)}field name: value {svc.name!r} is also a service "
                    f"of host {owner[svc.name]}; the objects of one namespace need distinct "
                    "names; allowed: a name no other exported service has (or export the hosts "
                    "separately: --limit HOST --namespace NS)"
                )
                continue
            owner[svc.name] = host_name
            es = export_service(host_name, cfg, svc, opts, problems)
            if es is not None:
                exported.append(es)
    if problems:
        raise ExportError(problems)

    files: dict[str, str] = {}
    hosts: list[str] = []
    for host_name, cfg in configs.items():
        mine = [es for es in exported if es.host_name == host_name]
        if not mine:
            continue
        hosts.append(host_name)
        resources = []
        for es in mine:
            for obj in es.objects:
                name = es.file_name(obj["kind"])
                files[f"{host_name}/{name}"] = _yaml(obj)
                resources.append(name)
        kustomization: dict[str, Any] = {
            "apiVersion": "kustomize.config.k8s.io/v1beta1",
            "kind": "Kustomization",
            "resources": resources,
        }
        images = _images(cfg, mine)
        if images:
            kustomization["images"] = images
        files[f"{host_name}/{KUSTOMIZATION}"] = _yaml(kustomization)
    root: dict[str, Any] = {
        "apiVersion": "kustomize.config.k8s.io/v1beta1",
        "kind": "Kustomization",
    }
    if opts.namespace:
        root["namespace"] = opts.namespace
    root["resources"] = hosts
    files[KUSTOMIZATION] = _yaml(root)

    keys = list(dict.fromkeys(k for es in exported for k in es.secret_keys))
    cmd = secret_command(keys, opts) if keys else None
    unset = [k for k in keys if not environ.get(k)]
    notes = _notes(exported, configs, left_out, cmd, unset, opts, out)
    files[NOTES_FILE] = notes
    return Export(services=tuple(exported), files=files, notes=notes, secret_command=cmd)


def write_export(export: Export, out: Path) -> None:
    """Write the base under `out`. Files of an earlier export there (they start with HEADER)
    are replaced or removed; any other file is kept, and one in the way is refused."""
    if out.exists() and not out.is_dir():
        raise ExportError([f"--out {out}: exists and is not a folder"])
    ours = []
    if out.exists():
        for path in sorted(p for p in out.rglob("*") if p.is_file()):
            with path.open("rb") as f:
                first = f.readline().rstrip(b"\n")
            if first in (HEADER.encode(), NOTES_HEADER.encode()):
                ours.append(path)
            elif str(path.relative_to(out)) in export.files:
                raise ExportError(
                    [
                        f"{path} exists and was not written by tgi-infra export: not overwritten "
                        "(choose another --out, or move it away)"
                    ]
                )
    for path in ours:
        path.unlink()
    for rel, content in export.files.items():
        path = out / rel
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(content)
    for d in sorted((p for p in out.rglob("*") if p.is_dir()), reverse=True):
        if not any(d.iterdir()):
            d.rmdir()


# ---------------------------------------------------------------------------------------
# docs
# ---------------------------------------------------------------------------------------


def mapping_markdown() -> str:
    """docs/kubernetes.md's mapping table: what each inventory variable becomes."""

    def cell(text: str) -> str:
        return text.replace("|", "\\|")

    rows = ["| inventory | Kubernetes | how |", "|---|---|---|"]
    for fields, target, note in MAPPING:
        names = ", ".join(f"`{f}`" for f in fields)
        rows.append(f"| {names} | {cell(target)} | {cell(note)} |")
    by_reason: dict[str, list[str]] = {}
    for name, reason in NOT_MAPPED.items():
        by_reason.setdefault(reason, []).append(name)
    for reason, names in by_reason.items():
        rows.append(
            f"| {', '.join(f'`{n}`' for n in names)} | not mapped (listed in the "
            f"output) | {cell(reason)} |"
        )
    for line in NOT_MAPPED_ALWAYS:
        rows.append(f"| (no variable) | not mapped | {cell(line)} |")
    return "\n".join(rows) + "\n"
