"""The command line (``tgi-smoke``) and the pytest plugin take the same options: one list
(smoke/options.py) builds both, and the parsers really built from it agree flag by flag.
"""

from __future__ import annotations

import argparse
import os
import subprocess
import sys

import pytest
from tgi_infra.smoke.cli import build_parser

# the command line's alone (its reports, its concurrency, --no-http); and the one option
# pytest knows under another name (pytest-timeout owns --timeout)
CLI_ONLY = {"--json", "--junit", "--concurrency", "--no-http"}
RENAMED = {"--timeout": "--request-timeout"}
ACTIONS = {
    argparse._StoreAction: "store",
    argparse._StoreTrueAction: "store_true",
    argparse._AppendAction: "append",
}


def _cli_options() -> dict[str, argparse.Action]:
    return {
        a.option_strings[0]: a
        for a in build_parser()._actions
        if a.option_strings and not isinstance(a, argparse._HelpAction)
    }


def _plugin_options(config: pytest.Config) -> dict[str, dict]:
    """flag -> the option's attributes, its action's kind as ``action``."""
    group = config._parser.getgroup("tgi-smoke")
    out = {}
    for arg in group.options:
        attrs = dict(arg.attrs())
        built = getattr(arg, "_action", None)  # pytest >= 8.4 builds the argparse action
        if built is not None:
            attrs["action"] = ACTIONS[type(built)]
        out[arg.names()[0]] = attrs
    return out


def test_cli_and_pytest_plugin_take_the_same_options(pytestconfig) -> None:
    cli, plugin = _cli_options(), _plugin_options(pytestconfig)
    assert set(plugin) == {RENAMED.get(flag, flag) for flag in cli} - CLI_ONLY
    for flag, action in cli.items():
        if flag in CLI_ONLY:
            continue
        attrs = plugin[RENAMED.get(flag, flag)]
        assert attrs["help"] == action.help, flag
        assert attrs.get("default") == action.default, flag
        assert attrs.get("type") is action.type, flag  # the same parser: refused the same way
        assert attrs.get("choices") == action.choices, flag
        assert attrs.get("metavar") == action.metavar, flag
        assert attrs.get("action", "store") == ACTIONS[type(action)], flag


def test_cli_options_keep_their_defaults(monkeypatch) -> None:
    monkeypatch.delenv("TGI_SMOKE_MIN_FREE_GB", raising=False)
    args = build_parser().parse_args([])
    assert (args.url, args.host, args.load_max, args.load_min) == ([], [], [], [])
    assert (args.min_free_gb, args.restart_window, args.concurrency) == (20.0, 3.0, 8)
    assert (args.ready_timeout, args.timeout, args.load_duration) == (600.0, 60.0, 30.0)
    assert args.min_tokens_per_s is None and args.max_ttft is None and args.load is None
    monkeypatch.setenv("TGI_SMOKE_MIN_FREE_GB", "0.5")
    assert build_parser().parse_args([]).min_free_gb == 0.5


@pytest.mark.parametrize(
    "argv,text",
    [
        (["--load", "0"], "invalid stream count 1..256 value: '0'"),
        (["--max-ttft", "-1"], "invalid number >= 0 value: '-1'"),
        (["--min-free-gb", "0"], "must be > 0: '0'"),
        (["--engine", "triton"], "invalid choice: 'triton'"),
    ],
)
def test_a_bad_value_is_refused_the_same_way_by_both(argv, text, tmp_path, capsys) -> None:
    """The command line exits 2, pytest stops with a usage error (4), each naming the value."""
    from tgi_infra.smoke import cli

    assert cli.main(["--url", "http://a:1", *argv]) == 2
    assert text in capsys.readouterr().err
    proc = subprocess.run(
        [sys.executable, "-m", "pytest", "--pyargs", "tgi_infra.smoke", "-p", "no:cacheprovider"]
        + ["-p", "tgi_infra.smoke.plugin", "--url", "http://a:1", *argv],
        cwd=tmp_path,
        capture_output=True,
        text=True,
        timeout=120,
        # the plugin alone (the environment's others cost seconds to load)
        env={**os.environ, "PYTEST_DISABLE_PLUGIN_AUTOLOAD": "1"},
    )
    assert proc.returncode == pytest.ExitCode.USAGE_ERROR, proc.stdout + proc.stderr
    assert text in proc.stderr
