"""The host checks as pytest-testinfra tests: ``pytest smoke --inventory FILE --host-checks``.

One test per check and host (per service for the container checks and the GPUs, per model
volume for the disk), layer by layer: connection -> docker -> nvidia-runtime -> container ->
host. pytest runs each test for every host before the next, so the restart window of every
host runs once, at the same time. The command line's ``--host-checks`` runs these same tests
(smoke/plugin.py ``run_host_tests``) and prints their records per host. A check that could not
run (the host unreachable, Docker down, no container) is skipped saying why. The checks
themselves, and how each reads the host: smoke/hostchecks.py.
"""

from __future__ import annotations

from tgi_infra.smoke import hostchecks as hc

# -- connection ------------------------------------------------------------------------------


def test_connect(tgi_host) -> None:
    tgi_host.check("connection", "connect", hc.check_connection)


# -- docker (``docker info`` first: it tells Docker Desktop, whose daemon is not ours) ----------


def test_docker_info(tgi_host) -> None:
    tgi_host.check("docker", "docker_info", hc.check_docker_info)


def test_dockerd(tgi_host) -> None:
    tgi_host.check("docker", "dockerd", hc.check_dockerd)


# -- nvidia-runtime --------------------------------------------------------------------------


def test_daemon_json(tgi_host) -> None:
    tgi_host.check("nvidia-runtime", "daemon_json", hc.check_daemon_json)


def test_docker_runtimes(tgi_host) -> None:
    tgi_host.check("nvidia-runtime", "docker_runtimes", hc.check_docker_runtimes)


def test_toolkit_packages(tgi_host) -> None:
    tgi_host.check("nvidia-runtime", "toolkit_packages", hc.check_toolkit_packages)


# -- container (per service) -----------------------------------------------------------------


def test_running(tgi_service) -> None:
    host, svc = tgi_service
    host.check("container", "running", hc.check_running, svc)


def test_config_hash(tgi_service) -> None:
    host, svc = tgi_service
    host.check("container", "config_hash", hc.check_config_hash, svc)


def test_restarts(tgi_service) -> None:
    host, svc = tgi_service
    host.check(
        "container", "restarts", lambda p, s: hc.check_restarts(p, s, hc.second_sample(p)), svc
    )


def test_port(tgi_service) -> None:
    host, svc = tgi_service
    host.check("container", "port", hc.check_port, svc)


def test_env_file(tgi_service) -> None:
    host, svc = tgi_service
    host.check("container", "env_file", hc.check_env_file, svc)


# -- host ------------------------------------------------------------------------------------


def test_disk_free(tgi_volume) -> None:
    host, volume = tgi_volume
    host.check("host", f"disk_free {volume}", hc.check_disk, volume)


def test_gpus(tgi_service) -> None:
    host, svc = tgi_service
    host.check("host", "gpus", hc.check_gpus, svc)
