"""``python -m bench`` (``make bench``): every figure in one run, one table, written to
``docs/benchmarks.md``. Progress goes to stderr; the app's JSON logs and EMF metrics are
written to /dev/null as Lambda would write them to CloudWatch."""

from __future__ import annotations

import os
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
#: The demo portal's fixed latency per page for the drains and end-to-end latency.
LATENCY_MS = 300
#: Pages of every OS the drains scrape (detail + one history page).
PAGES = 2
DRAIN_COUNT = 300
SINGLE_REPEATS = 7


def main() -> None:
    began = time.time()

    def log(message: str) -> None:
        print(f"[bench {time.time() - began:5.0f} s] {message}", file=sys.stderr, flush=True)

    report_out = os.fdopen(os.dup(1), "w")
    devnull = os.open(os.devnull, os.O_WRONLY)
    os.dup2(devnull, 1)  # the app's logs and metrics (CloudWatch's, in AWS)

    from local.moto_fixes import install as install_moto_fixes

    install_moto_fixes()
    from bench.counting import install

    install()
    from bench.calls import measure_calls
    from bench.coalescing import measure_coalescing
    from bench.coldstart import measure_cold_start
    from bench.drain import measure_drain, measure_single
    from bench.harness import Harness
    from bench.ingest import finish_ingest, start_ingest
    from bench.latency import measure_hit_latency, measure_notifications
    from bench.pages import numbers_with_pages
    from bench.parsing import measure_parse
    from bench.peers.celery_redis.run import CeleryPeer
    from bench.report import Results, render
    from bench.scheduling import measure_scheduling
    from chalicelib.domain.identity import Identity

    r = Results(latency_ms=LATENCY_MS, pages=PAGES)
    with Harness() as h:
        log("AWS calls per operation")
        r.calls = measure_calls(h, pages=PAGES)
        log("cache-hit latency")
        r.hit = measure_hit_latency(h, samples=200)
        log("cold start")
        sc = h.scenario()
        numero = numbers_with_pages(PAGES, 1, start=680_000)[0]
        sc.services.lookup.lookup(numero, identity=Identity("ana"))
        sc.deliver()
        r.cold = measure_cold_start(numero, sc.settings.os_table, sc.function_env(), repeats=5)
        log("parse cost")
        r.parse = measure_parse(pages=PAGES)
        log("single scrape")
        single = measure_single(h, pages=PAGES, latency_ms=LATENCY_MS, repeats=SINGLE_REPEATS)
        log(f"drain of a standard-only backlog of {DRAIN_COUNT} OS, default settings")
        r.drain = measure_drain(
            h,
            label=f"standard-only backlog of {DRAIN_COUNT}, default settings",
            count=DRAIN_COUNT,
            pages=PAGES,
            latency_ms=LATENCY_MS,
            single_seconds=single,
            start=300_000,
        )
        log("drain of 45 OS, default settings")
        r.drain_default = measure_drain(
            h,
            label="default settings (3 slots)",
            count=45,
            pages=PAGES,
            latency_ms=LATENCY_MS,
            single_seconds=single,
            start=420_000,
        )
        r.scheduling = measure_scheduling(
            h, pages=PAGES, latency_ms=LATENCY_MS, single_seconds=single, log=log
        )
        # Counts only, so the batch ingest (its own process, moto in process) runs meanwhile.
        log("coalescing: 1,000 lookups over 100 OS; batch ingest of 100,000 lines meanwhile")
        ingest = start_ingest(100_000, 5_000, 1_000)
        r.coalescing = measure_coalescing(h, latency_ms=100, start=460_000)
        log("notification delay and end-to-end latency")
        r.notifications = measure_notifications(
            h, pages=PAGES, latency_ms=LATENCY_MS, repeats=10, start=480_000
        )
        log("Celery + Redis peer")
        peer = CeleryPeer(h).start()
        try:
            log("peer: coalescing as written")
            r.peer_written = peer.coalescing(
                label="as written", pending_means_unknown=False, latency_ms=100, start=500_000
            )
            log("peer: coalescing with PENDING read as unknown")
            r.peer_unknown = peer.coalescing(
                label="PENDING read as unknown",
                pending_means_unknown=True,
                latency_ms=100,
                start=520_000,
            )
            log(f"peer: drain of {DRAIN_COUNT} OS, one worker, concurrency 3")
            r.peer_drain = peer.drain(
                label="1 worker × concurrency 3",
                count=DRAIN_COUNT,
                pages=PAGES,
                latency_ms=LATENCY_MS,
                start=540_000,
            )
            log("peer: the seed's own layout, 2 workers × concurrency 2")
            r.peer_seed = peer.drain(
                label="seed layout: 2 workers × concurrency 2",
                count=40,
                pages=PAGES,
                latency_ms=LATENCY_MS,
                start=580_000,
                workers=2,
                concurrency=2,
                single_repeats=2,
            )
            log("peer: end-to-end latency")
            r.peer_e2e = peer.e2e(pages=PAGES, latency_ms=LATENCY_MS, repeats=10, start=590_000)
        finally:
            peer.stop()
    r.ingest = finish_ingest(ingest)
    r.seconds = time.time() - began
    table, document = render(r)
    (ROOT / "docs" / "benchmarks.md").write_text(document, encoding="utf-8")
    print(table, file=report_out, flush=True)
    print(f"\nwritten to docs/benchmarks.md ({r.seconds:.0f} s)", file=report_out, flush=True)


if __name__ == "__main__":
    main()
