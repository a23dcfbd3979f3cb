"""DynamoDB adapter for batches: the batch item, its daily quota, its tasks and counts.

Every write that counts something is idempotent: outcomes are counted through a
conditional marker per (batch, number), and a chunk's classification is added in the
same update that moves the batch's offset on, conditioned on the old offset. An ingest
interrupted at any point and run again therefore counts every number exactly once.
"""

from __future__ import annotations

import time
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any, Callable, Iterable, Mapping

from pynamodb.exceptions import PynamoDBException, UpdateError

from chalicelib.adapters.dynamo.models import Models, batch_key, lock_key, mark_key, quota_key
from chalicelib.adapters.dynamo.store import MAX_ROUNDS, _pause, new_task
from chalicelib.adapters.dynamo.transaction import MAX_ITEMS, Cancelled, Transaction
from chalicelib.domain.batches import BatchOutcome, BatchStatus, task_id_for
from chalicelib.domain.fairshare import KeyRange
from chalicelib.domain.queueorder import QUEUE_BATCH
from chalicelib.domain.tasks import TERMINAL, TaskStatus
from chalicelib.errors import StorageError

__all__ = ["BatchStore", "Created", "QuotaExceeded"]

#: Numbers whose task and lock one transaction writes (two items each).
NUMBERS_PER_TRANSACTION = MAX_ITEMS // 2


def _ts(epoch: float) -> datetime:
    return datetime.fromtimestamp(epoch, tz=UTC)


def _day(epoch: float) -> str:
    return time.strftime("%Y%m%d", time.gmtime(epoch))


class QuotaExceeded(Exception):
    """The owner's daily batch lines would exceed the limit."""

    def __init__(self, used: int, limit: int) -> None:
        super().__init__(f"used {used} of {limit}")
        self.used, self.limit = used, limit


@dataclass
class Created:
    """Tasks a chunk created (or had created before an interruption), and numbers whose
    OS already had another active task (to join)."""

    tasks: list[tuple[str, str]] = field(default_factory=list)
    taken: dict[str, str] = field(default_factory=dict)
    #: Numbers whose task (created before an interruption) has finished already.
    finished: list[str] = field(default_factory=list)


class BatchStore:
    """All DynamoDB reads and writes of batch ingestion and results."""

    def __init__(
        self,
        models: Models,
        *,
        task_retention_seconds: int,
        lock_ttl_seconds: int,
        outcome_retention_seconds: int | None = None,
        clock: Callable[[], float] = time.time,
    ) -> None:
        self.m = models
        self.retention = task_retention_seconds
        self.lock_ttl = lock_ttl_seconds
        #: How long a counted outcome is kept: as long as a batch may run.
        self.outcome_retention = outcome_retention_seconds or task_retention_seconds
        self.clock = clock

    # ------------------------------------------------------------- the batch
    def create(self, batch_id: str, owner: str, key: str, filename: str, size: int) -> Any:
        now = self.clock()
        item = self.m.Batch(
            batch_key(batch_id),
            batch_id=batch_id,
            owner=owner,
            status=BatchStatus.AWAITING_UPLOAD.value,
            filename=filename,
            key=key,
            declared_size=size,
            created_at=now,
            updated_at=now,
            expires_at=_ts(now + self.retention),
        )
        try:
            item.save(condition=self.m.Batch.pk.does_not_exist())
        except PynamoDBException as exc:
            raise StorageError(f"creating batch failed: {exc.msg}") from exc
        return item

    def get(self, batch_id: str) -> Any | None:
        try:
            item = self.m.Batch.get(batch_key(batch_id))
        except self.m.Batch.DoesNotExist:
            return None
        except PynamoDBException as exc:
            raise StorageError(f"reading batch failed: {exc.msg}") from exc
        return item if item.kind == "batch" else None

    def begin(
        self,
        batch_id: str,
        owner: str,
        key: str,
        counts: Mapping[str, int],
        *,
        daily_limit: int,
    ) -> bool:
        """Move the batch to INGESTING with its line counts and take its lines from the
        owner's daily quota, atomically. False if it had begun already (a repeated
        notification); ``QuotaExceeded`` if the quota cannot take it."""
        Batch, Quota = self.m.Batch, self.m.BatchQuota
        now = self.clock()
        lines = int(counts["lines"])
        batch_actions = [
            Batch.batch_id.set(batch_id),
            Batch.owner.set(owner),
            Batch.key.set(key),
            Batch.kind.set("batch"),
            Batch.status.set(BatchStatus.INGESTING.value),
            Batch.offset.set(0),
            Batch.created_at.set(Batch.created_at | now),
            Batch.updated_at.set(now),
            Batch.expires_at.set(_ts(now + self.retention)),
            *[getattr(Batch, name).set(int(value)) for name, value in counts.items()],
        ]
        fresh = Batch.pk.does_not_exist() | (Batch.status == BatchStatus.AWAITING_UPLOAD.value)
        quota = Quota(quota_key(owner, _day(now)))
        for round_ in range(MAX_ROUNDS):
            try:
                with Transaction(self._connection()) as tx:
                    tx.update("batch", Batch(batch_key(batch_id)), batch_actions, condition=fresh)
                    tx.update(
                        "quota",
                        quota,
                        [Quota.lines.add(lines), Quota.expires_at.set(_ts(now + 2 * 86_400))],
                        condition=Quota.lines.does_not_exist()
                        | (Quota.lines <= daily_limit - lines),
                    )
                return True
            except Cancelled as cancelled:
                if cancelled.conflict:
                    _pause(round_)
                    continue
                if cancelled.failed("batch"):
                    return False
                if cancelled.failed("quota"):
                    raise QuotaExceeded(self._quota_used(quota), daily_limit) from None
                raise StorageError(f"starting batch failed: {cancelled}") from None
        raise StorageError(f"could not start batch {batch_id}")

    def _quota_used(self, quota: Any) -> int:
        try:
            quota.refresh()
        except (PynamoDBException, self.m.BatchQuota.DoesNotExist):
            return 0
        return int(quota.lines or 0)

    def reject(self, batch_id: str, owner: str, key: str, error: str) -> bool:
        """Mark a batch that has not begun REJECTED with ``error``; False if it had begun."""
        Batch = self.m.Batch
        now = self.clock()
        try:
            Batch(batch_key(batch_id)).update(
                actions=[
                    Batch.batch_id.set(batch_id),
                    Batch.owner.set(owner),
                    Batch.key.set(key),
                    Batch.kind.set("batch"),
                    Batch.status.set(BatchStatus.REJECTED.value),
                    Batch.error.set(error),
                    Batch.created_at.set(Batch.created_at | now),
                    Batch.updated_at.set(now),
                    Batch.finished_at.set(now),
                    Batch.expires_at.set(_ts(now + self.retention)),
                ],
                condition=Batch.pk.does_not_exist()
                | (Batch.status == BatchStatus.AWAITING_UPLOAD.value),
            )
        except UpdateError as exc:
            if exc.cause_response_code == "ConditionalCheckFailedException":
                return False
            raise StorageError(f"rejecting batch failed: {exc.msg}") from exc
        return True

    def acquire(self, batch_id: str, lease_id: str, seconds: float) -> tuple[bool, bool]:
        """Take the batch's ingest lease: (taken, careful). ``careful`` means a previous
        invocation died holding it, so the chunk at the offset may be half done."""
        Batch = self.m.Batch
        now = self.clock()
        batch = Batch(batch_key(batch_id))
        try:
            previous = self.get(batch_id)
            batch.update(
                actions=[Batch.lease_id.set(lease_id), Batch.lease_until.set(now + seconds)],
                condition=(Batch.status == BatchStatus.INGESTING.value)
                & (
                    Batch.lease_id.does_not_exist()
                    | (Batch.lease_until < now)
                    | (Batch.lease_id == lease_id)
                ),
            )
        except UpdateError as exc:
            if exc.cause_response_code == "ConditionalCheckFailedException":
                return False, False
            raise StorageError(f"taking the batch lease failed: {exc.msg}") from exc
        careful = previous is not None and previous.lease_id not in (None, lease_id)
        return True, careful

    def release(self, batch_id: str, lease_id: str) -> None:
        Batch = self.m.Batch
        try:
            Batch(batch_key(batch_id)).update(
                actions=[Batch.lease_id.remove(), Batch.lease_until.remove()],
                condition=Batch.lease_id == lease_id,
            )
        except UpdateError as exc:
            if exc.cause_response_code != "ConditionalCheckFailedException":
                raise StorageError(f"releasing the batch lease failed: {exc.msg}") from exc

    def commit_chunk(
        self,
        batch_id: str,
        lease_id: str,
        start: int,
        end: int,
        counts: Mapping[str, int],
        *,
        last: bool,
        lease_seconds: float,
    ) -> bool:
        """Add a chunk's counts and move the offset from ``start`` to ``end``, renewing the
        lease. The last chunk moves the batch to RUNNING. False if the lease was lost
        (another invocation has the batch, or it was cancelled)."""
        Batch = self.m.Batch
        now = self.clock()
        actions = [
            Batch.offset.set(end),
            Batch.updated_at.set(now),
            *[getattr(Batch, name).add(int(n)) for name, n in sorted(counts.items()) if n],
        ]
        if last:
            actions += [
                Batch.status.set(BatchStatus.RUNNING.value),
                Batch.lease_id.remove(),
                Batch.lease_until.remove(),
            ]
        else:
            actions.append(Batch.lease_until.set(now + lease_seconds))
        try:
            Batch(batch_key(batch_id)).update(
                actions=actions,
                condition=(Batch.offset == start)
                & (Batch.lease_id == lease_id)
                & (Batch.status == BatchStatus.INGESTING.value),
            )
        except UpdateError as exc:
            if exc.cause_response_code == "ConditionalCheckFailedException":
                return False
            raise StorageError(f"recording batch progress failed: {exc.msg}") from exc
        return True

    def cancel(self, batch_id: str, owner: str | None) -> Any | None:
        """Move a batch that has not finished to CANCELLED; returns it as it was, or None if
        it does not exist, is not ``owner``'s (None: anyone's) or has finished."""
        Batch = self.m.Batch
        now = self.clock()
        open_ = (
            BatchStatus.AWAITING_UPLOAD.value,
            BatchStatus.INGESTING.value,
            BatchStatus.RUNNING.value,
        )
        condition = Batch.status.is_in(*open_)
        if owner is not None:
            condition = condition & (Batch.owner == owner)
        batch = self.get(batch_id)
        if batch is None:
            return None
        try:
            Batch(batch_key(batch_id)).update(
                actions=[
                    Batch.status.set(BatchStatus.CANCELLED.value),
                    Batch.error.set("cancelled"),
                    Batch.finished_at.set(now),
                    Batch.updated_at.set(now),
                    Batch.lease_id.remove(),
                    Batch.lease_until.remove(),
                ],
                condition=condition,
            )
        except UpdateError as exc:
            if exc.cause_response_code == "ConditionalCheckFailedException":
                return None
            raise StorageError(f"cancelling batch failed: {exc.msg}") from exc
        return batch

    def complete(self, batch_id: str, results_csv: str, results_json: str) -> bool:
        """RUNNING → COMPLETE with the results' keys; False if another call did it."""
        Batch = self.m.Batch
        now = self.clock()
        try:
            Batch(batch_key(batch_id)).update(
                actions=[
                    Batch.status.set(BatchStatus.COMPLETE.value),
                    Batch.results_csv.set(results_csv),
                    Batch.results_json.set(results_json),
                    Batch.finished_at.set(now),
                    Batch.updated_at.set(now),
                ],
                condition=Batch.status == BatchStatus.RUNNING.value,
            )
        except UpdateError as exc:
            if exc.cause_response_code == "ConditionalCheckFailedException":
                return False
            raise StorageError(f"completing batch failed: {exc.msg}") from exc
        return True

    # ------------------------------------------------------------ its numbers
    def records(self, numbers: Iterable[str]) -> dict[str, Any]:
        """The stored OS items of ``numbers`` (BatchGetItem, 100 keys per call)."""
        try:
            return {item.numero_os: item for item in self.m.OsRecord.batch_get(list(numbers))}
        except PynamoDBException as exc:
            raise StorageError(f"reading OS records failed: {exc.msg}") from exc

    def marks(self, batch_id: str, numbers: Iterable[str]) -> dict[str, Any]:
        """The counted outcome of each of ``numbers`` that has one."""
        keys = [mark_key(batch_id, n) for n in numbers]
        prefix = len(mark_key(batch_id, ""))
        try:
            return {item.pk[prefix:]: item for item in self.m.BatchMark.batch_get(keys)}
        except PynamoDBException as exc:
            raise StorageError(f"reading batch outcomes failed: {exc.msg}") from exc

    def mark_cached(
        self,
        batch_id: str,
        outcomes: Mapping[str, tuple[BatchOutcome, str]],
        *,
        careful: bool,
    ) -> dict[str, tuple[BatchOutcome, str]]:
        """Record the cached numbers' outcomes; returns those the chunk's commit must count.

        Normally no marker can exist yet for a chunk's numbers, so they are written 25 per
        BatchWriteItem. ``careful`` (a chunk a dead invocation left half done) first reads
        them: an outcome a finished task counted already is not counted again.
        """
        Mark = self.m.BatchMark
        to_count = dict(outcomes)
        if careful and outcomes:
            for numero, mark in self.marks(batch_id, outcomes).items():
                if mark.source == "task":
                    to_count.pop(numero, None)
        now = self.clock()
        try:
            with Mark.batch_write() as writer:
                for numero, (outcome, message) in to_count.items():
                    writer.save(
                        Mark(
                            mark_key(batch_id, numero),
                            outcome=outcome.value,
                            message=message or None,
                            source="ingest",
                            expires_at=_ts(now + self.outcome_retention),
                        )
                    )
        except PynamoDBException as exc:
            raise StorageError(f"recording cached outcomes failed: {exc.msg}") from exc
        return to_count

    def forget_uncounted(self, batch_id: str, numbers: Iterable[str]) -> None:
        """Remove ingest markers a dead invocation wrote for numbers that are not cached
        any more (so their task's outcome is counted when it finishes)."""
        stale = [n for n, m in self.marks(batch_id, numbers).items() if m.source == "ingest"]
        try:
            with self.m.BatchMark.batch_write() as writer:
                for numero in stale:
                    writer.delete(self.m.BatchMark(mark_key(batch_id, numero)))
        except PynamoDBException as exc:
            raise StorageError(f"removing stale outcomes failed: {exc.msg}") from exc

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

        Each number's task and lock are written together, 50 numbers per transaction
        (100 items, DynamoDB's limit), so a lock never points to a missing task and a
        chunk of 100 numbers costs two calls. A number whose OS has another active task
        is returned in ``taken`` (to join) with the holder named by the cancellation
        reason, and the transaction is sent again without it: it gets no task.
        ``careful`` keeps tasks a dead invocation created (they may have run; they keep
        their keys) and takes their locks again, which may already be theirs.
        """
        Task = self.m.Task
        out = Created()
        if not numbers:
            return out
        ours = {numero: task_id_for(batch_id, numero) for numero in numbers}
        existing: set[str] = set()
        if careful:
            for task in self._batch_get(Task, list(ours.values())):
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
        Lock = self.m.Lock
        free = Lock.pk.does_not_exist() | (Lock.expires_at < _ts(now))
        for round_ in range(MAX_ROUNDS):
            if not group:
                return
            try:
                with Transaction(self._connection()) as tx:
                    for numero in group:
                        task_id = ours[numero]
                        if numero in fair:
                            tx.save(
                                f"task {numero}",
                                new_task(
                                    self.m.Task,
                                    task_id,
                                    numero,
                                    QUEUE_BATCH,
                                    owner,
                                    now,
                                    self.retention,
                                    batch_id,
                                    fair_key=fair[numero],
                                ),
                            )
                        tx.save(
                            f"lock {numero}",
                            Lock(
                                lock_key(numero),
                                task_id=task_id,
                                created_at=now,
                                expires_at=_ts(now + self.lock_ttl),
                            ),
                            condition=free | (Lock.task_id == task_id),
                            old=True,
                        )
                out.tasks.extend((ours[numero], numero) for numero in group)
                return
            except Cancelled as cancelled:
                if cancelled.conflict:
                    _pause(round_)
                    continue
                held = {
                    numero: (cancelled.old_item(f"lock {numero}").get("task_id") or {}).get("S")
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

    def tasks(self, task_ids: list[str]) -> list[Any]:
        """The tasks with these ids that exist (BatchGetItem, 100 keys per call)."""
        return self._batch_get(self.m.Task, task_ids)

    def _batch_get(self, model: Any, keys: list[str]) -> list[Any]:
        try:
            return list(model.batch_get(keys))
        except PynamoDBException as exc:
            raise StorageError(f"reading items failed: {exc.msg}") from exc

    def _connection(self) -> Any:
        return self.m.Task._get_connection().connection
