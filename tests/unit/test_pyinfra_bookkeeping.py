"""pyinfra's per-operation bookkeeping, done cheaper (``deploy/pyinfra_bookkeeping.py``), gives
what pyinfra's own functions give: the same operation order from the same call stack, the same
global arguments, the same connectors; and the deploys use it."""

from __future__ import annotations

import importlib
from types import SimpleNamespace

import pyinfra
import pytest
from tgi_infra import pyinfra_bookkeeping as bk

HERE = __file__


def _order_via(fn, state):
    return fn(state)  # one line: both functions see the same caller frames


def _nested(fn, state, depth):
    if depth:
        return _nested(fn, state, depth - 1)
    return _order_via(fn, state)


@pytest.mark.parametrize("deploy_file", [HERE, None, "/nowhere/deploy.py"])
@pytest.mark.parametrize("is_cli", [True, False])
@pytest.mark.parametrize("depth", [0, 3])
def test_operation_order_equals_pyinfras_from_the_same_stack(
    monkeypatch, deploy_file, is_cli, depth
):
    monkeypatch.setattr(pyinfra, "is_cli", is_cli)
    state = SimpleNamespace(current_deploy_filename=deploy_file, current_op_file_number=7)
    ours, theirs = bk.get_operation_order_from_stack, bk._ORIGINAL["get_operation_order_from_stack"]
    # from the same line; ours twice (the second from what the first worked out)
    first, theirs, again = [_nested(fn, state, depth) for fn in (ours, theirs, ours)]
    assert first == theirs == again
    ours = first
    if deploy_file == HERE:  # the line numbers of this file's frames, at least
        assert len(ours) >= 2 + depth + is_cli


def test_global_arguments_equal_pyinfras_and_each_caller_gets_its_own_list():
    first = bk.all_global_arguments()
    assert first == bk._ORIGINAL["all_global_arguments"]()
    first.clear()
    assert bk.all_global_arguments() == bk._ORIGINAL["all_global_arguments"]()


def test_the_deploys_install_it_in_pyinfras_modules():
    importlib.import_module("tgi_infra.deploys")
    operation = importlib.import_module("pyinfra.api.operation")
    arguments = importlib.import_module("pyinfra.api.arguments")
    facts = importlib.import_module("pyinfra.api.facts")
    assert operation.get_operation_order_from_stack is bk.get_operation_order_from_stack
    assert arguments.all_global_arguments is bk.all_global_arguments
    assert facts.all_global_arguments is bk.all_global_arguments
    inventory = importlib.import_module("pyinfra.api.inventory")
    assert inventory.get_all_connectors is bk.get_all_connectors
    assert inventory.get_execution_connectors is bk.get_execution_connectors
    assert bk.install()  # again: still recognised as its own


def test_connectors_equal_pyinfras_and_each_caller_gets_its_own_dict():
    first = bk.get_all_connectors()
    assert first == bk._ORIGINAL["get_all_connectors"]()
    assert "fake" in first and "ssh" in first
    first.clear()
    assert bk.get_all_connectors() == bk._ORIGINAL["get_all_connectors"]()
    assert bk.get_execution_connectors() == bk._ORIGINAL["get_execution_connectors"]()
