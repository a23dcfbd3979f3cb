"""Batch tasks and their per-OS locks, written together in transactions."""

from __future__ import annotations

import json
from collections import Counter

import app as raspa_app
from chalicelib.adapters.dynamo.models import lock_key
from chalicelib.domain.batches import task_id_for
from chalicelib.domain.fairshare import reserve
from tests.support.calls import dynamodb_calls

BATCH = "b" * 32


def keys(count: int):
    """Fair keys from 1, as a first batch of its owner's gets them."""
    return reserve("ana", 0, 0, count)


def numbers(count: int, start: int = 640_000) -> list[str]:
    return [str(start + i) for i in range(count)]


def lock_holder(numero: str) -> str:
    return raspa_app.services().models.Lock.get(lock_key(numero)).task_id


def test_a_chunk_of_new_numbers_writes_its_tasks_and_locks_in_two_transactions(client):
    batches = raspa_app.services().batches.batch_tasks
    wanted = numbers(100)
    calls = dynamodb_calls(raspa_app.services().models)
    created = batches.create_tasks(BATCH, "ana", wanted, careful=False, reserve=keys)
    assert calls == Counter({"TransactWriteItems": 2})  # 50 numbers (100 items) each
    assert [n for _, n in created.tasks] == wanted and not created.taken
    store = raspa_app.services().store
    for task_id, numero in created.tasks:
        task = store.tasks.get_task(task_id)
        assert task.status == "PENDING" and task.queue == "batch" and task.batch_id == BATCH
        assert task.queue_group == "batch-held" and task.expires_at is None  # held, in order
        assert lock_holder(numero) == task_id
    orders = [store.tasks.get_task(task_id).queue_order for task_id, _ in created.tasks]
    assert orders == sorted(orders) and int(orders[0]) == 1 and int(orders[-1]) == 100


def test_a_number_whose_os_is_being_scraped_is_taken_and_gets_no_task_of_its_own(client):
    wanted = numbers(60)
    response = client.http.post(f"/buscar-os-async/{wanted[7]}")
    holder = json.loads(response.body)["task_id"]
    batches = raspa_app.services().batches.batch_tasks
    calls = dynamodb_calls(raspa_app.services().models)
    created = batches.create_tasks(BATCH, "ana", wanted, careful=False, reserve=keys)
    # The first group (50 numbers) was cancelled by the held lock and sent again without it
    assert calls == Counter({"TransactWriteItems": 3})
    assert created.taken == {wanted[7]: holder}
    assert [n for _, n in created.tasks] == [n for n in wanted if n != wanted[7]]
    assert raspa_app.services().store.tasks.get_task(task_id_for(BATCH, wanted[7])) is None
    assert lock_holder(wanted[7]) == holder


def test_a_chunk_created_again_after_a_crash_keeps_its_tasks_and_locks(client):
    batches = raspa_app.services().batches.batch_tasks
    wanted = numbers(10)
    first = batches.create_tasks(BATCH, "ana", wanted, careful=False, reserve=keys)
    again = batches.create_tasks(BATCH, "ana", wanted, careful=True, reserve=keys)
    assert again.tasks == first.tasks and not again.taken and not again.finished
    assert all(lock_holder(n) == t for t, n in again.tasks)
