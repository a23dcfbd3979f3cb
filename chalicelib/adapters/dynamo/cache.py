"""The OS cache (``raspa-os``): one entry per OS, a scraped record or a "not found".

Entries are written only inside the transaction that finishes a task; creating a task
checks, in its own transaction, that the cache is still cold (``check_cold``).
"""

from __future__ import annotations

import time
from typing import Any, Callable, Iterable

from botocore.exceptions import BotoCoreError, ClientError
from pynamodb.exceptions import PynamoDBException

from chalicelib.adapters.dynamo.connection import table_client
from chalicelib.adapters.dynamo.models import Models, rate_key, ttl
from chalicelib.adapters.dynamo.ratelog import rate_state
from chalicelib.adapters.dynamo.records import from_item
from chalicelib.adapters.dynamo.retry import MAX_ROUNDS, pause
from chalicelib.adapters.dynamo.transaction import Transaction
from chalicelib.domain.records import CacheEntry, RateState
from chalicelib.errors import StorageError

__all__ = ["OsCache"]


class OsCache:
    """Reads cache entries; writes them inside a finishing task's transaction."""

    def __init__(
        self,
        models: Models,
        *,
        cache_ttl_seconds: int,
        not_found_ttl_seconds: int,
        clock: Callable[[], float] = time.time,
    ) -> None:
        self.m = models
        self.cache_ttl = cache_ttl_seconds
        self.not_found_ttl = not_found_ttl_seconds
        self.clock = clock

    # ------------------------------------------------------------------ reads
    def fresh_record(self, numero_os: str) -> CacheEntry | None:
        """The OS's entry if it has not expired (TTL deletion is lazy), else None."""
        entry = self.any_record(numero_os)
        if entry is None or not entry.fresh(self.clock()):
            return None
        return entry

    def any_record(self, numero_os: str) -> CacheEntry | None:
        """The OS's entry, fresh or not (for ``GET /os``), or None."""
        try:
            item = self.m.OsRecord.get(numero_os)
        except self.m.OsRecord.DoesNotExist:
            return None
        except PynamoDBException as exc:
            raise StorageError(f"reading OS {numero_os} failed: {exc.msg}") from exc
        return from_item(CacheEntry, item)

    def entries(self, numbers: Iterable[str]) -> dict[str, CacheEntry]:
        """The entries of ``numbers``, fresh or not, by number (BatchGetItem, 100 keys a
        call)."""
        try:
            items = self.m.OsRecord.batch_get(list(numbers))
            return {item.numero_os: from_item(CacheEntry, item) for item in items}
        except PynamoDBException as exc:
            raise StorageError(f"reading OS records failed: {exc.msg}") from exc

    def read_for_lookup(
        self, numero_os: str, user: str | None
    ) -> tuple[CacheEntry | None, RateState | None]:
        """The OS's fresh entry and ``user``'s rate log, in one BatchGetItem: a cache hit
        costs one read, and a miss has what its transaction needs."""
        if user is None:
            return self.fresh_record(numero_os), None
        OsRecord, RateLog = self.m.OsRecord, self.m.RateLog
        wanted = {
            OsRecord.Meta.table_name: {"Keys": [{"numero_os": {"S": numero_os}}]},
            RateLog.Meta.table_name: {"Keys": [{"pk": {"S": rate_key(user)}}]},
        }
        client = table_client(OsRecord)
        entry, state = None, RateState()
        try:
            for round_ in range(MAX_ROUNDS):
                answer = client.batch_get_item(RequestItems=wanted)
                for table, items in answer.get("Responses", {}).items():
                    for raw in items:
                        if table == RateLog.Meta.table_name and "pk" in raw:
                            state = rate_state(RateLog, raw)
                        elif table == OsRecord.Meta.table_name and "numero_os" in raw:
                            entry = from_item(CacheEntry, OsRecord.from_raw_data(raw))
                wanted = answer.get("UnprocessedKeys") or {}
                if not wanted:
                    break
                pause(round_)
        except (BotoCoreError, ClientError) as exc:
            raise StorageError(f"reading OS {numero_os} failed: {exc}") from exc
        if entry is not None and not entry.fresh(self.clock()):
            entry = None
        return entry, state

    # ------------------------------------------------- inside a transaction
    def check_cold(self, tx: Transaction, numero_os: str, now: float) -> None:
        """Condition ``tx`` (item ``"cache"``) on the OS having no fresh entry."""
        OsRecord = self.m.OsRecord
        tx.check(
            "cache",
            OsRecord,
            numero_os,
            condition=OsRecord.numero_os.does_not_exist() | (OsRecord.expires_at <= ttl(now)),
        )

    def put_scraped(
        self, tx: Transaction, numero_os: str, record: dict[str, Any], task_id: str, now: float
    ) -> None:
        """Store a scraped record inside ``tx`` (item ``"record"``), served ``cache_ttl``."""
        tx.save(
            "record",
            self.m.OsRecord(
                numero_os,
                outcome="ok",
                data=record,
                scraped_at=now,
                task_id=task_id,
                expires_at=ttl(now + self.cache_ttl),
            ),
        )

    def put_not_found(self, tx: Transaction, numero_os: str, task_id: str, now: float) -> None:
        """Store "not found" inside ``tx`` (item ``"record"``), served ``not_found_ttl``."""
        tx.save(
            "record",
            self.m.OsRecord(
                numero_os,
                outcome="not_found",
                data=None,
                scraped_at=now,
                task_id=task_id,
                expires_at=ttl(now + self.not_found_ttl),
            ),
        )
