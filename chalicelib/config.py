"""Settings read from environment variables, with defaults that let the app import anywhere.

Every variable is documented in the README's configuration table; the stage's
values live in ``.chalice/config.json`` and, when deployed, in the CDK stack.
"""

from __future__ import annotations

import os
from dataclasses import dataclass, field, fields
from typing import Mapping

from chalicelib.errors import ConfigurationError

__all__ = ["Settings"]


#: Receives beyond the real attempts before SQS dead-letters a message (see max_receive_count).
THROTTLE_ALLOWANCE = 6
#: DynamoDB's largest item.
ITEM_LIMIT_BYTES = 400 * 1024
#: Longest user name accepted from a token (Cognito's limit) and longest connection id.
MAX_USER_LENGTH = 128
MAX_CONNECTION_ID_LENGTH = 128
#: A task item's attributes besides its record and its two sets (error messages are
#: truncated to keep this true).
TASK_ITEM_OVERHEAD_BYTES = 16 * 1024
#: WAF's smallest rate-based limit (requests per 5 minutes).
WAF_MIN_RATE_LIMIT = 10


def _env_name(attr: str) -> str:
    return "RASPA_" + attr.upper()


@dataclass(frozen=True)
class Settings:
    """raspa's runtime settings; ``Settings.from_env()`` builds them from ``RASPA_*`` variables."""

    region: str = "us-east-1"
    os_table: str = "raspa-os"
    tasks_table: str = "raspa-tasks"
    connections_table: str = "raspa-connections"
    #: The scrape queue: its messages wake the worker up, which then claims the best
    #: waiting task of every lane itself (``docs/scheduling.md``).
    queue_name: str = "raspa-scrape"
    queue_url: str = ""
    dlq_name: str = "raspa-scrape-dlq"
    #: How long a scraped OS is served from the cache (the user's 24 h).
    cache_ttl_seconds: int = 86_400
    #: How long "OS não encontrada" is remembered before the portal is asked again.
    not_found_ttl_seconds: int = 900
    #: Real scrape attempts before a task fails (the user's 3 retries + the first try).
    max_attempts: int = 4
    #: First retry delay; attempt n waits base * 2 ** (n - 1) (the user's 60 s doubling).
    retry_base_delay_seconds: int = 60
    connect_timeout_seconds: float = 5.0
    read_timeout_seconds: float = 30.0
    #: The worker's time limit (the user's 300 s); the scraper stops a little before it.
    scrape_timeout_seconds: int = 300
    #: Scrapes the portal may see at once: the scrape queue's event source
    #: ``MaximumConcurrency`` and the worker's reserved concurrency (AWS's minimum is 2).
    concurrency: int = 3
    #: Turns per cycle of each lane while several lanes have work waiting: VIP first, but
    #: standard work is never starved by VIP work, nor batch work by lookups.
    vip_share: int = 6
    standard_share: int = 3
    batch_share: int = 1
    #: Consecutive transient failures, over all tasks, that open the portal breaker (a
    #: portal failing a third of its requests at random opens it about once in 6,500).
    breaker_failures: int = 8
    #: While it is open, one probe scrape at a time: the first this long after it opened,
    #: then doubling up to the maximum.
    breaker_probe_seconds: float = 30.0
    breaker_probe_max_seconds: float = 120.0
    #: The time zone of the times users are shown ("nova tentativa às HH:MM").
    timezone: str = "America/Sao_Paulo"
    #: S3 notifications of uploaded batch files, and the ingest's continuations.
    ingest_queue_name: str = "raspa-batch-ingest"
    ingest_queue_url: str = ""
    ingest_max_concurrency: int = 2
    #: The ingest function's time limit; it stops early and continues in a new invocation.
    ingest_timeout_seconds: int = 300
    #: The bucket batch files are uploaded to (``batches/{user}/{batch_id}.csv``).
    batch_bucket: str = "raspa-batches"
    #: Largest batch file accepted, in bytes, and most data lines in one file.
    batch_max_bytes: int = 10 * 1024 * 1024
    batch_max_lines: int = 100_000
    #: Data lines a user may upload per UTC day, over all their batches.
    batch_daily_lines: int = 300_000
    #: How long an upload URL, and a results download URL, stay valid.
    batch_url_expiry_seconds: int = 900
    #: Duration assumed for queue estimates until scrapes have been measured.
    default_scrape_seconds: float = 20.0
    #: How long task records (and their status) stay readable.
    task_retention_seconds: int = 7 * 86_400
    #: Safety net for a per-OS lock whose task never finished (SQS's default retention).
    lock_ttl_seconds: int = 4 * 86_400
    #: API Gateway's @connections management endpoint (https://{api}.execute-api.{region}
    #: .amazonaws.com/{stage}); empty disables notifications (clients poll the status).
    ws_endpoint: str = ""
    #: The WebSocket URL browsers connect to (wss://...), handed to the page.
    ws_url: str = ""
    #: API Gateway's maximum connection duration.
    connection_ttl_seconds: int = 7_200
    #: OIDC issuer of the bearer tokens (a Cognito user pool:
    #: https://cognito-idp.{region}.amazonaws.com/{pool_id}); empty refuses every token.
    auth_issuer: str = ""
    #: Where the issuer publishes its keys; defaults to {issuer}/.well-known/jwks.json.
    auth_jwks_url: str = ""
    #: The app client id tokens must be issued for (aud / client_id).
    auth_client_id: str = ""
    #: The Cognito endpoint the page signs in against (InitiateAuth); defaults to the region's.
    auth_cognito_endpoint: str = ""
    vip_group: str = "vip"
    #: New scrapes a user may start per rolling window (the user's 10/hour).
    rate_limit: int = 10
    vip_rate_limit: int = 30
    rate_window_seconds: int = 3_600
    #: Clock skew tolerated on a token's ``exp`` and ``nbf`` (at most 60 s).
    auth_leeway_seconds: int = 5
    profile_path: str = ""
    portal_base_url: str = ""
    portal_secret_name: str = "raspa/portal-credentials"  # noqa: S105 - a name, not a secret
    #: Total time one portal request may take (connect, headers and the whole body): the
    #: read timeout bounds each read from the socket, this bounds them all together.
    portal_request_timeout_seconds: float = 60.0
    #: Largest portal response read (decoded bytes, counted while streaming).
    max_page_bytes: int = 2 * 1024 * 1024
    #: Most history rows one OS may have; beyond it the OS fails as ``too_large``.
    max_history_rows: int = 2_000
    #: Largest OS record stored (its compact JSON, an upper bound of DynamoDB's size).
    max_record_bytes: int = 200 * 1024
    #: Users kept on a task item (more are recorded beside it: nobody is refused).
    max_requesters_per_task: int = 500
    #: WebSocket connections following one task; more are told to poll the status.
    max_subscribers_per_task: int = 500
    #: Open WebSocket connections per user; another is refused with the reason.
    max_connections_per_user: int = 20
    #: Batch messages released to the batch lane at once; the rest wait in fair order.
    batch_release_window: int = 4
    #: REST API stage throttling (requests per second, steady and burst).
    api_rate_limit: float = 100.0
    api_burst_limit: int = 200
    #: WebSocket API stage throttling (messages and connects per second).
    ws_rate_limit: float = 50.0
    ws_burst_limit: int = 100
    #: WAF rate-based rule: requests per client IP per 5 minutes before it is blocked.
    waf_rate_limit: int = 3_000
    #: Reserved (maximum) concurrency of the API, authorizer and each WebSocket function.
    api_reserved_concurrency: int = 50
    authorizer_reserved_concurrency: int = 20
    websocket_reserved_concurrency: int = 20
    #: Whether Lambda traces this function with X-Ray (found in the environment).
    tracing: bool = False
    extra: Mapping[str, str] = field(default_factory=dict, compare=False, repr=False)

    @classmethod
    def from_env(
        cls, environ: Mapping[str, str] | None = None, *, validate: bool = True
    ) -> Settings:
        """Build settings from ``RASPA_*`` variables; unset ones keep their defaults.

        This is the only place raspa's code reads the process environment: everything
        else gets ``Settings`` (or a value built from them) passed in."""
        from chalicelib.tracing import enabled as traced

        env = os.environ if environ is None else environ
        values: dict[str, object] = {"tracing": traced(env)}
        region = env.get("AWS_REGION") or env.get("AWS_DEFAULT_REGION")
        if region:
            values["region"] = region
        for f in fields(cls):
            if f.name in ("extra", "tracing"):
                continue
            raw = env.get(_env_name(f.name))
            if raw is None or raw == "":
                continue
            values[f.name] = _convert(f.name, raw, type(getattr(cls, f.name)))
        settings = cls(**values)  # type: ignore[arg-type]
        if validate:
            settings.validate()
        return settings

    def to_env(self, *, leave_out: tuple[str, ...] = ()) -> dict[str, str]:
        """Every non-empty setting as its ``RASPA_*`` variable (what ``from_env`` reads back):
        the environment of a function or a process that serves these settings."""
        env = {}
        for f in fields(self):
            if f.name in ("extra", "tracing", "region", *leave_out):
                continue
            value = getattr(self, f.name)
            if value is None or value == "":
                continue
            env[_env_name(f.name)] = str(value)
        return env

    def validate(self) -> None:
        """Reject values that would make the pipeline misbehave."""
        if self.max_attempts < 1:
            raise ConfigurationError("RASPA_MAX_ATTEMPTS must be at least 1")
        if min(self.concurrency, self.ingest_max_concurrency) < 2:
            raise ConfigurationError(
                "RASPA_CONCURRENCY and RASPA_INGEST_MAX_CONCURRENCY must be at least 2 (the"
                " minimum of an SQS event source's MaximumConcurrency)"
            )
        for name in ("vip_share", "standard_share", "batch_share", "breaker_failures"):
            if getattr(self, name) < 1:
                raise ConfigurationError(f"{_env_name(name)} must be at least 1")
        if not 0 < self.breaker_probe_seconds <= self.breaker_probe_max_seconds:
            raise ConfigurationError(
                "RASPA_BREAKER_PROBE_SECONDS must be positive and at most "
                "RASPA_BREAKER_PROBE_MAX_SECONDS"
            )
        if min(self.batch_max_bytes, self.batch_max_lines, self.batch_daily_lines) < 1:
            raise ConfigurationError("batch limits must be positive")
        if self.ingest_timeout_seconds < 30:
            raise ConfigurationError("RASPA_INGEST_TIMEOUT_SECONDS must be at least 30")
        if self.rate_limit < 1 or self.vip_rate_limit < 1 or self.rate_window_seconds < 1:
            raise ConfigurationError("rate limits and their window must be positive")
        for name in ("cache_ttl_seconds", "not_found_ttl_seconds", "retry_base_delay_seconds"):
            if getattr(self, name) < 0:
                raise ConfigurationError(f"{_env_name(name)} must not be negative")
        if min(self.connect_timeout_seconds, self.read_timeout_seconds) <= 0 or (
            self.portal_request_timeout_seconds <= 0
        ):
            raise ConfigurationError("portal timeouts must be positive")
        if not 0 <= self.auth_leeway_seconds <= 60:
            raise ConfigurationError("RASPA_AUTH_LEEWAY_SECONDS must be between 0 and 60")
        self._validate_bounds()

    def _validate_bounds(self) -> None:
        """Every bounded list must fit its container: a task item holds the record, its
        requesters and its subscribers, and DynamoDB refuses items over 400 KB."""
        names = (
            "max_page_bytes",
            "max_history_rows",
            "max_record_bytes",
            "max_requesters_per_task",
            "max_subscribers_per_task",
            "max_connections_per_user",
            "batch_release_window",
            "api_burst_limit",
            "waf_rate_limit",
            "api_reserved_concurrency",
            "authorizer_reserved_concurrency",
            "websocket_reserved_concurrency",
        )
        for name in names:
            if getattr(self, name) < 1:
                raise ConfigurationError(f"{_env_name(name)} must be at least 1")
        if self.batch_release_window < self.concurrency:
            raise ConfigurationError(
                "RASPA_BATCH_RELEASE_WINDOW must be at least RASPA_CONCURRENCY, or batch work "
                "alone could not use every slot"
            )
        if self.api_rate_limit <= 0 or self.ws_rate_limit <= 0 or self.ws_burst_limit < 1:
            raise ConfigurationError("API throttling rates and bursts must be positive")
        if self.waf_rate_limit < WAF_MIN_RATE_LIMIT:
            raise ConfigurationError(
                f"RASPA_WAF_RATE_LIMIT must be at least {WAF_MIN_RATE_LIMIT} (WAF's minimum)"
            )
        worst = self.task_item_worst_bytes
        if worst > ITEM_LIMIT_BYTES:
            raise ConfigurationError(
                f"a task item could reach {worst} bytes, over DynamoDB's {ITEM_LIMIT_BYTES}: "
                "lower RASPA_MAX_RECORD_BYTES, RASPA_MAX_REQUESTERS_PER_TASK or "
                "RASPA_MAX_SUBSCRIBERS_PER_TASK"
            )

    @property
    def task_item_worst_bytes(self) -> int:
        """The largest a task item can grow: its record, full requester and subscriber
        sets of the longest ids, and its other attributes."""
        return (
            self.max_record_bytes
            + self.max_requesters_per_task * (MAX_USER_LENGTH + 1)
            + self.max_subscribers_per_task * (MAX_CONNECTION_ID_LENGTH + 1)
            + TASK_ITEM_OVERHEAD_BYTES
        )

    @property
    def max_receive_count(self) -> int:
        """The queues' redrive threshold: the real attempts plus room for throttled receives.

        Attempts are counted in the task item, not by SQS, so receives that Lambda's
        pollers return unprocessed (throttling) never send a message to the DLQ by
        themselves; a task that is out of attempts hands its message back at once and SQS
        moves it after these extra receives. The first extra receive also lets the worker
        see a task whose last attempt died (timeout, crash) and mark it FAILURE.
        """
        return self.max_attempts + THROTTLE_ALLOWANCE

    @property
    def jwks_url(self) -> str:
        return self.auth_jwks_url or (self.auth_issuer.rstrip("/") + "/.well-known/jwks.json")

    @property
    def cognito_endpoint(self) -> str:
        return self.auth_cognito_endpoint or f"https://cognito-idp.{self.region}.amazonaws.com/"


def _convert(name: str, raw: str, kind: type) -> object:
    try:
        if kind is bool:
            return raw.strip().lower() in {"1", "true", "yes", "on"}
        if kind is int:
            return int(raw)
        if kind is float:
            return float(raw)
    except ValueError:
        raise ConfigurationError(
            f"{_env_name(name)}={raw!r} is not a valid {kind.__name__}"
        ) from None
    return raw
