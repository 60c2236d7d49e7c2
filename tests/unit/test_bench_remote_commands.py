# ruff: noqa: E501 (real sshd log lines, kept whole)
"""Remote commands per host from the hosts' sshd logs (bench/remote_commands.py), and the RTT and
remote-commands tables of RESULTS.md's published-roles section (bench/peers_results.py)."""

from __future__ import annotations

import pytest

from bench import peers_results, remote_commands

# A bench host's journal (sshd of Debian bookworm, LogLevel VERBOSE, as the bench sets it):
# `ssh host true` twice, then an sftp batch.
JOURNAL = """\
2026-12-06T23:34:55+0000 bench-1 sshd[67]: Connection from 172.18.0.1 port 40718 on 172.18.0.3 port 22 rdomain ""
2026-12-06T23:34:56+0000 bench-1 sshd[67]: Accepted key ED25519 SHA256:izKanM31Sz17+mnwzq+r8pA5ZKNdP7h8q0mLQdLqJn0 found at /root/.ssh/authorized_keys:1
2026-12-06T23:34:56+0000 bench-1 sshd[67]: Postponed publickey for root from 172.18.0.1 port 40718 ssh2 [preauth]
2026-12-06T23:34:56+0000 bench-1 sshd[67]: Accepted key ED25519 SHA256:izKanM31Sz17+mnwzq+r8pA5ZKNdP7h8q0mLQdLqJn0 found at /root/.ssh/authorized_keys:1
2026-12-06T23:34:56+0000 bench-1 sshd[67]: Accepted publickey for root from 172.18.0.1 port 40718 ssh2: ED25519 SHA256:izKanM31Sz17+mnwzq+r8pA5ZKNdP7h8q0mLQdLqJn0
2026-12-06T23:34:56+0000 bench-1 sshd[67]: pam_unix(sshd:session): session opened for user root(uid=0) by (uid=0)
2026-12-06T23:34:56+0000 bench-1 sshd[67]: Starting session: command for root from 172.18.0.1 port 40718 id 0
2026-12-06T23:34:56+0000 bench-1 sshd[67]: Close session: user root from 172.18.0.1 port 40718 id 0
2026-12-06T23:34:56+0000 bench-1 sshd[67]: Received disconnect from 172.18.0.1 port 40718:11: disconnected by user
2026-12-06T23:34:56+0000 bench-1 sshd[67]: pam_unix(sshd:session): session closed for user root
2026-12-06T23:34:56+0000 bench-1 sshd[74]: Connection from 172.18.0.1 port 40732 on 172.18.0.3 port 22 rdomain ""
2026-12-06T23:34:56+0000 bench-1 sshd[74]: Accepted publickey for root from 172.18.0.1 port 40732 ssh2: ED25519 SHA256:izKanM31Sz17+mnwzq+r8pA5ZKNdP7h8q0mLQdLqJn0
2026-12-06T23:34:56+0000 bench-1 sshd[74]: Starting session: command for root from 172.18.0.1 port 40732 id 0
2026-12-06T23:34:56+0000 bench-1 sshd[74]: Starting session: command for root from 172.18.0.1 port 40732 id 1
2026-12-06T23:34:56+0000 bench-1 sshd[74]: Close session: user root from 172.18.0.1 port 40732 id 0
2026-12-06T23:34:56+0000 bench-1 sshd[74]: Transferred: sent 3876, received 3432 bytes
2026-12-06T23:34:57+0000 bench-1 sshd[88]: Connection from 172.18.0.1 port 40754 on 172.18.0.3 port 22 rdomain ""
2026-12-06T23:34:57+0000 bench-1 sshd[88]: Accepted publickey for root from 172.18.0.1 port 40754 ssh2: ED25519 SHA256:izKanM31Sz17+mnwzq+r8pA5ZKNdP7h8q0mLQdLqJn0
2026-12-06T23:34:57+0000 bench-1 sshd[88]: Starting session: subsystem 'sftp' for root from 172.18.0.1 port 40754 id 0
2026-12-06T23:34:57+0000 bench-1 sshd[88]: Close session: user root from 172.18.0.1 port 40754 id 0
"""


def test_sessions_are_counted_by_kind_from_real_sshd_lines():
    counts = remote_commands.count(JOURNAL.splitlines())
    assert counts == {"commands": 3, "sftp": 1, "other_sessions": 0, "connections": 3}


def test_close_and_key_lines_are_not_counted_as_sessions_or_logins():
    noise = [x for x in JOURNAL.splitlines() if "Starting session" not in x]
    noise = [x for x in noise if "Accepted publickey" not in x]
    assert remote_commands.count(noise) == dict.fromkeys(remote_commands.KEYS, 0)


def test_shells_and_forced_commands_are_other_sessions():
    lines = [
        "sshd[9]: Starting session: shell on pts/0 for root from 10.0.0.9 port 52810 id 0",
        "sshd[9]: Starting session: forced-command (key-option) 'true' for root from 10.0.0.9"
        " port 52811 id 0",
        "sshd-session[9]: Starting session: subsystem 'other' for root from 10.0.0.9 port 1 id 2",
    ]
    assert remote_commands.count(lines)["other_sessions"] == 3


def _sample(scen, tool, rep, wall, rtt, commands, sftp=2, hosts=("bench-1",), valid=True):
    remote = {
        h: {"commands": commands, "sftp": sftp, "other_sessions": 0, "connections": 1}
        for h in hosts
    }
    return {
        "scenario": scen,
        "tool": tool,
        "hosts": len(hosts),
        "rep": rep,
        "rtt_ms": rtt,
        "remote": remote,
        "wall_s": wall,
        "max_rss_kb": 70 * 1024,
        "tree_pss_kb": 100 * 1024,
        "tree_rss_kb": 101 * 1024,
        "tree_procs": 3,
        "returncode": 0,
        "changes": 0,
        "valid": valid,
    }


def _run(samples, rtts=(0.0, 50.0)):
    return {
        "command": "python -m bench run --only peers --sizes 1 --rtt-ms 0,50",
        "started": "2026-12-06 23:40 UTC",
        "commit": "abc1234",
        "tools": ["pyinfra", "peers"],
        "rtts_ms": list(rtts) if rtts else None,
        "load": [{"hosts": 1, "before": "1.00 1.00 1.00", "after": "2.00 2.00 2.00"}],
        "samples": samples,
    }


def _text(run) -> str:
    section, raw = peers_results.render({"runs": [run]}, [])
    return "\n".join(section + raw)


RTT_SAMPLES = [
    _sample("first", "pyinfra", 1, 50.0, 0.0, 120),
    _sample("noop", "pyinfra", 1, 5.0, 0.0, 40),
    _sample("first", "peers", 1, 100.0, 0.0, 300),
    _sample("noop", "peers", 1, 60.0, 0.0, 150),
    _sample("first", "pyinfra", 1, 62.5, 50.0, 120),
    _sample("noop", "pyinfra", 1, 8.0, 50.0, 41),
    _sample("first", "peers", 1, 130.0, 50.0, 302),
    _sample("noop", "peers", 1, 80.0, 50.0, 150),
]


def test_rtt_table_keys_wall_times_by_round_trip_with_the_added_cost():
    text = _text(_run(RTT_SAMPLES))
    assert "RTT: wall time" in text
    assert "| scenario | hosts | RTT (ms) | pyinfra (this package) | published roles |" in text
    assert (
        "| first | 1 | 0 | 50.00 [50.00-50.00] (n=1) | 100.00 [100.00-100.00] (n=1) | 0.50x |"
        in text
    )
    row50 = (
        "| noop | 1 | 50 | 8.00 [8.00-8.00] (n=1) +3.00 | 80.00 [80.00-80.00] (n=1) +20.00"
        " | 0.10x |"
    )
    assert row50 in text
    faster = [
        dict(s, wall_s=4.0) if (s["scenario"], s["rtt_ms"]) == ("noop", 50.0) else s
        for s in RTT_SAMPLES
    ]
    assert "| noop | 1 | 50 | 4.00 [4.00-4.00] (n=1) -1.00 |" in _text(_run(faster))  # noise
    # keyed by round trip, never pooled: no row mixes 5.0 and 8.0
    assert "5.00 [5.00-8.00]" not in text and "6.50" not in text


def test_targets_leave_out_samples_with_an_added_round_trip():
    samples = [dict(s, hosts=8) for s in RTT_SAMPLES]
    checks = {t: m for t, m, _ in peers_results.check_targets(samples)}
    assert checks[peers_results.TARGETS["noop8_vs_peers"]] == "5.00 s vs 60.00 s = 0.08x"


def test_remote_commands_table_per_tool_scenario_and_round_trip():
    two_hosts = ("bench-1", "bench-2")
    samples = [
        _sample("first", "pyinfra", 1, 50.0, 0.0, 120, hosts=two_hosts),
        _sample("first", "pyinfra", 2, 52.0, 0.0, 124, sftp=3, hosts=two_hosts),
        _sample("noop", "pyinfra", 1, 5.0, 0.0, 40, sftp=0, hosts=two_hosts),
        _sample("noop", "pyinfra", 2, 500.0, 0.0, 999, sftp=0, hosts=two_hosts, valid=False),
        _sample("first", "peers", 1, 100.0, 0.0, 300, sftp=9, hosts=two_hosts),
        _sample("noop", "peers", 1, 60.0, 0.0, 150, sftp=0, hosts=two_hosts),
    ]
    samples[1]["remote"]["bench-2"]["commands"] = 130  # hosts of one run may differ
    text = _text(_run(samples, rtts=(0.0,)))
    assert "Remote commands per host" in text
    assert (
        "| tool | scenario | hosts | RTT (ms) | commands (exec) | sftp sessions |"
        " SSH logins |" in text
    )
    # pooled over hosts and valid samples: 120, 120, 124, 130
    assert (
        "| pyinfra (this package) | first | 2 | 0 | 122 [120-130] (n=4) | 2 [2-3] (n=4) |" in text
    )
    # the invalid no-op (999 commands) is left out
    assert "| pyinfra (this package) | noop | 2 | 0 | 40 [40-40] (n=2) | 0 [0-0] (n=2) |" in text
    assert "| published roles | first | 2 | 0 | 300 [300-300] (n=2) | 9 [9-9] (n=2) |" in text
    # every raw sample carries its round trip and its per-host commands
    assert "| noop | pyinfra | 2 | 2 | 0 | 500.00 |" in text and "| 999 + 0 |" in text


def test_runs_without_counts_or_round_trips_render_as_before():
    old = _sample("noop", "pyinfra", 1, 5.0, None, 0)
    for key in ("rtt_ms", "remote"):
        del old[key]
    text = _text(_run([old], rtts=None))
    assert "Wall time, seconds: median [min-max]" in text
    assert "RTT: wall time" not in text and "Remote commands per host" not in text
    assert "| noop | pyinfra | 1 | 1 | direct | 5.00 |" in text and "| n/a |" in text


@pytest.mark.parametrize(
    "arg, message",
    [
        ("0,fast", "'fast' is not a round trip"),
        ("-10", "'-10' is not a round trip"),
        (",", "no round trip"),
    ],
)
def test_rtt_option_refuses_values_that_are_not_milliseconds(arg, message, capsys):
    from bench.__main__ import main

    with pytest.raises(SystemExit):
        main(["run", "--only", "peers", "--rtt-ms", arg])
    assert message in capsys.readouterr().err


def test_rtt_option_needs_the_peers_section(capsys):
    from bench.__main__ import main

    with pytest.raises(SystemExit):
        main(["run", "--only", "smoke", "--rtt-ms", "0,50"])
    assert "--rtt-ms applies to the peers section" in capsys.readouterr().err


def test_both_inventories_reach_a_host_through_the_relay_port_when_one_is_given(
    tmp_path, monkeypatch
):
    """pyinfra (ssh_hostname/ssh_port) and Ansible (ansible_host/ansible_port) take the same path:
    the relay's port on 127.0.0.1 for a host in BENCH_SSH_PORTS, the host itself on 22 without."""
    import json

    from bench import ansible_inventory

    state = {
        "ssh_key": str(tmp_path / "id_ed25519"),
        "registry": "mirror.lab:5000",
        "nvidia_repo_url": "http://mirror.lab:8000/libnvidia-container",
        "nvidia_gpgkey_url": "http://mirror.lab:8000/libnvidia-container/gpgkey",
        "hosts": [{"name": f"bench-{i}", "address": f"172.30.0.{i + 1}"} for i in (1, 2)],
    }
    (tmp_path / "state.json").write_text(json.dumps(state))
    monkeypatch.setenv("TGI_LAB_STATE_DIR", str(tmp_path))
    monkeypatch.delenv("HF_TOKEN", raising=False)
    monkeypatch.setenv("BENCH_HOSTS", "0")  # write() sets it: restored after the test
    monkeypatch.setenv("BENCH_SSH_PORTS", json.dumps({"bench-1": 40123}))
    hosts = json.loads(ansible_inventory.write(2, tmp_path / "relayed").read_text())
    import bench.inventory as inv

    pyinfra = dict(inv.bench)
    assert (pyinfra["bench-1"]["ssh_hostname"], pyinfra["bench-1"]["ssh_port"]) == (
        "127.0.0.1",
        40123,
    )
    relayed = hosts["bench"]["hosts"]
    assert (relayed["bench-1"]["ansible_host"], relayed["bench-1"]["ansible_port"]) == (
        "127.0.0.1",
        40123,
    )
    assert (relayed["bench-2"]["ansible_host"], relayed["bench-2"]["ansible_port"]) == (
        "172.30.0.3",
        22,
    )
    assert "ssh_port" not in pyinfra["bench-2"]
    monkeypatch.delenv("BENCH_SSH_PORTS")
    direct = json.loads(ansible_inventory.write(2, tmp_path / "direct").read_text())
    assert direct["bench"]["hosts"]["bench-1"]["ansible_host"] == "172.30.0.2"
    assert direct["bench"]["hosts"]["bench-1"]["ansible_port"] == 22
