"""Values of a Docker env-file (``docker run --env-file``), read the way Docker reads them.

docker/cli ``pkg/kvfile/kvfile.go``: a UTF-8 BOM on the first line is dropped, leading
whitespace of each line is trimmed, empty lines and lines starting with ``#`` are skipped, and
``KEY=VALUE`` is split at the first ``=``; the value is taken literally - no quotes, no escapes,
no ``$`` expansion, trailing whitespace kept. A key given twice: the later line wins in the
container's environment. Reading such a file with the shell (``. service.env``) expands ``$``,
runs ``$(...)`` and stops at ``&`` or ``(``, so it must never be sourced.
"""

from __future__ import annotations

import re
import shlex

_KEY_RE = re.compile(r"^[A-Za-z_][A-Za-z0-9_]*$")


def parse_env_file(text: str) -> dict[str, str]:
    """``{key: value}`` as Docker's env-file parser gives them (later duplicates win)."""
    values: dict[str, str] = {}
    for number, raw in enumerate(text.splitlines()):
        if number == 0:
            raw = raw.removeprefix("\ufeff")
        line = raw.lstrip()
        if not line or line.startswith("#"):
            continue
        key, sep, value = line.partition("=")
        if sep:
            values[key] = value
    return values


def value_command(path: str, key: str) -> str:
    """POSIX sh printing the value of ``key`` in the env file at ``path`` (then a newline),
    literally, as :func:`parse_env_file` reads it; nothing when the key is absent.

    sed does the reading, so the value never passes through the shell's parser or argv.
    """
    if not _KEY_RE.match(key):
        raise ValueError(f"not an environment variable name: {key!r}")
    script = f"1s/^\\xEF\\xBB\\xBF//; s/^[[:space:]]*{key}=//p"
    return f"sed -n {shlex.quote(script)} {shlex.quote(path)} | tail -n 1"
