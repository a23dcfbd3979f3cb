"""The HTTP API described as an OpenAPI 3.0.3 document, served at ``GET /openapi.json``.

Built as a plain dict on first use (per OS number rule) and cached; ``document`` hands
out deep copies. Error responses come from the error table (``errortable``), the bodies
from ``schemas``; every protected route gets the bearer requirement and API Gateway's
refusals, every route that reaches AWS raspa's 503, every route the framework's 415.
``tests/functional/test_openapi.py`` keeps it equal to the app's routes and runs
schemathesis against the app with it. The WebSocket API is not HTTP routes: its
protocol is described in ``info.description``.
"""

from __future__ import annotations

import copy
from functools import lru_cache
from typing import Any, Sequence

from chalicelib.domain.lanes import Lane
from chalicelib.http.errortable import BY_CODE, ERRORS, MAX_BODY_BYTES, ErrorCode, by_status
from chalicelib.http.schemas import content, integer, json_body, obj, ref, schemas, string

__all__ = ["OPENAPI_VERSION", "PUBLIC_ROUTES", "document"]

OPENAPI_VERSION = "3.0.3"
#: Routes anyone may call; every other route needs a bearer token.
PUBLIC_ROUTES = frozenset({("/", "GET"), ("/health", "GET")})
#: Routes whose views reach no AWS service: never answered 503.
_NO_BACKEND = PUBLIC_ROUTES | {("/openapi.json", "GET")}

_BEARER: list[dict[str, list[str]]] = [{"bearerAuth": []}]
#: Error codes whose body has a schema of its own (not ``Error`` with an enum).
_OWN_SCHEMA = {"rate_limited": "RateLimited", "os_not_found": "NotFoundCached"}
#: raspa's 503 answers, documented once as the ``Unavailable`` response.
_UNAVAILABLE = tuple(e for e in ERRORS if e.status == 503 and not e.websocket)
_CONNECTIONS = BY_CODE["too_many_connections"]

_DESCRIPTION = f"""\
On-demand lookup of service orders (OS) scraped from a legacy portal.

`POST /buscar-os-async/{{numero_os}}` answers at once from the cache (200), or queues one
scrape per OS (202, shared by everyone who asks meanwhile) and returns a `task_id`;
follow it with `GET /scraping-status/{{task_id}}` or over the WebSocket API. Every route
except `/` and `/health` needs `Authorization: Bearer <JWT>` (a Cognito token).

Errors raised by raspa are JSON: `{{"error": "<code>", "message": "...", ...}}` with
extra keys per code. API Gateway's own refusals (401, 403) and the framework's (415 for a
`Content-Type` other than JSON, on any route) carry `message` / `Message` instead.

## WebSocket API

A separate API Gateway WebSocket endpoint (its URL is handed to the page) pushes task
progress, so clients need not poll.

* **Connect** with the token in the query string: `wss://.../?token=<JWT>`; a missing or
  refused token closes the handshake with 401; a user who has as many connections open
  as allowed is refused with {_CONNECTIONS.status} `{_CONNECTIONS.code}` (`limit`: how many).
* **Client messages** (JSON objects, at most 4096 bytes):
  * `{{"action": "hello"}}` → `{{"status": "hello", "connection_id": "..."}}`: send that id
    as `X-Connection-Id` on `POST /buscar-os-async` to be subscribed to the task it
    returns;
  * `{{"action": "subscribe", "task_id": "<32 hex>"}}` → the task's current state at once,
    then its events until it finishes (only users who asked for the task may follow it;
    others get `{{"status": "error", "error": "task_not_found", ...}}`);
  * `{{"action": "ping"}}` → `{{"status": "pong"}}`.
  A malformed message gets `{{"status": "error", "error": "invalid_message", "message": ...}}`.
* **Task events** (server → client), each with `task_id` and `numero_os`:
  * `{{"status": "progress", "step": ..., "progress": 0-99, ...}}` (while queued also
    `position`, `estimated_time`, `task_status`; a retry has `step: "retry"`,
    `message` and `retry_in` seconds);
  * `{{"status": "success", "progress": 100, "result": {{...}}}}` (a result too large for
    a frame comes as `result: null, truncated: true, result_url: "/os/{{numero_os}}"`);
  * `{{"status": "error", "message": "...", "reason": "not_found" | "layout_changed" | ...}}`.
"""


def document(number_pattern: str, number_description: str = "") -> dict[str, Any]:
    """The OpenAPI document for a portal profile's OS number rule (a fresh deep copy:
    callers may modify it)."""
    return copy.deepcopy(_build(number_pattern, number_description))


# ------------------------------------------------------------------ helpers
def _error_response(specs: Sequence[ErrorCode]) -> dict[str, Any]:
    """One status's response: any of ``specs``' codes, their extra keys and headers (a
    header only some of them carry is not required)."""
    description = " ".join(f"{s.description.rstrip('.')} (`{s.code}`)." for s in specs)
    headers: dict[str, Any] = {}
    for spec in specs:
        for name, header in spec.headers.items():
            if not all(name in other.headers for other in specs):
                header = {key: value for key, value in header.items() if key != "required"}
            headers[name] = header
    if len(specs) == 1 and specs[0].code in _OWN_SCHEMA:
        return json_body(description, ref(_OWN_SCHEMA[specs[0].code]), headers)
    detail = {"properties": {"error": string(*(s.code for s in specs))}}
    for spec in specs:
        detail["properties"].update(spec.extra)
    return json_body(description, {"allOf": [ref("Error"), detail]}, headers)


def _errors(*codes: str) -> dict[str, Any]:
    """The responses answering ``codes`` (each may hold several, space-separated), by the
    status the error table gives them."""
    groups = by_status(*" ".join(codes).split())
    return {str(status): _error_response(specs) for status, specs in groups.items()}


def _operation(operation_id: str, tag: str, summary: str, **fields: Any) -> dict[str, Any]:
    return {"operationId": operation_id, "tags": [tag], "summary": summary, **fields}


def _link(operation_id: str, **parameters: str) -> dict[str, Any]:
    return {"operationId": operation_id, "parameters": parameters}


def _parameter(
    name: str, where: str, description: str, schema: dict[str, Any], required: bool = True
) -> dict[str, Any]:
    return {
        "name": name,
        "in": where,
        "required": required,
        "description": description,
        "schema": schema,
    }


def _numero_parameter(pattern: str, rule: str) -> dict[str, Any]:
    """The ``numero_os`` path parameter, as the portal profile's ``numero.pattern`` says."""
    anchored = pattern.startswith("^") and pattern.endswith("$") and "|" not in pattern
    # The profile's regex must match the whole number; a JSON Schema pattern searches.
    whole = pattern if anchored and not pattern.endswith("\\$") else f"^(?:{pattern})$"
    description = "The OS number, as the portal profile's `numero.pattern` defines it."
    if rule:
        description += f" Here: {rule}."
    description += " Other values are answered 400 `invalid_os_number`."
    return _parameter("numero_os", "path", description, string(pattern=whole))


def _responses() -> dict[str, Any]:
    gateway = "(answered by API Gateway)."
    return {
        "Unauthorized": json_body(f"No `Authorization` header {gateway}", ref("GatewayError")),
        "Forbidden": json_body(
            "The token was refused: bad signature, expired, another issuer or app client "
            + gateway,
            ref("GatewayError"),
        ),
        "UnsupportedMediaType": json_body(
            "The request has a `Content-Type` other than JSON (answered by the framework, "
            "whatever the route).",
            ref("FrameworkError"),
        ),
        "Unavailable": _error_response(_UNAVAILABLE),
    }


# -------------------------------------------------------------------- paths
def _operations(number_pattern: str, number_description: str) -> dict[tuple[str, str], Any]:
    """Every route's operation, without what ``_paths`` adds to all of them."""
    numero = _numero_parameter(number_pattern, number_description)
    batch_id = [_parameter("batch_id", "path", "A `batch_id` from `POST /batches`.", string())]
    task_id = "A `task_id` from `POST /buscar-os-async` (32 hex digits)."
    refresh = _parameter(
        "refresh",
        "query",
        "Skip the cache and scrape again. Also accepts 1/0 and yes/no (any case); "
        "other values are answered 400 `invalid_parameter`.",
        {"type": "boolean", "default": False},
        required=False,
    )
    connection = _parameter(
        "X-Connection-Id",
        "header",
        "The caller's own open WebSocket connection (from `hello`) to subscribe "
        "to the task; ignored if it is not the caller's or longer than 128.",
        string(),
        required=False,
    )
    small_body = f"Not needed; if sent, a JSON object of at most {MAX_BODY_BYTES} bytes (ignored)."
    new_batch = obj(
        _required=("size",),
        size=integer("The file's size in bytes.", 1),
        filename=string(maxLength=200),
    )
    queued = json_body("A scrape is queued or already running; follow `task_id`.", ref("Queued"))
    created = json_body("The batch, and where to upload its file.", ref("BatchCreated"))
    cancelled = {"allOf": [ref("Batch"), obj(_required=(), message=string())]}
    page = {"description": "The HTML page.", "content": {"text/html": {"schema": string()}}}
    spec = {"type": "object", "required": ["openapi", "info", "paths"]}
    return {
        ("/", "GET"): _operation(
            "index", "meta", "The web page (sign-in and lookups)", responses={"200": page}
        ),
        ("/health", "GET"): _operation(
            "health",
            "meta",
            "Liveness (touches no AWS service)",
            responses={"200": json_body("raspa is up.", ref("Health"))},
        ),
        ("/buscar-os-async/{numero_os}", "POST"): _operation(
            "buscar_os_async",
            "os",
            "Look an OS up: from the cache, or by queueing one scrape",
            description=(
                "A fresh cached OS is answered at once (200). Otherwise the OS's active scrape "
                "is joined, or one is queued (202); only a new scrape counts against the "
                f"caller's rate limit. VIP users' scrapes go to the `{Lane.VIP}` lane, first."
            ),
            parameters=[numero, refresh, connection],
            requestBody={
                "required": False,
                "description": small_body,
                "content": content({"type": "object"}),
            },
            responses={
                "200": json_body("The OS, from the cache.", ref("Found")),
                # No link on the 200: schemathesis 4.32's stateful phase then stops with "no
                # available rule had a True precondition" once a cache hit opens a scenario.
                "202": {
                    **queued,
                    "links": {
                        "status": _link("scraping_status", task_id="$response.body#/task_id"),
                        "stored": _link("get_os", numero_os="$response.body#/numero_os"),
                    },
                },
                **_errors(
                    "invalid_os_number invalid_parameter invalid_body os_not_found",
                    "body_too_large rate_limited",
                ),
            },
        ),
        ("/scraping-status/{task_id}", "GET"): _operation(
            "scraping_status",
            "os",
            "A task's state",
            parameters=[_parameter("task_id", "path", task_id, string())],
            responses={
                "200": json_body("The task's state.", ref("TaskStatus")),
                **_errors("task_not_found"),
            },
        ),
        ("/os/{numero_os}", "GET"): _operation(
            "get_os",
            "os",
            "The stored OS, fresh or not, without scraping",
            parameters=[numero],
            responses={
                "200": json_body("The last successful scrape of the OS.", ref("OsRecord")),
                **_errors("invalid_os_number os_not_stored"),
            },
        ),
        ("/batches", "POST"): _operation(
            "create_batch",
            "batches",
            "Start a batch: get a presigned URL to upload a list of OS numbers",
            description=(
                "The file (at most the returned `max_bytes`) is one number per line, or a CSV "
                "(`,` `;` or tab) with a column named `numero_os`, `os` or `numero`; UTF-8 "
                "with or without BOM, or Windows-1252/Latin-1. Once uploaded it is read, every "
                "line is accounted for, and `GET /batches/{batch_id}` follows it."
            ),
            requestBody={"required": True, "content": content(new_batch)},
            responses={
                "201": {
                    **created,
                    "links": {"status": _link("batch_status", batch_id="$response.body#/batch_id")},
                },
                **_errors(
                    "invalid_size file_too_large invalid_filename invalid_user invalid_body",
                    "body_too_large",
                ),
            },
        ),
        ("/batches/{batch_id}", "GET"): _operation(
            "batch_status",
            "batches",
            "A batch's counts, and its results once complete",
            parameters=batch_id,
            responses={"200": json_body("The batch.", ref("Batch")), **_errors("batch_not_found")},
        ),
        ("/batches/{batch_id}", "DELETE"): _operation(
            "cancel_batch",
            "batches",
            "Cancel a batch: its OS that have not started leave the queue",
            description=(
                "The batch stops ingesting and becomes `cancelled`; its tasks that have not "
                "started and that nobody else waits for fail as `cancelled`, their OS freed "
                "for other lookups (in the background: the answer does not wait for them). "
                "Tasks already running finish. Cancelling a cancelled batch changes nothing."
            ),
            parameters=batch_id,
            responses={
                "202": json_body("The batch, cancelled, with a `message`.", cancelled),
                **_errors("batch_not_found batch_finished"),
            },
        ),
        ("/openapi.json", "GET"): _operation(
            "openapi",
            "meta",
            "This document",
            responses={"200": json_body("The OpenAPI document.", spec)},
        ),
    }


def _paths(number_pattern: str, number_description: str) -> dict[str, Any]:
    """The operations by path, each with its security and the responses every route shares."""
    paths: dict[str, Any] = {}
    for (path, method), operation in _operations(number_pattern, number_description).items():
        responses = operation["responses"]
        if (path, method) in PUBLIC_ROUTES:
            operation["security"] = []
        else:
            operation["security"] = copy.deepcopy(_BEARER)
            responses["401"] = ref("Unauthorized", "responses")
            responses["403"] = ref("Forbidden", "responses")
        if (path, method) not in _NO_BACKEND:
            responses["503"] = ref("Unavailable", "responses")
        responses["415"] = ref("UnsupportedMediaType", "responses")
        paths.setdefault(path, {})[method.lower()] = operation
    return paths


@lru_cache(maxsize=1)
def _build(number_pattern: str, number_description: str) -> dict[str, Any]:
    return {
        "openapi": OPENAPI_VERSION,
        "info": {"title": "raspa", "version": "0.1.0", "description": _DESCRIPTION},
        "tags": [
            {"name": "os", "description": "Service orders: lookups, tasks, stored records."},
            {"name": "batches", "description": "Uploaded lists of OS numbers."},
            {"name": "meta", "description": "The page, health and this document."},
        ],
        "paths": _paths(number_pattern, number_description),
        "components": {
            "schemas": schemas(),
            "responses": _responses(),
            "securitySchemes": {
                "bearerAuth": {
                    "type": "http",
                    "scheme": "bearer",
                    "bearerFormat": "JWT",
                    "description": (
                        "An ID or access token from the Cognito user pool, for raspa's app "
                        "client. Members of the VIP group get their own rate limit and lane."
                    ),
                }
            },
        },
    }
