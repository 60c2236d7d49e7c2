"""A host that records the commands it is given (the swap's, run outside any pyinfra operation)
and answers each with success and no output; ``fails_on``: commands that contain it fail."""

from __future__ import annotations


class _Output:
    def __init__(self):
        self.stdout_lines, self.stderr_lines = [], []


class RecordedHost:
    name, print_prefix, state = "gpu-1", "[gpu-1] ", None

    def __init__(self, fails_on: str | None = None):
        self.commands: list[str] = []
        self.fails_on = fails_on

    def run_shell_command(self, cmd, **_kw):
        self.commands.append(cmd)
        return not (self.fails_on and self.fails_on in cmd), _Output()
