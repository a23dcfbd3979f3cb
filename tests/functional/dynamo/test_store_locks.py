"""The per-OS lock (``locks.py``): taken and released only inside transactions."""

from __future__ import annotations

import pytest

from chalicelib.adapters.dynamo.locks import Locks
from chalicelib.adapters.dynamo.transaction import Cancelled, transaction

A, B = "a" * 32, "b" * 32


def take(stores, task_id: str, *, reentrant: bool = False) -> None:
    with transaction(stores.models) as tx:
        stores.locks.take(tx, "lock", "200001", task_id, stores.locks.clock(), reentrant=reentrant)


def release(stores, task_id: str) -> None:
    with transaction(stores.models) as tx:
        stores.locks.release(tx, "200001", task_id)


def test_given_a_held_lock_when_another_task_takes_it_then_the_cancellation_names_the_holder(
    stores,
):
    take(stores, A)
    with pytest.raises(Cancelled) as cancelled:
        take(stores, B)
    assert cancelled.value.failed("lock")
    assert Locks.holder_in(cancelled.value, "lock") == A
    assert stores.locks.holder("200001") == A
    assert stores.locks.holder("200001", consistent=True) == A


def test_given_a_lock_its_own_task_takes_it_again_only_when_reentrant(stores):
    take(stores, A)
    take(stores, A, reentrant=True)
    with pytest.raises(Cancelled):
        take(stores, A)
    assert stores.locks.holder("200001") == A


def test_given_a_lock_past_its_ttl_then_another_task_takes_it(stores, clock, settings):
    take(stores, A)
    clock.advance(settings.lock_ttl_seconds + 1)
    take(stores, B)
    assert stores.locks.holder("200001") == B


def test_a_lock_is_released_only_by_the_task_holding_it(stores):
    take(stores, A)
    with pytest.raises(Cancelled) as cancelled:
        release(stores, B)
    assert cancelled.value.failed_names() == ["lock"]
    assert stores.locks.holder("200001") == A
    release(stores, A)
    assert stores.locks.holder("200001") is None
