"""The bench waits for a quiet machine before it times a run (bench/machine.py): a deploy timed
right after another would also measure the first one's tail (services still starting). The
CPU counters come from a file in /proc/stat's format that each wait advances."""

from __future__ import annotations

import pytest

from bench import machine

# /proc/stat's first line: user nice system idle iowait irq softirq steal guest guest_nice
LINE = "cpu  {busy} 0 0 {idle} 0 0 0 0 0 0\n"


class Machine:
    """Two CPUs, 100 ticks per second each: ``busy`` of them per second for each window."""

    def __init__(self, path, busy_per_window: list[int]):
        self.path, self.windows, self.busy, self.idle = path, list(busy_per_window), 0, 0
        self.slept, self.last = 0, 0
        self._write()

    def _write(self) -> None:
        self.path.write_text(LINE.format(busy=self.busy, idle=self.idle) + "cpu0 1 2 3 4\n")

    def sleep(self, seconds: float) -> None:
        self.slept += 1
        busy = self.windows.pop(0) if self.windows else self.last  # the last one, for ever
        self.last = busy
        self.busy += busy
        self.idle += 200 - busy
        self._write()


def test_waits_until_one_window_is_quiet(tmp_path):
    m = Machine(tmp_path / "stat", [190, 150, 60, 10])  # 95 %, 75 %, 30 %, then 5 % busy
    waited = machine.wait_until_idle(0.10, 1.0, 60, stat=str(m.path), sleep=m.sleep)
    assert (waited, m.slept) == (4.0, 4)


def test_a_machine_that_stays_busy_is_waited_for_at_most_max_s(tmp_path):
    m = Machine(tmp_path / "stat", [120])  # 60 % busy for ever
    waited = machine.wait_until_idle(0.10, 1.0, 5, stat=str(m.path), sleep=m.sleep)
    assert (waited, m.slept) == (5.0, 5)


def test_an_idle_machine_costs_one_window(tmp_path):
    m = Machine(tmp_path / "stat", [2])
    assert machine.wait_until_idle(0.10, 0.5, 60, stat=str(m.path), sleep=m.sleep) == 0.5


@pytest.mark.parametrize(
    ("line", "busy", "total"),
    [
        ("cpu  10 1 5 100 4 1 1 2 7 0", 20, 124),  # iowait is idle; guest is in user already
        ("cpu  10 0 5 100", 15, 115),  # an old kernel's four fields
    ],
)
def test_busy_and_total_ticks_from_proc_stat(tmp_path, line, busy, total):
    (tmp_path / "stat").write_text(line + "\n")
    assert machine.cpu_times(str(tmp_path / "stat")) == (busy, total)
