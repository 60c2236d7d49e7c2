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


def _valid(samples: list[dict], scen: str, tool: str, n: int, key: str = "wall_s") -> list:
    return [
        s[key]
        for s in samples
        if s["valid"]
        and (s["scenario"], s["tool"], s["hosts"]) == (scen, tool, n)
        and s.get(key) is not None
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
    """(target, measured, met); met is None when not measured. Medians of the valid samples."""

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
    out += [
        "",
        "Peak memory of the deploy runs, MiB: summed PSS of the whole process tree, and the"
        " largest single process (GNU time `%M`, as the fleet section); median [min-max]",
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


def raw_table(run: dict) -> list[str]:
    return _table(
        [
            "scenario",
            "tool",
            "hosts",
            "rep",
            "wall (s)",
            "tree PSS (MiB)",
            "tree RSS (MiB)",
            "largest process (MiB)",
            "processes",
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
                f"{s['wall_s']:.2f}",
                _mib(s["tree_pss_kb"]),
                _mib(s["tree_rss_kb"]),
                _mib(s["max_rss_kb"]),
                str(s["tree_procs"]),
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
