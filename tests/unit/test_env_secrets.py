"""deploy/services/secrets.py: a token change restarts once; a deploy without the token keeps the
host's and changes nothing. The fact's shell command runs for real against a file here."""

from __future__ import annotations

import subprocess

from tgi_infra.config import load_host_config
from tgi_infra.services.render import env_file_content
from tgi_infra.services.secrets import EnvFileDigests, merge_command, missing_targets, plan_env

SVC = {"name": "tgi-a", "model_id": "org/m", "gpus": "none", "env": {"LOG_LEVEL": "info"}}


def service(**extra):
    data = {"tgi_gpus": "none", "tgi_services": [{**SVC, **extra}]}
    return load_host_config("h", data).tgi_services[0]


def on_host(tmp_path, content: str | None, svc, environ):
    path = tmp_path / "service.env"
    if content is not None:
        path.write_text(content)
    fact = EnvFileDigests()
    cmd = fact.command(str(path), tuple(missing_targets(svc, environ)))
    out = subprocess.run(["bash", "-c", cmd], capture_output=True, text=True, check=True).stdout
    return fact.process(out.splitlines()) if out.strip() else None


def test_same_token_changes_nothing_and_a_new_token_restarts_once(tmp_path):
    svc = service()
    env1, env2 = {"HF_TOKEN": "hf_one"}, {"HF_TOKEN": "hf_two"}
    host = on_host(tmp_path, env_file_content(svc, env1), svc, env1)
    same = plan_env(svc, env1, host)
    assert same.content is None and not same.changed
    new = plan_env(svc, env2, on_host(tmp_path, env_file_content(svc, env1), svc, env2))
    assert new.changed and new.secrets_changed and "HF_TOKEN=hf_two" in new.content


def test_deploy_without_the_token_keeps_it_and_changes_nothing(tmp_path):
    svc = service()
    on_disk = env_file_content(svc, {"HF_TOKEN": "hf_kept"})
    plan = plan_env(svc, {}, on_host(tmp_path, on_disk, svc, {}))
    assert plan.content is None and plan.merge is None and not plan.changed
    assert plan.keep == ["HF_TOKEN"]
    assert "tgi-a keeps the HF_TOKEN already on the host" in plan.notes[0]
    assert "hf_kept" not in " ".join(plan.notes)


def test_without_the_token_a_changed_env_is_merged_on_the_host_keeping_it(tmp_path):
    old = service()
    on_disk = env_file_content(old, {"HF_TOKEN": "hf_kept"})
    svc = service(env={"LOG_LEVEL": "debug"})
    plan = plan_env(svc, {}, on_host(tmp_path, on_disk, svc, {}))
    assert plan.changed and plan.merge and "hf_kept" not in plan.merge
    staged = tmp_path / ".service.env.new"
    staged.write_text(plan.merge)
    cmd = merge_command(str(tmp_path / "service.env"), str(staged), plan.keep)
    assert "hf_kept" not in cmd
    subprocess.run(["bash", "-c", cmd], check=True)
    merged = (tmp_path / "service.env").read_text()
    assert "HF_TOKEN=hf_kept\n" in merged and "LOG_LEVEL=debug\n" in merged
    assert (tmp_path / "service.env").stat().st_mode & 0o777 == 0o600


def test_first_write_and_no_token_anywhere(tmp_path):
    svc = service()
    first = plan_env(svc, {}, on_host(tmp_path, None, svc, {}))
    assert first.changed and first.content is not None and "HF_TOKEN" not in first.content
    public = on_host(tmp_path, first.content, svc, {})
    again = plan_env(svc, {}, public)
    assert not again.changed and again.content is None and not again.notes
