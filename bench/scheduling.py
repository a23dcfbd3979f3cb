"""The scheduling figures (mixed drain, VIP start delay, lane shares, fairness between
batch owners, a portal outage, estimate error), for ``python -m bench`` and alone:

    python -m bench.scheduling                   # every figure
    python -m bench.scheduling mixed vip         # some: mixed vip fairness outage estimates

Alone, it starts its own local stack and prints the figures' table rows.
"""

from __future__ import annotations

import os
import sys
import time
from dataclasses import dataclass
from typing import Any, Callable

from bench.estimates import EstimateFigures, measure_estimates
from bench.fairness import FairnessFigures, measure_fairness
from bench.harness import Harness
from bench.mixed import MixedFigures, measure_mixed
from bench.outage import OutageFigures, measure_outage
from bench.vipdelay import VipDelayFigures, measure_vip_delay

__all__ = ["FIGURES", "SchedulingResults", "measure_scheduling"]

#: The figures, in the order they run.
FIGURES = ("mixed", "vip", "fairness", "outage", "estimates")
#: Sizes (also what the report says).
MIXED = {"vip": 60, "standard": 120, "batch": 120}
VIP_DELAY = {"standard": 100, "batch": 1_000, "trials": 20}
FAIRNESS = {"big": 300, "small": 5, "lead": 12}
OUTAGE = {"outage_seconds": 30.0, "rate": 2.0, "lead_seconds": 2.0, "latency_ms": 100}
ESTIMATES = {"vip": 20, "standard": 40, "batch": 40, "arrivals": 45, "rate": 2.0}


@dataclass
class SchedulingResults:
    latency_ms: float
    pages: int
    mixed: MixedFigures | None = None
    vip: VipDelayFigures | None = None
    fairness: FairnessFigures | None = None
    outage: OutageFigures | None = None
    estimates: EstimateFigures | None = None


def measure_scheduling(
    harness: Harness,
    *,
    pages: int,
    latency_ms: float,
    single_seconds: float,
    figures: tuple[str, ...] = FIGURES,
    log: Callable[[str], None] = lambda message: None,
) -> SchedulingResults:
    """The chosen ``figures`` on ``harness``, each on its own deployment."""
    r = SchedulingResults(latency_ms, pages)
    common = {"pages": pages, "latency_ms": latency_ms}
    if "mixed" in figures:
        log(
            "scheduling: mixed drain of {vip} VIP + {standard} standard + {batch} batch".format(
                **MIXED
            )
        )
        r.mixed = measure_mixed(
            harness, **MIXED, **common, single_seconds=single_seconds, start=700_000
        )
    if "vip" in figures:
        log(
            "scheduling: VIP start delay behind {standard} standard + {batch} batch".format(
                **VIP_DELAY
            )
        )
        r.vip = measure_vip_delay(
            harness, **VIP_DELAY, **common, start=720_000, spacing=single_seconds
        )
    if "fairness" in figures:
        log("scheduling: two batch owners, {big} and {small} lines".format(**FAIRNESS))
        r.fairness = measure_fairness(harness, **FAIRNESS, **common, start=740_000)
    if "outage" in figures:
        log("scheduling: {outage_seconds:.0f} s portal outage (30 min at 60×)".format(**OUTAGE))
        r.outage = measure_outage(harness, **OUTAGE, start=760_000)
    if "estimates" in figures:
        log(
            "scheduling: estimate error, {arrivals} lookups arriving during a drain".format(
                **ESTIMATES
            )
        )
        r.estimates = measure_estimates(harness, **ESTIMATES, **common, start=780_000)
    return r


def main(argv: list[str]) -> None:
    chosen = tuple(argv) or FIGURES
    unknown = set(chosen) - set(FIGURES)
    if unknown:
        raise SystemExit(f"unknown figures {sorted(unknown)}; choose from {', '.join(FIGURES)}")
    began = time.time()

    def log(message: str) -> None:
        print(f"[bench {time.time() - began:5.0f} s] {message}", file=sys.stderr, flush=True)

    out = os.fdopen(os.dup(1), "w")
    devnull = os.open(os.devnull, os.O_WRONLY)
    os.dup2(devnull, 1)  # the app's logs and metrics (CloudWatch's, in AWS)

    from local.moto_fixes import install as install_moto_fixes

    install_moto_fixes()
    from bench.counting import install

    install()
    from bench.__main__ import LATENCY_MS, PAGES
    from bench.drain import measure_single
    from bench.schedreport import details, rows

    with Harness() as h:
        single = 0.0
        if {"mixed", "vip"} & set(chosen):
            log("single scrape")
            single = measure_single(h, pages=PAGES, latency_ms=LATENCY_MS, repeats=3)
        r = measure_scheduling(
            h, pages=PAGES, latency_ms=LATENCY_MS, single_seconds=single, figures=chosen, log=log
        )
    print(_table(rows(r)), file=out)
    print("", file=out)
    print("\n".join(details(r)), file=out)
    print(f"\n({time.time() - began:.0f} s)", file=out, flush=True)


def _table(rows: list[tuple[Any, ...]]) -> str:
    return "\n".join("| " + " | ".join(str(x) for x in row) + " |" for row in rows)


if __name__ == "__main__":
    main(sys.argv[1:])
