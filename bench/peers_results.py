"""RESULTS.md's section on the published roles: medians with spread, memory, load, targets."""

from __future__ import annotations

from bench.stats import fmt_ratio, fmt_s, median, ratio

LABELS = {
    "pyinfra": "pyinfra (this package)",
    "peers": "published roles",
    "ansible": "our Ansible port",
}
TARGETS = {
    "noop8_vs_peers": "no-op re-run on 8 hosts <= 1/3 of the published roles' time",
    "noop8_abs": "no-op re-run on 8 hosts <= 10 s",
    "first_vs_peers": "first provisioning <= 0.7 x the published roles' time ({n} host{s})",
}


ANY = object()  # _valid's rtt: samples of every round trip


def _valid(samples: list[dict], scen: str, tool: str, n: int, key: str = "wall_s", rtt=ANY) -> list:
    return [
        s[key]
        for s in samples
        if s["valid"]
        and (s["scenario"], s["tool"], s["hosts"]) == (scen, tool, n)
        and (rtt is ANY or s.get("rtt_ms") == rtt)
        and s.get(key) is not None
    ]


def rtt_label(rtt: float | None) -> str:
    return "direct" if rtt is None else f"{rtt:g}"


def _rtts(samples: list[dict]) -> list[float | None]:
    found = {s.get("rtt_ms") for s in samples}
    return sorted(found, key=lambda r: -1 if r is None else r)


def per_host(samples: list[dict], key: str) -> list[int]:
    """``key`` (remote_commands.KEYS) of every host of every valid sample, pooled."""
    return [
        counts[key]
        for s in samples
        if s["valid"] and s.get("remote")
        for counts in s["remote"].values()
    ]


def spread(values: list[float], digits: int = 2, scale: float = 1.0) -> str:
    """``median [min-max] (n=k)``; ``n/a`` without values."""
    if not values:
        return "n/a"
    v = [x / scale for x in values]
    lo, hi = fmt_s(min(v), digits), fmt_s(max(v), digits)
    return f"{fmt_s(median(v), digits)} [{lo}-{hi}] (n={len(v)})"


def all_samples(peers: dict) -> list[dict]:
    return [s for run in peers.get("runs", []) for s in run["samples"]]


def check_targets(samples: list[dict]) -> list[tuple[str, str, bool | None]]:
    """(target, measured, met); met is None when not measured. Medians of the valid samples
    reaching the hosts directly or through the relay without delay (the targets are the LAN's:
    samples with an added round trip are in the RTT tables only)."""
    samples = [s for s in samples if not s.get("rtt_ms")]

    def med(scen: str, tool: str, n: int) -> float | None:
        return median(_valid(samples, scen, tool, n))

    def sec(v: float | None) -> str:
        return "n/a" if v is None else f"{fmt_s(v)} s"

    out = []
    p8, r8 = med("noop", "pyinfra", 8), med("noop", "peers", 8)
    r = ratio(p8, r8)
    out.append(
        (
            TARGETS["noop8_vs_peers"],
            f"{sec(p8)} vs {sec(r8)} = {fmt_ratio(r)}",
            None if r is None else r <= 1 / 3,
        )
    )
    out.append((TARGETS["noop8_abs"], sec(p8), None if p8 is None else p8 <= 10))
    for n in (1, 4, 8):
        p, q = med("first", "pyinfra", n), med("first", "peers", n)
        r = ratio(p, q)
        out.append(
            (
                TARGETS["first_vs_peers"].format(n=n, s="" if n == 1 else "s"),
                f"{sec(p)} vs {sec(q)} = {fmt_ratio(r)}",
                None if r is None else r <= 0.7,
            )
        )
    return out


def _table(header: list[str], rows: list[list[str]]) -> list[str]:
    lines = ["| " + " | ".join(header) + " |", "|" + "---|" * len(header)]
    return lines + ["| " + " | ".join(r) + " |" for r in rows]


def _verdict(met: bool | None) -> str:
    return "not measured" if met is None else ("met" if met else "MISSED")


def _mib(kb: int | None) -> str:
    return "n/a" if kb is None else f"{kb / 1024:.0f}"


def run_tables(run: dict) -> list[str]:
    samples, tools = run["samples"], run["tools"]
    sizes = sorted({s["hosts"] for s in samples})
    out = [
        f"Command: `{run['command']}` (started {run['started']}, checkout"
        f" {run.get('commit', 'not recorded')})",
        "",
    ]
    out += _table(
        ["hosts", "load average before (1/5/15 min)", "after"],
        [[str(x["hosts"]), x["before"], x["after"] or "n/a (interrupted)"] for x in run["load"]],
    )
    if run.get("rtts_ms"):
        out += rtt_table(run)
    else:
        out += ["", "Wall time, seconds: median [min-max] (n = valid samples)", ""]
        rows = []
        for scen in ("first", "noop"):
            for n in sizes:
                meds = {t: median(_valid(samples, scen, t, n)) for t in tools}
                row = [scen, str(n)] + [spread(_valid(samples, scen, t, n)) for t in tools]
                row += [fmt_ratio(ratio(meds["pyinfra"], meds[t])) for t in tools if t != "pyinfra"]
                rows.append(row)
        out += _table(
            ["scenario", "hosts"]
            + [LABELS[t] for t in tools]
            + [f"pyinfra / {LABELS[t]}" for t in tools if t != "pyinfra"],
            rows,
        )
    out += commands_table(run)
    every = " (every round trip)" if run.get("rtts_ms") else ""
    out += [
        "",
        "Peak memory of the deploy runs, MiB: summed PSS of the whole process tree, and the"
        f" largest single process (GNU time `%M`, as the fleet section); median [min-max]{every}",
        "",
    ]
    rows = []
    for t in tools:
        for scen in ("first", "noop"):
            for n in sizes:
                pss = _valid(samples, scen, t, n, "tree_pss_kb")
                rss = _valid(samples, scen, t, n, "max_rss_kb")
                procs = _valid(samples, scen, t, n, "tree_procs")
                rows.append(
                    [
                        LABELS[t],
                        scen,
                        str(n),
                        spread(pss, 0, 1024),
                        spread(rss, 0, 1024),
                        str(max(procs)) if procs else "n/a",
                    ]
                )
    out += _table(
        [
            "tool",
            "scenario",
            "hosts",
            "process tree (PSS sum)",
            "largest process (%M)",
            "most processes at once",
        ],
        rows,
    )
    return out


def rtt_table(run: dict) -> list[str]:
    """Wall time per added round trip (bench/relay.py), with what the round trip added."""
    samples, tools = run["samples"], run["tools"]
    sizes = sorted({s["hosts"] for s in samples})
    rtts = _rtts(samples)
    base = 0.0 if 0.0 in rtts else None
    out = [
        "",
        "RTT: wall time, seconds, with a round trip added to every host's SSH path"
        " (bench/relay.py: each chunk delayed by RTT/2 each way, order kept); median [min-max]"
        " (n = valid samples); `+x` = the median's increase over RTT 0",
        "",
    ]
    rows = []
    for scen in ("first", "noop"):
        for n in sizes:
            for rtt in rtts:
                meds = {t: median(_valid(samples, scen, t, n, rtt=rtt)) for t in tools}
                row = [scen, str(n), rtt_label(rtt)]
                for t in tools:
                    cell = spread(_valid(samples, scen, t, n, rtt=rtt))
                    zero = (
                        median(_valid(samples, scen, t, n, rtt=base)) if base is not None else None
                    )
                    if rtt and meds[t] is not None and zero is not None:
                        cell += f" {meds[t] - zero:+.2f}"
                    row.append(cell)
                row += [fmt_ratio(ratio(meds["pyinfra"], meds[t])) for t in tools if t != "pyinfra"]
                rows.append(row)
    return out + _table(
        ["scenario", "hosts", "RTT (ms)"]
        + [LABELS[t] for t in tools]
        + [f"pyinfra / {LABELS[t]}" for t in tools if t != "pyinfra"],
        rows,
    )


def commands_table(run: dict) -> list[str]:
    """Remote commands per host, from each host's sshd log (bench/remote_commands.py)."""
    samples, tools = run["samples"], run["tools"]
    if not any(s.get("remote") for s in samples):
        return []
    sizes = sorted({s["hosts"] for s in samples})
    rtts = _rtts(samples)
    out = [
        "",
        "Remote commands per host: sessions the host's sshd started (`LogLevel VERBOSE`,"
        " `Starting session:` lines): exec requests, sftp sessions (pyinfra keeps one per"
        " connection, Ansible opens one per copied file) and SSH logins;"
        " median [min-max] over hosts and valid samples",
        "",
    ]
    rows = []
    for t in tools:
        for scen in ("first", "noop"):
            for n in sizes:
                for rtt in rtts:
                    sel = [
                        s
                        for s in samples
                        if (s["scenario"], s["tool"], s["hosts"]) == (scen, t, n)
                        and s.get("rtt_ms") == rtt
                    ]
                    if not any(s.get("remote") for s in sel):
                        continue
                    row = [LABELS[t], scen, str(n), rtt_label(rtt)]
                    row += [
                        spread(per_host(sel, k), 0) for k in ("commands", "sftp", "connections")
                    ]
                    rows.append(row)
    return out + _table(
        [
            "tool",
            "scenario",
            "hosts",
            "RTT (ms)",
            "commands (exec)",
            "sftp sessions",
            "SSH logins",
        ],
        rows,
    )


def _remote_cell(s: dict) -> str:
    """Median per host of one sample: ``exec + sftp``."""
    remote = s.get("remote")
    if not remote:
        return "n/a"
    cmds = median([c["commands"] for c in remote.values()])
    sftp = median([c["sftp"] for c in remote.values()])
    return f"{cmds:g} + {sftp:g}"


def raw_table(run: dict) -> list[str]:
    return _table(
        [
            "scenario",
            "tool",
            "hosts",
            "rep",
            "RTT (ms)",
            "wall (s)",
            "tree PSS (MiB)",
            "tree RSS (MiB)",
            "largest process (MiB)",
            "processes",
            "remote commands/host (exec + sftp)",
            "changes",
            "exit",
            "valid",
        ],
        [
            [
                s["scenario"],
                s["tool"],
                str(s["hosts"]),
                str(s["rep"]),
                rtt_label(s.get("rtt_ms")),
                f"{s['wall_s']:.2f}",
                _mib(s["tree_pss_kb"]),
                _mib(s["tree_rss_kb"]),
                _mib(s["max_rss_kb"]),
                str(s["tree_procs"]),
                _remote_cell(s),
                str(s["changes"]),
                str(s["returncode"]),
                str(s["valid"]),
            ]
            for s in run["samples"]
        ],
    )


def render(peers: dict, notes: list[str]) -> tuple[list[str], list[str]]:
    """(section, raw-sample section) of RESULTS.md for the published-roles runs."""
    runs = peers.get("runs", [])
    out = ["## 0. pyinfra vs the published Ansible roles (bench/peers/)", "", "### Targets", ""]
    out += _table(
        ["target", "measured (medians)", "verdict"],
        [[t, m, _verdict(ok)] for t, m, ok in check_targets(all_samples(peers))],
    )
    for i, run in enumerate(runs, 1):
        out += ["", f"### Run {i}", ""] + run_tables(run)
    if notes:
        out += ["", "### Notes", ""] + [f"- {n}" for n in notes]
    raw = ["", "### Published roles runs", ""]
    for i, run in enumerate(runs, 1):
        raw += [f"Run {i}: `{run['command']}`", ""] + raw_table(run) + [""]
    return out, raw
