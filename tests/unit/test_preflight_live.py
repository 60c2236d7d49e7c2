"""deploy/services/live_checks.py against the Hub stand-in (lab/hub_standin) through
huggingface_hub's
own client (endpoint=...), and the disk/port/local-path decisions on real fact output."""

from __future__ import annotations

import subprocess

import pytest
from huggingface_hub import HfApi
from huggingface_hub.errors import GatedRepoError, RepositoryNotFoundError, RevisionNotFoundError
from tgi_infra.config import load_host_config
from tgi_infra.services.hub import hub_check
from tgi_infra.services.live_checks import PortUsers, VolumeState, check_service

from lab.hub_standin.server import Catalog, serve

GOOD, OTHER, WRONG = "hf_GoodToken123", "hf_OtherToken456", "hf_WrongToken789"
CATALOG = {
    "models": {
        "org/public": {"files": {"model.safetensors": 2_000_000_000, "config.json": 700}},
        "org/gated": {"gated": True, "files": {"model.safetensors": 5}},
        "org/private": {"private": True, "files": {"model.safetensors": 5}},
        "org/huge": {"files": {"model-00001-of-00002.safetensors": 9 * 10**12,
                               "model-00002-of-00002.safetensors": 10**12}},
        "org/revs": {"revisions": ["main", "v1"], "files": {"model.safetensors": 5}},
    },
    "tokens": {GOOD: ["org/gated", "org/private"], OTHER: []},
}  # fmt: skip


@pytest.fixture(scope="module")
def hub():
    httpd = serve(Catalog(CATALOG))
    yield f"http://127.0.0.1:{httpd.server_address[1]}"
    httpd.shutdown()


def test_the_stand_in_answers_huggingface_hubs_client_like_the_hub(hub):
    api = HfApi(endpoint=hub)
    api.auth_check("org/public", token=False)
    api.auth_check("org/gated", token=GOOD)
    with pytest.raises(GatedRepoError):
        api.auth_check("org/gated", token=OTHER)
    with pytest.raises(RepositoryNotFoundError):
        api.auth_check("org/private", token=False)
    with pytest.raises(RepositoryNotFoundError):
        api.auth_check("org/nope", token=OTHER)
    with pytest.raises(RevisionNotFoundError):
        api.model_info("org/revs", revision="v9")
    info = api.model_info("org/public", files_metadata=True, token=False)
    assert {s.rfilename: s.size for s in info.siblings}["model.safetensors"] == 2_000_000_000


def svc_cfg(model_id: str, **extra):
    data = {"tgi_gpus": "none", "tgi_services": [{"name": "tgi-a", "model_id": model_id,
            "port": 8080, **extra}]}  # fmt: skip
    cfg = load_host_config("gpu1", data)
    return cfg, cfg.tgi_services[0]


FREE = {"free": 100 * 10**9, "exists": {}}
NOBODY = {"listening": False, "process": "", "containers": []}


def check(hub, model_id, token=None, volume=FREE, port=NOBODY, **extra):
    cfg, svc = svc_cfg(model_id, **extra)
    env = {"HF_ENDPOINT": hub, **({"HF_TOKEN": token} if token else {})}
    hub_check.cache_clear()
    return check_service("gpu1", cfg, svc, volume, port, env)


def test_hub_errors_are_clear_and_name_host_service_field(hub):
    assert check(hub, "org/public") == ([], [])
    assert check(hub, "org/gated", GOOD) == ([], [])
    errors, _ = check(hub, "org/gated", OTHER)
    assert errors and errors[0].startswith("host gpu1: service tgi-a: field model_id:")
    assert "is gated and the token in HF_TOKEN may not read it" in errors[0]
    assert OTHER not in errors[0]
    errors, _ = check(hub, "org/private")
    assert "is private and no token (HF_TOKEN is not set) cannot read it" in errors[0]
    errors, _ = check(hub, "org/public", WRONG)
    assert "the token in HF_TOKEN is not valid" in errors[0] and WRONG not in errors[0]
    errors, _ = check(hub, "org/revs", revision="v9")
    assert "revision 'v9' of org/revs does not exist" in errors[0]


def test_unreachable_hub_and_air_gapped_hosts():
    errors, notes = check("http://127.0.0.1:9", "org/public")
    assert (
        errors == []
        and "Hub check not done: cannot reach the Hub at http://127.0.0.1:9" in notes[0]
    )
    assert "tgi_hub_check: false" in notes[0]
    cfg, svc = svc_cfg("org/public")
    data = {"tgi_gpus": "none", "tgi_hub_check": False,
            "tgi_services": [svc.model_dump(exclude_unset=True)]}  # fmt: skip
    cfg = load_host_config("gpu1", data)
    errors, notes = check_service("gpu1", cfg, cfg.tgi_services[0], FREE, NOBODY, {})
    assert errors == [] and "Hub check skipped (tgi_hub_check: false" in notes[0]


def test_disk_space_against_the_weights_unless_cached(hub):
    errors, _ = check(hub, "org/huge")
    assert "need 10000.0 GB but the volume /var/lib/tgi/data has 100.0 GB free" in errors[0]
    cached = {"free": 10**9, "exists": {"models--org--huge/snapshots": True}}
    assert check(hub, "org/huge", volume=cached) == ([], [])


def test_port_taken_by_something_else_but_not_by_the_service_itself(hub):
    other = {"listening": True, "process": "nginx", "containers": []}
    errors, _ = check(hub, "org/public", port=other)
    assert errors == ["host gpu1: service tgi-a: field port: value 8080: already taken on the "
                      "host by nginx; choose a free port or stop it"]  # fmt: skip
    mine = {"listening": True, "process": "docker-proxy", "containers": ["tgi-a"]}
    assert check(hub, "org/public", port=mine) == ([], [])
    theirs = {"listening": True, "process": "docker-proxy", "containers": ["grafana"]}
    assert "taken on the host by container grafana" in check(hub, "org/public", port=theirs)[0][0]


def test_local_path_model_must_exist_in_the_volume(hub):
    errors, _ = check(hub, "/data/my-model")
    assert "field model_id: value '/data/my-model': no such path in the volume" in errors[0]
    there = {"free": 10**9, "exists": {"my-model": True}}
    assert check(hub, "/data/my-model", volume=there) == ([], [])


def test_facts_parse_real_command_output(tmp_path):
    (tmp_path / "models--org--m" / "snapshots").mkdir(parents=True)
    fact = VolumeState()
    cmd = fact.command(str(tmp_path), ("models--org--m/snapshots", "absent"))
    out = subprocess.run(["bash", "-c", cmd], capture_output=True, text=True).stdout
    state = fact.process(out.splitlines())
    assert state["free"] and state["free"] > 0
    assert state["exists"] == {"models--org--m/snapshots": True}
    ports = PortUsers()
    parsed = ports.process(['LISTEN 0 5 0.0.0.0:8080 0.0.0.0:* users:(("python3",pid=7,fd=3))',
                            "--", "tgi-a"])  # fmt: skip
    assert parsed == {"listening": True, "process": "python3", "containers": ["tgi-a"]}
