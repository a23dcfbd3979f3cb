"""Items into records: no PynamoDB item ever leaves the DynamoDB package.

The records are plain domain values (``chalicelib.domain.records``, re-exported here);
``from_item`` builds one from a model instance, field by field.
"""

from __future__ import annotations

import dataclasses
from typing import Any, TypeVar

from chalicelib.domain.records import BatchRecord, CacheEntry, OutcomeMark, RateState, TaskRecord

__all__ = ["BatchRecord", "CacheEntry", "OutcomeMark", "RateState", "TaskRecord", "from_item"]

R = TypeVar("R")


def _plain(value: Any) -> Any:
    if hasattr(value, "as_dict"):  # a PynamoDB map
        return value.as_dict()
    if isinstance(value, (set, frozenset)):
        return frozenset(value)
    if isinstance(value, list):
        return tuple(value)
    return value


def from_item(cls: type[R], item: Any) -> R:
    """A record of type ``cls`` from a model instance: each field from the attribute of
    the same name, absent (None) attributes as the field's default."""
    values = {}
    for f in dataclasses.fields(cls):  # type: ignore[arg-type]
        value = _plain(getattr(item, f.name, None))
        if value is None and f.default is not dataclasses.MISSING:
            value = f.default
        values[f.name] = value
    return cls(**values)
