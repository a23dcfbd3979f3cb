"""The benchmark's table and ``docs/benchmarks.md``, from the measured figures only.

Longer than 400 lines: most of it is the report's prose, one paragraph per figure, kept
beside the table it explains so that figure and explanation change together.
"""

from __future__ import annotations

import datetime
import math
import os
import statistics
from dataclasses import dataclass
from typing import Any

from bench.cost import (
    CELERY_INSTANCES,
    PRICES,
    PRICES_AS_OF,
    CostModel,
    Operation,
    celery_monthly,
    idle_monthly,
)
from bench.latency import percentile
from bench.schedreport import arguments as scheduling_arguments
from bench.schedreport import prose as scheduling_prose
from bench.schedreport import rows as scheduling_rows

__all__ = ["Results", "render"]

COMMAND = "make bench"


@dataclass
class Results:
    latency_ms: float
    pages: int
    calls: Any = None
    hit: Any = None
    cold: Any = None
    parse: Any = None
    drain: Any = None
    drain_default: Any = None
    coalescing: Any = None
    notifications: Any = None
    peer_written: Any = None
    peer_unknown: Any = None
    peer_drain: Any = None
    peer_seed: Any = None
    peer_e2e: Any = None
    ingest: Any = None
    #: ``bench.scheduling.SchedulingResults`` (mixed drain, VIP delay, shares, outage...).
    scheduling: Any = None
    seconds: float = 0.0


def _ok(met: bool, argued: str = "argued below") -> str:
    return "**met**" if met else argued


def _ms(seconds: float) -> str:
    return f"{seconds * 1000:.0f} ms"


def _calls(counter: Any) -> str:
    parts = [f"{n} {op.split('.', 1)[1]}" for op, n in sorted(counter.items())]
    return f"{sum(counter.values())} ({', '.join(parts)})"


def cost_model(r: Results, scrape_seconds: float) -> CostModel:
    """Per lookup, from the measured calls and durations (see the cost section)."""
    c = r.calls
    events = c.events()
    # A hit: one BatchGetItem of the cache entry and the caller's rate log (0.5 RRU each).
    hit = Operation(lambda_seconds=r.hit.app_p50, invocations=1, rest_requests=1, rru=1.0, log_kb=1)
    # Enqueue: that read + one position query (0.5 RRU); the transaction: 4 items (cache
    # check, lock, task, rate log) × 2 WRU.
    miss_api = Operation(
        lambda_seconds=c.enqueue_seconds, invocations=1, rest_requests=1, rru=1.5, wru=8,
        sqs_requests=1, log_kb=1,
    )  # fmt: skip
    # Scrape: start + one update per page + "save" (1 WRU each, the task item < 1 KB), the
    # finish transaction (task with result ~3 KB, record ~3 KB, stats, lock: 2 × 8 WRU),
    # one subscriber read; SQS receive + delete by Lambda's poller; one WebSocket message
    # per event to one subscriber.
    scrape = Operation(
        lambda_seconds=scrape_seconds, invocations=1, wru=(r.pages + 2) + 16, rru=0.5,
        sqs_requests=2, ws_messages=events, log_kb=2,
    )  # fmt: skip
    return CostModel(hit, miss_api, scrape)


def render(r: Results) -> tuple[str, str]:
    """(the table printed by ``make bench``, the whole ``docs/benchmarks.md``)."""
    c, d, dd, co, n = r.calls, r.drain, r.drain_default, r.coalescing, r.notifications
    pw, pu, pd, ps = r.peer_written, r.peer_unknown, r.peer_drain, r.peer_seed
    ing = r.ingest
    enq, enq_vip, join = (sum(x.values()) for x in (c.enqueue, c.enqueue_vip, c.join))
    worker_fixed = c.worker_fixed()
    per_conn = c.calls_per_connection()
    posts_per_event = c.posts_per_connection() / c.events()
    delay_p95 = percentile(n.delays, 95)
    e2e = statistics.median(n.e2e)
    peer_e2e = statistics.median(r.peer_e2e)
    portal_ok = all(c.portal_by_pages[p] == p for p in c.portal_by_pages)
    parse_ratio = r.parse.per_page / (r.latency_ms / 1000)
    # BatchGetItem reads the cache (100 numbers a call) and, once per chunk of new numbers,
    # the batch lane's fair order (the owner's last key and the lane's clock).
    batch_gets = ing["calls"].get("dynamodb.BatchGetItem", 0)
    fair_reads = math.ceil(ing["queued"] / 100)
    cache_reads = batch_gets - fair_reads
    other_reads = ing.reads - batch_gets
    single = d.single_seconds
    model = cost_model(r, single)
    model_20 = cost_model(r, 20.0)
    idle = idle_monthly()
    celery = celery_monthly()
    rows = [
        (
            f"drain, standard-only backlog of {d.count}, default settings",
            f"{d.count} distinct {r.pages}-page OS, portal {r.latency_ms:.0f} ms/page, 3 slots "
            "(one event source, MaximumConcurrency 3), local stack: drain ÷ (n × single "
            "scrape ÷ 3), the measure of the issue's 1.06 and 1.66",
            "≤ 1.10",
            f"{d.efficiency:.2f} ({d.drain_seconds:.1f} s; single scrape {single:.3f} s; "
            f"÷ (n × pages × latency ÷ 3): {d.physical_ratio:.2f})",
            f"{pd.physical_ratio:.2f} ({pd.drain_seconds:.1f} s; ÷ single: {pd.efficiency:.2f}, "
            f"single {pd.single_seconds:.3f} s)",
            _ok(d.efficiency <= 1.10),
        ),
        (
            "  same, smaller backlog",
            f"{dd.count} OS, default settings",
            "(informative)",
            f"{dd.physical_ratio:.2f} on {dd.slots} slots ({dd.drain_seconds:.1f} s; ÷ single: "
            f"{dd.efficiency:.2f})",
            "—",
            "—",
        ),
        (
            "portal protection",
            "peak concurrent portal requests during the drain (portal's /_stats)",
            "≤ 3",
            f"{d.peak_portal} ({dd.count}-OS drain: {dd.peak_portal})",
            f"{pd.peak_portal} at concurrency 3; **{ps.peak_portal}** with the seed's "
            f"2 workers × 2",
            _ok(max(d.peak_portal, dd.peak_portal) <= 3),
        ),
        (
            "coalescing",
            f"{co.requests:,} concurrent lookups over {co.distinct} OS: scrapes ÷ distinct OS",
            "1.00",
            f"{co.amplification:.2f} ({co.scrapes} scrapes, {co.tasks} tasks)",
            f"as written: {pw.amplification:.2f} ({pw.scrapes} scrapes: new work blocked); "
            f"PENDING read as unknown: {pu.amplification:.2f}",
            _ok(co.amplification == 1.0),
        ),
        (
            "AWS calls: cache hit",
            "botocore before-call hooks on every client (PynamoDB's included)",
            "1 read",
            _calls(c.hit),
            "—",
            _ok(sum(c.hit.values()) == 1),
        ),
        (
            "AWS calls: new enqueue",
            "standard user (VIP)",
            "≤ 4",
            f"{_calls(c.enqueue)}; VIP {enq_vip}",
            "—",
            _ok(enq <= 4),
        ),
        ("AWS calls: join", "another user asks for a queued OS", "—", _calls(c.join), "—", "—"),
        (
            "AWS calls: worker, one scrape",
            f"{c.pages}-page OS, warm; + per subscribed connection",
            "≤ 6 + 1 per connection",
            f"{worker_fixed} + {per_conn:.0f} per connection (1 message per event × "
            f"{c.events()} events); by pages 1–4: "
            + ", ".join(str(v) for v in c.worker_by_pages.values()),
            "—",
            "**met**"
            if worker_fixed <= 6 and per_conn <= 1
            else "fixed part **met**; per connection argued"
            if worker_fixed <= 6
            else "argued below",
        ),
        (
            "portal requests per OS",
            "after warm-up, OS of 1, 2, 3, 4 pages",
            "= pages",
            ", ".join(f"{p}→{v}" for p, v in c.portal_by_pages.items()),
            "same scraper",
            _ok(portal_ok),
        ),
        (
            "cold start: import",
            "`import app` ÷ `import chalice, boto3` (fresh processes)",
            "≤ 1.25",
            f"{r.cold.import_ratio:.2f} ({_ms(r.cold.import_app)} ÷ {_ms(r.cold.import_base)})",
            "—",
            _ok(r.cold.import_ratio <= 1.25),
        ),
        (
            "cold start: first lookup",
            "fresh process: import + first cached lookup ÷ bare Chalice app + one GetItem",
            "≤ 1.5",
            f"{r.cold.first_ratio:.2f} ({_ms(r.cold.first_app)} ÷ {_ms(r.cold.first_bare)})",
            "—",
            _ok(r.cold.first_ratio <= 1.5),
        ),
        (
            "cache-hit latency",
            f"p50 / p99 through the app ÷ bare route + GetItem, same moto, {r.hit.samples} each",
            "≤ 1.3",
            f"p50 {r.hit.app_p50 / r.hit.bare_p50:.2f}, p99 {r.hit.app_p99 / r.hit.bare_p99:.2f}"
            f" ({_ms(r.hit.app_p50)} vs {_ms(r.hit.bare_p50)})",
            "—",
            _ok(max(r.hit.app_p50 / r.hit.bare_p50, r.hit.app_p99 / r.hit.bare_p99) <= 1.3),
        ),
        (
            "parse cost",
            f"scraper's parsel work per page ÷ {r.latency_ms:.0f} ms portal latency",
            "≤ 0.02",
            f"{parse_ratio:.4f} ({r.parse.per_page * 1000:.2f} ms per page)",
            "same scraper",
            _ok(parse_ratio <= 0.02),
        ),
        (
            "batch ingest",
            f"{ing['lines']:,}-line file, {ing['distinct']:,} distinct numbers "
            f"({ing['cached']:,} cached, {ing['queued']:,} new), moto in process",
            "calls ratio 1.0",
            f"{ing['seconds']:.1f} s; sends {ing.sends / ing.min_sends:.2f} "
            f"({ing.sends}/{ing.min_sends}); cache reads {cache_reads / ing.min_reads:.2f} "
            f"({cache_reads}/{ing.min_reads}) + {fair_reads} fair-order and {other_reads} "
            "batch-item reads; "
            f"{ing.writes} writes",
            "—",
            _ok(ing.sends == ing.min_sends and cache_reads == ing.min_reads, "argued below")
            + " (sends, cache reads)",
        ),
        (
            "notification delay",
            "task finished → WebSocket message at the client, p95, local stack",
            "≤ 50 ms",
            f"p95 {_ms(delay_p95)} (median {_ms(statistics.median(n.delays))}, "
            f"{len(n.delays)} scrapes)",
            "—",
            _ok(delay_p95 <= 0.050),
        ),
        (
            "end-to-end latency",
            f"request → result at the client, idle, {r.pages} pages × {r.latency_ms:.0f} ms",
            "beside the peer",
            f"{_ms(e2e)} median ({e2e / n.portal_seconds:.2f}× the portal's time)",
            f"{_ms(peer_e2e)} ({peer_e2e / n.portal_seconds:.2f}×)",
            "—",
        ),
        (
            "cost",
            "$ per 1,000,000 lookups at 0 / 50 / 90 % cache hits; $ per month idle",
            "printed",
            " / ".join(f"${model.per_million(h):,.2f}" for h in (0, 0.5, 0.9))
            + f"; idle ${sum(idle.values()):.2f}/month",
            "; ".join(f"${v:.2f}/month ({k})" for k, v in celery.items()),
            "printed",
        ),
    ]
    if r.scheduling is not None:
        at = next(i for i, row in enumerate(rows) if row[0] == "portal protection") + 1
        rows[at:at] = scheduling_rows(r.scheduling)
    sched_prose = scheduling_prose(r.scheduling) if r.scheduling is not None else ""
    sched_arguments = scheduling_arguments(r.scheduling) if r.scheduling is not None else ""
    by_pages_text = ", ".join(
        f"{p} page{'s' if p > 1 else ''}: {k}" for p, k in c.worker_by_pages.items()
    )
    drain_argument = ""
    if d.efficiency > 1.10:
        drain_argument = (
            f"**Drain, standard-only backlog: {d.efficiency:.2f} against ≤ 1.10** "
            f"({d.physical_ratio:.2f} against the portal's time alone). The overhead is the "
            "emulator's: every worker call goes through one moto server that handles one "
            "request at a time (`local/awsserver.py`, for atomicity), sharing "
            f"{os.cpu_count()} cores with the portal and three workers; a scrape during the "
            f"drain took {d.mean_scrape_seconds:.3f} s against {d.single_seconds:.3f} s alone, "
            f"and each slot spent {3 * d.drain_seconds / d.count - d.mean_scrape_seconds:.3f} s "
            "per scrape between scrapes: the finish, the next claim (the scheduler reads "
            "each lane's first waiting tasks, takes a turn and claims one in a "
            "transaction, all before `started_at`) and the local event source's hand-over "
            "of the slot to the poller already holding the next message, in one Python "
            "process with the portal's threads (the receive and the delete are outside "
            "the slot, as Lambda's pollers run beside the function). "
            "The peer, which touches no emulator, made "
            f"{r.peer_drain.physical_ratio:.2f} ({r.peer_drain.efficiency:.2f} against its "
            "single task) on the same machine in the same run. "
            f"The portal never saw more than {d.peak_portal} scrapes at once."
        )
    delay_argument = ""
    if delay_p95 > 0.050:
        delay_argument = (
            f"**Notification delay: p95 {delay_p95 * 1000:.0f} ms against ≤ 50 ms.** The "
            "delay includes the finishing transaction (the result is saved before it is "
            "announced, so a client never hears of a result it cannot read back) and one "
            "PostToConnection, both through the emulator; the median was "
            f"{statistics.median(n.delays) * 1000:.0f} ms."
        )
    header = ("figure", "how", "target", "raspa", "Celery + Redis (seed)", "verdict")
    table = [
        "| " + " | ".join(header) + " |",
        "| " + " | ".join("---" for _ in header) + " |",
    ] + ["| " + " | ".join(str(x) for x in row) + " |" for row in rows]
    table_text = "\n".join(table)
    document = _document(r, table_text, model, model_20, idle, celery, locals())
    return table_text, document


def _document(
    r: Results,
    table: str,
    model: CostModel,
    model_20: CostModel,
    idle: dict[str, float],
    celery: dict[str, float],
    v: dict[str, Any],
) -> str:
    c, d, dd, co, n = r.calls, r.drain, r.drain_default, r.coalescing, r.notifications
    pw, pu, pd, ps, ing = r.peer_written, r.peer_unknown, r.peer_drain, r.peer_seed, r.ingest
    today = datetime.date.today().isoformat()
    cores = os.cpu_count()
    old_lock_writes = ing["queued"] + -(-ing["queued"] // 25)
    new_creates = ing["calls"].get("dynamodb.TransactWriteItems", 0) - 1
    price_rows = "\n".join(
        f"| {key} | ${value:.10g} per {unit} | {source} |"
        for key, (value, unit, source) in PRICES.items()
    )
    instance_rows = "\n".join(
        f"| {name} | ${rate}/hour = ${rate * 730:.2f}/month | {source} |"
        for name, (rate, source) in CELERY_INSTANCES.items()
    )
    idle_rows = "\n".join(f"| {k} | ${val:.2f} |" for k, val in idle.items())
    cost_rows = "\n".join(
        f"| {int(h * 100)} % | ${model.per_million(h):,.2f} | ${model_20.per_million(h):,.2f} |"
        for h in (0, 0.5, 0.9)
    )
    return f"""# Benchmarks

Measured by `{COMMAND}` on {today}, on this machine: {cores} cores (Python
{os.sys.version.split()[0]}). The whole run took {r.seconds:.0f} s.

Every timing is a **ratio measured within one run** (or a count, which does not depend
on the machine): the local stack emulates AWS with moto on loopback, which is slower
than DynamoDB and SQS, and the machine has {cores} cores shared by the portal, the
emulator, the workers and, for the peer, Redis and Celery. Medians are over repeats
({r.cold.repeats} fresh processes each for cold starts, {r.hit.samples} interleaved
requests for latency, isolated scrapes for the single-scrape time, {len(n.e2e)} lookups
for end-to-end figures); a drain is one run of {d.count} scrapes.

```
{COMMAND}    # installs celery, redis-py and Debian's redis-server if missing, then python -m bench
```

{table}

Verdicts: **met**, or argued below with the figures. The raspa column is this
repository; the peer column is the user's original design (`shared/seed`) implemented
in `bench/peers/celery_redis/` and run against the same demo portal in the same run.

## How each figure is measured

* **Drain** (`bench/drain.py`): {d.count} distinct OS of {r.pages} pages each (detail +
  one history page) are enqueued through the lookup path by {d.count // 10 + 1} users (ten
  new scrapes each, the rate limit), then the worker starts as deployed
  (`local.event_source.worker`: one event source on the scrape queue, MaximumConcurrency
  3, each invocation claiming the best waiting task) and the drain is timed to the last
  scrape's end, against the portal's limit (n × pages × latency ÷ 3). The portal answers every page
  after a fixed {r.latency_ms:.0f} ms. *Single-scrape time* is the median worker
  invocation of an OS scraped alone (warm: the portal session open), {d.single_seconds:.3f} s,
  of which {d.portal_seconds:.3f} s is the portal; against n × single ÷ 3 the drain's
  ratio is {d.efficiency:.2f}. Mean scrape during the drain: {d.mean_scrape_seconds:.3f} s.
  The moto server runs in its own process (`local/awsserver.py`'s `AwsProcess`); a
  long poll there waits for a change to the queues instead of polling, as SQS's
  server-side long polls cost the client nothing.
* **Configuration of the drain**: default settings. The scrape queue's messages are
  wake-ups and the worker claims the best waiting task of any lane itself (lanes are data
  on the task), so a standard-only backlog uses all three slots with no setting changed.
  A smaller backlog at the same settings: {dd.physical_ratio:.2f} ({dd.count} OS, peak
  {dd.peak_portal} at the portal).
* **Portal protection**: the demo portal's own count of requests in progress
  (`/_stats` `peak_concurrent`, sleeps included).
{v["sched_prose"]}
* **Coalescing** (`bench/coalescing.py`): {co.requests} lookups from 32 threads over
  {co.distinct} OS (each OS asked {co.requests // co.distinct} times, each of 100 users asking
  for 10 different OS), shuffled, with the worker draining at the same time; scrapes are
  the portal's count of detail pages. Answers: {dict(co.answers)}.
* **AWS calls** (`bench/calls.py`, `bench/counting.py`): botocore `before-call` hooks
  registered on every client the process creates (boto3's, each PynamoDB model's
  connection, Powertools'), counted inside the operation only, after a warm-up (clients
  built, queue URLs and portal secret read, portal session open). Deterministic.
  Worker calls are the function's own (Lambda's poller receives and deletes).
* **Cold start** (`bench/coldstart.py`): fresh `python` processes, interleaved, median of
  {r.cold.repeats}. `import app` loads, beyond chalice and boto3's absence:
  {", ".join(r.cold.extra_modules)}. The first lookup is a cached one, invoked as API
  Gateway invokes the function (a proxy event after the cached authorizer), against the
  same moto server as the bare app's GetItem.
* **Cache-hit latency** (`bench/latency.py`): the same proxy events through `app.app`
  and through a bare Chalice route doing one boto3 GetItem, interleaved.
* **Parse cost** (`bench/parsing.py`): `PortalScraper.scrape` over the demo portal's
  pages served from memory: every parse the scraper makes (login check, fields, history
  rows, next link), per page, ÷ the drains' portal latency.
* **Batch ingest** (`bench/ingest.py`): the `batch_ingest` handler on moto's in-process
  backend in its own process, run while the coalescing figure (counts only) is measured,
  so its wall time is an upper bound (calls are what matter; an HTTP emulator would time
  itself), a 100,000-line
  CSV cycling through {ing["distinct"]:,} distinct numbers of which {ing["cached"]:,} are
  cached. Calls by operation: {dict(sorted(ing["calls"].items()))}.
* **Notification delay and end-to-end latency**: a WebSocket client of the local
  gateway (signed in) follows each lookup (`X-Connection-Id`), made through the API
  handler one at a time with the worker running; the delay runs from the task's
  `finished_at` (set when the scraper returns, before the result is saved) to the
  client's receipt of the result.

## Targets argued

**Enqueue: {v["enq"]} calls (VIP {v["enq_vip"]}; join {v["join"]}), target ≤ 4.** One BatchGetItem
reads the cache entry and the caller's rate log together (so a hit is still one read,
and a miss has what its transaction needs); one transaction writes the lock, the task,
the start appended to the rate log (on condition that the window still has room: the
rolling-window limit stays exact under concurrency) and checks the cache is still cold;
one SendMessage; one COUNT query for the position, because the queue index keeps the VIP
and standard lanes in one partition with a sort key of lane rank, then enqueue time. A
join is found by the transaction's cancellation (the lock's holder comes back with it)
and made with one update. The reads are 1.5 read units, ${1.5 * 0.125:.2f} per million enqueues; the
enqueue took {c.enqueue_seconds * 1000:.0f} ms here against {r.hit.app_p50 * 1000:.0f} ms
for a hit, on an emulator slower per call than DynamoDB.

**Worker: {v["worker_fixed"]} calls + {v["per_conn"]:.0f} per connection** ({v["by_pages_text"]}).
The claim costs three calls where the old start cost one: the interactive and the batch
lanes' first waiting tasks (two queries) and the claim transaction (the task and the
message's claim item), the price of any free slot taking the best task of every lane
(docs/scheduling.md); a turn update is added while lanes compete. Then one progress write
per page and one for "save", the finishing transaction, one subscriber read after it:
against a scrape of seconds, a few milliseconds and about $0.6 per million scrapes more
than the old start. Each subscribed connection gets **one message per event**
(the {c.events()} events of a {c.pages}-page scrape: detail, history, save, result), which is the
live progress the seed asks for ("Feedback em tempo real", `updateProgressBar`) and the
page shows; one message per connection per scrape would mean no progress at all. The
WebSocket messages cost $1 per million.

{v["drain_argument"]}

{v["delay_argument"]}

{v["sched_arguments"]}

**Batch ingest writes.** The target's minima are for sends ({ing.sends}: the batch lane's
release window of {ing["window"]} in one SendMessageBatch and one later release look; the
other new numbers wait held in the owners' fair order, released by the worker as batch slots
free up) and cache reads ({v["cache_reads"]} BatchGetItem of the cache = ⌈{ing["distinct"]:,}/100⌉).
Beside them, {v["fair_reads"]} BatchGetItem read the batch lane's fair order once per chunk of
new numbers (the owner's last key and the lane's clock, to reserve the chunk's keys).
The other {v["other_reads"]} reads are the batch item (lease, progress events at most once a
second: they grow with wall time, not lines). Writes: {ing.writes}. Each new number needs
its task and its per-OS lock (so a batch and an interactive lookup never scrape the same
OS twice); they are now written together, 50 numbers per TransactWriteItems (100 items,
DynamoDB's limit): {new_creates} transactions for {ing["queued"]:,} new numbers, where the
previous code made one conditional PutItem per number and one BatchWriteItem per 25 tasks
({old_lock_writes:,} calls). Transactional writes cost 2 write units per item instead of 1:
$2.50 instead of $1.25 per million new numbers. The rest are one conditional update per
chunk of 100 (offset and counts, the resume point) and the cached numbers' outcome
markers, 25 per BatchWriteItem.

## The Celery + Redis peer

Implemented in `bench/peers/celery_redis/` as the seed writes it: Celery 5.3.0 with
redis-py 4.6.0 (the seed's pins; kombu 5.3.0), Debian's `redis-server` as broker and
result backend, the seed's task verbatim (`bind=True, max_retries=3`, retry in
`60 * 2**retries` s), its endpoint with the dedup check, one worker with
`--concurrency=3` (the issue's configuration) and the seed's own launch layout (two
workers with `--concurrency=2`). The scraping itself is raspa's (same HTTP session reuse,
same parsing), so only the orchestration differs.

* **The dedup check blocks new work.** `AsyncResult("scraping_<n>").state` is PENDING for
  any id Celery has never heard of, so the seed's check answers "OS já está sendo
  processada" for every new OS and never enqueues it: {pw.requests} lookups over
  {pw.distinct} OS made **{pw.scrapes} scrapes** and every answer was "queued"
  ({dict(pw.answers)}). Nothing is ever scraped.
* **Read as "unknown", it lets duplicates through.** The obvious repair (enqueue unless
  STARTED or RETRY) cannot tell a queued or running task from an unknown one either
  (Celery reports PENDING for both unless `task_track_started` is set, and even then a
  queued task stays PENDING): {pu.scrapes} scrapes for {pu.distinct} OS, an amplification of
  **{pu.amplification:.2f}** ({dict(pu.answers)}); each duplicate message is a full scrape
  of the portal.
* **The seed's layout exceeds the portal's limit.** `MAX_CONCURRENT_TASKS: 3` is a
  setting nothing reads; the two workers with `--concurrency=2` the seed starts run 4
  scrapes at once: peak **{ps.peak_portal}** at the portal. With one worker at concurrency
  3 the peak was {pd.peak_portal} and the drain efficiency {pd.efficiency:.2f}
  ({pd.drain_seconds:.1f} s for {pd.count} OS; single task {pd.single_seconds:.3f} s).
* **End to end**, idle: {statistics.median(r.peer_e2e) * 1000:.0f} ms median against raspa's
  {statistics.median(n.e2e) * 1000:.0f} ms, for {n.portal_seconds:.1f} s of portal time. raspa's
  path has more hops, each through the emulator here: the API's enqueue (a transaction and
  a send), the event source's pick-up (moto emulates a long poll as short polls every
  50 ms), six worker calls and the push through the WebSocket gateway; the peer's is one
  Redis list push and pop and a PUBLISH. In AWS, Lambda's pollers hold real long polls.
* Flaws kept to be faithful, not exercised by the runs above: a failure after the last
  retry is *returned* (`{{"status": "error"}}`), so Celery records the task as SUCCESS
  and the status endpoint says SUCCESS; every exception is retried, permanent ones
  included (a "not found" OS is scraped four times over 7 minutes); the retry countdown
  (up to 240 s) runs inside the worker's prefetch, holding a slot's message; the status
  endpoint's `task.info.get(...)` raises while a task waits for a retry (`info` is the
  exception); the 1-hour result cache and 24-hour OS cache of the seed's section 2 are
  not tied to the dedup check; `get_queue_position` and `get_user_priority` are not shown
  (implemented as the Redis queue's length and a constant); there is no per-user rate
  limit (the `RATE_LIMIT` setting is not read either).

## Cost

A model from the measured calls and durations: per lookup, a hit is one API Gateway REST
request, one API invocation of the measured hit duration ({r.hit.app_p50 * 1000:.0f} ms here)
at 512 MB, one BatchGetItem (cache entry and rate log, 1 read unit) and ~1 KB of logs; a
miss adds the enqueue ({c.enqueue_seconds * 1000:.0f} ms; 1.5 read units and a 4-item
transaction, 8 write units;
one SendMessage) and one scrape: the worker at 512 MB for the measured single-scrape
time, {c.pages + 2} progress writes and a 16-unit finishing transaction, SQS receive and
delete, one WebSocket message per event to one subscriber, ~2 KB of logs. The API
authorizer is cached by API Gateway (5 minutes per token) and left out, as are X-Ray
(sampled) and storage (cents). {PRICES_AS_OF}; check them on the pages cited (or the AWS
Pricing Calculator) before relying on them.

| cache hits | $ per 1,000,000 lookups, scrape {d.single_seconds:.2f} s (measured) | scrape 20 s |
| --- | --- | --- |
{cost_rows}

raspa idle (deployed, unused), per month: ${sum(idle.values()):.2f}, plus $3.00 if the
account already has three dashboards:

| item | $ / month |
| --- | --- |
{idle_rows}

The seed needs always-on capacity whatever the traffic: Redis and two Celery workers
(the API and database it plugs into exist already). On the smallest instances that run
it: {"; ".join(f"**${val:.2f}/month** ({k})" for k, val in celery.items())}, idle or busy,
until the portal's 3 slots (not the instances) limit it. At one million lookups a month
raspa's bill depends on the cache-hit ratio as above; the peer's is the same fixed amount.

| price used | price | source |
| --- | --- | --- |
{price_rows}
{instance_rows}

## Code changed to meet the targets

* **Worker notifications** (`chalicelib/services/worker.py`, `notify.py`,
  `adapters/dynamo/runs.py`, `models.py`): a task's WebSocket subscribers live on the
  task item (`subscribers`) instead of a separate `sub#<task>` item, so the worker's own
  writes (start, each progress step) return them and progress events need no read; the
  result goes first to the connections the last write saw, then to any that subscribed
  since (one read). A 2-page scrape went from 9 calls + 4 per connection to
  {v["worker_fixed"]} + {v["per_conn"]:.0f}.
* **Batch ingest** (`chalicelib/adapters/dynamo/batchtasks.py` `create_tasks`): task and
  lock of 50 numbers per transaction instead of one PutItem per lock and a
  BatchWriteItem per 25 tasks; a number whose OS is taken gets no task at all (its
  holder comes back in the cancellation reason) instead of a task written and deleted.
* **Enqueue** (`chalicelib/services/lookup.py`, `adapters/dynamo/tasks.py`,
  `ratelog.py`, `cache.py`, `ratelimit.py`, `queueorder.py`): the cache entry and the
  caller's rate log are read in one BatchGetItem (the rate limit was ten slot items read
  apart from the cache); the limit is a rolling log of start times in one item, appended
  in the task's transaction while the window has room; the queue index sorts VIP before
  standard tasks in one partition, so the position is one COUNT query instead of two. A
  new scrape went from 6 calls (VIP 5) to {v["enq"]} (VIP {v["enq_vip"]}), a join from 6
  to {v["join"]}.
"""
