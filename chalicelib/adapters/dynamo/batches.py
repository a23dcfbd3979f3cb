"""Batches: the batch item (``batch#<id>``), its owner's daily quota, its ingest lease and
the counted outcome of each of its numbers.

Every write that counts something is idempotent: outcomes are counted through a
conditional marker per (batch, number), and a chunk's classification is added in the
same update that moves the batch's offset on, conditioned on the old offset. An ingest
interrupted at any point and run again therefore counts every number exactly once.
"""

from __future__ import annotations

import time
from typing import Any, Callable, Iterable, Mapping

from pynamodb.exceptions import PynamoDBException, UpdateError

from chalicelib.adapters.dynamo.models import Models, batch_key, mark_key, quota_key, ttl
from chalicelib.adapters.dynamo.records import from_item
from chalicelib.adapters.dynamo.retry import MAX_ROUNDS, pause
from chalicelib.adapters.dynamo.transaction import Cancelled, transaction
from chalicelib.domain.batches import BatchOutcome, BatchStatus
from chalicelib.domain.records import BatchRecord, OutcomeMark
from chalicelib.errors import QuotaExceeded, StorageError

__all__ = ["BatchStore", "QuotaExceeded"]


def _day(epoch: float) -> str:
    return time.strftime("%Y%m%d", time.gmtime(epoch))


class BatchStore:
    """Batch items and their counted outcomes."""

    def __init__(
        self,
        models: Models,
        *,
        task_retention_seconds: int,
        outcome_retention_seconds: int | None = None,
        clock: Callable[[], float] = time.time,
    ) -> None:
        self.m = models
        #: How long a batch is kept after its last change.
        self.retention = task_retention_seconds
        #: How long a counted outcome is kept: as long as a batch may run.
        self.outcome_retention = outcome_retention_seconds or task_retention_seconds
        self.clock = clock

    # ------------------------------------------------------------- the batch
    def create(self, batch_id: str, owner: str, key: str, filename: str, size: int) -> BatchRecord:
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
            expires_at=ttl(now + self.retention),
        )
        try:
            item.save(condition=self.m.Batch.pk.does_not_exist())
        except PynamoDBException as exc:
            raise StorageError(f"creating batch failed: {exc.msg}") from exc
        return from_item(BatchRecord, item)

    def get(self, batch_id: str) -> BatchRecord | None:
        try:
            item = self.m.Batch.get(batch_key(batch_id))
        except self.m.Batch.DoesNotExist:
            return None
        except PynamoDBException as exc:
            raise StorageError(f"reading batch failed: {exc.msg}") from exc
        return from_item(BatchRecord, item) if item.kind == "batch" else None

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
            Batch.expires_at.set(ttl(now + self.retention)),
            *[getattr(Batch, name).set(int(value)) for name, value in counts.items()],
        ]
        fresh = Batch.pk.does_not_exist() | (Batch.status == BatchStatus.AWAITING_UPLOAD.value)
        quota = Quota(quota_key(owner, _day(now)))
        for round_ in range(MAX_ROUNDS):
            try:
                with transaction(self.m) as tx:
                    tx.update("batch", Batch(batch_key(batch_id)), batch_actions, condition=fresh)
                    tx.update(
                        "quota",
                        quota,
                        [Quota.lines.add(lines), Quota.expires_at.set(ttl(now + 2 * 86_400))],
                        condition=Quota.lines.does_not_exist()
                        | (Quota.lines <= daily_limit - lines),
                    )
                return True
            except Cancelled as cancelled:
                if cancelled.conflict:
                    pause(round_)
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
                    Batch.expires_at.set(ttl(now + self.retention)),
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

    def cancel(self, batch_id: str, owner: str | None) -> BatchRecord | None:
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
    def marks(self, batch_id: str, numbers: Iterable[str]) -> dict[str, OutcomeMark]:
        """The counted outcome of each of ``numbers`` that has one."""
        keys = [mark_key(batch_id, n) for n in numbers]
        prefix = len(mark_key(batch_id, ""))
        try:
            items = self.m.BatchMark.batch_get(keys)
            return {item.pk[prefix:]: from_item(OutcomeMark, item) for item in items}
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
                            expires_at=ttl(now + self.outcome_retention),
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
