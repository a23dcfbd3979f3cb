"""A batch's tasks: created held in the batch lane's fair order, each with its OS's lock.

Each number's task and lock are written together, 50 numbers per transaction (100
items, DynamoDB's limit), so a lock never points to a missing task and a chunk of 100
numbers costs two calls. Task ids are derived from (batch, number), so an ingest run
again after a crash recognises the tasks it created.
"""

from __future__ import annotations

import time
from typing import Callable, Mapping

from chalicelib.adapters.dynamo.locks import Locks
from chalicelib.adapters.dynamo.models import Models
from chalicelib.adapters.dynamo.retry import MAX_ROUNDS, pause
from chalicelib.adapters.dynamo.tasks import TaskStore, new_task_item
from chalicelib.adapters.dynamo.transaction import MAX_ITEMS, Cancelled, transaction
from chalicelib.domain.batches import task_id_for
from chalicelib.domain.fairshare import KeyRange
from chalicelib.domain.lanes import Lane
from chalicelib.domain.records import Created
from chalicelib.domain.tasks import TERMINAL, TaskStatus
from chalicelib.errors import StorageError

__all__ = ["BatchTasks", "Created"]

#: Numbers whose task and lock one transaction writes (two items each).
NUMBERS_PER_TRANSACTION = MAX_ITEMS // 2


class BatchTasks:
    """Creates a batch chunk's tasks and takes their OS locks."""

    def __init__(
        self,
        models: Models,
        tasks: TaskStore,
        locks: Locks,
        *,
        task_retention_seconds: int,
        clock: Callable[[], float] = time.time,
    ) -> None:
        self.m = models
        self.tasks = tasks
        self.locks = locks
        self.retention = task_retention_seconds
        self.clock = clock

    def create_tasks(
        self,
        batch_id: str,
        owner: str,
        numbers: list[str],
        *,
        careful: bool,
        reserve: Callable[[int], KeyRange],
    ) -> Created:
        """Create one task per number, held in the batch lane's fair order, and take each
        OS's lock; ``reserve(n)`` gives the owner's next n fair keys.

        A number whose OS has another active task is returned in ``taken`` (to join) with
        the holder named by the cancellation reason, and the transaction is sent again
        without it: it gets no task. ``careful`` keeps tasks a dead invocation created
        (they may have run; they keep their keys) and takes their locks again, which may
        already be theirs.
        """
        out = Created()
        if not numbers:
            return out
        ours = {numero: task_id_for(batch_id, numero) for numero in numbers}
        existing: set[str] = set()
        if careful:
            for task in self.tasks.get_many(ours.values()):
                existing.add(task.pk)
                if TaskStatus(task.status) in TERMINAL:
                    out.finished.append(task.numero_os)  # ran already; outcome counted
            numbers = [n for n in numbers if n not in out.finished]
        new = [n for n in numbers if ours[n] not in existing]
        keys = reserve(len(new))
        fair = {numero: keys.key(i) for i, numero in enumerate(new)}
        now = self.clock()
        for i in range(0, len(numbers), NUMBERS_PER_TRANSACTION):
            group = numbers[i : i + NUMBERS_PER_TRANSACTION]
            self._create_group(owner, batch_id, group, ours, fair, now, out)
        return out

    def _create_group(
        self,
        owner: str,
        batch_id: str,
        group: list[str],
        ours: Mapping[str, str],
        fair: Mapping[str, float],
        now: float,
        out: Created,
    ) -> None:
        """One transaction: a held task (unless it exists) and the lock for each number."""
        for round_ in range(MAX_ROUNDS):
            if not group:
                return
            try:
                with transaction(self.m) as tx:
                    for numero in group:
                        task_id = ours[numero]
                        if numero in fair:
                            tx.save(
                                f"task {numero}",
                                new_task_item(
                                    self.m.Task,
                                    task_id,
                                    numero,
                                    Lane.BATCH,
                                    owner,
                                    now,
                                    self.retention,
                                    batch_id,
                                    fair_key=fair[numero],
                                ),
                            )
                        self.locks.take(tx, f"lock {numero}", numero, task_id, now, reentrant=True)
                out.tasks.extend((ours[numero], numero) for numero in group)
                return
            except Cancelled as cancelled:
                if cancelled.conflict:
                    pause(round_)
                    continue
                held = {
                    numero: Locks.holder_in(cancelled, f"lock {numero}")
                    for numero in group
                    if cancelled.failed(f"lock {numero}")
                }
                if not held:
                    raise StorageError(f"creating batch tasks failed: {cancelled}") from None
                for numero, holder in held.items():
                    if holder:
                        out.taken[numero] = holder
                # A lock whose holder could not be read is tried again in the next round.
                group = [n for n in group if n not in out.taken]
        raise StorageError(f"could not create the tasks of batch {batch_id}")
