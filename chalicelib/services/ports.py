"""What the use cases need from the outside world, as Protocols (the adapters implement them).

The services in this package depend on these shapes, not on boto3, PynamoDB or requests;
``chalicelib.composition`` plugs the adapters in, and tests plug in fakes.
"""

from __future__ import annotations

from typing import Any, Callable, Protocol

__all__ = [
    "Jwks",
    "ManagementApi",
    "MessageQueue",
    "Scraper",
    "ScraperFactory",
    "Secrets",
]


class Scraper(Protocol):
    """Fetches one OS from the portal (``chalicelib.adapters.scraper.PortalScraper``)."""

    def scrape(
        self,
        numero_os: str,
        on_progress: Callable[[str, int], Any] | None = None,
        deadline: float | None = None,
    ) -> dict[str, Any]: ...


#: Builds a container's scraper on first use (one portal session per warm container).
ScraperFactory = Callable[[], Scraper]


class MessageQueue(Protocol):
    """An SQS queue of scrape or ingest messages (``chalicelib.adapters.queue.ScrapeQueue``)."""

    queue_url: str
    lane: str | None

    def send(self, task_id: str, numero_os: str, *, delay_seconds: int = 0) -> str: ...

    def send_body(self, body: str, *, delay_seconds: int = 0) -> str: ...

    def send_many(self, tasks: list[tuple[str, str]]) -> None: ...

    def delay_redelivery(self, receipt_handle: str, seconds: int) -> None: ...


class ManagementApi(Protocol):
    """API Gateway's ``@connections`` API (``apigatewaymanagementapi``)."""

    def post_to_connection(self, *, ConnectionId: str, Data: bytes) -> Any: ...


class Secrets(Protocol):
    """A secrets source with a cache (Powertools' ``SecretsProvider``)."""

    def get(self, name: str, **options: Any) -> Any: ...


class Jwks(Protocol):
    """Signing keys by token (PyJWT's ``PyJWKClient``)."""

    def get_signing_key_from_jwt(self, token: str) -> Any: ...
