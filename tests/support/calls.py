"""Count the app's DynamoDB calls with botocore ``before-call`` hooks (deterministic)."""

from __future__ import annotations

from collections import Counter
from typing import Any

from chalicelib.adapters.dynamo.connection import dynamodb_clients


def dynamodb_calls(models: Any) -> Counter:
    """Counts every DynamoDB call of ``models``' connections from now on, by operation."""
    calls: Counter = Counter()
    for client in dynamodb_clients(models):
        client.meta.events.register(
            "before-call.dynamodb.*",
            lambda event_name, **_: calls.update([event_name.rsplit(".", 1)[1]]),
            unique_id=f"count-{id(calls)}-{id(client)}",
        )
    return calls


def client_calls(client: Any, calls: Counter | None = None) -> Counter:
    """Counts every call ``client`` makes from now on, as ``service.Operation``."""
    calls = Counter() if calls is None else calls
    service = client.meta.service_model.endpoint_prefix
    client.meta.events.register(
        "before-call.*.*",
        lambda event_name, **_: calls.update([f"{service}.{event_name.rsplit('.', 1)[1]}"]),
        unique_id=f"count-{id(calls)}-{id(client)}",
    )
    return calls
