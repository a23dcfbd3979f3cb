"""Fairness against the local stack: the exact rate limit under concurrency, and the lanes.

The worker runs as deployed: one event source on the scrape queue, capped at the
portal's limit of 3 (``local.event_source.worker``). Its messages are wake-ups: each
invocation claims the best waiting task itself (``chalicelib.services.scheduler``), so
which task ran when is read from the task items (``started_at``/``finished_at``), never
from the message bodies.
"""

from __future__ import annotations

import time
from concurrent.futures import ThreadPoolExecutor
from typing import Any

import pytest

from chalicelib.domain.identity import Identity
from chalicelib.errors import RateLimitedError
from chalicelib.http.views import lookup_answer
from tests.support.stack import Stack

pytestmark = pytest.mark.integration

ANA, BRUNO, CARLA = Identity("ana"), Identity("bruno"), Identity("carla", vip=True)
#: Standard users, each within the rate limit of ten new scrapes an hour.
STANDARD = (ANA, BRUNO, Identity("dora"))


def submit(stack: Stack, numero: str, who: Identity) -> str:
    result = lookup_answer(stack.services.lookup.lookup(numero, identity=who))
    assert result.http_status == 202, result.body
    return result.body["task_id"]


def backlog(
    stack: Stack, first: int, count: int, who: tuple[Identity, ...] = STANDARD
) -> list[str]:
    """``count`` lookups of distinct OS from ``first`` on, shared out between ``who``."""
    return [submit(stack, str(first + i), who[i % len(who)]) for i in range(count)]


def wait_all_terminal(stack: Stack, task_ids: list[str], timeout: float = 60) -> list[Any]:
    store = stack.services.store
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        tasks = [store.tasks.get_task(t) for t in task_ids]
        if all(t.status in ("SUCCESS", "FAILURE") for t in tasks):
            return tasks
        time.sleep(0.05)
    raise AssertionError("tasks did not finish: " + str([(t.pk, t.status) for t in tasks]))


def wait_started(stack: Stack, task_ids: list[str], count: int, timeout: float = 20) -> None:
    store = stack.services.store
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        started = [t for t in task_ids if store.tasks.get_task(t).started_at is not None]
        if len(started) >= count:
            return
        time.sleep(0.02)
    raise AssertionError(f"fewer than {count} tasks started")


def peak_overlap(tasks: list[Any]) -> int:
    """Most tasks whose [started_at, finished_at] intervals overlap at one instant."""
    events = sorted(
        [(float(t.started_at), 1) for t in tasks] + [(float(t.finished_at), -1) for t in tasks],
        key=lambda e: (e[0], e[1]),
    )
    running = peak = 0
    for _, step in events:
        running += step
        peak = max(peak, running)
    return peak


def started(task: Any) -> float:
    return float(task.started_at)


def succeeded_at_once(tasks: list[Any]) -> bool:
    """Every task SUCCESS in its first attempt (so ``started_at`` is its only start)."""
    return all(t.status == "SUCCESS" and int(t.attempts) == 1 for t in tasks)


# 100 threads in one process each build their own PynamoDB client (its sessions are
# per thread) next to an in-process moto server: slow here, well past the default timeout.
@pytest.mark.timeout(300)
def test_hundred_concurrent_requests_from_one_user_for_different_os_accept_exactly_ten(make_stack):
    stack = make_stack()
    lookup = stack.services.lookup

    def one(i: int) -> str:
        try:
            return str(lookup_answer(lookup.lookup(f"{700000 + i}", identity=ANA)).http_status)
        except RateLimitedError as exc:
            assert 0 < exc.retry_after <= stack.settings.rate_window_seconds
            return "429"

    # Given a user with no scrapes this hour, When 100 lookups of 100 different OS race
    with ThreadPoolExecutor(max_workers=100) as pool:
        outcomes = list(pool.map(one, range(100)))

    # Then exactly ten enqueue a scrape and ninety are refused, and the queue holds ten
    assert outcomes.count("202") == 10 and outcomes.count("429") == 90, outcomes
    assert stack.depth(stack.queue_url) == 10
    # And joining one of the accepted tasks is still allowed (joins do not count)
    accepted = [700000 + i for i, o in enumerate(outcomes) if o == "202"]
    assert lookup_answer(lookup.lookup(str(accepted[0]), identity=ANA)).http_status == 202


def test_given_a_standard_only_backlog_when_the_worker_drains_it_then_it_uses_all_three_slots_and_never_more(  # noqa: E501
    make_stack,
):
    stack = make_stack()
    stack.faults(latency_ms=150)
    # Given twelve standard lookups and no other lane's work
    standard = backlog(stack, 711_000, 12)

    # When the worker drains them
    with stack.worker() as worker:
        tasks = wait_all_terminal(stack, standard)

    # Then three scrape at once: no slot is kept for a lane with nothing waiting
    assert succeeded_at_once(tasks), [(t.pk, t.status, t.attempts) for t in tasks]
    assert peak_overlap(tasks) == 3
    # And never more than three, for the worker or the portal
    assert worker.slots.peak <= 3
    assert stack.portal_stats()["peak_concurrent"] <= 3


def test_given_a_busy_worker_and_a_standard_backlog_when_a_vip_asks_last_then_its_task_starts_before_the_waiting_standard_ones(  # noqa: E501
    make_stack,
):
    stack = make_stack()
    stack.faults(latency_ms=150)
    # Given a backlog of standard lookups, with the worker busy on them
    standard = backlog(stack, 712_000, 12)
    with stack.worker() as worker:
        wait_started(stack, standard, 4)
        # When a VIP user asks for an OS last
        vip = submit(stack, "712999", CARLA)
        submitted = time.time()  # its task waits: any claim from now on may take it
        tasks = wait_all_terminal(stack, [*standard, vip])
    assert succeeded_at_once(tasks), [(t.pk, t.status, t.attempts) for t in tasks]
    vip_task, standard_tasks = tasks[-1], tasks[:-1]

    # Then it starts before the standard lookups still waiting when it was submitted: a
    # claim already under way may take one of them first, the next claim is the VIP's turn
    waiting = sorted(started(t) for t in standard_tasks if started(t) >= submitted)
    assert len(waiting) >= 3, "the backlog drained before the VIP lookup was submitted"
    before = [s for s in waiting if s < started(vip_task)]
    assert len(before) <= 1, (started(vip_task), waiting)
    # And the portal never saw more than three scrapes at once
    assert peak_overlap(tasks) <= 3 and worker.slots.peak <= 3
    assert stack.portal_stats()["peak_concurrent"] <= 3


def test_given_a_vip_backlog_and_a_few_standard_lookups_when_the_worker_drains_them_then_standard_ones_run_before_the_vip_backlog_ends(  # noqa: E501
    make_stack,
):
    stack = make_stack()
    stack.faults(latency_ms=100)
    # Given a VIP backlog larger than the slots and a few standard lookups behind it
    vip = backlog(stack, 720_000, 9, (CARLA,))
    standard = backlog(stack, 729_000, 3, (ANA,))

    # When the worker drains them
    with stack.worker() as worker:
        tasks = wait_all_terminal(stack, [*vip, *standard])
    assert succeeded_at_once(tasks), [(t.pk, t.status, t.attempts) for t in tasks]
    vip_tasks, standard_tasks = tasks[: len(vip)], tasks[len(vip) :]

    # Then standard lookups get their share while the VIP backlog is still draining
    last_vip_start = max(started(t) for t in vip_tasks)
    assert any(started(t) < last_vip_start for t in standard_tasks)
    # And VIP lookups still go first: most of them start before the last standard one
    last_standard_start = max(started(t) for t in standard_tasks)
    assert sum(started(t) < last_standard_start for t in vip_tasks) >= len(vip) // 2
    assert peak_overlap(tasks) <= 3 and worker.slots.peak <= 3
    assert stack.portal_stats()["peak_concurrent"] <= 3
