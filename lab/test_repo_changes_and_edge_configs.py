"""End to end on the lab: what NVIDIA's repository does after a deploy (a new
release, a rotated key), a blank daemon.json, an API key with shell metacharacters, TGI-legal
configs the project used to refuse, and CPU mode's launcher flag. Each test restores the lab
(mirror and hosts) before it ends.

Run alone: ``TGI_LAB_INSTANCE=<you> TGI_LAB_KEEP=1 TGI_LAB_REUSE=1 pytest
lab/test_repo_changes_and_edge_configs.py``.
"""

from __future__ import annotations

import json
import re
import shlex
from pathlib import Path

import pytest

from lab import lab
from lab.conftest import run_deploy
from lab.fleet import SERVICES, TOOLKIT, assert_ok, engine_of, lab_services, only, restore
from lab.nvidia_mirror import VERSIONS, build_mirror, publish_version, rotate_key

NEW = "1.18.0-1"
KEYRING = "/usr/share/keyrings/nvidia-container-toolkit-keyring.gpg"
FPR = re.compile(r"^fpr:+([0-9A-F]{40}):", re.M)


def _mirror_args(state) -> tuple[Path, dict]:
    sdir = Path(state.state_dir)
    return sdir / "www" / "libnvidia-container", {
        "gnupg_home": sdir / "gnupg",
        "base_url": lab.NVIDIA_REPO_URL,
    }


def _restore(state) -> None:
    root, kw = _mirror_args(state)
    build_mirror(root, **kw)
    restore()  # the toolkit of every host


def _toolkit_versions(state, host: str) -> set[str]:
    out = lab.exec_on(state, host, "dpkg-query -W -f='${Version}\\n' " + " ".join(TOOLKIT))
    return set(out.split())


def _keyring_fpr(state, host: str) -> str:
    out = lab.exec_on(
        state, host, f"gpg --batch --homedir $(mktemp -d) --with-colons --show-keys {KEYRING}"
    )
    return FPR.findall(out)[0]


# -- raising nvidia_toolkit_version to a release newer than the host's lists -----------------------


def test_raising_the_pin_to_a_new_release_refreshes_the_lists(deployed_lab):
    root, kw = _mirror_args(deployed_lab)
    try:
        publish_version(root, NEW, **kw)
        raised = run_deploy(TGI_LAB_TOOLKIT_VERSION=NEW)
        assert_ok(raised, f"deploy with nvidia_toolkit_version={NEW}")
        for host in SERVICES:
            assert _toolkit_versions(deployed_lab, host) == {NEW}, host
        again = run_deploy(TGI_LAB_TOOLKIT_VERSION=NEW)
        assert_ok(again, "second deploy with the raised pin")
        assert again.totals()["changed"] == 0, again.output[-4000:]
    finally:
        _restore(deployed_lab)
    for host in SERVICES:
        assert _toolkit_versions(deployed_lab, host) == {VERSIONS[0]}, host


# -- NVIDIA rotates its signing key ----------------------------------------------------------------


def test_rotated_signing_key_replaces_the_keyring(deployed_lab):
    root, kw = _mirror_args(deployed_lab)
    old = {h: _keyring_fpr(deployed_lab, h) for h in SERVICES}
    try:
        rotated = rotate_key(root, **kw, versions=(*VERSIONS, NEW))
        assert rotated.key_fingerprint not in old.values()
        # a new pin needs the lists, so the deploy must trust the new key to get them
        run = run_deploy(TGI_LAB_TOOLKIT_VERSION=NEW)
        assert_ok(run, "deploy after the key rotation")
        assert "Replace NVIDIA's apt key" in run.output
        for host in SERVICES:
            assert _keyring_fpr(deployed_lab, host) == rotated.key_fingerprint, host
            update = lab.exec_on(
                deployed_lab,
                host,
                "apt-get update -o Dir::Etc::sourcelist=sources.list.d/nvidia-container-toolkit"
                ".list -o Dir::Etc::sourceparts=- -o APT::Get::List-Cleanup=0 2>&1",
            )
            assert "NO_PUBKEY" not in update, update
            assert _toolkit_versions(deployed_lab, host) == {NEW}, host
        again = run_deploy(TGI_LAB_TOOLKIT_VERSION=NEW)
        assert_ok(again, "second deploy after the rotation")
        assert again.totals()["changed"] == 0, again.output[-4000:]
    finally:
        _restore(deployed_lab)  # back to the first key: the deploy replaces the keyring again
    for host in SERVICES:
        assert _keyring_fpr(deployed_lab, host) == old[host], host


# -- an empty daemon.json --------------------------------------------------------------------------


def test_blank_daemon_json_gets_the_nvidia_runtime(deployed_lab):
    """An empty daemon.json next to a running dockerd. Docker 23+ starts with such a file
    (moby PR #42393); the lab's docker.io 20.10 refuses it at its next start ("unable to
    configure the Docker daemon with file ...: EOF", moby issue #41268), so the file is
    emptied under the running daemon, as a user's edit would. nvidia-ctk fails on it either
    way ("unable to load config for runtime docker: EOF")."""
    host = "lab-linux-1"
    saved = lab.exec_on(deployed_lab, host, "cat /etc/docker/daemon.json")
    # no other daemon.json setting of ours, so nvidia-ctk is the first to touch the file
    overrides = {host: {"tgi_docker_insecure_registries": []}}
    try:
        lab.exec_on(deployed_lab, host, ": > /etc/docker/daemon.json")
        run = run_deploy(overrides, args=only(host))
        assert_ok(run, "deploy on a blank daemon.json")
        daemon = json.loads(lab.exec_on(deployed_lab, host, "cat /etc/docker/daemon.json"))
        assert daemon == {"runtimes": {"nvidia": {"args": [], "path": "nvidia-container-runtime"}}}
        runtimes = lab.exec_on(deployed_lab, host, "docker info --format '{{json .Runtimes}}'")
        assert "nvidia" in json.loads(runtimes)
        again = run_deploy(overrides, args=only(host))
        assert_ok(again, "second deploy")
        assert again.totals()["changed"] == 0, again.output[-4000:]
    finally:
        lab.exec_on(
            deployed_lab,
            host,
            f"printf %s {shlex.quote(saved)} > /etc/docker/daemon.json"
            " && systemctl reset-failed docker; systemctl restart docker",
        )
        restore(host)


# -- an API key with shell metacharacters ----------------------------------------------------------


def test_api_key_with_shell_metacharacters_passes_the_ready_wait(deployed_lab):
    key = "k$y&(z)'q\"`w` \\x"
    host = "lab-linux-2"  # its two services read the API key
    try:
        run = run_deploy(TGI_LAB_API_KEY=key, args=only(host))
        assert_ok(run, "deploy with an API key holding $ & ( ' \" ` \\")
        assert key not in run.output
        code = lab.exec_on(
            deployed_lab,
            host,
            "curl -s -o /dev/null -w '%{http_code}' -X POST localhost:8080/generate "
            "-H 'Content-Type: application/json' -d '{\"inputs\":\"x\"}' "
            "-H @<(printf 'Authorization: Bearer '; sed -n 's/^API_KEY=//p' "
            "/opt/tgi/tgi-service/service.env)",
        )
        assert code == "200"
    finally:
        restore(host)


# -- configs TGI 3.3.7 accepts ---------------------------------------------------------------------


def test_tgi_legal_configs_deploy(deployed_lab):
    services = lab_services("lab-linux-1")
    services[0]["max_batch_prefill_tokens"] = 512  # < max_input_tokens 1024: chunked prefill
    services[1].update(quantize="bitsandbytes-nf4", dtype="bfloat16")
    try:
        run = run_deploy({"lab-linux-1": {"tgi_services": services}}, args=only("lab-linux-1"))
        assert_ok(run, "deploy of TGI-legal configs")
        assert "is below max_input_tokens" in run.output  # the warning
        for name in ("tgi-service", "tgi-small"):
            c = json.loads(lab.exec_on(deployed_lab, "lab-linux-1", f"docker inspect {name}"))
            assert c[0]["State"]["Running"], name
    finally:
        restore("lab-linux-1")


# -- CPU mode --------------------------------------------------------------------------------------


@pytest.mark.parametrize("host", list(SERVICES))
def test_cpu_services_run_with_disable_custom_kernels(deployed_lab, host):
    """CPU mode per engine: TGI --disable-custom-kernels; SGLang's CPU build --device cpu;
    vLLM's CPU build detects its platform (no flag), and no engine gets a GPU request."""
    for svc in SERVICES[host]:
        c = json.loads(lab.exec_on(deployed_lab, host, f"docker inspect {svc}"))[0]
        assert not c["HostConfig"].get("DeviceRequests"), (host, svc)
        engine = engine_of(host, svc)
        if engine == "tgi":
            assert "--disable-custom-kernels" in c["Args"], (host, svc, c["Args"])
        elif engine == "sglang":
            assert c["Args"][c["Args"].index("--device") + 1] == "cpu", (host, svc, c["Args"])
        else:
            assert c["Config"]["Image"].endswith("vllm-cpu-release-repo:v0.33.0"), c["Config"]
