"""The TGI stand-in's weights: `text-generation-server download-weights` and the HF cache layout
(TGI's server/text_generation_server/cli.py and utils/hub.py), and a slower cold start."""

from __future__ import annotations

import os
import socket
import subprocess
import sys
import time
from pathlib import Path

REPO = Path(__file__).resolve().parents[2]
SERVER = "import sys; from lab.tgi_standin.weights import server_main; sys.exit(server_main())"


def _env(tmp_path: Path, **extra: str) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith(("TGI_STANDIN_", "HF_"))}
    env.pop("HUGGINGFACE_HUB_CACHE", None)
    env.update({"HUGGINGFACE_HUB_CACHE": str(tmp_path), "TGI_STANDIN_DOWNLOAD_S": "0.4", **extra})
    return env


def download(tmp_path: Path, *args: str, **extra: str) -> subprocess.CompletedProcess:
    return subprocess.run(
        [sys.executable, "-c", SERVER, "download-weights", *args],
        cwd=REPO, env=_env(tmp_path, **extra), capture_output=True, text=True, timeout=30,
    )  # fmt: skip


def test_download_weights_writes_the_hf_cache_layout_then_skips(tmp_path):
    first = download(tmp_path, "org/model-a", "--revision", "v2")
    assert first.returncode == 0, first.stderr
    assert "Download file: model.safetensors" in first.stdout
    assert "Download: [1/1] -- ETA: 0" in first.stdout
    repo = tmp_path / "models--org--model-a"
    sha = (repo / "refs" / "v2").read_text()
    assert len(sha) == 40
    assert (repo / "snapshots" / sha / "model.safetensors").is_file()
    again = download(tmp_path, "org/model-a", "--revision", "v2")
    assert again.returncode == 0
    assert "Files are already present on the host. Skipping download." in again.stdout
    other = download(tmp_path, "org/model-a")  # another revision is not the cached one
    assert "Download file:" in other.stdout


def test_download_weights_cli_errors_follow_typer(tmp_path):
    assert download(tmp_path).returncode == 2  # missing MODEL_ID
    bad = download(tmp_path, "org/m", "--nope")
    assert bad.returncode == 2 and "No such option: --nope" in bad.stderr
    gated = download(tmp_path, "org/gated", TGI_STANDIN_FAULT="crash_gated")
    assert gated.returncode == 1 and "Cannot access gated repo" in gated.stdout
    offline = download(tmp_path, "org/absent", HF_HUB_OFFLINE="1")
    assert offline.returncode == 1 and "download-weights org/absent" in offline.stdout


def test_launcher_cold_start_downloads_and_takes_the_download_time(tmp_path):
    busy = socket.socket()  # the launcher exits at bind time: the start-up is what is timed
    busy.bind(("127.0.0.1", 0))
    busy.listen()
    port = str(busy.getsockname()[1])

    def launch() -> tuple[float, str]:
        env = _env(tmp_path, TGI_STANDIN_WARMUP_S="0.1", TGI_STANDIN_DOWNLOAD_S="1.5")
        t0 = time.monotonic()
        proc = subprocess.run(
            [sys.executable, "-m", "lab.tgi_standin", "--model-id", "org/cold", "--port", port,
             "--hostname", "127.0.0.1"],
            cwd=REPO, env=env, capture_output=True, text=True, timeout=30,
        )  # fmt: skip
        return time.monotonic() - t0, proc.stdout

    cold, out_cold = launch()
    _, out_warm = launch()
    assert "Download file: model.safetensors" in out_cold
    assert "Skipping download" in out_warm and "Download file" not in out_warm
    # a lower bound only (the download sleeps at least that long): no upper bound on a loaded
    # machine; that the warm start skips the download is shown by its log above
    assert cold >= 1.5, cold
    busy.close()


def test_image_wrapper_text_generation_server_runs_with_bare_python(tmp_path):
    from lab import tgi_standin

    root = tmp_path / "img"
    for rel, content in tgi_standin.image_files(root=str(root / "opt/tgi_standin")).items():
        target = root / rel.removeprefix(str(root).strip("/") + "/")
        target.parent.mkdir(parents=True, exist_ok=True)
        target.write_bytes(content)
    server = root / "usr/local/bin/text-generation-server"
    server.chmod(0o755)
    env = {"PATH": "/usr/bin:/bin", "HUGGINGFACE_HUB_CACHE": str(tmp_path / "data"),
           "TGI_STANDIN_DOWNLOAD_S": "0"}  # fmt: skip
    proc = subprocess.run([str(server), "download-weights", "org/m"], env=env,
                          capture_output=True, text=True, timeout=30)  # fmt: skip
    assert proc.returncode == 0, proc.stderr
    assert (tmp_path / "data/models--org--m/refs/main").is_file()
