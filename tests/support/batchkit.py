"""Batch uploads in moto for functional tests: the API, the bucket's notification, the
ingest and batch lanes, and their state (fixtures in ``tests/functional/conftest.py``)."""

from __future__ import annotations

import csv
import io
import json
import time
from dataclasses import dataclass, field
from typing import Any

import requests

import app as raspa_app
from chalicelib.errors import LayoutChangedError, OsNotFoundError
from local.event_source import LambdaContext
from tests.support.batches import Countdown
from tests.support.sqs import QueueDriver

RECORD = {"situacao": "Aberta", "cliente": "Conceição", "historico": [{"evento": "Aberta"}]}


class Outcomes:
    """A scraper whose outcome depends on the number: found, not found or a layout change."""

    def __init__(self, not_found: set[str] = frozenset(), broken: set[str] = frozenset()):
        self.not_found, self.broken = set(not_found), set(broken)
        self.calls: list[str] = []

    def scrape(self, numero_os: str, on_progress: Any = None, deadline: Any = None) -> dict:
        self.calls.append(numero_os)
        if numero_os in self.not_found:
            raise OsNotFoundError(numero_os)
        if numero_os in self.broken:
            raise LayoutChangedError(f"http://portal/os/{numero_os}", "situacao")
        return {"numero": numero_os, **RECORD}


@dataclass
class SqsCalls:
    """Counts SQS operations made by the app (botocore's before-call event)."""

    calls: dict[str, int] = field(default_factory=dict)

    def __call__(self, model: Any, **_: Any) -> None:
        self.calls[model.name] = self.calls.get(model.name, 0) + 1


@dataclass
class Kit:
    aws: Any
    client: Any
    api_gw: Any
    s3: Any
    bucket: str
    ingest_url: str
    #: The scrape queue (every lane's wake-ups: the batch lane's among them).
    batch_url: str
    context: Any = None

    # ------------------------------------------------------------------ API
    def create(self, size: int, user: str = "ana", filename: str = "lista.csv") -> dict:
        response = self.client.http.post(
            "/batches",
            headers={**self.aws.headers(user), "Content-Type": "application/json"},
            body=json.dumps({"size": size, "filename": filename}).encode(),
        )
        assert response.status_code == 201, response.body
        return json.loads(response.body)

    def upload(self, body: bytes, user: str = "ana", filename: str = "lista.csv") -> str:
        """POST /batches, then PUT the file to its presigned URL as a browser would."""
        created = self.create(len(body), user, filename)
        upload = created["upload"]
        put = requests.put(upload["url"], data=body, headers=upload["headers"], timeout=10)
        assert put.status_code == 200, put.text
        return created["batch_id"]

    def view(self, batch_id: str, user: str = "ana") -> tuple[int, dict]:
        response = self.client.http.get(f"/batches/{batch_id}", headers=self.aws.headers(user))
        return response.status_code, json.loads(response.body)

    # --------------------------------------------------------- event sources
    def ingest(self, limit: int = 200) -> list[str]:
        """Deliver the ingest queue's messages until it is empty ("ok"/"error" each)."""
        driver = QueueDriver(
            self.aws.sqs,
            self.ingest_url,
            lambda event: raspa_app.batch_ingest(event, self.context or Countdown()),
        )
        return driver.drain(limit)

    def scrape(self, limit: int = 500) -> list[str]:
        """Deliver the scrape queue's wake-ups until it is empty ("ok"/"error" each): the
        worker claims the best waiting task of any lane for each."""
        driver = QueueDriver(
            self.aws.sqs,
            self.batch_url,
            lambda event: self.client.lambda_.invoke("scrape_worker", event),
        )
        return driver.drain(limit)

    def lane_messages(self, lane: str | None = "batch") -> list[dict]:
        """The scrape queue's messages naming ``lane`` (every message: None), read from
        moto's queue without receiving them."""
        queue = moto_sqs().get_queue(self.batch_url.rsplit("/", 1)[-1])
        bodies = [json.loads(message.body) for message in queue._messages]
        return [body for body in bodies if lane is None or body.get("lane") == lane]

    def depth(self, url: str) -> int:
        attrs = self.aws.sqs.get_queue_attributes(
            QueueUrl=url,
            AttributeNames=["ApproximateNumberOfMessages", "ApproximateNumberOfMessagesNotVisible"],
        )["Attributes"]
        return int(attrs["ApproximateNumberOfMessages"]) + int(
            attrs["ApproximateNumberOfMessagesNotVisible"]
        )

    # ---------------------------------------------------------------- state
    def seed_cache(self, numbers: list[str], outcome: str = "ok") -> None:
        models = raspa_app.services().models
        now = time.time()
        with models.OsRecord.batch_write() as writer:
            for numero in numbers:
                writer.save(
                    models.OsRecord(
                        numero,
                        outcome=outcome,
                        data={"numero": numero, **RECORD} if outcome == "ok" else None,
                        scraped_at=now,
                        expires_at=ts(now + 3600),
                    )
                )

    def results(self, batch_id: str, user: str = "ana") -> tuple[list[list[str]], dict, bytes]:
        """The results CSV rows (header first), the JSON, and the CSV's raw bytes."""
        status, body = self.view(batch_id, user)
        assert status == 200 and body["status"] == "complete", body
        raw = requests.get(body["results"]["csv_url"], timeout=10).content
        as_json = requests.get(body["results"]["json_url"], timeout=10).json()
        rows = list(csv.reader(io.StringIO(raw.decode("utf-8-sig")), delimiter=";"))
        return rows, as_json, raw


def ts(epoch: float) -> Any:
    from datetime import UTC, datetime

    return datetime.fromtimestamp(epoch, tz=UTC)


def csv_of(*lines: str, encoding: str = "utf-8", newline: str = "\n") -> bytes:
    return newline.join(lines).encode(encoding) + newline.encode()


def ws_connect(connection_id: str, token: str, *, expect: int = 200) -> dict:
    """Run the $connect handler for ``connection_id``; its answer (asserted ``expect``)."""
    answer = raspa_app.ws_connect(
        ws_event("ws_connect", connection_id, token), LambdaContext("ws", 30)
    )
    assert answer["statusCode"] == expect, answer
    return answer


def ws_disconnect(connection_id: str) -> None:
    raspa_app.ws_disconnect(ws_event("ws_connect", connection_id), LambdaContext("ws", 30))


def ws_event(fixture: str, connection_id: str, token: str | None = None) -> dict:
    from pathlib import Path

    events = Path(__file__).resolve().parents[1] / "events"
    event = json.loads((events / f"{fixture}.json").read_text())
    event["requestContext"]["connectionId"] = connection_id
    if token is not None:
        event["queryStringParameters"] = {"token": token}
    return event


def make_visible(url: str) -> None:
    """Play the end of the visibility timeout: every in-flight message becomes visible."""
    queue = moto_sqs().get_queue(url.rsplit("/", 1)[-1])
    for message in queue._messages:
        message.change_visibility(0)


def moto_sqs() -> Any:
    from moto.sqs.models import sqs_backends

    return sqs_backends["123456789012"]["us-east-1"]


def held_numbers() -> list[str]:
    """The numbers of the batch tasks held back, in the order they will be released."""
    Task = raspa_app.services().models.Task
    return [t.numero_os for t in Task.queue_index.query("batch-held")]


def numbers(n: int, start: int = 800000) -> list[str]:
    return [str(start + i) for i in range(n)]
