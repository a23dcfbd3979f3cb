"""The DynamoDB package's contract tests: its stores over moto's tables, on a clock the
test moves, and hooks that watch or answer the calls they make."""

from __future__ import annotations

from typing import Any, Iterator

import pytest
from botocore.awsrequest import AWSResponse

from chalicelib.adapters.dynamo.connection import dynamodb_clients
from chalicelib.adapters.dynamo.stores import DynamoStores
from chalicelib.config import Settings
from local.resources import create_all
from local.sandbox import Sandbox


class Clock:
    """A clock that moves only when the test says so."""

    def __init__(self, now: float = 1_800_000_000.0) -> None:
        self.now = now

    def __call__(self) -> float:
        return self.now

    def advance(self, seconds: float) -> None:
        self.now += seconds


@pytest.fixture
def clock() -> Clock:
    return Clock()


@pytest.fixture
def settings(box: Sandbox) -> Settings:
    """Fresh tables on the functional suite's in-memory sandbox."""
    return box.settings("auto")


@pytest.fixture
def stores(box: Sandbox, settings: Settings, clock: Clock) -> DynamoStores:
    create_all(settings, box.clients)
    return DynamoStores.build(settings, clock=clock)


class Watch:
    """The parameters of every call of one DynamoDB operation, from now on."""

    def __init__(self, stores: DynamoStores, operation: str) -> None:
        self.calls: list[dict[str, Any]] = []
        self._event = f"provide-client-params.dynamodb.{operation}"
        self._clients = dynamodb_clients(stores.models)
        for client in self._clients:
            client.meta.events.register(self._event, self._record, unique_id=f"w{id(self)}")

    def _record(self, params: dict[str, Any], **_: Any) -> None:
        self.calls.append(params)

    def close(self) -> None:
        for client in self._clients:
            client.meta.events.unregister(self._event, unique_id=f"w{id(self)}")


@pytest.fixture
def watch(stores: DynamoStores) -> Iterator[Any]:
    """``watch("TransactWriteItems").calls``: the parameters of each such call."""
    opened: list[Watch] = []

    def start(operation: str) -> Watch:
        opened.append(Watch(stores, operation))
        return opened[-1]

    yield start
    for w in opened:
        w.close()


@pytest.fixture
def fail_next(stores: DynamoStores) -> Iterator[Any]:
    """``fail_next("UpdateItem", "ValidationException", times=1, **extra)``: the next calls
    of an operation answer that error (never reaching moto); ``extra`` joins the answer
    (``CancellationReasons=[...]`` for a cancelled transaction)."""
    hooks: list[tuple[str, Any]] = []

    def install(operation: str, code: str, *, times: int = 1, **extra: Any) -> None:
        left = [times]

        def answer(**_: Any) -> Any:
            if not left[0]:
                return None
            left[0] -= 1
            error = {"Code": code, "Message": f"{code} (injected)"}
            http = AWSResponse("https://dynamodb.us-east-1.amazonaws.com/", 400, {}, None)
            return http, {"Error": error, "ResponseMetadata": {"HTTPStatusCode": 400}, **extra}

        event = f"before-call.dynamodb.{operation}"
        for client in dynamodb_clients(stores.models):
            client.meta.events.register(event, answer)
        hooks.append((event, answer))

    yield install
    for event, answer in hooks:
        for client in dynamodb_clients(stores.models):
            client.meta.events.unregister(event, answer)
