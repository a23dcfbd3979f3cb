"""raspa: Chalice routes and event handlers. Wiring only; the logic lives in chalicelib/.

Every Lambda function imports this module, so it imports nothing heavy at load time: the
container's ``Services`` (``chalicelib.composition``) are built from the environment's
settings on first use, and each service inside them on its own first use.
"""

from __future__ import annotations

from typing import Any

from chalice import AuthResponse, Chalice, Response

from chalicelib import tracing
from chalicelib.composition import Services
from chalicelib.config import Settings
from chalicelib.domain.identity import Identity
from chalicelib.http import gateway
from chalicelib.http.responses import body_problem, error, handles_errors, json_response
from chalicelib.http.views import lookup_answer, record_body, status_body
from chalicelib.observability import correlate, flush_metrics, logger

app = Chalice(app_name="raspa", configure_logs=False)
app.experimental_feature_flags.update(["WEBSOCKETS"])

#: The queues the event sources below bind when the app is packaged.
DEPLOYED = Settings.from_env(validate=False)


# ------------------------------------------------------------------- wiring
_services: Services | None = None


def services() -> Services:
    """This container's services, built from the environment's settings on first use."""
    global _services
    if _services is None:
        settings = Settings.from_env()
        tracing.configure(settings.tracing)
        _services = Services.build(settings)
    return _services


def use(built: Services | None) -> None:
    """Serve from ``built`` from now on (the local stack and tests build their own);
    None goes back to the environment's."""
    global _services
    _services = built


@app.middleware("all")
def observe(event: Any, get_response: Any) -> Any:
    """Every handler: traced where Lambda traces, metrics flushed as EMF at the end,
    correlation keys cleared."""
    from chalicelib.tracing import span

    services()  # settings first: they say whether this function is traced
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
    return Response(**gateway.page_response(services().page))


@app.route("/health", methods=["GET"])
def health() -> Any:
    return json_response(200, {"status": "ok", "service": "raspa"})


@app.authorizer(ttl_seconds=300)
def jwt_auth(auth_request: Any) -> Any:
    """Verify the bearer token; API Gateway caches the answer per token for 5 minutes."""
    identity = gateway.authorize(services().verifier, auth_request.token)
    if identity is None:
        return AuthResponse(routes=[], principal_id="anonymous")
    context = gateway.authorizer_context(identity)
    return AuthResponse(routes=["*"], principal_id=identity.user, context=context)


def current_identity() -> Identity:
    """Who is calling, as the authorizer established it."""
    return gateway.identity_of(app.current_request.context)


@app.route("/buscar-os-async/{numero_os}", methods=["POST"], authorizer=jwt_auth)
@handles_errors
def buscar_os_async(numero_os: str) -> Any:
    problem = body_problem(app.current_request)
    if problem is not None:
        return problem
    refresh = gateway.flag((app.current_request.query_params or {}).get("refresh"))
    if refresh is None:
        return error(400, "invalid_parameter", "refresh must be true or false")
    identity = current_identity()
    outcome = services().lookup.lookup(numero_os, refresh=refresh, identity=identity)
    connection_id = (app.current_request.headers or {}).get("x-connection-id")
    if connection_id and outcome.task is not None:
        services().websocket.follow(outcome.task.task_id, connection_id, identity.user)
    answer = lookup_answer(outcome)
    return json_response(answer.http_status, answer.body)


@app.route("/scraping-status/{task_id}", methods=["GET"], authorizer=jwt_auth)
@handles_errors
def scraping_status(task_id: str) -> Any:
    outcome = services().lookup.status(task_id, current_identity().user)
    return json_response(200, status_body(outcome))


@app.route("/os/{numero_os}", methods=["GET"], authorizer=jwt_auth)
@handles_errors
def get_os(numero_os: str) -> Any:
    entry = services().lookup.record(numero_os)
    if entry is None:
        return error(404, "os_not_stored", f"OS {numero_os} has not been scraped yet")
    return json_response(200, record_body(entry))


@app.route("/batches", methods=["POST"], authorizer=jwt_auth)
@handles_errors
def create_batch() -> Any:
    problem = body_problem(app.current_request)
    if problem is not None:
        return problem
    body = app.current_request.json_body or {}
    return json_response(201, services().batches.create(current_identity(), body))


@app.route("/batches/{batch_id}", methods=["GET"], authorizer=jwt_auth)
@handles_errors
def batch_status(batch_id: str) -> Any:
    return json_response(200, services().batches.view(batch_id, current_identity().user))


@app.route("/batches/{batch_id}", methods=["DELETE"], authorizer=jwt_auth)
@handles_errors
def cancel_batch(batch_id: str) -> Any:
    return json_response(202, services().batches.cancel(batch_id, current_identity().user))


@app.route("/openapi.json", methods=["GET"], authorizer=jwt_auth)
def openapi() -> Any:
    """The HTTP API described as OpenAPI 3 (kept true to the routes by a test)."""
    from chalicelib.http.openapi import document

    profile = services().profile
    return json_response(200, document(profile.number_pattern, profile.number_description))


# --------------------------------------------------------------- WebSocket
@app.on_ws_connect()
def ws_connect(event: Any) -> Any:
    """A connection needs a valid token in its query string (?token=...)."""
    s = services()
    query = event.to_dict().get("queryStringParameters")
    limit = s.settings.max_connections_per_user
    return gateway.handshake(s.verifier, s.websocket, event.connection_id, query, limit)


@app.on_ws_message()
def ws_message(event: Any) -> None:
    services().websocket.message(event.connection_id, event.body)


@app.on_ws_disconnect()
def ws_disconnect(event: Any) -> None:
    services().websocket.disconnect(event.connection_id)


# ------------------------------------------------------------------ worker
@app.on_sqs_message(queue=DEPLOYED.queue_name, batch_size=1)
def scrape_worker(event: Any) -> None:
    for record in event:
        raw = record.to_dict()
        services().worker.handle_record(
            record.body,
            record.receipt_handle,
            raw.get("attributes", {}),
            raw.get("eventSourceARN", ""),
            raw.get("messageId", ""),
        )


@app.on_sqs_message(queue=DEPLOYED.ingest_queue_name, batch_size=1, name="batch_ingest")
def batch_ingest(event: Any) -> None:
    """S3's notifications of uploaded batch files, and the ingest's continuations."""
    remaining = event.context.get_remaining_time_in_millis
    for record in event:
        outcome = services().batches.handle_message(record.body, remaining)
        logger.info("batch ingest message handled", extra={"outcome": outcome})
