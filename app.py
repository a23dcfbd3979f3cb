"""raspa: Chalice routes and event handlers. Wiring only; the logic lives in chalicelib/.

Every Lambda function imports this module, so it imports nothing heavy at load time:
services are built on first use by the cached getters below, once per container.
"""

from __future__ import annotations

import os
from functools import lru_cache
from typing import Any

from chalice import AuthResponse, Chalice, Response

from chalicelib.config import Settings
from chalicelib.errors import ConfigurationError
from chalicelib.http.responses import (
    body_problem,
    error,
    handles_errors,
    json_response,
    too_many_connections,
)
from chalicelib.observability import correlate, flush_metrics, logger

app = Chalice(app_name="raspa", configure_logs=False)
app.experimental_feature_flags.update(["WEBSOCKETS"])

QUEUE_NAME = os.environ.get("RASPA_QUEUE_NAME", "raspa-scrape")
INGEST_QUEUE_NAME = os.environ.get("RASPA_INGEST_QUEUE_NAME", "raspa-batch-ingest")
CSP = (
    "default-src 'self'; script-src 'self' 'unsafe-inline'; style-src 'self' 'unsafe-inline'; "
    "connect-src 'self' ws: wss: http: https:; img-src 'self' data:; frame-ancestors 'none'"
)


# ------------------------------------------------------------------- wiring
@lru_cache(maxsize=1)
def get_settings() -> Settings:
    return Settings.from_env()


@lru_cache(maxsize=1)
def get_profile() -> Any:
    from chalicelib.domain.profile import DEFAULT_PROFILE_PATH, load_profile

    s = get_settings()
    return load_profile(s.profile_path or DEFAULT_PROFILE_PATH, base_url=s.portal_base_url or None)


@lru_cache(maxsize=1)
def get_models() -> Any:
    from chalicelib.adapters.dynamo.models import build_models

    s = get_settings()
    return build_models(s.os_table, s.tasks_table, s.region, s.connections_table)


@lru_cache(maxsize=1)
def get_store() -> Any:
    """Every DynamoDB store, one per concern (``DynamoStores``)."""
    from chalicelib.adapters.dynamo.stores import DynamoStores

    return DynamoStores.build(get_settings(), get_models())


@lru_cache(maxsize=1)
def get_sqs() -> Any:
    import boto3

    return boto3.client("sqs", region_name=get_settings().region)


@lru_cache(maxsize=1)
def get_queue() -> Any:
    """The standard lane."""
    from chalicelib.adapters.queue import ScrapeQueue

    s = get_settings()
    if s.queue_url:
        return ScrapeQueue(get_sqs(), s.queue_url, "standard")
    return ScrapeQueue.by_name(get_sqs(), s.queue_name, "standard")


@lru_cache(maxsize=1)
def get_priority_queue() -> Any:
    """The VIP lane."""
    from chalicelib.adapters.queue import ScrapeQueue

    s = get_settings()
    if s.priority_queue_url:
        return ScrapeQueue(get_sqs(), s.priority_queue_url, "vip")
    return ScrapeQueue.by_name(get_sqs(), s.priority_queue_name, "vip")


@lru_cache(maxsize=1)
def get_batch_queue() -> Any:
    """The batch lane (below both interactive lanes)."""
    from chalicelib.adapters.queue import ScrapeQueue

    s = get_settings()
    if s.batch_queue_url:
        return ScrapeQueue(get_sqs(), s.batch_queue_url, "batch")
    return ScrapeQueue.by_name(get_sqs(), s.batch_queue_name, "batch")


@lru_cache(maxsize=1)
def get_ingest_queue() -> Any:
    """Upload notifications and the batch ingest's own continuations."""
    from chalicelib.adapters.queue import ScrapeQueue

    s = get_settings()
    if s.ingest_queue_url:
        return ScrapeQueue(get_sqs(), s.ingest_queue_url)
    return ScrapeQueue.by_name(get_sqs(), s.ingest_queue_name)


def get_lanes() -> dict[str, Any]:
    """Queues by lane, resolved on first use (a standard user never needs the VIP one)."""
    return _Lanes()


class _Lanes(dict):
    def __missing__(self, lane: str) -> Any:
        return {"vip": get_priority_queue, "batch": get_batch_queue}.get(lane, get_queue)()


@lru_cache(maxsize=1)
def get_bucket() -> Any:
    import boto3
    from botocore.config import Config

    from chalicelib.adapters.bucket import BatchBucket

    s = get_settings()
    # SigV4 presigned URLs: SigV2 puts the content type in the query, which a browser's
    # CORS preflight cannot match (and SigV2 is legacy in every region).
    client = boto3.client("s3", region_name=s.region, config=Config(signature_version="s3v4"))
    return BatchBucket(client, s.batch_bucket)


@lru_cache(maxsize=1)
def get_batches() -> Any:
    from chalicelib.services.batches import build_batch_service

    return build_batch_service(
        get_settings(),
        get_store(),
        bucket=get_bucket(),
        batch_queue=get_batch_queue(),
        ingest_queue=get_ingest_queue(),
        profile=get_profile(),
        notifier=get_notifier(),
    )


def _batch_task_finished(task: Any) -> None:
    """Only tasks some batch waits for need the batch service (built on first use)."""
    if task.batch_id or task.waiters:
        get_batches().task_finished(task)


def _batch_slot_freed() -> None:
    get_batches().release()


@lru_cache(maxsize=1)
def get_verifier() -> Any:
    import jwt

    from chalicelib.adapters.auth import TokenVerifier

    s = get_settings()
    jwks = jwt.PyJWKClient(s.jwks_url, cache_keys=True, lifespan=3600, timeout=5)
    return TokenVerifier(
        issuer=s.auth_issuer,
        client_id=s.auth_client_id,
        jwks_client=jwks,
        vip_group=s.vip_group,
        leeway_seconds=s.auth_leeway_seconds,
    )


@lru_cache(maxsize=1)
def get_lookup() -> Any:
    from chalicelib.services.lookup import Limits, LookupService, MeanDuration

    s = get_settings()
    stores = get_store()
    return LookupService(
        get_lanes(),
        get_profile(),
        cache=stores.cache,
        tasks=stores.tasks,
        runs=stores.runs,
        queue_index=stores.queue_index,
        concurrency=s.concurrency,
        mean_duration=MeanDuration(stores.stats.mean_scrape_seconds, s.default_scrape_seconds),
        limits=Limits(s.rate_limit, s.vip_rate_limit, s.rate_window_seconds),
    )


@lru_cache(maxsize=1)
def get_scraper() -> Any:
    """One portal session per warm container, reused across invocations."""
    from chalicelib.adapters.credentials import portal_credentials
    from chalicelib.adapters.scraper import PortalScraper, ScrapeLimits
    from chalicelib.adapters.transport import build_session

    s = get_settings()
    profile = get_profile()
    session = build_session(
        connect_timeout=s.connect_timeout_seconds,
        read_timeout=s.read_timeout_seconds,
        origin=profile.base_url,  # the adapter refuses any other origin
    )
    limits = ScrapeLimits(
        request_timeout_seconds=s.portal_request_timeout_seconds,
        max_page_bytes=s.max_page_bytes,
        max_history_rows=s.max_history_rows,
    )
    credentials = portal_credentials(s, get_secrets())
    return PortalScraper(session, profile, credentials, limits=limits)


@lru_cache(maxsize=1)
def get_secrets() -> Any:
    """Secrets Manager through Powertools' caching provider, one per container."""
    import boto3
    from aws_lambda_powertools.utilities.parameters import SecretsProvider

    return SecretsProvider(
        boto3_client=boto3.client("secretsmanager", region_name=get_settings().region)
    )


@lru_cache(maxsize=1)
def get_notifier() -> Any:
    from chalicelib.services.notify import Notifier

    s = get_settings()
    return Notifier(get_store().connections, _management_client if s.ws_endpoint else None)


@lru_cache(maxsize=1)
def _management_client() -> Any:
    import boto3

    s = get_settings()
    return boto3.client("apigatewaymanagementapi", endpoint_url=s.ws_endpoint, region_name=s.region)


@lru_cache(maxsize=1)
def get_websocket() -> Any:
    from chalicelib.services.websocket import WebSocketService

    notifier = get_notifier()
    return WebSocketService(notifier.registry, notifier, get_lookup())


@lru_cache(maxsize=1)
def get_worker() -> Any:
    from chalicelib.services.worker import ScrapeWorker

    s = get_settings()
    stores = get_store()
    return ScrapeWorker(
        {
            s.queue_name: get_queue(),
            s.priority_queue_name: get_priority_queue(),
            s.batch_queue_name: get_batch_queue(),
        },
        get_scraper,
        tasks=stores.tasks,
        runs=stores.runs,
        max_attempts=s.max_attempts,
        retry_base_delay_seconds=s.retry_base_delay_seconds,
        # Stop starting requests early enough to record the outcome before Lambda's limit.
        time_budget_seconds=max(1.0, s.scrape_timeout_seconds - s.read_timeout_seconds - 5),
        max_record_bytes=s.max_record_bytes,
        notify=get_notifier().task_event,
        on_finished=_batch_task_finished,
        on_batch_slot=_batch_slot_freed,
    )


def reset_wiring() -> None:
    """Forget every cached service (tests and the local runtime call this)."""
    for getter in (
        get_settings,
        get_secrets,
        get_sqs,
        get_priority_queue,
        get_batch_queue,
        get_ingest_queue,
        get_bucket,
        get_batches,
        get_verifier,
        get_models,
        get_notifier,
        _management_client,
        get_websocket,
        get_page,
        get_profile,
        get_store,
        get_queue,
        get_lookup,
        get_scraper,
        get_worker,
    ):
        getter.cache_clear()


@app.middleware("all")
def observe(event: Any, get_response: Any) -> Any:
    """Every handler: traced where Lambda traces, metrics flushed as EMF at the end,
    correlation keys cleared."""
    from chalicelib.tracing import span

    try:
        with span(f"## {type(event).__name__}"):
            return get_response(event)
    finally:
        flush_metrics()
        correlate(None)
        logger.remove_keys(["task_id", "numero_os", "batch_id"])


# ---------------------------------------------------------------- HTTP API
@app.route("/", methods=["GET"])
def index() -> Any:
    return Response(
        body=get_page(),
        status_code=200,
        headers={
            "Content-Type": "text/html; charset=utf-8",
            "Cache-Control": "no-cache",
            "Content-Security-Policy": CSP,
        },
    )


@lru_cache(maxsize=1)
def get_page() -> str:
    from chalicelib.http.page import render_page

    s = get_settings()
    return render_page(
        ws_url=s.ws_url, cognito_endpoint=s.cognito_endpoint, client_id=s.auth_client_id
    )


@app.route("/health", methods=["GET"])
def health() -> Any:
    return json_response(200, {"status": "ok", "service": "raspa"})


@app.authorizer(ttl_seconds=300)
def jwt_auth(auth_request: Any) -> Any:
    """Verify the bearer token; API Gateway caches the answer per token for 5 minutes."""
    from chalicelib.adapters.auth import AuthError, bearer_token

    try:
        identity = get_verifier().verify(bearer_token(auth_request.token))
    except (AuthError, ConfigurationError) as exc:
        logger.info("token refused", extra={"reason": str(exc)})
        return AuthResponse(routes=[], principal_id="anonymous")
    return AuthResponse(
        routes=["*"],
        principal_id=identity.user,
        context={"user": identity.user, "vip": str(identity.vip).lower()},
    )


def current_identity() -> Any:
    """Who is calling, as the authorizer established it."""
    from chalicelib.adapters.auth import Identity

    context = (app.current_request.context or {}).get("authorizer") or {}
    user = context.get("user") or context.get("principalId")
    if not user:
        raise ConfigurationError("route called without the authorizer's identity")
    return Identity(user=str(user), vip=str(context.get("vip")).lower() == "true")


@app.route("/buscar-os-async/{numero_os}", methods=["POST"], authorizer=jwt_auth)
@handles_errors
def buscar_os_async(numero_os: str) -> Any:
    problem = body_problem(app.current_request)
    if problem is not None:
        return problem
    refresh = _flag((app.current_request.query_params or {}).get("refresh"))
    if refresh is None:
        return error(400, "invalid_parameter", "refresh must be true or false")
    identity = current_identity()
    result = get_lookup().lookup(numero_os, refresh=refresh, identity=identity)
    connection_id = (app.current_request.headers or {}).get("x-connection-id")
    if connection_id and result.body.get("task_id"):
        get_websocket().follow(result.body["task_id"], connection_id, identity.user)
    return json_response(result.http_status, result.body)


@app.route("/scraping-status/{task_id}", methods=["GET"], authorizer=jwt_auth)
@handles_errors
def scraping_status(task_id: str) -> Any:
    return json_response(200, get_lookup().status(task_id, current_identity().user))


@app.route("/os/{numero_os}", methods=["GET"], authorizer=jwt_auth)
@handles_errors
def get_os(numero_os: str) -> Any:
    record = get_lookup().record(numero_os)
    if record is None:
        return error(404, "os_not_stored", f"OS {numero_os} has not been scraped yet")
    return json_response(200, record)


@app.route("/batches", methods=["POST"], authorizer=jwt_auth)
@handles_errors
def create_batch() -> Any:
    problem = body_problem(app.current_request)
    if problem is not None:
        return problem
    body = app.current_request.json_body or {}
    return json_response(201, get_batches().create(current_identity(), body))


@app.route("/batches/{batch_id}", methods=["GET"], authorizer=jwt_auth)
@handles_errors
def batch_status(batch_id: str) -> Any:
    return json_response(200, get_batches().view(batch_id, current_identity().user))


@app.route("/batches/{batch_id}", methods=["DELETE"], authorizer=jwt_auth)
@handles_errors
def cancel_batch(batch_id: str) -> Any:
    return json_response(202, get_batches().cancel(batch_id, current_identity().user))


@app.route("/openapi.json", methods=["GET"], authorizer=jwt_auth)
def openapi() -> Any:
    """The HTTP API described as OpenAPI 3 (kept true to the routes by a test)."""
    from chalicelib.http.openapi import document

    profile = get_profile()
    return json_response(200, document(profile.number_pattern, profile.number_description))


def _flag(raw: str | None) -> bool | None:
    if raw is None or raw.lower() in ("false", "0", "no", ""):
        return False
    if raw.lower() in ("true", "1", "yes"):
        return True
    return None


# --------------------------------------------------------------- WebSocket
@app.on_ws_connect()
def ws_connect(event: Any) -> Any:
    """A connection needs a valid token in its query string (?token=...)."""
    from chalicelib.adapters.auth import AuthError, bearer_token

    query = event.to_dict().get("queryStringParameters") or {}
    try:
        identity = get_verifier().verify(bearer_token(query.get("token")))
    except (AuthError, ConfigurationError) as exc:
        logger.info("WebSocket connection refused", extra={"reason": str(exc)})
        return {"statusCode": 401}
    if not get_websocket().connect(event.connection_id, identity.user):
        logger.info("WebSocket connection refused: too many", extra={"user": identity.user})
        return too_many_connections(get_settings().max_connections_per_user)
    return {"statusCode": 200}


@app.on_ws_message()
def ws_message(event: Any) -> None:
    get_websocket().message(event.connection_id, event.body)


@app.on_ws_disconnect()
def ws_disconnect(event: Any) -> None:
    get_websocket().disconnect(event.connection_id)


# ------------------------------------------------------------------ worker
@app.on_sqs_message(queue=QUEUE_NAME, batch_size=1)
def scrape_worker(event: Any) -> None:
    for record in event:
        raw = record.to_dict()
        get_worker().handle_record(
            record.body,
            record.receipt_handle,
            raw.get("attributes", {}),
            raw.get("eventSourceARN", ""),
        )


@app.on_sqs_message(queue=INGEST_QUEUE_NAME, batch_size=1, name="batch_ingest")
def batch_ingest(event: Any) -> None:
    """S3's notifications of uploaded batch files, and the ingest's continuations."""
    remaining = event.context.get_remaining_time_in_millis
    for record in event:
        outcome = get_batches().handle_message(record.body, remaining)
        logger.info("batch ingest message handled", extra={"outcome": outcome})
