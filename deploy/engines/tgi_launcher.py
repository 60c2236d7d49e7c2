"""What `text-generation-launcher` (TGI 3.3.x) accepts, as Python data.

The flag table is read from the one reference copy, ``reference/tgi/launcher-args.json``
(huggingface/text-generation-inference docs/source/reference/launcher.md and
launcher/src/main.rs at commit db931fc, v3.3.7 era; the package ships it and reads it through
``importlib.resources``; the lab's TGI stand-in links to the same file).
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from importlib import resources

LAUNCHER_ARGS = resources.files("tgi_infra") / "reference" / "tgi" / "launcher-args.json"


@dataclass(frozen=True)
class LauncherFlag:
    flag: str
    short: str | None
    value: str | None  # metavar; None for switches that take no value
    env: str | None
    default: str | None
    possible_values: tuple[str, ...] | None

    @property
    def takes_value(self) -> bool:
        return self.value is not None


def _read_flags() -> tuple[LauncherFlag, ...]:
    """Every launcher flag of the reference file, in its order."""
    return tuple(
        LauncherFlag(
            a["flag"],
            a["short"],
            a["value"],
            a["env"],
            a["default"],
            tuple(a["possible_values"]) if a["possible_values"] else None,
        )
        for a in json.loads(LAUNCHER_ARGS.read_text())["arguments"]
    )


LAUNCHER_FLAGS: tuple[LauncherFlag, ...] = _read_flags()

FLAGS_BY_NAME: dict[str, LauncherFlag] = {f.flag: f for f in LAUNCHER_FLAGS}
SHORT_FLAGS: frozenset[str] = frozenset(f.short for f in LAUNCHER_FLAGS if f.short)

QUANTIZE_VALUES: tuple[str, ...] = FLAGS_BY_NAME["--quantize"].possible_values or ()
DTYPE_VALUES: tuple[str, ...] = FLAGS_BY_NAME["--dtype"].possible_values or ()

# Flags the config model sets itself (field name -> flag).  `extra_args` may not repeat them.
CONFIG_OWNED_FLAGS: dict[str, str] = {
    "--model-id": "model_id",
    "--revision": "revision",
    "--num-shard": "num_shard",
    "--sharded": "sharded",
    "--quantize": "quantize",
    "--dtype": "dtype",
    "--max-input-tokens": "max_input_tokens",
    "--max-input-length": "max_input_tokens",  # legacy alias, TGI refuses both together
    "--max-total-tokens": "max_total_tokens",
    "--max-batch-prefill-tokens": "max_batch_prefill_tokens",
    "--max-batch-total-tokens": "max_batch_total_tokens",
    "--max-concurrent-requests": "max_concurrent_requests",
    "--cuda-graphs": "cuda_graphs",
    "--port": "port (the container always listens on 80; set the host port with `port`)",
    "--hostname": "bind (the container listens on 0.0.0.0; set the host address with `bind`)",
    "--huggingface-hub-cache": "volume (HF_HOME=/data in the image)",
    "--api-key": "api_key_env (the key reaches the container as API_KEY in service.env)",
}

# Flags that carry secrets (must come through the env file, never argv) or that make the
# launcher print something and exit instead of serving.
FORBIDDEN_FLAGS: dict[str, str] = {
    "--ngrok-authtoken": "it carries a secret; secrets go through service.env, never argv",
    "--ngrok": "ngrok tunnels expose the server publicly; not supported by this deploy",
    "--ngrok-edge": "ngrok tunnels expose the server publicly; not supported by this deploy",
    "--env": "it prints the environment and exits instead of serving",
    "--help": "it prints help and exits instead of serving",
    "--version": "it prints the version and exits instead of serving",
}

# Container-side port: the official image sets PORT=80.
CONTAINER_PORT = 80


def allowed_extra_flags() -> list[str]:
    """Launcher flags that may appear in `extra_args` (sorted)."""
    return sorted(
        f for f in FLAGS_BY_NAME if f not in CONFIG_OWNED_FLAGS and f not in FORBIDDEN_FLAGS
    )
