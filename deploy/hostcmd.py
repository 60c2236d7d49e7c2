"""Commands run from ``python.call`` callbacks, with the host's connector arguments.

pyinfra runs an operation's shell commands with its connector arguments (``_sudo``,
``_sudo_user``, ``_su_user``, ``_sudo_password``, ``_doas``, ``_env``, ``_chdir``, ...), taken
from the operation, the ``@deploy`` call, the host's data and the config
(``pyinfra/api/arguments.py`` ``pop_global_arguments``; ``pyinfra/api/operations.py``
``_run_host_op`` builds ``connector_arguments`` from them). A ``python.call`` callback gets none
of them: ``FunctionCommand.execute`` (``pyinfra/api/command.py``) receives
``connector_arguments`` and calls the function without them, so a bare
``host.run_shell_command()`` inside the callback runs as the SSH user. On a host reached as
``ubuntu`` with ``_sudo: True`` that means ``apt-get update``, ``docker`` and reading the 0600
``service.env`` fail.

:func:`run` runs a command with the connector arguments pyinfra gives the operation that is
executing now (the same dict its own commands get), so every command of the deploy runs as the
host's settings say. Facts need nothing: pyinfra's ``get_fact`` applies them already
(``pyinfra/api/facts.py`` ``_handle_fact_kwargs``).
"""

from __future__ import annotations

from typing import Any

from pyinfra.api.arguments import CONNECTOR_ARGUMENT_KEYS, pop_global_arguments


def connector_arguments(state, host) -> dict[str, Any]:
    """The connector arguments of the operation executing on ``host`` now (host data, deploy
    and operation arguments merged by pyinfra); outside an operation, the host data's."""
    op_hash = host.nested_executing_op_hash or host.executing_op_hash
    if op_hash is not None:
        arguments = state.get_op_data_for_host(host, op_hash).global_arguments
    else:
        arguments, _ = pop_global_arguments(state, host, {})
    return {key: arguments[key] for key in CONNECTOR_ARGUMENT_KEYS if key in arguments}


def run(state, host, command: str, **kwargs):
    """``host.run_shell_command(command)`` as the operation's own commands run (sudo/su/doas
    and the rest from the host's settings); ``kwargs`` (``print_output``, ...) are passed on
    and win. Returns pyinfra's ``(ok, CommandOutput)``."""
    arguments = {**connector_arguments(state, host), **kwargs}
    return host.run_shell_command(command, **arguments)
