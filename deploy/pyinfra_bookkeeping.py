"""pyinfra's per-operation bookkeeping, the same results without the work that is thrown away.

pyinfra 3 (CLI mode) does two things for every operation call on every host that cost far more
than the deploy's own work once a fleet has hundreds of hosts (a no-op deploy of 500 hosts:
17 operations each, 8,500 calls):

* ``get_operation_order_from_stack`` (``pyinfra/api/util.py``) orders the operation by the line
  numbers of the call stack. It reads the stack with ``inspect.stack()`` and then each frame
  again with ``getframeinfo(frame)``: both with one line of source context, which for every
  frame finds the source file, reads it through ``linecache`` and scans ``sys.modules``
  (``inspect.getmodule``), and the context line is never used. Here the frames are walked
  once and each one's file name and line number are ``getframeinfo``'s, worked out once per
  file and per call site (code object and instruction) and then looked up.
* ``all_global_arguments`` (``pyinfra/api/arguments.py``) runs ``typing.get_type_hints`` on
  the same fixed class for every operation and every fact read. Here it is worked out once;
  each caller still gets its own list.
* ``Inventory`` (``pyinfra/api/inventory.py``) looks up pyinfra's connectors (the
  ``pyinfra.connectors`` entry points: every installed distribution's metadata read) twice
  per host. Here they are looked up once per process; each caller still gets its own dict.
  pyinfra builds the inventory before it loads the deploy file: an inventory that calls
  :func:`install` (the shipped ones do) has it then.

:func:`install` puts these in place of pyinfra's, in the modules that call them; the deploys
call it. It changes nothing when pyinfra's functions are not the ones these replace (another
pyinfra version): it checks for them first. ``tests/unit/test_pyinfra_bookkeeping.py`` holds
both equal to pyinfra's own.
"""

from __future__ import annotations

import importlib
import inspect
import itertools
import sys
from typing import Any

import pyinfra

# the modules themselves (``pyinfra.api`` exports functions of the same names, e.g. operation)
arguments = importlib.import_module("pyinfra.api.arguments")
connectors = importlib.import_module("pyinfra.api.connectors")
facts = importlib.import_module("pyinfra.api.facts")
inventory = importlib.import_module("pyinfra.api.inventory")
operation = importlib.import_module("pyinfra.api.operation")
pyinfra_util = importlib.import_module("pyinfra.api.util")

_ORIGINAL = {
    "get_operation_order_from_stack": pyinfra_util.get_operation_order_from_stack,
    "all_global_arguments": arguments.all_global_arguments,
    "get_all_connectors": connectors.get_all_connectors,
    "get_execution_connectors": connectors.get_execution_connectors,
}
_CONNECTORS: dict[str, Any] | None = None
_GLOBAL_ARGUMENTS: list[tuple[str, type]] | None = None
_FILES: dict[str, str] = {}  # code's co_filename -> getframeinfo's filename
_LINES: dict[tuple[Any, int], int] = {}  # (code, instruction offset) -> getframeinfo's lineno


def _file_and_line(frame: Any) -> tuple[str, int]:
    """``getframeinfo(frame)``'s filename and lineno, each worked out once per file and per
    (code, instruction): a frame at the same call site has the same of both."""
    code = frame.f_code
    filename = _FILES.get(code.co_filename)
    if filename is None:
        filename = _FILES[code.co_filename] = inspect.getsourcefile(frame) or inspect.getfile(frame)
    key = (code, frame.f_lasti)
    lineno = _LINES.get(key)
    if lineno is None:
        lineno = inspect.getframeinfo(frame, 0).lineno
        # the instruction's own line (getframeinfo's when it has one; else the frame's,
        # which may differ another time: not kept)
        positions = getattr(code, "co_positions", None)
        if positions is not None and frame.f_lasti >= 0:
            own = next(itertools.islice(positions(), frame.f_lasti // 2, None), (None,))[0]
            if own is not None and own == lineno:
                _LINES[key] = lineno
    return filename, lineno


def get_operation_order_from_stack(state: Any) -> list[int]:
    """pyinfra's ``get_operation_order_from_stack``: the same file names and line numbers of the
    same frames, without reading their source lines."""
    frames = []
    frame = sys._getframe(0)  # as inspect.stack() in pyinfra's: its own frame first
    while frame is not None:
        frames.append(frame)
        frame = frame.f_back
    stack_items = [_file_and_line(f) for f in reversed(frames)]
    del frames, frame
    i = 0
    # Find the *first* occurrence of our deploy file in the reversed stack (as pyinfra's loop:
    # the last frame when it is not there)
    if state.current_deploy_filename and stack_items:
        names = [filename for filename, _ in stack_items]
        found = [n for n, name in enumerate(names) if name == state.current_deploy_filename]
        i = found[0] if found else len(names) - 1
    # Now generate a list of line numbers *following that file*
    line_numbers = []
    if pyinfra.is_cli:
        line_numbers.append(state.current_op_file_number)
    install_dir = pyinfra_util.PYINFRA_INSTALL_DIR
    # the last frame is this function's own (pyinfra's is skipped as one of pyinfra's files)
    for filename, lineno in stack_items[i:-1]:
        if filename.startswith(install_dir):
            continue
        line_numbers.append(lineno)
    return line_numbers


def all_global_arguments() -> list[tuple[str, type]]:
    """pyinfra's ``all_global_arguments``: the type hints of its ``AllArguments``, read once."""
    global _GLOBAL_ARGUMENTS
    if _GLOBAL_ARGUMENTS is None:
        _GLOBAL_ARGUMENTS = _ORIGINAL["all_global_arguments"]()
    return list(_GLOBAL_ARGUMENTS)


def get_all_connectors() -> dict[str, Any]:
    """pyinfra's ``get_all_connectors``: its connectors' entry points, loaded once."""
    global _CONNECTORS
    if _CONNECTORS is None:
        _CONNECTORS = _ORIGINAL["get_all_connectors"]()
    return dict(_CONNECTORS)


def get_execution_connectors() -> dict[str, Any]:
    """pyinfra's ``get_execution_connectors`` (those that run commands), of the above."""
    return {name: c for name, c in get_all_connectors().items() if c.handles_execution}


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
        and getattr(inventory, "get_all_connectors", None)
        in (_ORIGINAL["get_all_connectors"], get_all_connectors)
        and getattr(inventory, "get_execution_connectors", None)
        in (_ORIGINAL["get_execution_connectors"], get_execution_connectors)
    ):
        return False
    operation.get_operation_order_from_stack = get_operation_order_from_stack
    pyinfra_util.get_operation_order_from_stack = get_operation_order_from_stack
    arguments.all_global_arguments = all_global_arguments
    facts.all_global_arguments = all_global_arguments
    inventory.get_all_connectors = get_all_connectors
    inventory.get_execution_connectors = get_execution_connectors
    return True
