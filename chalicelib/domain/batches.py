"""Batch states, counts and ids: pure logic, no I/O."""

from __future__ import annotations

import enum
import re
import uuid
from typing import Any, Mapping

__all__ = [
    "COUNTS",
    "BatchOutcome",
    "BatchStatus",
    "counts_of",
    "is_batch_id",
    "is_complete",
    "new_batch_id",
    "task_id_for",
]

_BATCH_ID = re.compile(r"[A-Za-z0-9_-]{1,64}")
#: Namespace of the task ids a batch creates: one id per (batch, number), so a
#: resumed ingest recognises the tasks it created before it was interrupted.
_TASK_NAMESPACE = uuid.UUID("6f1d1a4e-5b43-4d0e-9d55-0f1f7c1a9b21")

#: The counts a batch reports, in the order the API and the results file show them.
COUNTS = (
    "lines",
    "valid",
    "invalid",
    "duplicates",
    "cached",
    "joined",
    "queued",
    "succeeded",
    "failed",
    "not_found",
)


class BatchStatus(enum.StrEnum):
    AWAITING_UPLOAD = "awaiting_upload"
    INGESTING = "ingesting"
    RUNNING = "running"
    COMPLETE = "complete"
    REJECTED = "rejected"
    CANCELLED = "cancelled"


class BatchOutcome(enum.StrEnum):
    """What became of one number of a batch."""

    OK = "found"
    NOT_FOUND = "not_found"
    FAILED = "failed"

    @property
    def counter(self) -> str:
        return {"found": "succeeded", "not_found": "not_found", "failed": "failed"}[self.value]


def new_batch_id() -> str:
    return uuid.uuid4().hex


def is_batch_id(value: object) -> bool:
    return isinstance(value, str) and _BATCH_ID.fullmatch(value) is not None


def task_id_for(batch_id: str, numero_os: str) -> str:
    """The id of the task ``batch_id`` creates for ``numero_os`` (stable across retries)."""
    return uuid.uuid5(_TASK_NAMESPACE, f"{batch_id}/{numero_os}").hex


def counts_of(item: Any) -> dict[str, int]:
    return {name: int(getattr(item, name, 0) or 0) for name in COUNTS}


def is_complete(counts: Mapping[str, int]) -> bool:
    """Every valid number has an outcome."""
    done = counts["succeeded"] + counts["failed"] + counts["not_found"]
    return done >= counts["valid"]
