"""The queue index (``queueindex.py``): each lane's heads, tasks ahead and waiting counts."""

from __future__ import annotations

from chalicelib.adapters.dynamo.records import TaskRecord
from chalicelib.domain.fairshare import reserve
from chalicelib.domain.lanes import Lane


def ask(stores, clock, numero: str, lane: str) -> TaskRecord:
    clock.advance(1)
    return stores.tasks.create_or_join(numero, requested_by="ana", lane=lane).task


def test_given_every_lane_waiting_then_positions_follow_vip_standard_released_then_held(
    stores, clock
):
    # Given a standard task, then a VIP one, another standard one and a released batch one
    first = ask(stores, clock, "300001", "standard")
    vip = ask(stores, clock, "300002", "vip")
    second = ask(stores, clock, "300003", "standard")
    batch = ask(stores, clock, "300004", "batch")
    # ... and a batch task held in the fair order
    created = stores.batch_tasks.create_tasks(
        "b" * 32, "ana", ["300005"], careful=False, reserve=lambda n: reserve("ana", 0, 0, n)
    )
    held = stores.tasks.get_task(created.tasks[0][0])
    # Then each waits behind its own lane's earlier tasks (a held one behind the released)
    index = stores.queue_index
    assert [index.ahead(t) for t in (vip, first, second, batch, held)] == [0, 0, 1, 0, 1]
    assert {lane: index.waiting(lane) for lane in ("vip", "standard", "batch")} == {
        "vip": 1,
        "standard": 2,
        "batch": 2,
    }
    assert index.released() == 1 and [t.pk for t in index.held(5)] == [held.pk]
    # And a lane's heads are found even when the VIP band fills the first ones read
    one = index.heads_by_lane(1)
    assert [t.pk for t in one[Lane.VIP]] == [vip.pk] and [t.pk for t in one[Lane.STANDARD]] == [
        first.pk
    ]
    # And a started task has left the queue
    started = stores.runs.start(vip.pk)
    assert index.ahead(started) == 0 and index.waiting("vip") == 0
    # And the scheduler reads each lane's heads in queue order (held tasks not among them)
    heads = {lane.value: [t.pk for t in tasks] for lane, tasks in index.heads_by_lane(4).items()}
    assert heads == {"vip": [], "standard": [first.pk, second.pk], "batch": [batch.pk]}


def test_ops_list_a_lanes_waiting_and_retrying_tasks_as_records(stores, clock):
    waiting = ask(stores, clock, "300011", "standard")
    retrying = stores.runs.start(ask(stores, clock, "300012", "standard").pk)
    stores.runs.mark_retry(
        retrying, message="again", detail="portal 500", reason="portal_error", delay_seconds=60
    )
    ask(stores, clock, "300013", "vip")
    listed = list(stores.queue_index.waiting_tasks("standard"))
    assert all(isinstance(t, TaskRecord) for t in listed)
    assert {t.pk: t.status for t in listed} == {waiting.pk: "PENDING", retrying.pk: "RETRY"}
    # A task between attempts is never counted in a position
    assert stores.queue_index.waiting("standard") == 1
