"""What a scenario measured and whether its criteria held, printed and written as Markdown."""

from __future__ import annotations

import os
import platform
import sys
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Iterable, Sequence

__all__ = ["Check", "Row", "console_row", "markdown"]


@dataclass(frozen=True)
class Check:
    """One criterion: what must hold, what was measured, whether it held."""

    criterion: str
    measured: str
    ok: bool


@dataclass
class Row:
    """One scenario's run: its parameters, figures (measured, in order) and criteria."""

    scenario: str
    title: str
    params: dict[str, Any]
    figures: dict[str, Any] = field(default_factory=dict)
    checks: list[Check] = field(default_factory=list)
    notes: list[str] = field(default_factory=list)
    seconds: float = 0.0
    #: An exception that ended the scenario before its checks (the row then fails).
    error: str | None = None
    #: Every input or case and what it got, when a scenario has a list to show.
    details: list[str] = field(default_factory=list)
    #: Structured findings for tests (not printed).
    extra: dict[str, Any] = field(default_factory=dict)

    @property
    def ok(self) -> bool:
        return self.error is None and bool(self.checks) and all(c.ok for c in self.checks)

    def check(self, criterion: str, ok: bool, measured: Any = "") -> bool:
        """Record a criterion; returns whether it held."""
        self.checks.append(Check(criterion, str(measured), bool(ok)))
        return bool(ok)

    def failures(self) -> list[Check]:
        return [c for c in self.checks if not c.ok]

    def explain(self) -> str:
        """The broken criteria (or the error), one per line, for a test's assertion message."""
        lines = [f"{self.scenario}: {c.criterion} — measured {c.measured}" for c in self.failures()]
        if self.error:
            lines.append(f"{self.scenario}: stopped by {self.error}")
        if not self.checks and not self.error:
            lines.append(f"{self.scenario}: no criterion was checked")
        return "\n".join(lines)


def _value(value: Any) -> str:
    if isinstance(value, float):
        return f"{value:.2f}"
    return str(value)


def figures_text(row: Row, sep: str = "; ") -> str:
    return sep.join(f"{name} {_value(value)}" for name, value in row.figures.items())


def params_text(params: dict[str, Any]) -> str:
    return ", ".join(f"{name}={_value(value)}" for name, value in params.items())


def console_row(row: Row) -> str:
    """The row as printed while the suite runs: verdict, figures, then each criterion."""
    verdict = "PASS" if row.ok else "FAIL"
    lines = [
        f"{verdict}  {row.scenario}  ({row.seconds:.1f} s)  {params_text(row.params)}",
        f"      {figures_text(row)}",
    ]
    for c in row.checks:
        lines.append(f"      {'ok  ' if c.ok else 'FAIL'} {c.criterion}: {c.measured}")
    if row.error:
        lines.append(f"      FAIL stopped by {row.error}")
    lines.extend(f"      note: {note}" for note in row.notes)
    return "\n".join(lines)


def _cell(text: str) -> str:
    return text.replace("|", "\\|").replace("\n", " ")


def markdown(rows: Sequence[Row], *, command: str, seconds: float, method: Iterable[str]) -> str:
    """docs/reliability.md: how the figures were produced, the table, then each scenario."""
    when = time.strftime("%Y-%m-%d %H:%M UTC", time.gmtime())
    machine = (
        f"{os.cpu_count()} CPU cores, {platform.system()} {platform.machine()}, "
        f"Python {sys.version.split()[0]}"
    )
    verdict = "every criterion held" if all(r.ok for r in rows) else "SOME CRITERIA BROKE"
    out = [
        "# Reliability figures",
        "",
        "Produced by the fault-injection and load suite in `reliability/` against the local",
        "stack (moto server, demo portal, scrape worker, WebSocket gateway, all on loopback).",
        "Every figure below was measured in this run; rerun the command to refresh them.",
        "",
        f"* command: `{command}`",
        f"* date: {when}",
        f"* machine: {machine}",
        f"* total time: {seconds:.0f} s; result: {verdict}",
        "",
        "| scenario | parameters | figures | criteria | result | time |",
        "| --- | --- | --- | --- | --- | --- |",
    ]
    for row in rows:
        criteria = "<br>".join(
            _cell(f"{'✅' if c.ok else '❌'} {c.criterion}: {c.measured}") for c in row.checks
        )
        if row.error:
            criteria += "<br>" + _cell(f"❌ stopped by {row.error}")
        out.append(
            "| "
            + " | ".join(
                [
                    f"**{row.scenario}**",
                    _cell(params_text(row.params)),
                    _cell(figures_text(row, "<br>")),
                    criteria,
                    "PASS" if row.ok else "**FAIL**",
                    f"{row.seconds:.0f} s",
                ]
            )
            + " |"
        )
    out += ["", "## Scenarios", ""]
    for row in rows:
        out.append(f"### {row.scenario}: {row.title}")
        out.append("")
        out += [f"* {note}" for note in row.notes]
        if row.notes:
            out.append("")
        if row.details:
            out += [f"<details><summary>{len(row.details)} cases and their answers</summary>", ""]
            out += [f"* {_cell(line)}" for line in row.details]
            out += ["", "</details>", ""]
    out += ["## How the figures are measured", ""]
    out += [f"* {line}" for line in method]
    out += [
        "",
        "Bigger runs: every count and rate is an argument, e.g.",
        "`python -m reliability fault_mix --os 2000 --hang-rate 0.2`; "
        "`python -m reliability --help` lists them.",
        "",
    ]
    return "\n".join(out)


def write(path: Path, text: str) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(text, encoding="utf-8")
