"""The config is no stricter than TGI 3.3.7 itself.

TGI's source (v3.3.7) decides:

* ``server/text_generation_server/cli.py`` (serve): ``dtype`` is refused with ``quantize`` only
  when quantize is not one of None, ``bitsandbytes``, ``bitsandbytes-nf4``,
  ``bitsandbytes-fp4``;
* ``backends/v3/src/main.rs``: ``max_input_tokens > max_batch_prefill_tokens`` is refused only
  when the backend does not support chunking (``!support_chunking``); the v3 backend chunks
  with flash attention, so it is legal, and a warning says when it is refused.
"""

from __future__ import annotations

import pytest
from tgi_infra.config import ConfigError, load_host_config


def host(**svc):
    return load_host_config("h1", {"tgi_services": [{"name": "a", "model_id": "org/m", **svc}]})


@pytest.mark.parametrize("quantize", ["bitsandbytes", "bitsandbytes-nf4", "bitsandbytes-fp4"])
@pytest.mark.parametrize("dtype", ["float16", "bfloat16"])
def test_dtype_with_bitsandbytes_is_allowed(quantize, dtype):
    cfg = host(quantize=quantize, dtype=dtype)
    assert cfg.tgi_services[0].dtype == dtype


@pytest.mark.parametrize("quantize", ["gptq", "awq", "fp8", "eetq", "marlin"])
def test_dtype_with_other_quantizers_is_still_refused(quantize):
    with pytest.raises(ConfigError) as exc:
        host(quantize=quantize, dtype="float16")
    text = str(exc.value)
    assert "field dtype" in text and f"--quantize {quantize}" in text


def test_prefill_below_input_is_a_warning_not_a_refusal():
    cfg = host(max_input_tokens=2048, max_total_tokens=4096, max_batch_prefill_tokens=1000)
    assert cfg.tgi_services[0].max_batch_prefill_tokens == 1000
    (warning,) = [w for w in cfg.warnings if "max_batch_prefill_tokens" in w]
    assert "host h1: service a:" in warning and "chunk" in warning


def test_prefill_at_or_above_input_has_no_warning():
    cfg = host(max_input_tokens=1000, max_total_tokens=4096, max_batch_prefill_tokens=1000)
    assert not [w for w in cfg.warnings if "max_batch_prefill_tokens" in w]
