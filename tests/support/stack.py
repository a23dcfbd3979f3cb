"""An in-process stack for integration tests: moto server, demo portal, raspa's resources."""

from __future__ import annotations

import itertools
import os
from dataclasses import dataclass, field
from typing import Any, Callable, Iterator

import boto3
import pytest

from chalicelib.config import Settings
from infra.spec import resources
from local.event_source import WorkerRuntime, lanes
from local.portal import control
from local.resources import create_all, named
from local.users import create_pool, sign_in

PORTAL_CREDENTIALS = {"username": "demo", "password": "demo-password"}
_names = itertools.count(1)


@dataclass
class Stack:
    settings: Settings
    sqs: Any
    queue_url: str
    dlq_url: str
    portal_url: str
    app: Any
    priority_url: str = ""
    tokens: dict[str, str] = field(default_factory=dict)
    #: Every queue's URL by name (lanes, DLQ, batch ingest).
    urls: dict[str, str] = field(default_factory=dict)

    @property
    def batch_url(self) -> str:
        return self.urls[self.settings.batch_queue_name]

    @property
    def ingest_url(self) -> str:
        return self.urls[self.settings.ingest_queue_name]

    def headers(self, user: str = "ana") -> dict[str, str]:
        return {"Authorization": f"Bearer {self.tokens[user]}"}

    def faults(self, **faults: Any) -> Any:
        return control.faults(self.portal_url, **faults)

    def portal_stats(self) -> dict[str, Any]:
        return control.stats(self.portal_url)

    def depth(self, url: str) -> int:
        attrs = self.sqs.get_queue_attributes(
            QueueUrl=url,
            AttributeNames=["ApproximateNumberOfMessages", "ApproximateNumberOfMessagesNotVisible"],
        )["Attributes"]
        return int(attrs["ApproximateNumberOfMessages"]) + int(
            attrs["ApproximateNumberOfMessagesNotVisible"]
        )

    def worker(
        self, concurrency: int = 3, on_invoke: Callable[[dict], None] | None = None
    ) -> WorkerRuntime:
        """The scrape worker with both lanes' event sources, as deployed (use with ``with``);
        ``on_invoke`` sees each event before the handler does."""
        handler = self.app.scrape_worker
        if on_invoke is not None:

            def handler(event: dict, context: Any) -> Any:
                on_invoke(event)
                return self.app.scrape_worker(event, context)

        return lanes(
            self.sqs,
            handler,
            resources(self.settings),
            self.urls,
            concurrency=concurrency,
            wait_seconds=1,
        )


def build_stack(
    monkeypatch: pytest.MonkeyPatch, aws_url: str, portal_url: str, **env: str
) -> Iterator[Stack]:
    """Fresh tables and queues (unique names) wired into ``app`` through the environment."""
    import app as raspa_app

    values = {
        "AWS_ENDPOINT_URL": aws_url,
        **named(f"t{next(_names)}"),
        "RASPA_PORTAL_BASE_URL": portal_url,
        "RASPA_RETRY_BASE_DELAY_SECONDS": "0",
        "RASPA_READ_TIMEOUT_SECONDS": "1",
        **env,
    }
    for key, value in values.items():
        monkeypatch.setenv(key, value)
    cognito = boto3.client("cognito-idp", region_name="us-east-1")
    pool, users = create_pool(cognito, region="us-east-1")
    monkeypatch.setenv("RASPA_AUTH_ISSUER", pool.issuer)
    monkeypatch.setenv("RASPA_AUTH_CLIENT_ID", pool.user_pool_client_id)
    monkeypatch.setenv(
        "RASPA_AUTH_JWKS_URL", f"{aws_url}/{pool.user_pool_id}/.well-known/jwks.json"
    )
    settings = Settings.from_env()
    urls = create_all(settings, credentials=PORTAL_CREDENTIALS)
    tokens = {u["username"]: sign_in(cognito, pool, u["username"], u["password"]) for u in users}
    raspa_app.reset_wiring()
    # Build settings now: chalice.test.Client applies .chalice/config.json's variables
    # during each request, which would otherwise replace this test's names.
    raspa_app.get_settings()
    yield Stack(
        settings,
        boto3.client("sqs", region_name=settings.region),
        urls[settings.queue_name],
        urls[settings.dlq_name],
        portal_url,
        raspa_app,
        urls[settings.priority_queue_name],
        tokens,
        urls,
    )
    raspa_app.reset_wiring()
    os.environ.pop("AWS_ENDPOINT_URL", None)
