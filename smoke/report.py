"""Report outputs: terminal table (rich), JSON (smoke/report-schema.json), JUnit XML."""

from __future__ import annotations

import json
import xml.etree.ElementTree as ET
from pathlib import Path
from typing import Any

from tgi_infra.smoke.runner import FAILED, PASSED, SKIPPED, RunReport

SCHEMA_PATH = Path(__file__).with_name("report-schema.json")
SCHEMA_VERSION = 1


def junit_case(
    suite: ET.Element,
    classname: str,
    name: str,
    duration_s: float,
    status: str,
    message: str,
    failure_type: str,
) -> ET.Element:
    """One JUnit ``testcase`` under ``suite``: a ``failure`` (of ``failure_type``) or a
    ``skipped`` element with the check's message, as CI systems read them."""
    case = ET.SubElement(
        suite, "testcase", classname=classname, name=name, time=f"{duration_s:.3f}"
    )
    if status == FAILED:
        ET.SubElement(case, "failure", message=message, type=failure_type).text = message
    elif status == SKIPPED:
        ET.SubElement(case, "skipped", message=message)
    return case


def _fmt_measurements(m: dict | None) -> str:
    if not m:
        return ""
    parts = []
    if m.get("ttft_s") is not None:
        parts.append(f"ttft {m['ttft_s'] * 1000:.0f} ms")
    parts.append(f"total {m['latency_s'] * 1000:.0f} ms")
    if m.get("tokens_per_s") is not None:
        parts.append(f"{m['tokens_per_s']:.1f} tok/s")
    return ", ".join(parts)


def print_report(report: RunReport, console: Any = None) -> None:
    from rich.console import Console
    from rich.table import Table

    console = console or Console()
    style = {PASSED: "green", FAILED: "bold red", SKIPPED: "yellow"}
    checked_hosts = {h.host for h in report.hosts}
    if report.hosts:  # host checks: one table per host, layer by layer, its HTTP checks last
        from tgi_infra.smoke.hostchecks_report import print_hosts

        print_hosts(report, console)
    for t in report.targets:
        if t.target.host in checked_hosts:
            continue
        verdict = "[green]PASS[/]" if t.passed else "[bold red]FAIL[/]"
        table = Table(
            title=f"{verdict} {t.target.name}  ({t.engine or 'engine unknown'}, "
            f"{t.url or t.target.describe()}, {t.duration_s:.1f}s)",
            title_justify="left",
        )
        table.add_column("check")
        table.add_column("status")
        table.add_column("time", justify="right")
        table.add_column("measurements")
        table.add_column("detail", overflow="fold")
        for c in t.checks:
            detail = c.message if c.status != FAILED else "see below"
            table.add_row(
                c.name,
                f"[{style[c.status]}]{c.status}[/]",
                f"{c.duration_s:.2f}s",
                _fmt_measurements(c.measurements),
                detail,
                style=None,
            )
        console.print(table)
        _print_load(t, console)
        for c in t.checks:
            if c.status == FAILED:
                console.print(f"[bold red]FAILED[/] {t.target.name} :: {c.name}", highlight=False)
                console.print(f"    {c.message}", markup=False, highlight=False)
    n = report.counts()
    hosts = ""
    if report.hosts:
        hc = [c for h in report.hosts for c in h.checks]
        hosts = (
            f"{len(report.hosts)} host(s), {len(hc)} host checks: "
            f"{sum(c.status == PASSED for c in hc)} passed, "
            f"{sum(c.status == FAILED for c in hc)} failed, "
            f"{sum(c.status == SKIPPED for c in hc)} skipped; "
        )
    console.print(
        f"{hosts}{n['targets']} target(s), {n['checks']} checks: {n[PASSED]} passed, "
        f"{n[FAILED]} failed, {n[SKIPPED]} skipped in {report.duration_s:.1f}s",
        highlight=False,
    )


def to_json(report: RunReport) -> dict[str, Any]:
    out: dict[str, Any] = {
        "schema_version": SCHEMA_VERSION,
        "tool": "tgi-smoke",
        "started_at": report.started_at.isoformat(),
        "duration_s": round(report.duration_s, 4),
        "passed": report.passed,
        "summary": report.counts(),
        "targets": [
            {
                "name": t.target.name,
                "engine": t.engine,
                "url": t.url,
                "via": t.target.via,
                "host": t.target.host,
                "service": t.target.service,
                "expected_model_id": t.target.expected_model_id,
                "api_key_env": t.target.api_key_env,
                "semantic": t.target.semantic,
                "passed": t.passed,
                "duration_s": round(t.duration_s, 4),
                "checks": [_check_json(c) for c in t.checks],
            }
            for t in report.targets
        ],
    }
    if report.hosts:
        from tgi_infra.smoke.hostchecks_report import hosts_json

        out["hosts"] = hosts_json(report)
    return out


def _check_json(c) -> dict[str, Any]:
    out = {
        "name": c.name,
        "status": c.status,
        "duration_s": round(c.duration_s, 4),
        "message": c.message,
        "measurements": c.measurements,
    }
    if c.load is not None:
        out["load"] = c.load
    return out


def _print_load(t, console: Any) -> None:
    """The --load phase's percentiles, one table per target."""
    from rich.table import Table

    for c in t.checks:
        if c.load is None:
            continue
        s = c.load
        table = Table(
            title=f"load {t.target.name}: {s['requests']} requests, {s['streams']} streams, "
            f"{s['wall_s']:.1f}s, errors {s['errors']}"
            + (f" ({s['error_rate'] * 100:.1f}%)" if s["error_rate"] is not None else "")
            + f", {s['tokens_per_s']} output tokens/s",
            title_justify="left",
        )
        table.add_column("latency (ms)")
        for p in ("p50", "p95", "p99"):
            table.add_column(p, justify="right")
        rows = (("ttft", "time to first token"), ("itl", "inter-token"), ("e2e", "end to end"))
        for key, label in rows:
            cells = [s[key][p] for p in ("p50", "p95", "p99")]
            table.add_row(label, *("n/a" if v is None else f"{v * 1000:.1f}" for v in cells))
        console.print(table)


def write_json(report: RunReport, path: str) -> None:
    Path(path).write_text(json.dumps(to_json(report), indent=2) + "\n")


def load_properties(load: dict | None) -> dict[str, Any]:
    """The ``load`` result's JUnit properties (CLI and pytest plugin alike)."""
    if load is None:
        return {}
    out = {key: load[key] for key in ("requests", "errors", "error_rate", "tokens_per_s")}
    for series in ("ttft", "itl", "e2e"):
        for p, v in load[series].items():
            out[f"{series}_{p}_s"] = v
    return out


def to_junit(report: RunReport) -> ET.Element:
    n = report.counts()
    root = ET.Element(
        "testsuites",
        name="tgi-smoke",
        tests=str(n["checks"]),
        failures=str(n[FAILED]),
        skipped=str(n[SKIPPED]),
        errors="0",
        time=f"{report.duration_s:.3f}",
    )
    for t in report.targets:
        suite = ET.SubElement(
            root,
            "testsuite",
            name=t.target.name,
            tests=str(len(t.checks)),
            failures=str(sum(c.status == FAILED for c in t.checks)),
            skipped=str(sum(c.status == SKIPPED for c in t.checks)),
            errors="0",
            time=f"{t.duration_s:.3f}",
            timestamp=report.started_at.isoformat(timespec="seconds"),
        )
        props = ET.SubElement(suite, "properties")
        for key, value in (("url", t.url), ("via", t.target.via), ("engine", t.engine)):
            ET.SubElement(props, "property", name=key, value=str(value))
        for c in t.checks:
            case = junit_case(
                suite, t.target.name, c.name, c.duration_s, c.status, c.message, "CheckFailed"
            )
            if c.measurements:
                ET.SubElement(case, "system-out").text = json.dumps(c.measurements)
            if c.load is not None:
                props = ET.SubElement(case, "properties")
                for key, value in load_properties(c.load).items():
                    ET.SubElement(props, "property", name=key, value=str(value))
                ET.SubElement(case, "system-out").text = json.dumps(c.load)
    if report.hosts:
        from tgi_infra.smoke.hostchecks_report import hosts_junit

        tests, failures, skipped = hosts_junit(
            report, root, report.started_at.isoformat(timespec="seconds")
        )
        root.set("tests", str(n["checks"] + tests))
        root.set("failures", str(n[FAILED] + failures))
        root.set("skipped", str(n[SKIPPED] + skipped))
    return root


def write_junit(report: RunReport, path: str) -> None:
    tree = ET.ElementTree(to_junit(report))
    ET.indent(tree)
    tree.write(path, encoding="utf-8", xml_declaration=True)
