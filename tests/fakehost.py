"""pyinfra's ``@fake`` connector, answering the deploy's batched read (``HostSnapshot``) and
counting the commands each host runs.

pyinfra's fake connector answers a command with the first ``fake_responses`` entry whose key
is a substring of it. The snapshot command holds every planned read, so one entry would answer
all of them; :func:`batched_answer` answers each read of the snapshot on its own, with the same
lookup, and puts the answers back together the way the host's shell prints them (each between
its ``@@tgi-infra-read:<i>`` and ``@@tgi-infra-rc:<i>:<status>`` lines). The per-read answers of
the existing fake-host tests therefore answer the batched read unchanged.

``python -m tests.fakehost OUT.json pyinfra-args...`` runs the real pyinfra CLI in this process
with the connector so patched, and writes ``{host: [command, ...]}``: every command pyinfra ran
on each host (facts and operations, as pyinfra shows them), plus the reads answered from the
snapshot and those read live (``{"served": {...}, "live": {...}}``).
"""

from __future__ import annotations

import json
import re
import sys

from pyinfra.connectors.fake import FakeConnector
from pyinfra.connectors.util import CommandOutput, OutputLine
from tgi_infra.host.reading import RC_MARK, READ_MARK, batched

# a read of the snapshot command, as reading.batched() writes it (from batched() itself)
_N = 918273645
_BEFORE, _, _AFTER = batched(_N, "\0").partition("\0")
_READ_RE = re.compile(
    re.escape(_BEFORE).replace(str(_N), r"(\d+)", 1)
    + "(.*?)"
    + re.escape(_AFTER).replace(str(_N), r"\1", 1),
    re.DOTALL,
)

COMMANDS: dict[str, list[str]] = {}


def split_batched(command: str) -> list[tuple[int, str]]:
    """The reads of a snapshot command: ``[(index, command), ...]`` (empty: not a snapshot)."""
    return [(int(m.group(1)), m.group(2)) for m in _READ_RE.finditer(command)]


def batched_answer(lookup, command: str) -> tuple[bool, CommandOutput] | None:
    """The snapshot's answer put together from each read's own answer (``lookup(cmd)`` ->
    ``(success, CommandOutput)``); None when ``command`` is not a snapshot."""
    reads = split_batched(command)
    if not reads:
        return None
    lines: list[OutputLine] = []
    for index, read in reads:
        ok, out = lookup(read)
        lines.append(OutputLine("stdout", f"{READ_MARK}{index}"))
        lines += [line for line in out.combined_lines if line.buffer_name == "stdout"]
        lines.append(OutputLine("stdout", ""))  # the end marker's newline after whole lines
        lines.append(OutputLine("stdout", f"{RC_MARK}{index}:{0 if ok else 1}"))
    return True, CommandOutput(lines)


def install() -> None:
    """Patch pyinfra's fake connector: batched answers, and every command recorded per host."""
    if getattr(FakeConnector, "_tgi_batched", False):
        return
    original_lookup = FakeConnector._lookup_response
    original_run = FakeConnector.run_shell_command

    def _lookup_response(self, command_str):
        answer = batched_answer(lambda c: original_lookup(self, c), command_str)
        return answer if answer is not None else original_lookup(self, command_str)

    def run_shell_command(self, command, *args, **kwargs):
        text = command if isinstance(command, str) else command.get_masked_value()
        COMMANDS.setdefault(self.host.name, []).append(text)
        return original_run(self, command, *args, **kwargs)

    FakeConnector._lookup_response = _lookup_response
    FakeConnector.run_shell_command = run_shell_command
    FakeConnector._tgi_batched = True


def main(argv: list[str]) -> int:
    out, pyinfra_args = argv[0], argv[1:]
    install()
    from pyinfra_cli.main import main as pyinfra_main
    from tgi_infra.host import host_state

    sys.argv = ["pyinfra", *pyinfra_args]
    code = 0
    try:
        pyinfra_main()
    except SystemExit as exc:
        code = int(exc.code or 0)
    snaps = {
        n: s for state in list(host_state._served) for n, s in host_state.snapshots(state).items()
    }
    served = {name: s.served for name, s in snaps.items()}  # how many
    live = {name: s.live for name, s in snaps.items()}
    changed: dict[str, list[str]] = {}
    orders: dict[int, list] = {}  # per state: pyinfra sorts every host's operations each call
    for name, snap in snaps.items():
        state, host = snap.state, snap.host
        if id(state) not in orders:
            orders[id(state)] = state.get_op_order()
        for op in orders[id(state)]:
            data = state.ops.get(host, {}).get(op)
            try:
                did = data is not None and data.operation_meta.did_change()
            except RuntimeError:  # not executed: the host failed before it
                continue
            if did:
                changed.setdefault(name, []).append(", ".join(state.get_op_meta(op).names))
    report = {"commands": COMMANDS, "served": served, "live": live, "changed": changed}
    with open(out, "w") as f:
        json.dump(report, f, indent=1)
    return code


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
