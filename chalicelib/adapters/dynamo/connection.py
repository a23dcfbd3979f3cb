"""PynamoDB's low-level connection: the only module that reaches it.

PynamoDB gives each model class its own connection and botocore client, built on first
use. Transactions and raw batch reads need that connection; call counters and fault
injection (benchmarks, the reliability harness, tests) need the clients, through
``dynamodb_clients``.
"""

from __future__ import annotations

import dataclasses
from typing import Any

__all__ = ["dynamodb_clients", "low_level", "table_client"]


def low_level(model: Any) -> Any:
    """The PynamoDB ``Connection`` a model class talks through (built on first use)."""
    return model._get_connection().connection


def table_client(model: Any) -> Any:
    """The botocore DynamoDB client a model class sends its calls with."""
    return low_level(model).client


def dynamodb_clients(models: Any) -> list[Any]:
    """Every distinct botocore client of ``models``' classes (building them if needed), for
    ``before-call`` hooks that count or answer the app's DynamoDB calls."""
    classes = (getattr(models, f.name) for f in dataclasses.fields(models))
    clients = {id(c): c for c in (table_client(cls) for cls in classes)}
    return list(clients.values())
