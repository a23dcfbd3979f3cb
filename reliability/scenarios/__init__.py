"""The scenarios, in the order the suite runs them; each a ``Params`` dataclass (full-size
defaults) and ``run(harness, params) -> Row``."""

from __future__ import annotations

import time
import traceback
from dataclasses import dataclass
from typing import Any, Callable

from reliability.harness import Harness
from reliability.report import Row
from reliability.scenarios import (
    bad_input,
    fault_mix,
    hostile_portal,
    layout_drift,
    many_batches,
    recovery,
    stampede,
    throttling,
    worker_death,
)

__all__ = ["SCENARIOS", "Scenario", "run_scenario"]


@dataclass(frozen=True)
class Scenario:
    name: str
    title: str
    params: type
    run: Callable[[Harness, Any], Row]


SCENARIOS: dict[str, Scenario] = {
    module.__name__.rsplit(".", 1)[1]: Scenario(
        module.__name__.rsplit(".", 1)[1], module.TITLE, module.Params, module.run
    )
    for module in (
        fault_mix,
        worker_death,
        layout_drift,
        recovery,
        stampede,
        throttling,
        bad_input,
        hostile_portal,
        many_batches,
    )
}


def run_scenario(harness: Harness, name: str, params: Any = None) -> Row:
    """Run one scenario; an exception becomes the row's error (the row then fails)."""
    scenario = SCENARIOS[name]
    params = params if params is not None else scenario.params()
    started = time.monotonic()
    try:
        row = scenario.run(harness, params)
    except Exception as exc:  # noqa: BLE001 - reported as the scenario's failure
        row = Row(name, scenario.title, dict(vars(params)))
        row.error = f"{type(exc).__name__}: {exc}"
        row.notes.append("traceback: " + " | ".join(traceback.format_exc().splitlines()[-6:]))
    row.seconds = time.monotonic() - started
    return row
