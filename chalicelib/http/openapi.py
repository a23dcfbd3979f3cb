"""The HTTP API described as an OpenAPI 3.0.3 document, served at ``GET /openapi.json``.

Built as a plain dict on first use (per OS number rule) and cached; ``document`` hands
out deep copies.
``tests/functional/test_openapi.py`` keeps it equal to the app's routes and runs
schemathesis against the app with it. The WebSocket API is not HTTP routes: its
protocol is described in ``info.description``.
"""

from __future__ import annotations

import copy
from functools import lru_cache
from typing import Any

from chalicelib.domain.batches import COUNTS, BatchStatus
from chalicelib.domain.messages import REASONS

__all__ = ["OPENAPI_VERSION", "PUBLIC_ROUTES", "document"]

OPENAPI_VERSION = "3.0.3"
#: Routes anyone may call; every other route needs a bearer token.
PUBLIC_ROUTES = frozenset({("/", "GET"), ("/health", "GET")})

_JSON = "application/json"
_BEARER: list[dict[str, list[str]]] = [{"bearerAuth": []}]
_TASK_STATES = ["PENDING", "STARTED", "PROGRESS", "RETRY", "SUCCESS", "FAILURE"]
_ACTIVE_STATES = ["PENDING", "STARTED", "PROGRESS", "RETRY"]
_BATCH_STATES = [status.value for status in BatchStatus]

_DESCRIPTION = """\
On-demand lookup of service orders (OS) scraped from a legacy portal.

`POST /buscar-os-async/{numero_os}` answers at once from the cache (200), or queues one
scrape per OS (202, shared by everyone who asks meanwhile) and returns a `task_id`;
follow it with `GET /scraping-status/{task_id}` or over the WebSocket API. Every route
except `/` and `/health` needs `Authorization: Bearer <JWT>` (a Cognito token).

Errors raised by raspa are JSON: `{"error": "<code>", "message": "...", ...}` with
extra keys per code. API Gateway's own refusals (401, 403) and the framework's (415 for a
`Content-Type` other than JSON, on any route) carry `message` / `Message` instead.

## WebSocket API

A separate API Gateway WebSocket endpoint (its URL is handed to the page) pushes task
progress, so clients need not poll.

* **Connect** with the token in the query string: `wss://.../?token=<JWT>`; a missing or
  refused token closes the handshake with 401.
* **Client messages** (JSON objects, at most 4096 bytes):
  * `{"action": "hello"}` → `{"status": "hello", "connection_id": "..."}`: send that id
    as `X-Connection-Id` on `POST /buscar-os-async` to be subscribed to the task it
    returns;
  * `{"action": "subscribe", "task_id": "<32 hex>"}` → the task's current state at once,
    then its events until it finishes (only users who asked for the task may follow it;
    others get `{"status": "error", "error": "task_not_found", ...}`);
  * `{"action": "ping"}` → `{"status": "pong"}`.
  A malformed message gets `{"status": "error", "error": "invalid_message", "message": ...}`.
* **Task events** (server → client), each with `task_id` and `numero_os`:
  * `{"status": "progress", "step": ..., "progress": 0-99, ...}` (while queued also
    `position`, `estimated_time`, `task_status`; a retry has `step: "retry"`,
    `message` and `retry_in` seconds);
  * `{"status": "success", "progress": 100, "result": {...}}` (a result too large for
    a frame comes as `result: null, truncated: true, result_url: "/os/{numero_os}"`);
  * `{"status": "error", "message": "...", "reason": "not_found" | "layout_changed" | ...}`.
"""


def document(number_pattern: str, number_description: str = "") -> dict[str, Any]:
    """The OpenAPI document for a portal profile's OS number rule (a fresh deep copy:
    callers may modify it)."""
    return copy.deepcopy(_build(number_pattern, number_description))


# ------------------------------------------------------------------ helpers
def _ref(name: str) -> dict[str, str]:
    return {"$ref": f"#/components/schemas/{name}"}


def _response_ref(name: str) -> dict[str, str]:
    return {"$ref": f"#/components/responses/{name}"}


def _json(
    description: str, schema: dict[str, Any], headers: dict[str, Any] | None = None
) -> dict[str, Any]:
    response: dict[str, Any] = {"description": description, "content": {_JSON: {"schema": schema}}}
    if headers:
        response["headers"] = headers
    return response


def _error(description: str, *codes: str, **properties: Any) -> dict[str, Any]:
    """A raspa error response whose ``error`` is one of ``codes``."""
    detail: dict[str, Any] = {"properties": {"error": {"type": "string", "enum": list(codes)}}}
    detail["properties"].update(properties)
    return _json(description, {"allOf": [_ref("Error"), detail]})


def _link(operation_id: str, **parameters: str) -> dict[str, Any]:
    return {"operationId": operation_id, "parameters": parameters}


def _date_time(description: str) -> dict[str, Any]:
    return {"type": "string", "format": "date-time", "description": description}


def _integer(description: str, minimum: int = 0) -> dict[str, Any]:
    return {"type": "integer", "minimum": minimum, "description": description}


def _protected(operation: dict[str, Any], *, unavailable: bool = True) -> dict[str, Any]:
    """Add the bearer requirement, API Gateway's refusals and (for views that reach AWS)
    raspa's 503."""
    operation["security"] = copy.deepcopy(_BEARER)
    operation["responses"]["401"] = _response_ref("Unauthorized")
    operation["responses"]["403"] = _response_ref("Forbidden")
    if unavailable:
        operation["responses"]["503"] = _response_ref("Unavailable")
    return operation


def _numero_parameter(pattern: str, rule: str) -> dict[str, Any]:
    """The ``numero_os`` path parameter, as the portal profile's ``numero.pattern`` says."""
    anchored = pattern.startswith("^") and pattern.endswith("$") and "|" not in pattern
    # The profile's regex must match the whole number; a JSON Schema pattern searches.
    schema = {
        "type": "string",
        "pattern": pattern if anchored and not pattern.endswith("\\$") else f"^(?:{pattern})$",
    }
    description = "The OS number, as the portal profile's `numero.pattern` defines it."
    if rule:
        description += f" Here: {rule}."
    description += " Other values are answered 400 `invalid_os_number`."
    return {
        "name": "numero_os",
        "in": "path",
        "required": True,
        "description": description,
        "schema": schema,
    }


# --------------------------------------------------------------- components
def _schemas() -> dict[str, Any]:
    os_data = {
        "type": "object",
        "additionalProperties": True,
        "description": (
            "The OS's fields, named by the portal profile (demo: `numero`, `situacao`, "
            "`tipo_servico`, `cliente`, `endereco`, `data_abertura`, `prazo`, `tecnico`, "
            "`descricao`; dates as YYYY-MM-DD), each a string or null, and `historico`."
        ),
        "properties": {
            "historico": {
                "type": "array",
                "description": "The OS's history rows (demo: `data`, `evento`, `responsavel`).",
                "items": {"type": "object", "additionalProperties": True},
            }
        },
    }
    return {
        "Error": {
            "type": "object",
            "description": "raspa's error body; some codes add keys (`rule`, `retry_after`...).",
            "required": ["error", "message"],
            "properties": {
                "error": {"type": "string", "description": "Machine-readable code."},
                "message": {"type": "string", "description": "Human-readable explanation."},
            },
        },
        "GatewayError": {
            "type": "object",
            "description": "API Gateway's own refusal (its authorizer, not raspa).",
            "properties": {
                "message": {"type": "string", "nullable": True},
                "Message": {"type": "string"},
            },
        },
        "FrameworkError": {
            "type": "object",
            "description": "A refusal by the web framework (Chalice) before raspa's code runs.",
            "required": ["Code", "Message"],
            "properties": {"Code": {"type": "string"}, "Message": {"type": "string"}},
        },
        "OsData": os_data,
        "Found": {
            "type": "object",
            "required": ["status", "numero_os", "data", "scraped_at"],
            "properties": {
                "status": {"type": "string", "enum": ["found"]},
                "numero_os": {"type": "string"},
                "data": _ref("OsData"),
                "scraped_at": _date_time("When the portal was read (UTC)."),
            },
        },
        "Queued": {
            "type": "object",
            "required": [
                "status",
                "numero_os",
                "task_id",
                "task_status",
                "position",
                "estimated_time",
                "message",
            ],
            "properties": {
                "status": {"type": "string", "enum": ["queued"]},
                "numero_os": {"type": "string"},
                "task_id": {"type": "string", "pattern": "^[0-9a-f]{32}$"},
                "task_status": {"type": "string", "enum": _ACTIVE_STATES},
                "position": _integer("Waiting tasks that start before this one."),
                "estimated_time": _integer("Seconds until the result, estimated."),
                "message": {
                    "type": "string",
                    "description": "Whether a scrape was queued or an active one joined.",
                },
            },
        },
        "NotFoundCached": {
            "type": "object",
            "description": "The portal recently answered that this OS does not exist.",
            "required": ["status", "error", "message", "numero_os", "checked_at"],
            "properties": {
                "status": {"type": "string", "enum": ["not_found"]},
                "error": {"type": "string", "enum": ["os_not_found"]},
                "message": {"type": "string"},
                "numero_os": {"type": "string"},
                "checked_at": _date_time("When the portal said so (UTC)."),
            },
        },
        "RateLimited": {
            "type": "object",
            "required": ["error", "message", "retry_after", "next_allowed_at", "limit"],
            "properties": {
                "error": {"type": "string", "enum": ["rate_limited"]},
                "message": {"type": "string"},
                "retry_after": _integer("Seconds until a new scrape is allowed.", 1),
                "next_allowed_at": _date_time("When a new scrape is allowed (UTC)."),
                "limit": _integer("New scrapes allowed per rolling window.", 1),
            },
        },
        "TaskStatus": {
            "type": "object",
            "required": [
                "task_id",
                "numero_os",
                "status",
                "progress",
                "step",
                "attempts",
                "result",
            ],
            "properties": {
                "task_id": {"type": "string"},
                "numero_os": {"type": "string"},
                "status": {"type": "string", "enum": _TASK_STATES},
                "progress": {"type": "integer", "minimum": 0, "maximum": 100},
                "step": {"type": "string", "nullable": True},
                "attempts": _integer("Scrape attempts started so far."),
                "result": {
                    "description": (
                        "SUCCESS: the OS's data (an object); FAILURE and RETRY: the error "
                        "message; otherwise null."
                    ),
                    "anyOf": [_ref("OsData"), {"type": "string", "nullable": True}],
                },
                "error": {
                    "type": "object",
                    "description": (
                        "FAILURE and RETRY only: a reason code and a message for people "
                        "(never a portal URL or account)."
                    ),
                    "required": ["reason", "message"],
                    "properties": {
                        "reason": {"type": "string", "nullable": True, "enum": [*REASONS, None]},
                        "message": {"type": "string", "nullable": True},
                    },
                },
                "position": _integer("PENDING only: waiting tasks that start before this one."),
                "estimated_time": _integer("PENDING only: seconds until the result, estimated."),
            },
        },
        "OsRecord": {
            "type": "object",
            "required": ["numero_os", "outcome", "data", "scraped_at", "expires_at"],
            "properties": {
                "numero_os": {"type": "string"},
                "outcome": {"type": "string", "enum": ["ok"]},
                "data": _ref("OsData"),
                "scraped_at": _date_time("When the portal was read (UTC)."),
                "expires_at": _date_time("When the cache stops serving it to lookups (UTC)."),
            },
        },
        "BatchCounts": {
            "type": "object",
            "description": (
                "Data lines of the file (blank ones ignored) and what became of them: every "
                "line is `valid` (a distinct number), `invalid` or one of the `duplicates`; "
                "every valid number is answered from the cache (`cached`), joins an active "
                "scrape (`joined`) or gets one (`queued`), and ends `succeeded`, `failed` or "
                "`not_found`."
            ),
            "required": list(COUNTS),
            "properties": {name: _integer(name) for name in COUNTS},
        },
        "Batch": {
            "type": "object",
            "required": ["batch_id", "status", "counts", "progress"],
            "properties": {
                "batch_id": {"type": "string"},
                "status": {"type": "string", "enum": _BATCH_STATES},
                "filename": {"type": "string", "nullable": True},
                "counts": _ref("BatchCounts"),
                "progress": {"type": "integer", "minimum": 0, "maximum": 100},
                "error": {
                    "type": "string",
                    "nullable": True,
                    "description": "Why the file was rejected (status `rejected`), or `cancelled`.",
                },
                "created_at": {**_date_time("When the batch was created."), "nullable": True},
                "finished_at": {**_date_time("When it completed."), "nullable": True},
                "results": {
                    "type": "object",
                    "description": "Presigned downloads of the results (status `complete`).",
                    "required": ["csv_url", "json_url", "expires_in"],
                    "properties": {
                        "csv_url": {"type": "string"},
                        "json_url": {"type": "string"},
                        "expires_in": _integer("Seconds the URLs stay valid.", 1),
                    },
                },
            },
        },
        "BatchCreated": {
            "type": "object",
            "required": ["batch_id", "status", "upload", "status_url"],
            "properties": {
                "batch_id": {"type": "string"},
                "status": {"type": "string", "enum": ["awaiting_upload"]},
                "status_url": {"type": "string"},
                "upload": {
                    "type": "object",
                    "description": "PUT the file's bytes to `url` with these `headers`.",
                    "required": ["url", "method", "headers", "expires_in", "max_bytes"],
                    "properties": {
                        "url": {"type": "string"},
                        "method": {"type": "string", "enum": ["PUT"]},
                        "headers": {
                            "type": "object",
                            "additionalProperties": {"type": "string"},
                        },
                        "expires_in": _integer("Seconds the URL stays valid.", 1),
                        "max_bytes": _integer("Largest file accepted.", 1),
                    },
                },
            },
        },
        "Health": {
            "type": "object",
            "required": ["status", "service"],
            "properties": {
                "status": {"type": "string", "enum": ["ok"]},
                "service": {"type": "string", "enum": ["raspa"]},
            },
        },
    }


def _responses() -> dict[str, Any]:
    retry_after = {
        "description": "Seconds to wait before trying again (backend_unavailable).",
        "schema": {"type": "integer", "minimum": 0},
    }
    return {
        "Unauthorized": _json(
            "No `Authorization` header (answered by API Gateway).", _ref("GatewayError")
        ),
        "Forbidden": _json(
            "The token was refused: bad signature, expired, another issuer or app client "
            "(answered by API Gateway).",
            _ref("GatewayError"),
        ),
        "UnsupportedMediaType": _json(
            "The request has a `Content-Type` other than JSON (answered by the framework, "
            "whatever the route).",
            _ref("FrameworkError"),
        ),
        "Unavailable": {
            **_error(
                "DynamoDB or SQS could not be reached (`backend_unavailable`), or raspa is "
                "misconfigured (`misconfigured`, `unavailable`).",
                "backend_unavailable",
                "misconfigured",
                "unavailable",
            ),
            "headers": {"Retry-After": retry_after},
        },
    }


# -------------------------------------------------------------------- paths
def _paths(number_pattern: str, number_description: str) -> dict[str, Any]:
    numero = _numero_parameter(number_pattern, number_description)
    lookup = {
        "operationId": "buscar_os_async",
        "tags": ["os"],
        "summary": "Look an OS up: from the cache, or by queueing one scrape",
        "description": (
            "A fresh cached OS is answered at once (200). Otherwise the OS's active scrape is "
            "joined, or one is queued (202); only a new scrape counts against the caller's "
            "rate limit. VIP users' scrapes go to the priority lane."
        ),
        "parameters": [
            numero,
            {
                "name": "refresh",
                "in": "query",
                "required": False,
                "description": (
                    "Skip the cache and scrape again. Also accepts 1/0 and yes/no (any case); "
                    "other values are answered 400 `invalid_parameter`."
                ),
                "schema": {"type": "boolean", "default": False},
            },
            {
                "name": "X-Connection-Id",
                "in": "header",
                "required": False,
                "description": (
                    "The caller's own open WebSocket connection (from `hello`) to subscribe "
                    "to the task; ignored if it is not the caller's or longer than 128."
                ),
                "schema": {"type": "string"},
            },
        ],
        "requestBody": {
            "required": False,
            "description": "Not needed; if sent, a JSON object of at most 1024 bytes (ignored).",
            "content": {_JSON: {"schema": {"type": "object"}}},
        },
        "responses": {
            "200": _json("The OS, from the cache.", _ref("Found")),
            # No link on the 200: schemathesis 4.32's stateful phase then stops with "no
            # available rule had a True precondition" once a cache hit opens a scenario.
            "202": {
                **_json("A scrape is queued or already running; follow `task_id`.", _ref("Queued")),
                "links": {
                    "status": _link("scraping_status", task_id="$response.body#/task_id"),
                    "stored": _link("get_os", numero_os="$response.body#/numero_os"),
                },
            },
            "400": _error(
                "Invalid OS number (`invalid_os_number`, with the `rule`), `refresh` value "
                "(`invalid_parameter`) or body (`invalid_body`).",
                "invalid_os_number",
                "invalid_parameter",
                "invalid_body",
                rule={"type": "string", "description": "invalid_os_number: the rule broken."},
            ),
            "404": _json(
                "The portal has no such OS (remembered for a while).", _ref("NotFoundCached")
            ),
            "413": _error("The body is larger than 1024 bytes.", "body_too_large"),
            "429": _json(
                "The caller started too many scrapes in the rolling window.",
                _ref("RateLimited"),
                {
                    "Retry-After": {
                        "required": True,
                        "description": "Seconds until a new scrape is allowed.",
                        "schema": {"type": "integer", "minimum": 1},
                    }
                },
            ),
        },
    }
    status = {
        "operationId": "scraping_status",
        "tags": ["os"],
        "summary": "A task's state",
        "parameters": [
            {
                "name": "task_id",
                "in": "path",
                "required": True,
                "description": "A `task_id` from `POST /buscar-os-async` (32 hex digits).",
                "schema": {"type": "string"},
            }
        ],
        "responses": {
            "200": _json("The task's state.", _ref("TaskStatus")),
            "404": _error(
                "No such task, or the caller never asked for it (`task_not_found`).",
                "task_not_found",
            ),
        },
    }
    record = {
        "operationId": "get_os",
        "tags": ["os"],
        "summary": "The stored OS, fresh or not, without scraping",
        "parameters": [numero],
        "responses": {
            "200": _json("The last successful scrape of the OS.", _ref("OsRecord")),
            "400": _error(
                "Invalid OS number (`invalid_os_number`, with the `rule`).",
                "invalid_os_number",
                rule={"type": "string", "description": "The rule broken."},
            ),
            "404": _error(
                "No successful scrape of the OS is stored (`os_not_stored`).", "os_not_stored"
            ),
        },
    }
    spec = {
        "operationId": "openapi",
        "tags": ["meta"],
        "summary": "This document",
        "responses": {
            "200": _json(
                "The OpenAPI document.",
                {"type": "object", "required": ["openapi", "info", "paths"]},
            )
        },
    }
    create_batch = {
        "operationId": "create_batch",
        "tags": ["batches"],
        "summary": "Start a batch: get a presigned URL to upload a list of OS numbers",
        "description": (
            "The file (at most the returned `max_bytes`) is one number per line, or a CSV "
            "(`,` `;` or tab) with a column named `numero_os`, `os` or `numero`; UTF-8 with "
            "or without BOM, or Windows-1252/Latin-1. Once uploaded it is read, every line "
            "is accounted for, and `GET /batches/{batch_id}` follows it."
        ),
        "requestBody": {
            "required": True,
            "content": {
                _JSON: {
                    "schema": {
                        "type": "object",
                        "required": ["size"],
                        "properties": {
                            "size": _integer("The file's size in bytes.", 1),
                            "filename": {"type": "string", "maxLength": 200},
                        },
                    }
                }
            },
        },
        "responses": {
            "201": {
                **_json("The batch, and where to upload its file.", _ref("BatchCreated")),
                "links": {"status": _link("batch_status", batch_id="$response.body#/batch_id")},
            },
            "400": _error(
                "Missing or invalid `size` or `filename`, a file over the size limit, or an "
                "invalid body.",
                "invalid_size",
                "file_too_large",
                "invalid_filename",
                "invalid_user",
                "invalid_body",
            ),
            "413": _error("The body is larger than 1024 bytes.", "body_too_large"),
        },
    }
    batch_status = {
        "operationId": "batch_status",
        "tags": ["batches"],
        "summary": "A batch's counts, and its results once complete",
        "parameters": [
            {
                "name": "batch_id",
                "in": "path",
                "required": True,
                "description": "A `batch_id` from `POST /batches`.",
                "schema": {"type": "string"},
            }
        ],
        "responses": {
            "200": _json("The batch.", _ref("Batch")),
            "404": _error(
                "No such batch, or it is another user's (`batch_not_found`).", "batch_not_found"
            ),
        },
    }
    batch_parameter = batch_status["parameters"]
    cancel_batch = {
        "operationId": "cancel_batch",
        "tags": ["batches"],
        "summary": "Cancel a batch: its OS that have not started leave the queue",
        "description": (
            "The batch stops ingesting and becomes `cancelled`; its tasks that have not "
            "started and that nobody else waits for fail as `cancelled`, their OS freed for "
            "other lookups (in the background: the answer does not wait for them). Tasks "
            "already running finish. Cancelling a cancelled batch changes nothing."
        ),
        "parameters": batch_parameter,
        "responses": {
            "202": _json(
                "The batch, cancelled, with a `message`.",
                {
                    "allOf": [
                        _ref("Batch"),
                        {"type": "object", "properties": {"message": {"type": "string"}}},
                    ]
                },
            ),
            "404": _error(
                "No such batch, or it is another user's (`batch_not_found`).", "batch_not_found"
            ),
            "409": _error(
                "The batch has finished (`complete` or `rejected`): nothing to cancel.",
                "batch_finished",
            ),
        },
    }
    paths = {
        "/": {
            "get": {
                "operationId": "index",
                "tags": ["meta"],
                "summary": "The web page (sign-in and lookups)",
                "security": [],
                "responses": {
                    "200": {
                        "description": "The HTML page.",
                        "content": {"text/html": {"schema": {"type": "string"}}},
                    }
                },
            }
        },
        "/health": {
            "get": {
                "operationId": "health",
                "tags": ["meta"],
                "summary": "Liveness (touches no AWS service)",
                "security": [],
                "responses": {"200": _json("raspa is up.", _ref("Health"))},
            }
        },
        "/buscar-os-async/{numero_os}": {"post": _protected(lookup)},
        "/scraping-status/{task_id}": {"get": _protected(status)},
        "/os/{numero_os}": {"get": _protected(record)},
        "/batches": {"post": _protected(create_batch)},
        "/batches/{batch_id}": {
            "get": _protected(batch_status),
            "delete": _protected(cancel_batch),
        },
        "/openapi.json": {"get": _protected(spec, unavailable=False)},
    }
    for item in paths.values():
        for operation in item.values():
            operation["responses"]["415"] = _response_ref("UnsupportedMediaType")
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
            "schemas": _schemas(),
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
