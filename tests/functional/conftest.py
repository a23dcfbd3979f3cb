"""Functional fixtures: moto's in-process AWS, raspa's resources, the Chalice test client."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Iterator

import boto3
import pytest
from chalice.test import Client
from moto import mock_aws

import app as raspa_app
from chalicelib.config import Settings
from local.resources import create_all
from tests.support.sqs import QueueDriver

DEMO_CREDENTIALS = {"username": "demo", "password": "demo-password"}


@dataclass
class Aws:
    settings: Settings
    sqs: Any
    queue_url: str
    dlq_url: str

    def queue_depth(self, url: str | None = None) -> int:
        attrs = self.sqs.get_queue_attributes(
            QueueUrl=url or self.queue_url,
            AttributeNames=["ApproximateNumberOfMessages", "ApproximateNumberOfMessagesNotVisible"],
        )["Attributes"]
        return int(attrs["ApproximateNumberOfMessages"]) + int(
            attrs["ApproximateNumberOfMessagesNotVisible"]
        )


@pytest.fixture
def aws() -> Iterator[Aws]:
    with mock_aws():
        settings = Settings.from_env()
        urls = create_all(settings, credentials=DEMO_CREDENTIALS)
        yield Aws(settings, boto3.client("sqs"), urls[settings.queue_name], urls[settings.dlq_name])


@pytest.fixture
def client(aws: Aws) -> Iterator[Client]:
    raspa_app.reset_wiring()
    with Client(raspa_app.app) as test_client:
        yield test_client
    raspa_app.reset_wiring()


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
