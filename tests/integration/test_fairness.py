"""Fairness against the local stack: the exact rate limit under concurrency, and the VIP lane.

The worker runs as deployed: the VIP and standard lanes' event sources share the
function's reserved concurrency of 3 (``local.event_source.lanes``).
"""

from __future__ import annotations

import json
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


def submit(stack: Stack, numero: str, who: Identity) -> str:
    result = lookup_answer(stack.services.lookup.lookup(numero, identity=who))
    assert result.http_status == 202, result.body
    return result.body["task_id"]


def wait_all_terminal(stack: Stack, task_ids: list[str], timeout: float = 60) -> list[Any]:
    store = stack.services.store
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        tasks = [store.tasks.get_task(t) for t in task_ids]
        if all(t.status in ("SUCCESS", "FAILURE") for t in tasks):
            return tasks
        time.sleep(0.05)
    raise AssertionError("tasks did not finish: " + str([(t.pk, t.status) for t in tasks]))


def wait_running(stack: Stack, task_ids: list[str], count: int, timeout: float = 20) -> None:
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


@pytest.mark.parametrize("standard_max", ["2", "3"])
def test_vip_lookup_submitted_behind_a_standard_backlog_starts_next(make_stack, standard_max):
    stack = make_stack(standard_max_concurrency=int(standard_max))
    stack.faults(latency_ms=150)
    # Given a backlog of standard lookups, with the worker busy on them
    standard = [submit(stack, f"{710000 + i}", ANA if i % 2 else BRUNO) for i in range(10)]
    first_invoked: dict[str, float] = {}  # a retry's later start must not count

    def invoked(event: dict) -> None:
        task_id = json.loads(event["Records"][0]["body"])["task_id"]
        first_invoked.setdefault(task_id, time.time())

    with stack.worker(on_invoke=invoked) as worker:
        wait_running(stack, standard, int(standard_max))
        # When a VIP user asks for an OS last
        vip = submit(stack, "719999", CARLA)
        submitted = time.time()
        tasks = wait_all_terminal(stack, [*standard, vip])
    vip_started = first_invoked[vip]

    # Then it starts before every standard lookup that was still waiting
    waiting = [first_invoked[t] for t in standard if first_invoked[t] >= submitted]
    assert waiting, "the backlog drained before the VIP lookup was submitted"
    assert all(vip_started < started for started in waiting), (vip_started, sorted(waiting))
    # And the portal never saw more than three scrapes at once
    assert peak_overlap(tasks) <= 3 and worker.slots.peak <= 3
    assert stack.portal_stats()["peak_concurrent"] <= 3
    assert all(t.status == "SUCCESS" for t in tasks)


def test_standard_lookups_are_not_starved_by_a_vip_backlog(make_stack):
    stack = make_stack()
    stack.faults(latency_ms=100)
    # Given a VIP backlog larger than the slots and a few standard lookups behind it
    vip = [submit(stack, f"{720000 + i}", CARLA) for i in range(9)]
    standard = [submit(stack, f"{729000 + i}", ANA) for i in range(3)]

    with stack.worker() as worker:
        tasks = wait_all_terminal(stack, [*vip, *standard])
    vip_tasks, standard_tasks = tasks[: len(vip)], tasks[len(vip) :]

    # Then VIP lookups never hold more than their lane's two slots
    assert peak_overlap(vip_tasks) <= stack.settings.priority_max_concurrency
    # And standard lookups run while the VIP backlog is still draining
    last_vip_start = max(float(t.started_at) for t in vip_tasks)
    assert any(float(t.started_at) < last_vip_start for t in standard_tasks)
    assert peak_overlap(tasks) <= 3 and worker.slots.peak <= 3
