"""pyinfra's own CLI (``pyinfra_cli.main``), with paramiko's transport tracebacks left out.

A host whose port answers but whose SSH handshake fails (sshd restarting or overloaded, a port
that is not SSH) makes paramiko's transport thread log "Exception (client): Error reading SSH
protocol banner" and a full traceback through the ``paramiko.transport`` logger, next to
pyinfra's own one-line ``[host] SSH error (<cause>)``. The deploy wrapper (``python -m tgi_infra
deploy``, :mod:`tgi_infra.cli.deploy_runner`) runs pyinfra through this module so a dead host is
that one
line. ``--debug`` keeps paramiko's logging as it is.

When every host has failed, pyinfra ends with "--> pyinfra error: No hosts remaining!"
(``State.fail_hosts`` raises it; the CLI prints it as an error of its own): the wrapper says
what it means instead, after the hosts' own errors (:func:`name_all_hosts_failed`).

Plain ``pyinfra inventories/gpu.py deploy/main.py`` connects to the hosts after it imports the
inventory and before it loads the deploy file, so the shipped inventories call
:func:`quiet_paramiko` themselves (a user's own inventory can do the same).
"""

from __future__ import annotations

import logging
import sys


def quiet_paramiko(argv: list[str] | None = None) -> None:
    """Silence paramiko's logging unless ``--debug`` is in ``argv`` (default: this process's
    command line, i.e. pyinfra's when an inventory calls it)."""
    if "--debug" not in (sys.argv[1:] if argv is None else argv):
        logging.getLogger("paramiko").setLevel(logging.CRITICAL)


class _AllHostsFailed(logging.Filter):
    def filter(self, record: logging.LogRecord) -> bool:
        if isinstance(record.msg, str) and record.msg.endswith("No hosts remaining!"):
            record.msg = "--> every host failed: the errors above say why"
            record.args = ()
        return True


def name_all_hosts_failed() -> None:
    """pyinfra's "No hosts remaining!" reads as "every host failed: the errors above say why"."""
    logging.getLogger("pyinfra").addFilter(_AllHostsFailed())


if __name__ == "__main__":
    from pyinfra_cli.main import main  # patches the standard library with gevent
    from tgi_infra import pyinfra_bookkeeping

    quiet_paramiko(sys.argv[1:])
    name_all_hosts_failed()
    pyinfra_bookkeeping.install()  # before pyinfra builds the inventory
    main()
