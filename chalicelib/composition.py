"""The composition root: raspa's services built from values (settings and AWS clients).

``Services.build(settings, aws)`` wires every adapter into the use cases. Each part is
built on first use and kept (a warm Lambda container reuses its clients and its portal
session), so a function only pays for what it touches: the authorizer never builds the
worker. Tests, the local stack, the benchmarks and the reliability suite build their own
``Services`` from their own settings and install it with ``app.use(...)``; nothing is
configured through the process environment but ``Settings.from_env()`` in Lambda.
"""

from __future__ import annotations

import threading
from typing import TYPE_CHECKING, Any, Callable, Generic, TypeVar

from chalicelib.adapters.aws import AwsClients
from chalicelib.config import Settings

if TYPE_CHECKING:
    from chalicelib.adapters.auth import TokenVerifier
    from chalicelib.adapters.bucket import BatchBucket
    from chalicelib.adapters.dynamo.models import Models
    from chalicelib.adapters.dynamo.stores import DynamoStores
    from chalicelib.adapters.queue import ScrapeQueue
    from chalicelib.adapters.scraper import PortalScraper
    from chalicelib.domain.profile import Profile
    from chalicelib.domain.records import TaskRecord
    from chalicelib.domain.schedule import Shares
    from chalicelib.services.batches import BatchService
    from chalicelib.services.lookup import LookupService
    from chalicelib.services.notify import Notifier
    from chalicelib.services.portalgate import PortalGate
    from chalicelib.services.ports import Jwks, ManagementApi, Scraper, ScraperFactory, Secrets
    from chalicelib.services.websocket import WebSocketService
    from chalicelib.services.worker import ScrapeWorker

__all__ = ["Services"]

T = TypeVar("T")


class part(Generic[T]):
    """A part of ``Services`` built on first use, once, even when threads race for it."""

    def __init__(self, build: Callable[[Any], T]) -> None:
        self.build = build
        self.name = build.__name__
        self.__doc__ = build.__doc__

    def __get__(self, owner: Any, kind: type | None = None) -> T:
        if owner is None:
            return self  # type: ignore[return-value]
        built = owner.__dict__.get(self.name)
        if built is None:
            with owner._lock:
                built = owner.__dict__.get(self.name)
                if built is None:
                    built = owner.__dict__[self.name] = self.build(owner)
        return built


class Services:
    """Every service of one deployment (one set of settings and endpoints)."""

    def __init__(
        self,
        settings: Settings,
        aws: AwsClients,
        *,
        scraper_factory: ScraperFactory | None = None,
        jwks: Jwks | None = None,
        management_api: ManagementApi | None = None,
        secrets: Secrets | None = None,
    ) -> None:
        self.settings = settings
        self.aws = aws
        self._scraper_factory = scraper_factory
        self._jwks = jwks
        self._management_api = management_api
        self._secrets = secrets
        self._lock = threading.RLock()

    @classmethod
    def build(
        cls,
        settings: Settings,
        aws_clients: AwsClients | None = None,
        *,
        scraper_factory: ScraperFactory | None = None,
        jwks: Jwks | None = None,
        management_api: ManagementApi | None = None,
        secrets: Secrets | None = None,
    ) -> Services:
        """The services of ``settings`` on ``aws_clients`` (AWS's own endpoints by default).
        The keyword parts replace an adapter: a scraper factory (one scraper per container
        unless it says otherwise), signing keys, the @connections API, a secrets source."""
        return cls(
            settings,
            aws_clients or AwsClients(region=settings.region),
            scraper_factory=scraper_factory,
            jwks=jwks,
            management_api=management_api,
            secrets=secrets,
        )

    # ------------------------------------------------------------ adapters
    @part
    def profile(self) -> Profile:
        from chalicelib.domain.profile import DEFAULT_PROFILE_PATH, load_profile

        s = self.settings
        return load_profile(
            s.profile_path or DEFAULT_PROFILE_PATH, base_url=s.portal_base_url or None
        )

    @part
    def models(self) -> Models:
        from chalicelib.adapters.dynamo.models import build_models

        s, options = self.settings, dict(self.aws.pynamodb)
        return build_models(
            s.os_table, s.tasks_table, options.pop("region"), s.connections_table, **options
        )

    @part
    def store(self) -> DynamoStores:
        """Every DynamoDB store, one per concern."""
        from chalicelib.adapters.dynamo.stores import DynamoStores

        return DynamoStores.build(self.settings, self.models)

    def _queue(self, name: str, url: str = "") -> ScrapeQueue:
        from chalicelib.adapters.queue import ScrapeQueue

        sqs = self.aws.client("sqs")
        return ScrapeQueue(sqs, url) if url else ScrapeQueue.by_name(sqs, name)

    @part
    def queue(self) -> ScrapeQueue:
        """The scrape queue: every lane's wake-ups."""
        s = self.settings
        return self._queue(s.queue_name, s.queue_url)

    @part
    def dead_letters(self) -> ScrapeQueue:
        """The DLQ: the worker writes a failed task's letter there for ops to redrive."""
        return self._queue(self.settings.dlq_name)

    @part
    def ingest_queue(self) -> ScrapeQueue:
        """Upload notifications and the batch ingest's own continuations."""
        s = self.settings
        return self._queue(s.ingest_queue_name, s.ingest_queue_url)

    @part
    def bucket(self) -> BatchBucket:
        from chalicelib.adapters.bucket import BatchBucket

        # SigV4 presigned URLs: SigV2 puts the content type in the query, which a browser's
        # CORS preflight cannot match (and SigV2 is legacy in every region).
        client = self.aws.client("s3", signature_version="s3v4")
        return BatchBucket(client, self.settings.batch_bucket)

    @part
    def secrets(self) -> Secrets:
        """Secrets Manager through Powertools' caching provider, one per container."""
        if self._secrets is not None:
            return self._secrets
        from aws_lambda_powertools.utilities.parameters import SecretsProvider

        return SecretsProvider(boto3_client=self.aws.client("secretsmanager"))

    @part
    def verifier(self) -> TokenVerifier:
        from chalicelib.adapters.auth import TokenVerifier

        s = self.settings
        jwks = self._jwks
        if jwks is None:
            import jwt

            jwks = jwt.PyJWKClient(s.jwks_url, cache_keys=True, lifespan=3600, timeout=5)
        return TokenVerifier(
            issuer=s.auth_issuer,
            client_id=s.auth_client_id,
            jwks_client=jwks,
            vip_group=s.vip_group,
            leeway_seconds=s.auth_leeway_seconds,
        )

    @part
    def portal_scraper(self) -> PortalScraper:
        """One portal session per warm container, reused across invocations."""
        return self.new_portal_scraper()

    def new_portal_scraper(self) -> PortalScraper:
        """A portal scraper with a session of its own (what each container builds once;
        a harness that plays several containers in one process builds one per thread)."""
        from chalicelib.adapters.credentials import portal_credentials
        from chalicelib.adapters.scraper import PortalScraper, ScrapeLimits
        from chalicelib.adapters.transport import build_session

        s = self.settings
        session = build_session(
            connect_timeout=s.connect_timeout_seconds,
            read_timeout=s.read_timeout_seconds,
            origin=self.profile.base_url,  # the adapter refuses any other origin
        )
        limits = ScrapeLimits(
            request_timeout_seconds=s.portal_request_timeout_seconds,
            max_page_bytes=s.max_page_bytes,
            max_history_rows=s.max_history_rows,
        )
        return PortalScraper(
            session, self.profile, portal_credentials(s, self.secrets), limits=limits
        )

    def scraper(self) -> Scraper:
        """The scraper of the calling container (the factory's, or the portal's)."""
        if self._scraper_factory is not None:
            return self._scraper_factory()
        return self.portal_scraper

    def management_api(self) -> ManagementApi:
        if self._management_api is not None:
            return self._management_api
        return self.aws.client("apigatewaymanagementapi", endpoint_url=self.settings.ws_endpoint)

    # ------------------------------------------------------------ services
    @part
    def notifier(self) -> Notifier:
        from chalicelib.services.notify import Notifier

        enabled = self.settings.ws_endpoint or self._management_api is not None
        return Notifier(self.store.connections, self.management_api if enabled else None)

    @part
    def lookup(self) -> LookupService:
        from chalicelib.services.lookup import Limits, LookupService, MeanDuration, Recent

        s, stores = self.settings, self.store
        # A lookup answered from the cache needs neither the queue nor the breaker: both
        # are built on first use, off the cold path of a cached lookup.
        return LookupService(
            _Later(lambda: self.queue),
            self.profile,
            cache=stores.cache,
            tasks=stores.tasks,
            runs=stores.runs,
            queue_index=stores.queue_index,
            concurrency=s.concurrency,
            mean_duration=MeanDuration(stores.stats.mean_scrape_seconds, s.default_scrape_seconds),
            limits=Limits(s.rate_limit, s.vip_rate_limit, s.rate_window_seconds),
            shown=lambda outcome: self.portal_gate.shown(outcome),
            shares=self.shares,
            lane_counts=Recent(stores.queue_index.waiting_by_lane),
        )

    @part
    def batches(self) -> BatchService:
        from chalicelib.services.batches import build_batch_service

        return build_batch_service(
            self.settings,
            self.store,
            bucket=self.bucket,
            batch_queue=self.queue,
            ingest_queue=self.ingest_queue,
            profile=self.profile,
            notifier=self.notifier,
        )

    @part
    def websocket(self) -> WebSocketService:
        from chalicelib.services.websocket import WebSocketService

        return WebSocketService(self.store.connections, self.notifier, self.lookup)

    @part
    def portal_gate(self) -> PortalGate:
        """The portal breaker, as the worker and the views use it."""
        from chalicelib.services.portalgate import PortalGate

        s, stores = self.settings, self.store
        return PortalGate(
            stores.breaker,
            stores.claims,
            stores.tasks,
            self.queue,
            lease_seconds=self.time_budget + 30,
            timezone=s.timezone,
            notify=self.notifier.task_event,
        )

    @property
    def shares(self) -> Shares:
        """The lanes' turns while several have work (``chalicelib.domain.schedule``)."""
        from chalicelib.domain.schedule import Shares

        s = self.settings
        return Shares(s.vip_share, s.standard_share, s.batch_share)

    @property
    def time_budget(self) -> float:
        """How long a scrape may run: it stops starting requests early enough to record the
        outcome before Lambda's limit."""
        s = self.settings
        return max(1.0, s.scrape_timeout_seconds - s.read_timeout_seconds - 5)

    @part
    def worker(self) -> ScrapeWorker:
        from chalicelib.services.scheduler import Scheduler
        from chalicelib.services.worker import ScrapeWorker

        s = self.settings
        return ScrapeWorker(
            self.queue,
            self.scraper,
            scheduler=Scheduler(self.store.claims, self.shares),
            dead_letters=self.dead_letters,
            gate=self.portal_gate,
            tasks=self.store.tasks,
            runs=self.store.runs,
            max_attempts=s.max_attempts,
            retry_base_delay_seconds=s.retry_base_delay_seconds,
            time_budget_seconds=self.time_budget,
            max_record_bytes=s.max_record_bytes,
            notify=self.notifier.task_event,
            on_finished=self._batch_task_finished,
            on_batch_slot=self._batch_slot_freed,
        )

    @part
    def page(self) -> str:
        from chalicelib.http.page import render_page

        s = self.settings
        return render_page(
            ws_url=s.ws_url, cognito_endpoint=s.cognito_endpoint, client_id=s.auth_client_id
        )

    def _batch_task_finished(self, task: TaskRecord) -> None:
        """Only tasks some batch waits for need the batch service (built on first use)."""
        if task.batch_id or task.waiters:
            self.batches.task_finished(task)

    def _batch_slot_freed(self) -> None:
        self.batches.release()


class _Later:
    """A part built when one of its attributes is first used (``build()`` once)."""

    def __init__(self, build: Callable[[], Any]) -> None:
        self._build = build

    def __getattr__(self, name: str) -> Any:
        return getattr(self._build(), name)
