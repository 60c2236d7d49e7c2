"""pyinfra's own CLI (``pyinfra_cli.main``), with paramiko's transport tracebacks left out.

A host whose port answers but whose SSH handshake fails (sshd restarting or overloaded, a port
that is not SSH) makes paramiko's transport thread log "Exception (client): Error reading SSH
protocol banner" and a full traceback through the ``paramiko.transport`` logger, next to
pyinfra's own one-line ``[host] SSH error (<cause>)``. The deploy wrapper (``python -m tgi_infra
deploy``, :mod:`tgi_infra.runner`) runs pyinfra through this module so a dead host is that one
line. ``--debug`` keeps paramiko's logging as it is.
"""

from __future__ import annotations

import logging
import sys

from pyinfra_cli.main import main  # first: pyinfra_cli patches the standard library with gevent


def quiet_paramiko(argv: list[str]) -> None:
    if "--debug" not in argv:
        logging.getLogger("paramiko").setLevel(logging.CRITICAL)


if __name__ == "__main__":
    quiet_paramiko(sys.argv[1:])
    main()
