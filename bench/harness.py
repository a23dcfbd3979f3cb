"""The local stack the benchmarks drive: the sandbox (``local.sandbox``: moto in a process
of its own, the demo portal, Cognito users, the WebSocket gateway) for the whole run, and
a deployment of fresh tables and queues (unique names) per scenario, installed into
``app``, as the integration tests get one.
"""

from __future__ import annotations

import itertools
import time
from dataclasses import dataclass
from typing import Any, Callable

from bench.counting import counter
from chalicelib.domain.identity import Identity
from chalicelib.domain.tasks import TERMINAL
from local.deployment import OnDeployment
from local.sandbox import REGION, Deployment, Sandbox

_names = itertools.count(1)
#: What every scenario runs with unless it says otherwise (settings field names).
SCENARIO_SETTINGS = {"retry_base_delay_seconds": 1}


@dataclass
class Scenario(OnDeployment):
    """One scenario's deployment: its settings, queues and the services ``app`` serves."""

    deployment: Deployment

    @property
    def queue_url(self) -> str:
        """The scrape queue (every lane's wake-ups)."""
        return self.deployment.queue_url

    def function_env(self) -> dict[str, str]:
        """The environment a Lambda function of this scenario has."""
        return self.deployment.function_env()

    def worker(self, on_done: Callable[[dict], None] | None = None) -> Any:
        """The scrape worker as deployed (``local.event_source.worker``);
        ``on_done`` sees each event the handler finished without raising."""
        handler = None
        if on_done is not None:
            scrape_worker = self.app.scrape_worker

            def handler(event: dict, context: Any) -> Any:
                result = scrape_worker(event, context)
                on_done(event)
                return result

        return self.deployment.worker(handler=handler, wait_seconds=1)

    def deliver(self) -> float | None:
        """Play Lambda's event source once: receive one wake-up of the scrape queue, invoke
        the worker (which claims the best waiting task), delete the message. Returns the
        invocation's seconds (None: the queue is empty)."""
        from local.event_source import LambdaContext

        url = self.queue_url
        messages = self.sqs.receive_message(
            QueueUrl=url, MaxNumberOfMessages=1, AttributeNames=["All"], WaitTimeSeconds=1
        ).get("Messages", [])
        if not messages:
            return None
        message = messages[0]
        arn = "arn:aws:sqs:us-east-1:123456789012:" + url.rsplit("/", 1)[-1]
        event = {
            "Records": [
                {
                    "messageId": message["MessageId"],
                    "receiptHandle": message["ReceiptHandle"],
                    "body": message["Body"],
                    "attributes": message.get("Attributes", {}),
                    "messageAttributes": {},
                    "md5OfBody": message.get("MD5OfBody", ""),
                    "eventSource": "aws:sqs",
                    "eventSourceARN": arn,
                    "awsRegion": REGION,
                }
            ]
        }
        started = time.perf_counter()
        self.app.scrape_worker(event, LambdaContext("scrape_worker", 300))
        seconds = time.perf_counter() - started
        self.sqs.delete_message(QueueUrl=url, ReceiptHandle=message["ReceiptHandle"])
        return seconds

    def wait_terminal(self, task_ids: list[str], timeout: float = 600) -> list[Any]:
        """Poll until every task is SUCCESS or FAILURE; returns them."""
        Task = self.services.models.Task
        pending = set(task_ids)
        done: dict[str, Any] = {}
        deadline = time.monotonic() + timeout
        while pending:
            for task in Task.batch_get(sorted(pending)):  # 100 keys per call
                if task.status in TERMINAL:
                    done[task.pk] = task
                    pending.discard(task.pk)
            if pending:
                if time.monotonic() > deadline:
                    raise TimeoutError(f"{len(pending)} tasks did not finish")
                time.sleep(0.05)
        return [done[t] for t in task_ids]


class Harness(Sandbox):
    """The sandbox, started once per benchmark run (moto in a process of its own, the
    portal, the users and the gateway); ``scenario()`` deploys fresh resources."""

    def __init__(self) -> None:
        super().__init__(aws="process")

    def start(self) -> Harness:
        super().start()
        # The harness's own calls (its pollers, its reads) are never counted as the app's.
        for service in ("sqs", "s3", "dynamodb", "cognito-idp"):
            counter.ignore(self.clients.client(service))
        return self

    def __enter__(self) -> Harness:
        return self.start()

    def scenario(self, **changes: Any) -> Scenario:
        """Fresh tables, queues, bucket and secret (unique names), ``app`` serving them;
        ``changes`` replace settings (field names: ``concurrency=3``)."""
        settings = self.settings(f"b{next(_names)}", **{**SCENARIO_SETTINGS, **changes})
        return Scenario(self.deploy(settings))


#: Identities the benchmarks look up as (rate limits are raised for the scenarios).
ANA = Identity("ana")
CARLA = Identity("carla", vip=True)


def users(n: int) -> list[Identity]:
    """``n`` distinct standard users."""
    return [Identity(f"user{i:03d}") for i in range(n)]


def run_threads(target: Callable[[int], Any], count: int, workers: int) -> list[Any]:
    """``target(i)`` for i in range(count) on ``workers`` threads; the results in order."""
    from concurrent.futures import ThreadPoolExecutor

    with ThreadPoolExecutor(max_workers=workers) as pool:
        return list(pool.map(target, range(count)))
