"""The lab tests' pytest-xdist scheduling: each lab takes its next test file only once it is idle.

lab/conftest.py uses the hook; with ``--dist loadfile --no-loadscope-reorder`` and the files
sorted longest first (``FILE_SECONDS`` there), the labs end about together.
"""

from __future__ import annotations


def pytest_xdist_make_scheduler(config, log):
    """``--dist loadfile`` that hands a lab its next file only once the lab is idle.

    pytest-xdist's own scheduler gives a worker its next file while two of its tests are still
    pending, so a file queues behind a long test on one lab while another lab sits idle, and
    the longest-first order is lost. A worker holds back its last test until it receives more
    (it needs the next item to tear down): one pending test means an idle lab."""
    if config.getoption("dist", None) != "loadfile":
        return None
    from xdist.scheduler import LoadFileScheduling

    class WhenIdle(LoadFileScheduling):
        def _reschedule(self, node) -> None:
            if node.shutting_down:
                return
            if not self.workqueue:
                node.shutdown()
                return
            if self._pending_of(self.assigned_work[node]) > 1:
                return
            self._assign_work_unit(node)

    return WhenIdle(config, log)
