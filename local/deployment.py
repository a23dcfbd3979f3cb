"""One deployment on the sandbox: a set of resources, the services built on them, and
the event sources Lambda would run for them (``Sandbox.deploy`` makes one)."""

from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any, Callable

from chalicelib.composition import Services
from chalicelib.config import Settings

if TYPE_CHECKING:
    from local.sandbox import Sandbox

__all__ = ["LOCAL_KEYS", "Deployment", "OnDeployment", "process_env"]

ROOT = Path(__file__).resolve().parents[1]
#: Any key does for moto; these keep a developer's own AWS credentials out of it.
LOCAL_KEYS = {"access_key_id": "local", "secret_access_key": "local"}


@dataclass
class Deployment:
    """One set of resources and the services built on them."""

    sandbox: Sandbox
    settings: Settings
    services: Services
    #: Every queue's URL by name (the scrape queue, the DLQ, the batch ingest).
    urls: dict[str, str]

    @property
    def sqs(self) -> Any:
        """The harness's SQS client (never the app's)."""
        return self.sandbox.clients.client("sqs")

    @property
    def app(self) -> Any:
        import app as raspa_app

        return raspa_app

    @property
    def queue_url(self) -> str:
        """The scrape queue's URL (every lane's wake-ups)."""
        return self.urls[self.settings.queue_name]

    @property
    def queue_urls(self) -> dict[str, str]:
        """Every queue's URL by role: ``scrape``, ``ingest`` and ``dlq``."""
        s = self.settings
        return {
            "scrape": self.urls[s.queue_name],
            "ingest": self.urls[s.ingest_queue_name],
            "dlq": self.urls[s.dlq_name],
        }

    def function_env(self) -> dict[str, str]:
        """The environment a Lambda function of this deployment has: the settings'
        ``RASPA_*`` variables, and the sandbox's AWS endpoint, region and keys (for a
        process that builds its services the way Lambda does, ``Settings.from_env()``)."""
        env = {
            **self.settings.to_env(),
            "AWS_REGION": self.settings.region,
            "AWS_DEFAULT_REGION": self.settings.region,
            "AWS_ACCESS_KEY_ID": LOCAL_KEYS["access_key_id"],
            "AWS_SECRET_ACCESS_KEY": LOCAL_KEYS["secret_access_key"],
        }
        if self.sandbox.aws_url:
            env["AWS_ENDPOINT_URL"] = self.sandbox.aws_url
        return env

    def depth(self, url: str) -> int:
        """Messages in ``url``, visible or in flight."""
        attrs = self.sqs.get_queue_attributes(
            QueueUrl=url,
            AttributeNames=["ApproximateNumberOfMessages", "ApproximateNumberOfMessagesNotVisible"],
        )["Attributes"]
        return int(attrs["ApproximateNumberOfMessages"]) + int(
            attrs["ApproximateNumberOfMessagesNotVisible"]
        )

    def worker(
        self,
        *,
        concurrency: int | None = None,
        handler: Callable[[dict, Any], Any] | None = None,
        **options: Any,
    ) -> Any:
        """The scrape worker's event source, as deployed (use with ``with``); ``handler``
        replaces the app's (a wrapper that observes invocations)."""
        from infra.spec import resources
        from local.event_source import worker

        return worker(
            self.sqs,
            handler or self.app.scrape_worker,
            resources(self.settings),
            self.urls,
            concurrency=concurrency,
            **options,
        )

    def ingest(self, **options: Any) -> Any:
        """The batch ingest function on its queue (S3's notifications and continuations)."""
        from infra.spec import resources
        from local.event_source import ingest

        return ingest(
            self.sqs, self.app.batch_ingest, resources(self.settings), self.urls, **options
        )


def process_env(**extra: str) -> dict[str, str]:
    """A child process's environment: this one's without any AWS or raspa setting (the
    child gets exactly those it is given), the project on its path, and ``extra``."""
    inherited = {k: v for k, v in os.environ.items() if not k.startswith(("AWS_", "RASPA_"))}
    return {**inherited, "PYTHONPATH": str(ROOT), **extra}


class OnDeployment:
    """A harness's handle on a deployment (``self.deployment``): the settings, services,
    ``app`` and SQS client it reaches through it, for the tests', the benchmarks' and the
    reliability suite's own classes to build on."""

    deployment: Deployment

    @property
    def settings(self) -> Settings:
        return self.deployment.settings

    @property
    def services(self) -> Services:
        return self.deployment.services

    @property
    def app(self) -> Any:
        """The ``app`` module, serving this deployment."""
        return self.deployment.app

    @property
    def sqs(self) -> Any:
        """The harness's SQS client (never the app's)."""
        return self.deployment.sqs

    @property
    def urls(self) -> dict[str, str]:
        return self.deployment.urls

    def depth(self, url: str) -> int:
        return self.deployment.depth(url)
