"""Functional fixtures: moto's in-process AWS, raspa's resources, the Chalice test client."""

from __future__ import annotations

import functools
import json
from dataclasses import dataclass
from typing import Any, Iterator

import boto3
import pytest
from botocore.exceptions import ClientError
from chalice.test import Client
from moto import mock_aws

import app as raspa_app
from chalicelib.config import Settings
from chalicelib.services.notify import MAX_MESSAGE_BYTES
from local.resources import create_all
from local.users import create_pool, sign_in
from tests.support.batchkit import Kit, Outcomes, SqsCalls
from tests.support.sqs import QueueDriver

DEMO_CREDENTIALS = {"username": "demo", "password": "demo-password"}


@dataclass
class Aws:
    settings: Settings
    sqs: Any
    queue_url: str
    dlq_url: str
    priority_url: str
    #: ID tokens by username: ana and bruno (standard), carla (VIP).
    tokens: dict[str, str]

    def headers(self, user: str = "ana") -> dict[str, str]:
        return {"Authorization": f"Bearer {self.tokens[user]}"}

    def queue_depth(self, url: str | None = None) -> int:
        attrs = self.sqs.get_queue_attributes(
            QueueUrl=url or self.queue_url,
            AttributeNames=["ApproximateNumberOfMessages", "ApproximateNumberOfMessagesNotVisible"],
        )["Attributes"]
        return int(attrs["ApproximateNumberOfMessages"]) + int(
            attrs["ApproximateNumberOfMessagesNotVisible"]
        )


@pytest.fixture
def aws(monkeypatch: pytest.MonkeyPatch) -> Iterator[Aws]:
    with mock_aws():
        cognito = boto3.client("cognito-idp")
        pool, users = create_pool(cognito, region="us-east-1")
        monkeypatch.setenv("RASPA_AUTH_ISSUER", pool.issuer)
        monkeypatch.setenv("RASPA_AUTH_CLIENT_ID", pool.user_pool_client_id)
        settings = Settings.from_env()
        urls = create_all(settings, credentials=DEMO_CREDENTIALS)
        tokens = {
            u["username"]: sign_in(cognito, pool, u["username"], u["password"]) for u in users
        }
        yield Aws(
            settings,
            boto3.client("sqs"),
            urls[settings.queue_name],
            urls[settings.dlq_name],
            urls[settings.priority_queue_name],
            tokens,
        )


class AuthedHTTP:
    """The test client's HTTP side, sending ana's token unless a test passes its own headers."""

    def __init__(self, http: Any, headers: dict[str, str]) -> None:
        self._http, self._headers = http, headers

    def request(
        self, method: str, path: str, headers: dict | None = None, body: bytes = b""
    ) -> Any:
        merged = dict(self._headers) if headers is None else headers
        return self._http.request(method, path, headers=merged, body=body)

    def get(self, path: str, **kwargs: Any) -> Any:
        return self.request("GET", path, **kwargs)

    def post(self, path: str, **kwargs: Any) -> Any:
        return self.request("POST", path, **kwargs)

    def delete(self, path: str, **kwargs: Any) -> Any:
        return self.request("DELETE", path, **kwargs)


def install_static_verifier() -> None:
    """Verify tokens against moto's published keys (in-process moto serves no JWKS URL)."""
    import functools

    from chalicelib.adapters.auth import TokenVerifier
    from tests.support.auth import StaticJwks, moto_jwks

    settings = raspa_app.get_settings()
    verifier = TokenVerifier(
        issuer=settings.auth_issuer,
        client_id=settings.auth_client_id,
        jwks_client=StaticJwks(moto_jwks()),
        leeway_seconds=settings.auth_leeway_seconds,
    )
    raspa_app.get_verifier = functools.lru_cache(maxsize=1)(lambda: verifier)


@pytest.fixture
def client(aws: Aws) -> Iterator[Client]:
    original = raspa_app.get_verifier
    raspa_app.reset_wiring()
    install_static_verifier()
    with Client(raspa_app.app) as test_client:
        test_client._http_client = AuthedHTTP(test_client.http, aws.headers("ana"))
        yield test_client
    raspa_app.get_verifier = original
    raspa_app.reset_wiring()


@pytest.fixture
def auth_headers(aws: Aws) -> dict[str, str]:
    return aws.headers("ana")


@pytest.fixture
def driver(aws: Aws, client: Client) -> QueueDriver:
    return QueueDriver(
        aws.sqs, aws.queue_url, lambda event: client.lambda_.invoke("scrape_worker", event)
    )


class ScriptedScraper:
    """A scraper whose outcomes are scripted: records to return or errors to raise."""

    def __init__(self, *outcomes: Any) -> None:
        self.outcomes = list(outcomes)
        self.calls: list[str] = []

    def scrape(
        self, numero_os: str, on_progress: Any = None, deadline: Any = None
    ) -> dict[str, Any]:
        self.calls.append(numero_os)
        outcome = self.outcomes.pop(0) if len(self.outcomes) > 1 else self.outcomes[0]
        if isinstance(outcome, BaseException):
            raise outcome
        if on_progress:
            on_progress("detail", 40)
            on_progress("history", 80)
        return {"numero": numero_os, **outcome}


@pytest.fixture
def scripted(client: Client) -> Any:
    """Give the worker a scripted scraper instead of the portal one: ``scripted(outcome, ...)``."""

    def install(*outcomes: Any) -> ScriptedScraper:
        scraper = ScriptedScraper(*outcomes)
        raspa_app.get_worker().scraper = lambda: scraper
        return scraper

    return install


class ManagementApi:
    """Records post_to_connection calls; ids in ``gone`` answer GoneException."""

    def __init__(self) -> None:
        self.sent: dict[str, list[dict]] = {}
        self.gone: set[str] = set()
        self.fail_with: str | None = None

    def post_to_connection(self, ConnectionId: str, Data: bytes) -> None:
        if self.fail_with:
            raise ClientError({"Error": {"Code": self.fail_with, "Message": "x"}}, "Post")
        if ConnectionId in self.gone:
            raise ClientError({"Error": {"Code": "GoneException", "Message": "gone"}}, "Post")
        assert len(Data) <= MAX_MESSAGE_BYTES
        self.sent.setdefault(ConnectionId, []).append(json.loads(Data))


@pytest.fixture
def api_gw(monkeypatch, aws) -> ManagementApi:
    fake = ManagementApi()
    monkeypatch.setenv(
        "RASPA_WS_ENDPOINT", "https://abc123.execute-api.us-east-1.amazonaws.com/api"
    )
    monkeypatch.setattr(raspa_app, "_management_client", functools.lru_cache(lambda: fake))
    raspa_app.reset_wiring()
    return fake


@pytest.fixture
def kit(aws, client, api_gw) -> Kit:
    """Batch uploads through the API and the bucket, and the lanes they fill."""
    settings = aws.settings
    sqs = aws.sqs
    made = Kit(
        aws,
        client,
        api_gw,
        boto3.client("s3"),
        settings.batch_bucket,
        sqs.get_queue_url(QueueName=settings.ingest_queue_name)["QueueUrl"],
        sqs.get_queue_url(QueueName=settings.batch_queue_name)["QueueUrl"],
    )
    assert made.ingest() == ["ok"]  # S3's test event, sent when the notification was set up
    return made


@pytest.fixture
def scraper(client) -> Outcomes:
    """The worker's scraper: found, unless the number is in ``not_found`` or ``broken``."""
    fake = Outcomes()
    raspa_app.get_worker().scraper = lambda: fake
    return fake


@pytest.fixture
def sqs_calls(client) -> SqsCalls:
    """SQS calls made through the app's client (not the test's own)."""
    counter = SqsCalls()
    raspa_app.get_sqs().meta.events.register("before-call.sqs", counter)
    return counter
