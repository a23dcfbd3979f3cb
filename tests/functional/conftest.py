"""Functional fixtures: moto's in-process AWS, raspa's resources, the Chalice test client."""

from __future__ import annotations

import dataclasses
import json
from dataclasses import dataclass
from typing import Any, Iterator

import boto3
import pytest
from botocore.exceptions import ClientError
from chalice.test import Client

import app as raspa_app
from chalicelib.composition import Services
from chalicelib.services.notify import MAX_MESSAGE_BYTES
from local.deployment import OnDeployment
from local.sandbox import Deployment, Sandbox
from tests.support.batchkit import Kit, Outcomes, SqsCalls
from tests.support.sqs import QueueDriver

#: What every functional test runs with unless it says otherwise.
TEST_SETTINGS = {
    "retry_base_delay_seconds": 60,
    "connect_timeout_seconds": 1.0,
    "read_timeout_seconds": 2.0,
}


@dataclass
class Aws(OnDeployment):
    """moto in memory with raspa's resources, and the app serving from them."""

    box: Sandbox
    deployment: Deployment
    #: ID tokens by username: ana and bruno (standard), carla (VIP).
    tokens: dict[str, str]
    #: What the worker's containers scrape with (``scripted``/``scraper`` set it).
    scraper: Any = None
    management_api: Any = None

    @property
    def queue_url(self) -> str:
        """The scrape queue (every lane's wake-ups)."""
        return self.deployment.queue_url

    @property
    def dlq_url(self) -> str:
        return self.deployment.queue_urls["dlq"]

    def headers(self, user: str = "ana") -> dict[str, str]:
        return {"Authorization": f"Bearer {self.tokens[user]}"}

    def queue_depth(self, url: str | None = None) -> int:
        return self.deployment.depth(url or self.queue_url)

    def reconfigure(
        self,
        *,
        scraper: Any = None,
        management_api: Any = None,
        **changes: Any,
    ) -> Services:
        """Serve from new services: settings ``changes`` (``dataclasses.replace``), a
        scraper (every container gets it) or an @connections API; the rest is kept."""
        if scraper is not None:
            self.scraper = scraper
        if management_api is not None:
            self.management_api = management_api
        if changes or management_api is not None:
            self.deployment = self.box.deploy(
                dataclasses.replace(self.settings, **changes),
                scraper_factory=self.scraper_of_container,
                management_api=self.management_api,
                create=False,
            )
        return self.services

    def scraper_of_container(self) -> Any:
        """The scraper factory every deployment of the test gets: the test's scraper, or
        the portal's (configured as deployed) when the test set none."""
        if self.scraper is None:
            return self.services.portal_scraper
        return self.scraper


@pytest.fixture(scope="package")
def box() -> Iterator[Sandbox]:
    """moto in memory, with the users and their tokens, for the functional suite (each
    test deploys resources of its own on it). moto's in-memory backends are global to the
    process: the sandbox stops when the suite ends, before any other suite runs."""
    with Sandbox(aws="memory", portal=False, gateway=False) as made:
        yield made


@pytest.fixture
def aws(box: Sandbox) -> Iterator[Aws]:
    made = Aws(box, None, box.tokens)  # type: ignore[arg-type]
    made.deployment = box.deploy(
        box.settings("auto", **TEST_SETTINGS), scraper_factory=made.scraper_of_container
    )
    yield made
    raspa_app.use(None)


@pytest.fixture
def operator_shell(aws: Aws, monkeypatch: pytest.MonkeyPatch) -> None:
    """The ops CLI reads the deployment's names from ``RASPA_*``, as an operator's shell
    has them: this test's names."""
    for key, value in aws.settings.to_env().items():
        monkeypatch.setenv(key, value)


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


@pytest.fixture
def client(aws: Aws) -> Iterator[Client]:
    with Client(raspa_app.app) as test_client:
        test_client._http_client = AuthedHTTP(test_client.http, aws.headers("ana"))
        yield test_client


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
def scripted(aws: Aws, client: Client) -> Any:
    """Give the worker a scripted scraper instead of the portal one: ``scripted(outcome, ...)``."""

    def install(*outcomes: Any) -> ScriptedScraper:
        scraper = ScriptedScraper(*outcomes)
        aws.reconfigure(scraper=scraper)
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
def api_gw(aws: Aws) -> ManagementApi:
    fake = ManagementApi()
    aws.reconfigure(
        management_api=fake, ws_endpoint="https://abc123.execute-api.us-east-1.amazonaws.com/api"
    )
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
        sqs.get_queue_url(QueueName=settings.queue_name)["QueueUrl"],
    )
    assert made.ingest() == ["ok"]  # S3's test event, sent when the notification was set up
    return made


@pytest.fixture
def scraper(aws: Aws, client) -> Outcomes:
    """The worker's scraper: found, unless the number is in ``not_found`` or ``broken``."""
    fake = Outcomes()
    aws.reconfigure(scraper=fake)
    return fake


@pytest.fixture
def sqs_calls(client) -> SqsCalls:
    """SQS calls made through the app's client (not the test's own)."""
    counter = SqsCalls()
    raspa_app.services().aws.client("sqs").meta.events.register("before-call.sqs", counter)
    return counter
