"""TGI stand-in: speaks Text Generation Inference's HTTP API without a GPU or the HF Hub.

Stdlib only (it runs in a bare Debian container with nothing but ``python3``). The real
behaviours it mimics, and those it does not, are listed in CONTRACT.md next to this file.

Image layout (``image_files()`` returns it as ``{path inside the image: bytes}``)::

    /opt/tgi_standin/tgi_standin/*.py, CONTRACT.md   this package, importable as ``tgi_standin``
    /usr/local/bin/text-generation-launcher           sh wrapper: python3 -m tgi_standin "$@"
    /usr/local/bin/text-generation-server             sh wrapper: download-weights (weights.py)

``dockerfile(base_image)`` writes a Dockerfile for a build context holding those files, with the
real image's ``ENTRYPOINT ["text-generation-launcher"]``, ``PORT=80`` and ``HF_HOME=/data``.
"""

from __future__ import annotations

from pathlib import Path

PACKAGE_DIR = Path(__file__).resolve().parent
IMAGE_ROOT = "/opt/tgi_standin"
LAUNCHER_PATH = "/usr/local/bin/text-generation-launcher"
SERVER_PATH = "/usr/local/bin/text-generation-server"  # download-weights only (weights.py)


def wrapper_script(root: str = IMAGE_ROOT) -> bytes:
    """The ``text-generation-launcher`` shell wrapper (``root`` holds the ``tgi_standin`` dir)."""
    return (
        "#!/bin/sh\n"
        "# TGI stand-in (lab/tgi_standin): the real image's ENTRYPOINT is this launcher.\n"
        f'PYTHONPATH="{root}${{PYTHONPATH:+:$PYTHONPATH}}" exec python3 -u -m tgi_standin "$@"\n'
    ).encode()


def image_files(root: str = IMAGE_ROOT) -> dict[str, bytes]:
    """Files to put in the image: relative path (no leading /) -> contents."""
    base = root.strip("/") + "/tgi_standin/"
    files = {
        base + path.name: path.read_bytes()
        for path in sorted(PACKAGE_DIR.iterdir())
        if path.is_file() and path.suffix in (".py", ".md", ".json")
    }
    files[LAUNCHER_PATH.lstrip("/")] = wrapper_script(root)
    files[SERVER_PATH.lstrip("/")] = (
        "#!/bin/sh\n# TGI stand-in: text-generation-server download-weights (weights.py)\n"
        f'PYTHONPATH="{root}${{PYTHONPATH:+:$PYTHONPATH}}" exec python3 -c '
        "'import sys; from tgi_standin.weights import server_main; sys.exit(server_main())' "
        '"$@"\n'
    ).encode()
    return files


def dockerfile(base_image: str) -> str:
    """Dockerfile for a context laid out by ``image_files()`` (base image must have python3)."""
    return (
        f"FROM {base_image}\n"
        "COPY opt/ /opt/\n"
        "COPY usr/ /usr/\n"
        f"RUN chmod 0755 {LAUNCHER_PATH} {SERVER_PATH}\n"
        "ENV HF_HOME=/data PORT=80\n"
        "WORKDIR /usr/src\n"
        'ENTRYPOINT ["text-generation-launcher"]\n'
        'CMD ["--json-output"]\n'
    )
