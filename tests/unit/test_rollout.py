"""deploy/rollout.py: batches, the summary, and bad arguments refused before any host runs."""

from __future__ import annotations

import pytest
from tgi_infra import cli
from tgi_infra.rollout import Summary, batches


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
    assert cli.main(["rollout", str(inv), "--checks", "ready,nope"]) == 2
    err = capsys.readouterr().err
    assert "--checks nope: unknown smoke check" in err and "generate" in err
    assert cli.main(["rollout", str(inv), "--batch", "0"]) == 2
