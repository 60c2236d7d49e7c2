"""Launcher-style log lines on stdout (tracing text format, or JSON with ``--json-output``).

Secrets never reach the log: every line passes through ``redact`` which replaces the values of
``API_KEY``/``--api-key``, ``HF_TOKEN`` and ``HUGGING_FACE_HUB_TOKEN`` wherever they appear.
"""

from __future__ import annotations

import json
import sys
import threading
from datetime import datetime, timezone

_LOCK = threading.Lock()


class Logger:
    def __init__(self, json_output: bool = False, secrets: list[str] | None = None) -> None:
        self.json_output = json_output
        self.secrets = [s for s in (secrets or []) if s]

    def redact(self, text: str) -> str:
        for secret in self.secrets:
            text = text.replace(secret, "[REDACTED]")
        return text

    def log(self, level: str, message: str, target: str = "text_generation_launcher") -> None:
        message = self.redact(message)
        now = datetime.now(timezone.utc)
        stamp = now.strftime("%Y-%m-%dT%H:%M:%S.") + f"{now.microsecond:06d}Z"
        if self.json_output:
            line = json.dumps(
                {
                    "timestamp": stamp,
                    "level": level,
                    "fields": {"message": message},
                    "target": target,
                },
                separators=(",", ":"),
            )
        else:
            line = f"{stamp} {level:>5} {target}: {message}"
        with _LOCK:
            sys.stdout.write(line + "\n")
            sys.stdout.flush()

    def info(self, message: str, target: str = "text_generation_launcher") -> None:
        self.log("INFO", message, target)

    def warn(self, message: str, target: str = "text_generation_launcher") -> None:
        self.log("WARN", message, target)

    def error(self, message: str, target: str = "text_generation_launcher") -> None:
        self.log("ERROR", message, target)

    def raw(self, text: str, stream=None) -> None:
        """Unformatted text (Python tracebacks relayed from a shard, ``Error: ..``)."""
        stream = stream or sys.stdout
        with _LOCK:
            stream.write(self.redact(text) + ("" if text.endswith("\n") else "\n"))
            stream.flush()
