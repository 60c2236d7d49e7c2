"""Host-check parts of the report: per host, layer by layer, HTTP results of the host last.

Used by smoke/report.py when the run has host checks (``--host-checks``).
"""

from __future__ import annotations

import xml.etree.ElementTree as ET
from typing import Any

from tgi_infra.smoke.hostchecks import FAILED, LAYERS, PASSED, REPORT_LAYERS, SKIPPED, HostReport
from tgi_infra.smoke.report import junit_case


def host_targets(report: Any, host: str) -> list[Any]:
    return [t for t in report.targets if t.target.host == host]


def http_status(targets: list[Any]) -> str | None:
    statuses = [c.status for t in targets for c in t.checks]
    if not statuses:
        return None
    if FAILED in statuses:
        return FAILED
    return PASSED if PASSED in statuses else SKIPPED


def verdict(h: HostReport, targets: list[Any]) -> str:
    """One line naming the first failing layer, and what it means for the layers above."""
    first = h.first_failing_layer(http_status(targets) == FAILED)
    if first is None:
        return f"{h.host}: every layer passed"
    above = [layer for layer in REPORT_LAYERS[REPORT_LAYERS.index(first) + 1 :]]
    failed_above = [
        layer
        for layer in above
        if (http_status(targets) if layer == "http" else h.layer_status(layer)) == FAILED
    ]
    text = f"{h.host}: FIRST FAILING LAYER: {first}"
    if first != "http":
        text += f" (fix it first; {', '.join(above)} depend on it"
        if failed_above:
            text += f"; failures in {', '.join(failed_above)} may follow from it"
        text += ")"
    return text


def print_hosts(report: Any, console: Any) -> None:
    from rich.table import Table

    style = {PASSED: "green", FAILED: "bold red", SKIPPED: "yellow"}
    for h in report.hosts:
        targets = host_targets(report, h.host)
        ok = h.passed and http_status(targets) != FAILED
        table = Table(
            title=f"{'[green]PASS[/]' if ok else '[bold red]FAIL[/]'} host {h.host}  "
            f"({h.connection}, {h.duration_s:.1f}s)",
            title_justify="left",
        )
        for col in ("layer", "check", "status", "time"):
            table.add_column(col, justify="right" if col == "time" else "left")
        table.add_column("detail", overflow="fold")
        for c in h.checks:
            detail = c.message if c.status != FAILED else "see below"
            table.add_row(
                c.layer,
                c.label,
                f"[{style[c.status]}]{c.status}[/]",
                f"{c.duration_s:.2f}s",
                detail,
            )
        for t in targets:
            for c in t.checks:
                detail = c.message if c.status != FAILED else "see below"
                table.add_row(
                    "http",
                    f"{t.target.service}: {c.name}",
                    f"[{style[c.status]}]{c.status}[/]",
                    f"{c.duration_s:.2f}s",
                    detail,
                )
        console.print(table)
        for c in h.checks:
            if c.status == FAILED:
                console.print(f"[bold red]FAILED[/] {h.host} :: {c.layer} :: {c.label}")
                console.print(f"    {c.message}", markup=False, highlight=False)
        for t in targets:
            for c in t.checks:
                if c.status == FAILED:
                    console.print(f"[bold red]FAILED[/] {h.host} :: http :: {t.target.name}")
                    console.print(f"    {c.name}: {c.message}", markup=False, highlight=False)
        line = verdict(h, targets)
        console.print(f"[{'green' if ok else 'bold red'}]{line}[/]", highlight=False)


def hosts_json(report: Any) -> list[dict[str, Any]]:
    out = []
    for h in report.hosts:
        targets = host_targets(report, h.host)
        http = http_status(targets)
        layers = [
            {
                "name": layer,
                "status": h.layer_status(layer),
                "checks": [
                    {
                        "name": c.name,
                        "service": c.service,
                        "status": c.status,
                        "duration_s": round(c.duration_s, 4),
                        "message": c.message,
                        "expected": c.expected,
                        "found": c.found,
                        "next": c.next_step,
                    }
                    for c in h.checks
                    if c.layer == layer
                ],
            }
            for layer in LAYERS
            if h.layer_status(layer) is not None
        ]
        if targets:
            layers.append(
                {"name": "http", "status": http, "targets": [t.target.name for t in targets]}
            )
        out.append(
            {
                "name": h.host,
                "connection": h.connection,
                "passed": h.passed and http != FAILED,
                "first_failing_layer": h.first_failing_layer(http == FAILED),
                "verdict": verdict(h, targets),
                "duration_s": round(h.duration_s, 4),
                "layers": layers,
            }
        )
    return out


def hosts_junit(report: Any, root: ET.Element, timestamp: str) -> tuple[int, int, int]:
    """Append one testsuite per host; returns (tests, failures, skipped) added."""
    totals = [0, 0, 0]
    for h in report.hosts:
        suite = ET.SubElement(
            root,
            "testsuite",
            name=f"host-checks {h.host}",
            tests=str(len(h.checks)),
            failures=str(sum(c.status == FAILED for c in h.checks)),
            skipped=str(sum(c.status == SKIPPED for c in h.checks)),
            errors="0",
            time=f"{h.duration_s:.3f}",
            timestamp=timestamp,
        )
        props = ET.SubElement(suite, "properties")
        ET.SubElement(props, "property", name="connection", value=h.connection)
        first = h.first_failing_layer(http_status(host_targets(report, h.host)) == FAILED)
        ET.SubElement(props, "property", name="first_failing_layer", value=str(first))
        for c in h.checks:
            junit_case(
                suite,
                f"{h.host}.{c.layer}",
                c.label,
                c.duration_s,
                c.status,
                c.message,
                "HostCheckFailed",
            )
        totals[0] += len(h.checks)
        totals[1] += sum(c.status == FAILED for c in h.checks)
        totals[2] += sum(c.status == SKIPPED for c in h.checks)
    return totals[0], totals[1], totals[2]
