"""What the use cases need from the outside world, as Protocols (the adapters implement them).

The services in this package depend on these shapes, never on ``chalicelib.adapters``,
boto3, PynamoDB or requests; ``chalicelib.composition`` plugs the adapters in, and tests
plug in fakes. Each port lists only the calls its service makes; the values that cross
them are domain values (``chalicelib.domain.records`` and friends). This module has the
portal, the queues, the bucket, the other services' calls, API Gateway's ``@connections``
API, secrets and signing keys; the DynamoDB tables' roles are in ``services.stores``.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any, Callable, Iterable, Protocol

if TYPE_CHECKING:
    from chalicelib.domain.lanes import Lane
    from chalicelib.domain.outcome import TaskOutcome

__all__ = [
    "BatchFiles",
    "IngestQueue",
    "Jwks",
    "ManagementApi",
    "MessageQueue",
    "MessageSender",
    "OsNumbers",
    "Scraper",
    "ScraperFactory",
    "Secrets",
    "TaskEvents",
    "TaskStatuses",
    "UserNotifier",
]


# ------------------------------------------------------------------ portal
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


class OsNumbers(Protocol):
    """The portal's OS number rules (``chalicelib.domain.profile.Profile``)."""

    def validate_number(self, raw: str) -> str:
        """The number, normalised; InvalidOsNumberError if it breaks the rules."""
        ...


# ------------------------------------------------------------------ queues
class IngestQueue(Protocol):
    """A queue raspa writes its own bodies to (the batch ingest queue)."""

    def send_body(self, body: str, *, delay_seconds: int = 0) -> str: ...


class MessageQueue(IngestQueue, Protocol):
    """The scrape queue, or the DLQ (``chalicelib.adapters.queue.ScrapeQueue``)."""

    queue_url: str

    def send(
        self, task_id: str, numero_os: str, *, lane: Lane | None = None, delay_seconds: int = 0
    ) -> str: ...

    def send_many(self, tasks: list[tuple[str, str]], *, lane: Lane | None = None) -> None: ...

    def wake(self, count: int = 1, *, delay_seconds: int = 0) -> None: ...

    def delay_redelivery(self, receipt_handle: str, seconds: int) -> None: ...


# ------------------------------------------------------------------ bucket
class BatchFiles(Protocol):
    """The bucket of uploaded batch files and their results."""

    def read(self, key: str, max_bytes: int) -> bytes: ...

    def write(self, key: str, body: bytes, content_type: str) -> None: ...

    def upload_url(self, key: str, size: int, content_type: str, expires_in: int) -> str: ...

    def download_url(self, key: str, filename: str, expires_in: int) -> str: ...


# ------------------------------------------------------------ other services
class TaskStatuses(Protocol):
    """A task's state as a caller may see it (``LookupService.status``); raises
    TaskNotFoundError for a task that does not exist or is not ``user``'s."""

    def status(self, task_id: str, user: str | None = None) -> TaskOutcome: ...


class TaskEvents(Protocol):
    """Tells a task's subscribers what the worker has just done (``Notifier.task_event``):
    to ``connections`` (those the last write returned) if given, and with ``recheck`` to
    any that subscribed since too. Never raises."""

    def __call__(
        self,
        outcome: TaskOutcome,
        connections: Iterable[str] | None = None,
        *,
        recheck: bool = False,
    ) -> None: ...


class MessageSender(Protocol):
    """Sends one WebSocket message to one connection (``Notifier.send``)."""

    def send(self, connection_id: str, message: dict[str, Any]) -> bool: ...


class UserNotifier(Protocol):
    """Sends a message to every open connection of a user (``Notifier.publish_to_user``)."""

    def publish_to_user(self, user: str, message: dict[str, Any]) -> int: ...


# ------------------------------------------------------------------ other
class ManagementApi(Protocol):
    """API Gateway's ``@connections`` API (``apigatewaymanagementapi``)."""

    def post_to_connection(self, *, ConnectionId: str, Data: bytes) -> Any: ...


class Secrets(Protocol):
    """A secrets source with a cache (Powertools' ``SecretsProvider``)."""

    def get(self, name: str, **options: Any) -> Any: ...


class Jwks(Protocol):
    """Signing keys by token (PyJWT's ``PyJWKClient``)."""

    def get_signing_key_from_jwt(self, token: str) -> Any: ...
