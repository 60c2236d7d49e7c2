"""The hung-host watchdog's bounds (deploy/host/watchdog.py); the lab's hung-host test shows
them on a paused host."""

from __future__ import annotations

import pytest
from tgi_infra.host import watchdog


@pytest.mark.parametrize("timeout", [5, 10, 60, 600])
def test_a_channel_waits_past_the_keepalive_so_the_drop_names_the_host(timeout):
    # worst case of the keepalive: a host that hangs right after one keepalive is seen one
    # interval later, then given `timeout` to answer; a channel opened at the moment it hung
    # must still be waiting then, so it fails with the drop's reason, not a bare timeout
    worst_drop = watchdog.probe_interval(timeout) + timeout
    assert watchdog.channel_timeout(timeout) > worst_drop
    assert watchdog.channel_timeout(timeout) <= timeout * 1.25 + 30  # still bounded


def test_keepalive_interval_is_a_quarter_of_the_timeout_within_1_to_15_s():
    assert watchdog.probe_interval(10) == 2.5
    assert watchdog.probe_interval(2) == 1.0
    assert watchdog.probe_interval(600) == watchdog.MAX_PROBE_INTERVAL_S
