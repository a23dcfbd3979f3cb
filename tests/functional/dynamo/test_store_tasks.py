"""Asking for a task (``tasks.py``): one active task per OS, joins, rate limits, lanes."""

from __future__ import annotations

import dataclasses

import pytest

from chalicelib.adapters.dynamo.records import TaskRecord
from chalicelib.adapters.dynamo.tasks import Promotion
from chalicelib.adapters.dynamo.transaction import transaction
from chalicelib.domain.ratelimit import RatePolicy
from chalicelib.errors import RateLimitedError

POLICY = RatePolicy("ana", limit=2, window_seconds=3600)


def test_given_no_task_when_two_users_ask_for_an_os_then_one_task_is_created_and_joined(
    stores, watch
):
    sizes = watch("TransactWriteItems")
    # When ana then bruno ask for the same OS
    created = stores.tasks.create_or_join("400001", requested_by="ana")
    joined = stores.tasks.create_or_join("400001", requested_by="bruno")
    # Then one transaction created the task and took the lock; bruno joined it
    assert created.created and not joined.created
    assert [len(call["TransactItems"]) for call in sizes.calls] == [3, 3]  # cache, lock, task
    assert joined.task.pk == created.task.pk
    task = stores.tasks.get_task(created.task.pk)
    assert isinstance(task, TaskRecord) and task.status == "PENDING"
    assert task.requesters == {"ana", "bruno"}
    assert stores.locks.holder("400001") == task.pk
    assert stores.tasks.can_see(task, "bruno") and not stores.tasks.can_see(task, "carla")


def test_a_task_is_a_frozen_record_of_plain_values(stores):
    task = stores.tasks.create_or_join("400002", requested_by="ana").task
    assert isinstance(task.requesters, frozenset) and task.waiters == 0
    with pytest.raises(dataclasses.FrozenInstanceError):
        task.status = "SUCCESS"  # type: ignore[misc]


def test_given_a_fresh_cache_entry_then_it_is_served_unless_a_refresh_is_asked_for(stores, clock):
    with transaction(stores.models) as tx:
        stores.cache.put_scraped(tx, "400003", {"cliente": "Ana"}, "t" * 32, clock())
    outcome = stores.tasks.create_or_join("400003", requested_by="ana")
    assert outcome.task is None and not outcome.created
    assert outcome.cached.data == {"cliente": "Ana"}
    refreshed = stores.tasks.create_or_join("400003", requested_by="ana", respect_cache=False)
    assert refreshed.created and refreshed.task.numero_os == "400003"


def test_given_a_full_rate_window_then_a_new_os_is_refused_but_joining_an_active_task_is_free(
    stores,
):
    # Given ana's two new scrapes, her limit
    for numero in ("400011", "400012"):
        assert stores.tasks.create_or_join(numero, requested_by="ana", rate=POLICY).created
    bruno = stores.tasks.create_or_join("400013", requested_by="bruno").task
    # Then a third OS is refused, with when she may try again
    with pytest.raises(RateLimitedError) as refused:
        stores.tasks.create_or_join("400014", requested_by="ana", rate=POLICY)
    assert refused.value.retry_after > 0
    # But joining bruno's active task costs nothing
    joined = stores.tasks.create_or_join("400013", requested_by="ana", rate=POLICY)
    assert not joined.created and joined.task.pk == bruno.pk
    assert len(stores.ratelog.state("ana").starts) == 2


def test_given_a_standard_task_when_a_vip_joins_then_it_moves_to_the_vip_lane_once(stores):
    waiting = stores.tasks.create_or_join("400021", requested_by="bruno").task
    # When the VIP's join promotes it, counted against the VIP's limit
    moved = stores.tasks.promote(waiting, "vip", rate=RatePolicy("carla", 5, 3600))
    assert moved.result is Promotion.PROMOTED
    assert (moved.task.queue, moved.task.lane, moved.task.queue_group) == (
        "vip",
        "vip",
        "interactive",
    )
    assert stores.tasks.get_task(waiting.pk).queue == "vip"
    assert len(stores.ratelog.state("carla").starts) == 1
    # Then moving it again changes nothing, and a stale copy misses
    current = stores.tasks.get_task(waiting.pk)
    assert stores.tasks.promote(current, "vip").result is Promotion.NOT_NEEDED
    assert stores.tasks.promote(waiting, "vip").result is Promotion.MISSED
    # And a VIP whose window is full joins without moving it
    other = stores.tasks.create_or_join("400022", requested_by="bruno").task
    full = RatePolicy("carla", 1, 3600)
    assert stores.tasks.promote(other, "vip", rate=full).result is Promotion.RATE_LIMITED
    assert stores.tasks.get_task(other.pk).queue == "standard"


def test_a_promoted_task_whose_message_failed_is_put_back_where_it_waited(stores):
    waiting = stores.tasks.create_or_join("400031", requested_by="bruno").task
    moved = stores.tasks.promote(waiting, "vip").task
    back = stores.tasks.unpromote(moved, waiting)
    stored = stores.tasks.get_task(waiting.pk)
    for task in (back, stored):
        assert (task.queue, task.lane, task.queue_group, task.queue_order) == (
            waiting.queue,
            waiting.lane,
            waiting.queue_group,
            waiting.queue_order,
        )


def test_tasks_are_read_strongly_consistent_and_only_by_task_ids(stores, watch):
    task = stores.tasks.create_or_join("400041", requested_by="ana").task
    gets = watch("GetItem")
    assert stores.tasks.get_task(task.pk).pk == task.pk
    assert [call.get("ConsistentRead") for call in gets.calls] == [True]
    assert stores.tasks.get_task("os#400041") is None  # a lock's key is no task
    assert len(gets.calls) == 1
    many = stores.tasks.get_many([task.pk, "0" * 32, "not-a-task", task.pk])
    assert [t.pk for t in many] == [task.pk]
