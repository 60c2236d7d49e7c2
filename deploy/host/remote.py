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

:func:`reported` makes a callback's ``OperationError`` a failed operation as pyinfra reports a
failed command. pyinfra 3 logs any exception out of a callback twice: its traceback, then
"Unexpected error in Python callback: OperationError('<the whole message on one line>')"
(``_run_host_op``); a callback that returns ``False`` fails the operation with pyinfra's own
"Error: executed 0 commands" and nothing else (``FunctionCommand.execute`` returns what a
callback taking ``state`` and ``host`` returns).
"""

from __future__ import annotations

import functools
from collections.abc import Callable
from typing import Any

from pyinfra import logger
from pyinfra.api.arguments import CONNECTOR_ARGUMENT_KEYS, pop_global_arguments
from pyinfra.api.exceptions import OperationError
from pyinfra.api.output import format_text


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


def report_failure(host, message: str) -> None:
    """``message`` as one error block: every line under the host's prefix, the first in red
    (a leading "host NAME: " is left out: the prefix names the host)."""
    lines = message.removeprefix(f"host {host.name}: ").splitlines() or [""]
    lines[0] = format_text(lines[0], "red")
    for line in lines:  # one record a line, as pyinfra prints a failed command's output
        logger.error(f"{host.print_prefix}{line}")


def reported(function: Callable[..., Any]) -> Callable[..., Any]:
    """``function`` (a ``python.call`` target taking ``state, host, ...``) whose
    ``OperationError`` is reported once by :func:`report_failure` and fails the operation
    (returns ``False``): no traceback, no second copy of the message."""

    @functools.wraps(function)
    def call(state, host, *args, **kwargs):  # pyinfra passes state and host by these names
        try:
            return function(state, host, *args, **kwargs)
        except OperationError as exc:
            report_failure(host, str(exc))
            return False

    return call
