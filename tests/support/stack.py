"""Integration stacks: one deployment per test on the session's sandbox (a moto server and
the demo portal on loopback, ``local.sandbox``), with the names the tests use."""

from __future__ import annotations

from typing import Any, Callable

from local.deployment import OnDeployment
from local.event_source import WorkerRuntime
from local.sandbox import DEMO_CREDENTIALS, Deployment, Sandbox

PORTAL_CREDENTIALS = DEMO_CREDENTIALS

#: What integration tests run with unless they say otherwise: quick retries, and a read
#: timeout short enough for hang faults.
INTEGRATION_SETTINGS = {"retry_base_delay_seconds": 0, "read_timeout_seconds": 1.0}


class Stack(OnDeployment):
    """One deployment, its queues by the names the tests use, and the portal it scrapes."""

    def __init__(self, deployment: Deployment, portal_url: str) -> None:
        self.deployment = deployment
        self.sandbox = deployment.sandbox
        self.portal_url = portal_url
        queues = deployment.queue_urls
        #: The scrape queue (every lane's wake-ups), the DLQ and the batch ingest's queue.
        self.queue_url, self.dlq_url = queues["scrape"], queues["dlq"]
        self.ingest_url = queues["ingest"]

    @property
    def tokens(self) -> dict[str, str]:
        return self.sandbox.tokens

    def client(self, service: str) -> Any:
        """A boto3 client of the sandbox's AWS (the test's own, not the app's)."""
        return self.sandbox.clients.client(service)

    def headers(self, user: str = "ana") -> dict[str, str]:
        return self.sandbox.headers(user)

    def faults(self, **faults: Any) -> Any:
        from local.portal import control

        return control.faults(self.portal_url, **faults)

    def portal_stats(self) -> dict[str, Any]:
        from local.portal import control

        return control.stats(self.portal_url)

    def worker(
        self, concurrency: int = 3, on_invoke: Callable[[dict], None] | None = None
    ) -> WorkerRuntime:
        """The scrape worker's event source, as deployed (use with ``with``);
        ``on_invoke`` sees each event before the handler does."""
        app = self.app

        def handler(event: dict, context: Any) -> Any:
            if on_invoke is not None:
                on_invoke(event)
            return app.scrape_worker(event, context)

        return self.deployment.worker(concurrency=concurrency, handler=handler, wait_seconds=1)


def build_stack(sandbox: Sandbox, *, portal_url: str = "", **changes: Any) -> Stack:
    """Fresh tables and queues (unique names) on ``sandbox``, the app serving from them;
    ``changes`` replace settings, ``portal_url`` names another portal than the sandbox's."""
    portal = portal_url or sandbox.portal_url
    settings = sandbox.settings(
        "auto", **{**INTEGRATION_SETTINGS, "portal_base_url": portal, **changes}
    )
    return Stack(sandbox.deploy(settings), portal)
