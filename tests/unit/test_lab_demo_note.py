"""Every place that shows a lab run's `passed` for semantic_name / semantic_year says the answer
came from a stand-in, and which one per engine: the demo's closing note, the
README, the check's own message
(tests/unit/test_smoke_failures.py::test_semantic_checks_pass_the_standins_answers)."""

from __future__ import annotations

from pathlib import Path

from lab import cli

REPO = Path(__file__).resolve().parents[2]


def test_demo_ends_with_the_stand_in_note_after_the_smoke_suite(monkeypatch, tmp_path, capsys):
    """The lab's own steps (containers, pyinfra, smoke) are replaced by recorders: what is under
    test is what the demo prints around them, not the lab."""
    steps: list[str] = []
    monkeypatch.setenv("TGI_LAB_STATE_DIR", str(tmp_path))
    monkeypatch.setattr(cli.lab, "up", lambda fresh: steps.append("up"))
    monkeypatch.setattr(cli.lab, "state_dir", lambda: tmp_path)

    def step(name, argv, **kwargs):
        print(f"<{name}>", flush=True)
        steps.append(name)
        return 1 if name == "the smoke suite" else 0  # the note comes even when smoke fails

    monkeypatch.setattr(cli, "run_step", step)
    assert cli.demo(fresh=False) == 1
    out = capsys.readouterr().out
    assert steps == ["up", "the deploy (pyinfra)", "the smoke suite"]
    assert out.index("<the smoke suite>") < out.index(cli.STANDIN_ANSWERS.strip())
    note = cli.STANDIN_ANSWERS
    assert "semantic_name / semantic_year" in note and "no model answered" in note
    # the lab runs the three engines (inventories/lab.py): each one's stand-in is named
    assert "tgi services: the TGI stand-in (lab/tgi_standin)" in note
    assert "vllm services: the vLLM stand-in (lab/vllm_standin)" in note
    assert "sglang services: the SGLang stand-in (lab/sglang_standin)" in note
    assert "every answer" not in note


def test_readme_says_lab_semantic_passes_come_from_the_stand_in() -> None:
    text = " ".join((REPO / "README.md").read_text().split())
    assert (
        "In the lab, a `passed` for `semantic_name` / `semantic_year` means a **stand-in** "
        "answered (the TGI stand-in for TGI services, the vLLM stand-in for vLLM's, the SGLang "
        "stand-in for SGLang's)" in text
    )
    assert "only a real engine on a GPU host proves that" in text
