"""Record every command a no-op deploy runs on a real bench host, with what the host answered.

``python -m bench.record_facts OUT.json`` runs the real pyinfra CLI (``bench/inventory.py``,
``deploy/main.py``) in this process with pyinfra's SSH connector wrapped to keep each command
(as pyinfra shows it, secrets masked) with its success flag and output lines. Run it against a
host that is already deployed: the recording is then what a host that needs nothing answers,
the canned answers of the simulated fleet (``bench/fleet_inventory.py``).
"""

from __future__ import annotations

import json
import sys

from pyinfra.connectors.ssh import SSHConnector

RECORDED: dict[str, dict] = {}


def _recording(original):
    def run_shell_command(self, command, *args, **kwargs):
        ok, output = original(self, command, *args, **kwargs)
        text = command if isinstance(command, str) else command.get_masked_value()
        RECORDED[text] = {
            "success": bool(ok),
            "stdout": output.stdout_lines,
            "stderr": output.stderr_lines,
        }
        return ok, output

    return run_shell_command


def main() -> int:
    out = sys.argv[1]
    SSHConnector.run_shell_command = _recording(SSHConnector.run_shell_command)
    from pyinfra_cli.main import main as pyinfra_main

    sys.argv = ["pyinfra", "-y", "bench/inventory.py", "deploy/main.py"]
    try:
        pyinfra_main()
    except SystemExit as exc:
        code = exc.code or 0
    else:
        code = 0
    with open(out, "w") as f:
        json.dump(RECORDED, f, indent=1)
    print(f"recorded {len(RECORDED)} commands to {out}", file=sys.stderr)
    return int(code)


if __name__ == "__main__":
    sys.exit(main())
