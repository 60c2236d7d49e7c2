"""pyinfra's per-operation bookkeeping, the same results without the work that is thrown away.

pyinfra 3 (CLI mode) does two things for every operation call on every host that cost far more
than the deploy's own work once a fleet has hundreds of hosts (a no-op deploy of 500 hosts:
17 operations each, 8,500 calls):

* ``get_operation_order_from_stack`` (``pyinfra/api/util.py``) orders the operation by the line
  numbers of the call stack. It reads the stack with ``inspect.stack()`` and then each frame
  again with ``getframeinfo(frame)``: both with one line of source context, which for every
  frame finds the source file, reads it through ``linecache`` and scans ``sys.modules``
  (``inspect.getmodule``), and the context line is never used. Here the stack is read once
  with ``inspect.stack(0)``: the same file names and line numbers (``getframeinfo`` takes both
  from the frame whatever the context), no source read.
* ``all_global_arguments`` (``pyinfra/api/arguments.py``) runs ``typing.get_type_hints`` on
  the same fixed class for every operation and every fact read. Here it is worked out once;
  each caller still gets its own list.

:func:`install` puts these in place of pyinfra's, in the modules that call them; the deploys
call it. It changes nothing when pyinfra's functions are not the ones these replace (another
pyinfra version): it checks for them first. ``tests/unit/test_pyinfra_bookkeeping.py`` holds
both equal to pyinfra's own.
"""

from __future__ import annotations

import importlib
import inspect
from typing import Any

import pyinfra

# the modules themselves (``pyinfra.api`` exports functions of the same names, e.g. operation)
arguments = importlib.import_module("pyinfra.api.arguments")
facts = importlib.import_module("pyinfra.api.facts")
operation = importlib.import_module("pyinfra.api.operation")
pyinfra_util = importlib.import_module("pyinfra.api.util")

_ORIGINAL = {
    "get_operation_order_from_stack": pyinfra_util.get_operation_order_from_stack,
    "all_global_arguments": arguments.all_global_arguments,
}
_GLOBAL_ARGUMENTS: list[tuple[str, type]] | None = None


def get_operation_order_from_stack(state: Any) -> list[int]:
    """pyinfra's ``get_operation_order_from_stack``: the frames' file names and line numbers
    read once, without their source lines."""
    stack_items = list(reversed(inspect.stack(0)))
    i = 0
    # Find the *first* occurrence of our deploy file in the reversed stack (as pyinfra's loop:
    # the last frame when it is not there)
    if state.current_deploy_filename and stack_items:
        names = [item.filename for item in stack_items]
        found = [n for n, name in enumerate(names) if name == state.current_deploy_filename]
        i = found[0] if found else len(names) - 1
    # Now generate a list of line numbers *following that file*
    line_numbers = []
    if pyinfra.is_cli:
        line_numbers.append(state.current_op_file_number)
    install_dir = pyinfra_util.PYINFRA_INSTALL_DIR
    # the last frame is this function's own (pyinfra's is skipped as one of pyinfra's files)
    for stack_item in stack_items[i:-1]:
        if stack_item.filename.startswith(install_dir):
            continue
        line_numbers.append(stack_item.lineno)
    del stack_items
    return line_numbers


def all_global_arguments() -> list[tuple[str, type]]:
    """pyinfra's ``all_global_arguments``: the type hints of its ``AllArguments``, read once."""
    global _GLOBAL_ARGUMENTS
    if _GLOBAL_ARGUMENTS is None:
        _GLOBAL_ARGUMENTS = _ORIGINAL["all_global_arguments"]()
    return list(_GLOBAL_ARGUMENTS)


def install() -> bool:
    """Use these in pyinfra's modules; False (nothing changed) where pyinfra differs."""
    if not (
        getattr(operation, "get_operation_order_from_stack", None)
        in (_ORIGINAL["get_operation_order_from_stack"], get_operation_order_from_stack)
        and getattr(arguments, "all_global_arguments", None)
        in (_ORIGINAL["all_global_arguments"], all_global_arguments)
        and getattr(facts, "all_global_arguments", None)
        in (_ORIGINAL["all_global_arguments"], all_global_arguments)
        and hasattr(pyinfra_util, "PYINFRA_INSTALL_DIR")
    ):
        return False
    operation.get_operation_order_from_stack = get_operation_order_from_stack
    pyinfra_util.get_operation_order_from_stack = get_operation_order_from_stack
    arguments.all_global_arguments = all_global_arguments
    facts.all_global_arguments = all_global_arguments
    return True
