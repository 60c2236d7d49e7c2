"""The smoke host checks run ON a lab host: the package and the few libraries they import copied
into it (no network, no pip)."""

from __future__ import annotations

import io
import sys
import tarfile
from pathlib import Path

from lab import lab

REPO = Path(__file__).resolve().parents[1]


# packages the checks import (copied from the control machine's venv into the host)
LOCAL_PACKAGES = [
    "testinfra",
    "pydantic",
    "pydantic_core",
    "annotated_types",
    "typing_extensions.py",
    "typing_inspection",
    "jinja2",
    "markupsafe",
    # the checks are pytest tests (smoke/test_hosts.py), run by pytest in the process
    "pytest",
    "_pytest",
    "pluggy",
    "iniconfig",
    "packaging",
    "pygments",
    "py.py",
]


# docker-py and what it imports: copied into LINUX only, so that LINUX runs the checks through
# the Docker API (tgi_infra.local) and WSL through the docker CLI (no docker-py there)
DOCKER_PY_PACKAGES = ["docker", "requests", "urllib3", "idna", "certifi", "charset_normalizer"]


def tar_of(paths: dict[str, Path]) -> bytes:
    buf = io.BytesIO()
    with tarfile.open(fileobj=buf, mode="w") as tar:
        for arcname, path in paths.items():
            tar.add(str(path), arcname=arcname, filter=_no_pycache)
    return buf.getvalue()


def install_local_runner(state, host: str, hosts_json: str, docker_py: bool = False) -> str:
    """The cheapest real way to run the checks ON a host: python3 is there (Debian's 3.11, the
    control machine's venv is 3.11 too), so copy the package ``tgi_infra`` (the repo's
    ``deploy``, ``smoke``, ``templates``) and the few pure-Python/manylinux packages the checks
    import (testinfra, pytest, pydantic, jinja2: no pyinfra, no rich) to /opt/tgi-smoke, with the
    inventory as the hosts JSON that ``python -m tgi_infra.smoke.inventory_loader`` prints. No
    network, no pip, nothing installed system-wide. ``docker_py``: docker-py (and requests) too.
    """
    import docker

    site = next(Path(p) for p in sys.path if p.endswith("site-packages") and Path(p).is_dir())
    packages = LOCAL_PACKAGES + (DOCKER_PY_PACKAGES if docker_py else [])
    paths = {f"site/{name}": site / name for name in packages}
    paths |= {
        "repo/tgi_infra": REPO / "deploy",
        "repo/tgi_infra/smoke": REPO / "smoke",
        "repo/tgi_infra/templates": REPO / "templates",
    }
    container = docker.from_env().containers.get(state.host(host).container)
    lab.exec_on(state, host, "rm -rf /opt/tgi-smoke && mkdir -p /opt/tgi-smoke")
    container.put_archive("/opt/tgi-smoke", tar_of(paths))
    lab._put_file(container, "/opt/tgi-smoke/hosts.json", hosts_json)
    return "cd /opt/tgi-smoke/repo && PYTHONPATH=/opt/tgi-smoke/repo:/opt/tgi-smoke/site"


def _no_pycache(info: tarfile.TarInfo):
    return None if "__pycache__" in info.name else info
