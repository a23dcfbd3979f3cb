"""Batch waiters: the batches waiting for a task's outcome, and the counting of it.

A task records the batch that created it (``batch_id``) and how many others joined it
(``waiters``); each joined batch is an item of its own, ``bwait#<task>#<n>`` for n = 1 ..
waiters, written in the same transaction that bumps the count. Neither the task item nor
its finishing transaction grows with the number of batches: once the task is terminal,
``count_outcomes`` reads the waiters (100 keys per BatchGetItem) and counts the outcome in
each batch with one small transaction (a marker per batch and number, so a redelivery
counts nothing twice).
"""

from __future__ import annotations

import time
from dataclasses import replace
from typing import Callable

from pynamodb.exceptions import PynamoDBException

from chalicelib.adapters.dynamo.models import Models, batch_key, mark_key, ttl, waiter_key
from chalicelib.adapters.dynamo.retry import MAX_ROUNDS, pause
from chalicelib.adapters.dynamo.tasks import TaskStore
from chalicelib.adapters.dynamo.transaction import Cancelled, transaction
from chalicelib.domain.batches import BatchOutcome
from chalicelib.domain.records import TaskRecord
from chalicelib.domain.tasks import ACTIVE, TERMINAL, TaskStatus
from chalicelib.errors import StorageError

__all__ = ["BatchWaits", "outcome_of"]

#: Keys per BatchGetItem.
_GET_BATCH = 100


def outcome_of(task: TaskRecord) -> tuple[BatchOutcome, str]:
    """What a terminal task means for a batch: its outcome and the message users see."""
    if task.status == TaskStatus.SUCCESS.value:
        return BatchOutcome.OK, ""
    if task.error_reason == "not_found":
        return BatchOutcome.NOT_FOUND, task.error or ""
    return BatchOutcome.FAILED, task.error or ""


class BatchWaits:
    """Which batches wait for a task, and their share of its outcome."""

    def __init__(
        self,
        models: Models,
        tasks: TaskStore,
        *,
        mark_retention_seconds: int,
        batch_retention_seconds: int,
        clock: Callable[[], float] = time.time,
    ) -> None:
        self.m = models
        self.tasks = tasks
        #: Outcomes are kept while a batch can still be running (it may take weeks).
        self.mark_retention = mark_retention_seconds
        self.batch_retention = batch_retention_seconds
        self.clock = clock

    def join(self, task_id: str, batch_id: str) -> TaskRecord | None:
        """Make ``batch_id`` wait for an active task's outcome; None if it is not active.

        One transaction bumps the task's ``waiters`` from the count it was read with and
        puts the waiter item with the new number, so concurrent joins each get their own.
        """
        Task, Waiter = self.m.Task, self.m.BatchWaiter
        for round_ in range(MAX_ROUNDS):
            task = self.tasks.get_task(task_id)
            if task is None or TaskStatus(task.status) not in ACTIVE:
                return None
            if task.batch_id == batch_id:
                return task  # the batch created it: it counts the outcome already
            known = int(task.waiters or 0)
            same = (
                Task.waiters == known
                if known
                else (Task.waiters.does_not_exist() | (Task.waiters == 0))
            )
            now = self.clock()
            try:
                with transaction(self.m) as tx:
                    tx.update(
                        "task",
                        Task(task_id),
                        [Task.waiters.set(known + 1), Task.updated_at.set(now)],
                        condition=Task.status.is_in(*[s.value for s in ACTIVE]) & same,
                    )
                    tx.save(
                        "waiter",
                        Waiter(
                            waiter_key(task_id, known + 1),
                            batch_id=batch_id,
                            expires_at=ttl(now + self.mark_retention),
                        ),
                    )
            except Cancelled as cancelled:
                if cancelled.conflict or cancelled.failed("task"):
                    pause(round_)
                    continue  # another batch joined, or the task finished: read it again
                raise StorageError(f"joining task failed: {cancelled}") from None
            return replace(task, waiters=known + 1)
        raise StorageError(f"could not make batch {batch_id} wait for task {task_id}")

    def waiting_batches(self, task: TaskRecord) -> list[str]:
        """Every batch waiting for ``task``: the one that created it, then those that
        joined (read strongly consistent, 100 per call)."""
        found = [task.batch_id] if task.batch_id else []
        keys = [waiter_key(task.pk, n) for n in range(1, int(task.waiters or 0) + 1)]
        try:
            for i in range(0, len(keys), _GET_BATCH):
                items = self.m.BatchWaiter.batch_get(keys[i : i + _GET_BATCH], consistent_read=True)
                found += [item.batch_id for item in items]
        except PynamoDBException as exc:
            raise StorageError(f"reading waiting batches failed: {exc.msg}") from exc
        return list(dict.fromkeys(found))  # a batch that joined twice counts once

    def count_outcomes(self, task: TaskRecord) -> list[str]:
        """Count a terminal task's outcome in every batch waiting for it, at most once per
        batch; returns the batches that wait for it (to tell their owners)."""
        if TaskStatus(task.status) not in TERMINAL:
            raise ValueError(f"task {task.pk} has not finished")
        batches = self.waiting_batches(task)
        outcome, message = outcome_of(task)
        for batch_id in batches:
            self.count(batch_id, task.numero_os, outcome, message)
        return batches

    def count(self, batch_id: str, numero_os: str, outcome: BatchOutcome, message: str) -> bool:
        """Count one number's outcome in one batch; False if it was counted already."""
        Mark, Batch = self.m.BatchMark, self.m.Batch
        for round_ in range(MAX_ROUNDS):
            now = self.clock()
            try:
                with transaction(self.m) as tx:
                    tx.save(
                        "mark",
                        Mark(
                            mark_key(batch_id, numero_os),
                            outcome=outcome.value,
                            message=message or None,
                            expires_at=ttl(now + self.mark_retention),
                        ),
                        condition=Mark.pk.does_not_exist(),
                    )
                    tx.update(
                        "batch",
                        Batch(batch_key(batch_id)),
                        [
                            getattr(Batch, outcome.counter).add(1),
                            Batch.updated_at.set(now),
                            # A running batch stays readable however long it runs.
                            Batch.expires_at.set(ttl(now + self.batch_retention)),
                        ],
                        condition=Batch.pk.exists(),
                    )
            except Cancelled as cancelled:
                if cancelled.conflict:
                    pause(round_)
                    continue
                if cancelled.failed("mark"):
                    return False  # counted already (a redelivery)
                if cancelled.failed("batch"):
                    return False  # the batch is gone (expired): nothing to count into
                raise StorageError(f"counting a batch outcome failed: {cancelled}") from None
            return True
        raise StorageError(f"could not count the outcome of {numero_os} in batch {batch_id}")
