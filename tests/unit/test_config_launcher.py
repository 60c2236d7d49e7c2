"""deploy/engines/tgi_launcher.py reads TGI's launcher flags from the one reference copy."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
import tgi_infra
from tgi_infra.engines import tgi_launcher

REFERENCE = Path(tgi_infra.__file__).resolve().parent / "reference" / "tgi"
LAUNCHER_ARGS = REFERENCE / "launcher-args.json"


@pytest.fixture(scope="module")
def reference_args() -> list[dict]:
    return json.loads(LAUNCHER_ARGS.read_text())["arguments"]


def test_flag_table_is_every_flag_of_the_reference_file_in_order(reference_args):
    embedded = [
        {
            "flag": f.flag,
            "short": f.short,
            "value": f.value,
            "env": f.env,
            "default": f.default,
            "possible_values": list(f.possible_values) if f.possible_values else None,
        }
        for f in tgi_launcher.LAUNCHER_FLAGS
    ]
    assert embedded == reference_args


def test_quantize_and_dtype_sets_come_from_reference(reference_args):
    by_flag = {a["flag"]: a for a in reference_args}
    assert list(tgi_launcher.QUANTIZE_VALUES) == by_flag["--quantize"]["possible_values"]
    assert list(tgi_launcher.DTYPE_VALUES) == by_flag["--dtype"]["possible_values"]


def test_owned_and_forbidden_flags_are_real_launcher_flags(reference_args):
    known = {a["flag"] for a in reference_args}
    assert set(tgi_launcher.CONFIG_OWNED_FLAGS) <= known
    assert set(tgi_launcher.FORBIDDEN_FLAGS) <= known
    assert "--api-key" in tgi_launcher.CONFIG_OWNED_FLAGS
    assert "--ngrok-authtoken" in tgi_launcher.FORBIDDEN_FLAGS


def test_allowed_extra_flags_exclude_owned_and_forbidden():
    allowed = set(tgi_launcher.allowed_extra_flags())
    assert "--max-best-of" in allowed and "--trust-remote-code" in allowed
    assert not allowed & set(tgi_launcher.CONFIG_OWNED_FLAGS)
    assert not allowed & set(tgi_launcher.FORBIDDEN_FLAGS)
