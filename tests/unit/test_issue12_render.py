"""Issue 12, defect 8: a CPU service gets ``--disable-custom-kernels`` (TGI's README: "drop
``--gpus all`` and add ``--disable-custom-kernels``" for CPU), a GPU service does not, and a user
who already passes it in extra_args does not get it twice (clap refuses a repeated flag)."""

from __future__ import annotations

from tgi_infra.config import load_host_config
from tgi_infra.services.render import render_service


def _argv(host_data: dict) -> list[str]:
    host = load_host_config("h", host_data)
    rendered = render_service("h", host, host.tgi_services[0])
    return rendered.docker_argv


def test_cpu_service_disables_custom_kernels():
    argv = _argv({"tgi_gpus": "none", "tgi_services": [{"model_id": "org/m"}]})
    assert "--gpus" not in argv
    assert argv.count("--disable-custom-kernels") == 1
    # a launcher flag: after the image
    assert argv.index("--disable-custom-kernels") > argv.index("--model-id")


def test_cpu_service_on_gpu_host_disables_custom_kernels():
    argv = _argv({"tgi_services": [{"model_id": "org/m", "gpus": "none"}]})
    assert argv.count("--disable-custom-kernels") == 1


def test_gpu_service_keeps_custom_kernels():
    argv = _argv({"tgi_services": [{"model_id": "org/m"}]})
    assert "--disable-custom-kernels" not in argv


def test_flag_in_extra_args_is_not_repeated():
    argv = _argv(
        {
            "tgi_gpus": "none",
            "tgi_services": [{"model_id": "org/m", "extra_args": ["--disable-custom-kernels"]}],
        }
    )
    assert argv.count("--disable-custom-kernels") == 1
