"""RESULTS.md from the raw samples: machine, command, raw samples, medians, ratios, targets."""

from __future__ import annotations

from bench.import_floor import any_cores_s
from bench.stats import fmt_ratio, fmt_s, median, ratio

TARGETS = {
    "noop8_vs_ansible": "no-op re-run on 8 hosts <= 1/3 of Ansible's",
    "noop8_abs": "no-op re-run on 8 hosts <= 10 s",
    "noop8_vs_noop1": "no-op on 8 hosts <= 2 x no-op on 1 host",
    "smoke_overhead": "smoke overhead <= 0.5 s per endpoint",
    "smoke_16_vs_1": "16 endpoints <= 2 x one",
}


def deploy_medians(samples: list[dict]) -> dict[tuple[str, str, int], float | None]:
    """(scenario, tool, hosts) -> median wall time of the valid samples."""
    keys = {(s["scenario"], s["tool"], s["hosts"]) for s in samples}
    return {
        k: median(
            [
                s["wall_s"]
                for s in samples
                if s["valid"] and (s["scenario"], s["tool"], s["hosts"]) == k
            ]
        )
        for k in keys
    }


def smoke_medians(samples: list[dict]) -> dict[int, dict[str, float | None]]:
    out = {}
    for k in sorted({s["endpoints"] for s in samples}):
        rows = [s for s in samples if s["endpoints"] == k]
        smoke = median([s["smoke_s"] for s in rows])
        raw = median([s["raw_s"] for s in rows])
        overhead = median([s["smoke_s"] - s["raw_s"] for s in rows])
        out[k] = {
            "smoke": smoke,
            "raw": raw,
            "overhead": overhead,
            "per_endpoint": None if overhead is None else overhead / k,
            "inner": median([s["smoke_inner_s"] for s in rows if s["smoke_inner_s"] is not None]),
        }
    return out


def check_targets(
    deploy: dict, smoke: dict, floor: dict | None = None
) -> list[tuple[str, str, bool | None]]:
    """(target, measured, met) for every target; met is None when it could not be measured.

    ``floor``: the import floor (bench/import_floor.py), named next to the overhead it bounds.
    """
    p8, a8, p1 = (
        deploy.get(("noop", "pyinfra", 8)),
        deploy.get(("noop", "ansible", 8)),
        deploy.get(("noop", "pyinfra", 1)),
    )
    checks = []

    def add(key: str, measured: str, met: bool | None) -> None:
        checks.append((TARGETS[key], measured, met))

    r = ratio(p8, a8)
    add(
        "noop8_vs_ansible",
        f"{fmt_s(p8)} s vs {fmt_s(a8)} s = {fmt_ratio(r)}",
        None if r is None else r <= 1 / 3,
    )
    add("noop8_abs", f"{fmt_s(p8)} s", None if p8 is None else p8 <= 10)
    r = ratio(p8, p1)
    add(
        "noop8_vs_noop1",
        f"{fmt_s(p8)} s vs {fmt_s(p1)} s = {fmt_ratio(r)}",
        None if r is None else r <= 2,
    )
    worst = max(
        (v["per_endpoint"] for v in smoke.values() if v["per_endpoint"] is not None), default=None
    )
    below = ""
    if floor:
        below = (
            f"; import floor of the five client styles alone {fmt_s(floor['floor_s'], 3)} s"
            f" on {floor['nproc']} cores,"
            f" {fmt_s(any_cores_s(floor), 3)} s on any"
        )
    add(
        "smoke_overhead",
        f"worst {fmt_s(worst, 3)} s per endpoint{below}",
        None if worst is None else worst <= 0.5,
    )
    s1, s16 = (smoke.get(1) or {}).get("smoke"), (smoke.get(16) or {}).get("smoke")
    r = ratio(s16, s1)
    add(
        "smoke_16_vs_1",
        f"{fmt_s(s16)} s vs {fmt_s(s1)} s = {fmt_ratio(r)}",
        None if r is None else r <= 2,
    )
    return checks


def import_floor_lines(floor: dict | None) -> list[str]:
    """Section 3's import floor (bench/import_floor.py): what no harness design can go below."""
    if not floor:
        return []
    out = [
        "",
        "Import floor (bench/import_floor.py): CPU seconds to import each client style's"
        " modules in a fresh interpreter, minus a bare interpreter"
        f" ({fmt_s(floor['interpreter_s'], 3)} s); median of {floor['reps']}.",
        "",
    ]
    out += _table(
        ["client style", "import CPU (s)"],
        [[name, fmt_s(v, 3)] for name, v in floor["styles_s"].items()]
        + [["all five in one interpreter", fmt_s(floor["together_s"], 3)]],
    )
    out += [
        "",
        f"Lower bound of any harness that runs the five client checks: interpreter"
        f" {fmt_s(floor['interpreter_s'], 3)} s + max(largest style"
        f" {fmt_s(floor['largest_style_s'], 3)} s, all five / {floor['nproc']} cores"
        f" {fmt_s(floor['all_over_nproc_s'], 3)} s) = **{fmt_s(floor['floor_s'], 3)} s** on this"
        f" machine; {fmt_s(any_cores_s(floor), 3)} s on any"
        " number of cores (a style's imports run one after the other in the process that runs"
        " its check).",
    ]
    return out


def _table(header: list[str], rows: list[list[str]]) -> list[str]:
    lines = ["| " + " | ".join(header) + " |", "|" + "---|" * len(header)]
    return lines + ["| " + " | ".join(r) + " |" for r in rows]


def _mib(kb: int | None) -> str:
    return "n/a" if kb is None else f"{kb / 1024:.0f}"


def _verdict(met: bool | None) -> str:
    return "not measured" if met is None else ("met" if met else "MISSED")


def render(
    command: str,
    machine: dict,
    deploy: list[dict],
    smoke: dict | None,
    fleet: dict | None,
    notes: list[str],
    fleet_change: dict | None = None,
    peers: dict | None = None,
    peers_notes: list[str] | None = None,
) -> str:
    out = ["# Benchmark results", "", f"Produced by: `{command}`", "", "## Machine", ""]
    out += _table(["", ""], [[k, v] for k, v in machine.items()])
    peers_raw: list[str] = []
    if peers:
        from bench import peers_results

        section, peers_raw = peers_results.render(peers, peers_notes or [])
        out += [""] + section
    dmed = deploy_medians(deploy)
    smed = smoke_medians(smoke["samples"]) if smoke else {}
    out += ["", "## Targets against our own Ansible port (bench/ansible/)", ""]
    out += _table(
        ["target", "measured (medians)", "verdict"],
        [
            [t, m, _verdict(ok)]
            for t, m, ok in check_targets(dmed, smed, (smoke or {}).get("import_floor"))
        ],
    )
    out += ["", "## 1-2. Deploys vs our own Ansible port: first and no-op re-run (medians, s)", ""]
    rows = []
    for scen in ("first", "noop"):
        for n in sorted({s["hosts"] for s in deploy}):
            p, a = dmed.get((scen, "pyinfra", n)), dmed.get((scen, "ansible", n))
            cnt = [
                len(
                    [
                        s
                        for s in deploy
                        if s["valid"] and (s["scenario"], s["tool"], s["hosts"]) == (scen, t, n)
                    ]
                )
                for t in ("pyinfra", "ansible")
            ]
            rows.append(
                [scen, str(n), fmt_s(p), fmt_s(a), fmt_ratio(ratio(p, a)), f"{cnt[0]} / {cnt[1]}"]
            )
    out += _table(
        [
            "scenario",
            "hosts",
            "pyinfra (this package)",
            "Ansible",
            "pyinfra / Ansible",
            "valid samples",
        ],
        rows,
    )
    if smoke:
        out += [
            "",
            "## 3. Smoke harness overhead (medians, seconds)",
            "",
            f"{smoke['requests_per_endpoint']} HTTP requests per endpoint: "
            + ", ".join(f"`{r}`" for r in smoke["requests"]),
            "",
        ]
        out += _table(
            [
                "endpoints",
                "smoke CLI wall",
                "smoke run (in-process, report duration_s)",
                "raw httpx loop",
                "overhead",
                "overhead per endpoint",
            ],
            [
                [
                    str(k),
                    fmt_s(v["smoke"]),
                    fmt_s(v["inner"]),
                    fmt_s(v["raw"]),
                    fmt_s(v["overhead"]),
                    fmt_s(v["per_endpoint"], 3),
                ]
                for k, v in smed.items()
            ],
        )
        out += import_floor_lines(smoke.get("import_floor"))
    if fleet:
        out += [
            "",
            "## 4. pyinfra control-plane cost, simulated fleet (medians)",
            "",
            f"Canned answers: {fleet['recorded_commands']} commands recorded from a deployed"
            " bench host (a no-op deploy), translated per simulated host.",
            "",
        ]
        rows = []
        for n in sorted({s["hosts"] for s in fleet["samples"]}):
            ok = [s for s in fleet["samples"] if s["hosts"] == n and s["valid"]]
            wall = median([s["wall_s"] for s in ok])
            rss = median([s["max_rss_kb"] / 1024 for s in ok if s["max_rss_kb"] is not None])
            rows.append(
                [
                    str(n),
                    fmt_s(wall),
                    fmt_s(None if wall is None else wall / n * 1000, 1),
                    fmt_s(rss, 0),
                    str(len(ok)),
                ]
            )
        out += _table(
            ["hosts", "wall (s)", "per host (ms)", "peak RSS (MiB)", "valid samples"], rows
        )
    if fleet_change:
        out += fleet_change_section(fleet_change)
    if notes:
        out += ["", "## Notes", ""] + [f"- {n}" for n in notes]
    out += ["", "## Raw samples"] + peers_raw + ["", "### Deploys", ""]
    out += _table(
        [
            "scenario",
            "tool",
            "hosts",
            "rep",
            "wall (s)",
            "peak RSS (MiB)",
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
                _mib(s["max_rss_kb"]),
                str(s["changes"]),
                str(s["returncode"]),
                str(s["valid"]),
            ]
            for s in deploy
        ],
    )
    if smoke:
        out += ["", "### Smoke", ""]
        out += _table(
            ["endpoints", "rep", "smoke CLI (s)", "in-process (s)", "raw (s)"],
            [
                [
                    str(s["endpoints"]),
                    str(s["rep"]),
                    f"{s['smoke_s']:.3f}",
                    fmt_s(s["smoke_inner_s"], 3),
                    f"{s['raw_s']:.3f}",
                ]
                for s in smoke["samples"]
            ],
        )
    if fleet:
        out += ["", "### Fleet", ""]
        out += _table(
            [
                "hosts",
                "rep",
                "wall (s)",
                "per host (ms)",
                "peak RSS (MiB)",
                "changes",
                "exit",
                "valid",
            ],
            [
                [
                    str(s["hosts"]),
                    str(s["rep"]),
                    f"{s['wall_s']:.2f}",
                    f"{s['per_host_ms']:.1f}",
                    _mib(s["max_rss_kb"]),
                    str(s["changes"]),
                    str(s["returncode"]),
                    str(s["valid"]),
                ]
                for s in fleet["samples"]
            ],
        )
    return "\n".join(out) + "\n"


def fleet_change_section(res: dict) -> list[str]:
    """Issue 14: seconds unavailable per host for a model change, and rolling three hosts."""
    import statistics

    out = ["", "## 5. Changing a running fleet (lab, `python -m bench.fleet_change`)", ""]
    out += [
        f"Model change on one host (lab-wsl-1), weights not cached, stand-in download "
        f"{res['download_s']:g} s and warm-up {res['warmup_s']:g} s; `/health` polled every "
        "0.1 s on the host; longest run of non-200 answers (seconds).",
        "",
    ]
    rows = []
    for flow, label in (
        ("before", "before: stop + `docker rm -f`, create, start (download inside the window)"),
        ("after", "after: prefetch with `download-weights`, then swap (old kept until ready)"),
    ):
        vals = [s["unavailable_s"] for s in res["samples"] if s["flow"] == flow]
        med = f"{statistics.median(vals):.2f}" if vals else "-"
        rows.append([label, med, ", ".join(f"{v:.2f}" for v in vals), str(len(vals))])
    out += _table(["flow", "median unavailable (s)", "samples", "n"], rows)
    if res.get("rollout"):
        out += [
            "",
            "Rolling a model change over three hosts, one at a time, each gated by "
            "the smoke checks ready,info,generate,chat (`tgi-deploy rollout --batch 1`):",
            "",
        ]
        out += _table(
            ["wall (s)", "exit", "summary"],
            [[f"{r['wall_s']:.1f}", str(r["rc"]), r["summary"].replace("\n", "<br>")]
             for r in res["rollout"]],
        )  # fmt: skip
    return out
