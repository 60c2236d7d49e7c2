"""deploy/swap.py commands: TGI's downloader from the new image, the token only by env file."""

from __future__ import annotations

import shlex

from tgi_infra.swap import Swap, prefetch_command, start_command, stop_command


def spec(**kw) -> Swap:
    base = dict(name="tgi-a", unit="tgi-tgi-a.service", creation_script="/opt/tgi/tgi-a/c.sh",
                image="ghcr.io/huggingface/text-generation-inference:3.3.7",
                env_file="/opt/tgi/tgi-a/service.env", volume="/var/lib/tgi/data",
                model_id="org/m", revision="abc123", why="config changed")  # fmt: skip
    return Swap(**{**base, **kw})


def test_prefetch_runs_download_weights_of_the_new_image_with_the_env_file():
    argv = shlex.split(prefetch_command(spec()).removesuffix(" 2>&1"))
    assert argv[:3] == ["docker", "run", "--rm"]
    assert argv[argv.index("--env-file") + 1] == "/opt/tgi/tgi-a/service.env"
    assert argv[argv.index("-v") + 1] == "/var/lib/tgi/data:/data"
    assert argv[argv.index("--entrypoint") + 1] == "text-generation-server"
    i = argv.index("ghcr.io/huggingface/text-generation-inference:3.3.7")
    assert argv[i + 1 :] == ["download-weights", "org/m", "--revision", "abc123"]
    assert not any("HF_TOKEN" in a for a in argv)
    assert "--revision" not in prefetch_command(spec(revision=None))


def test_stop_and_start_follow_the_supervisor():
    assert stop_command(spec(), "tgi-a") == (
        "systemctl stop tgi-tgi-a.service; docker stop -t 30 tgi-a >/dev/null"
    )
    assert "systemctl start tgi-tgi-a.service" in start_command(spec(), "tgi-a")
    assert stop_command(spec(unit=None), "tgi-a") == "docker stop -t 30 tgi-a >/dev/null"
    assert start_command(spec(unit=None), "tgi-a") == "docker start tgi-a"
    assert spec().previous == "tgi-a-previous"
