"""deploy/cli/rollout.py: batches, the summary, and bad arguments refused before any host runs."""

from __future__ import annotations

import pytest
from tgi_infra.cli import commands
from tgi_infra.cli.rollout import Summary, batches


def test_batches_keep_inventory_order():
    assert batches(["a", "b", "c"], 2) == [["a", "b"], ["c"]]
    assert batches(["a", "b", "c"], 1) == [["a"], ["b"], ["c"]]
    with pytest.raises(ValueError, match="at least 1"):
        batches(["a"], 0)


def test_summary_lists_done_rolled_back_untouched():
    s = Summary(["h1"], ["h2"], ["h3"], {"h2": "tgi-service: info: wrong model"}, 12.0)
    text = s.text()
    assert "done:        h1" in text and "rolled back: h2" in text and "untouched:   h3" in text
    assert "h2: tgi-service: info: wrong model" in text


def test_unknown_smoke_check_is_refused_before_any_deploy(tmp_path, capsys):
    inv = tmp_path / "inv.py"
    inv.write_text(
        'hosts = [("gpu1", {"tgi_gpus": "none", "tgi_services": '
        '[{"name": "tgi-a", "model_id": "org/m"}]})]\n'
    )
    assert commands.main(["rollout", str(inv), "--checks", "ready,nope"]) == 2
    err = capsys.readouterr().err
    assert "--checks nope: unknown smoke check" in err and "generate" in err
    assert commands.main(["rollout", str(inv), "--batch", "0"]) == 2


@pytest.fixture
def vllm_and_sglang(tmp_path):
    """A vLLM and an SGLang stand-in as real processes, and an inventory naming them."""
    from tests.helpers.engine_standins import MODEL, Server

    servers = {"vllm": Server("vllm"), "sglang": Server("sglang", "--host", "127.0.0.1")}
    inv = tmp_path / "inv.py"
    services = [
        {"name": f"{engine}-a", "engine": engine, "model_id": MODEL, "port": s.port,
         "bind": "0.0.0.0", "gpus": [i]}
        for i, (engine, s) in enumerate(servers.items())
    ]  # fmt: skip
    host = {"ssh_hostname": "127.0.0.1", "tgi_services": services}
    inv.write_text(f"hosts = [('h1', {host!r})]\n")
    try:
        yield str(inv)
    finally:
        for s in servers.values():
            s.stop()


def test_default_rollout_checks_pass_on_vllm_and_sglang(vllm_and_sglang, capsys):
    """The default gate is per engine: TGI's /generate is not asked of vLLM or SGLang (it would
    be skipped there, and a skipped gate is not a pass)."""
    from tgi_infra.cli.rollout import default_checks, smoke_failures

    assert "generate" in default_checks("tgi")
    assert smoke_failures(vllm_and_sglang, ["h1"], None) == {}
    out = capsys.readouterr().out
    assert "h1/vllm-a: completions: passed" in out and "h1/vllm-a: chat: passed" in out
    assert "h1/sglang-a: sglang_generate: passed" in out
    assert "generate: passed" not in out.replace("sglang_generate", "")


def test_a_chosen_check_of_another_engine_is_skipped_not_failed(vllm_and_sglang, capsys):
    from tgi_infra.cli.rollout import smoke_failures

    assert smoke_failures(vllm_and_sglang, ["h1"], ("ready", "generate", "chat")) == {}
    out = capsys.readouterr().out
    assert "h1/vllm-a: generate: skipped (not a check of vllm services)" in out
    assert "h1/vllm-a: chat: passed" in out
