"""The JSON bodies of the HTTP API as OpenAPI schema components, and the small builders
``openapi`` uses for the rest of the document. Task and batch states come from the domain,
error bodies with keys of their own from the error table."""

from __future__ import annotations

from typing import Any, Sequence

from chalicelib.domain.batches import COUNTS, BatchStatus
from chalicelib.domain.messages import REASONS
from chalicelib.domain.tasks import ACTIVE, TASK_ID_PATTERN, TaskStatus
from chalicelib.http.errortable import BY_CODE, ErrorCode

__all__ = [
    "JSON",
    "content",
    "date_time",
    "error_body",
    "integer",
    "json_body",
    "obj",
    "ref",
    "schemas",
    "string",
]

JSON = "application/json"


def content(schema: dict[str, Any]) -> dict[str, Any]:
    """A JSON ``content`` map of ``schema``."""
    return {JSON: {"schema": schema}}


def ref(name: str, kind: str = "schemas") -> dict[str, str]:
    """A reference to the component ``name`` (a schema, or a response)."""
    return {"$ref": f"#/components/{kind}/{name}"}


def json_body(
    description: str, schema: dict[str, Any], headers: dict[str, Any] | None = None
) -> dict[str, Any]:
    """A response with a JSON body."""
    response: dict[str, Any] = {"description": description, "content": content(schema)}
    if headers:
        response["headers"] = headers
    return response


def obj(
    _doc: str = "", _required: Sequence[str] | None = None, **properties: Any
) -> dict[str, Any]:
    """An object schema of ``properties``: all required, unless ``_required`` says which."""
    schema: dict[str, Any] = {"type": "object"}
    if _doc:
        schema["description"] = _doc
    required = list(properties) if _required is None else list(_required)
    if required:
        schema["required"] = required
    schema["properties"] = properties
    return schema


def string(*enum: Any, **extra: Any) -> dict[str, Any]:
    """A string schema, one of ``enum`` if given."""
    return {"type": "string", **({"enum": list(enum)} if enum else {}), **extra}


def date_time(description: str, **extra: Any) -> dict[str, Any]:
    return {"type": "string", "format": "date-time", "description": description, **extra}


def integer(description: str, minimum: int = 0) -> dict[str, Any]:
    return {"type": "integer", "minimum": minimum, "description": description}


def percent() -> dict[str, Any]:
    """A percentage, 0 to 100."""
    return {"type": "integer", "minimum": 0, "maximum": 100}


def error_body(spec: ErrorCode) -> dict[str, Any]:
    """The body of an error code with keys of its own, every one of them present."""
    return obj(error=string(spec.code), message=string(), **spec.extra)


def schemas() -> dict[str, Any]:
    """The document's ``components.schemas``."""
    history = {
        "type": "array",
        "description": "The OS's history rows (demo: `data`, `evento`, `responsavel`).",
        "items": {"type": "object", "additionalProperties": True},
    }
    os_data = {
        **obj(
            "The OS's fields, named by the portal profile (demo: `numero`, `situacao`, "
            "`tipo_servico`, `cliente`, `endereco`, `data_abertura`, `prazo`, `tecnico`, "
            "`descricao`; dates as YYYY-MM-DD), each a string, an integer or null as the "
            "profile's `clean` says (docs/profile.md), and `historico`.",
            _required=(),
            historico=history,
        ),
        "additionalProperties": True,
    }
    task_error = obj(
        "FAILURE and RETRY only: a reason code and a message for people (never a portal "
        "URL or account).",
        reason=string(*REASONS, None, nullable=True),
        message=string(nullable=True),
    )
    task_result = {
        "description": (
            "SUCCESS: the OS's data (an object); FAILURE and RETRY: the error message; "
            "otherwise null."
        ),
        "anyOf": [ref("OsData"), string(nullable=True)],
    }
    upload = obj(
        "PUT the file's bytes to `url` with these `headers`.",
        url=string(),
        method=string("PUT"),
        headers={"type": "object", "additionalProperties": string()},
        expires_in=integer("Seconds the URL stays valid.", 1),
        max_bytes=integer("Largest file accepted.", 1),
    )
    results = obj(
        "Presigned downloads of the results (status `complete`).",
        csv_url=string(),
        json_url=string(),
        expires_in=integer("Seconds the URLs stay valid.", 1),
    )
    return {
        "Error": obj(
            "raspa's error body; some codes add keys (`rule`, `retry_after`...).",
            error=string(description="Machine-readable code."),
            message=string(description="Human-readable explanation."),
        ),
        "GatewayError": obj(
            "API Gateway's own refusal (its authorizer, not raspa).",
            _required=(),
            message=string(nullable=True),
            Message=string(),
        ),
        "FrameworkError": obj(
            "A refusal by the web framework (Chalice) before raspa's code runs.",
            Code=string(),
            Message=string(),
        ),
        "OsData": os_data,
        "Found": obj(
            status=string("found"),
            numero_os=string(),
            data=ref("OsData"),
            scraped_at=date_time("When the portal was read (UTC)."),
        ),
        "Queued": obj(
            status=string("queued"),
            numero_os=string(),
            task_id=string(pattern=f"^{TASK_ID_PATTERN}$"),
            task_status=string(*(s.value for s in TaskStatus if s in ACTIVE)),
            position=integer("Waiting tasks that start before this one."),
            estimated_time=integer("Seconds until the result, estimated."),
            message=string(description="Whether a scrape was queued or an active one joined."),
        ),
        "NotFoundCached": obj(
            "The portal recently answered that this OS does not exist.",
            status=string("not_found"),
            error=string(BY_CODE["os_not_found"].code),
            message=string(),
            numero_os=string(),
            checked_at=date_time("When the portal said so (UTC)."),
        ),
        "RateLimited": error_body(BY_CODE["rate_limited"]),
        "TaskStatus": obj(
            _required=("task_id", "numero_os", "status", "progress", "step", "attempts", "result"),
            task_id=string(),
            numero_os=string(),
            status=string(*(s.value for s in TaskStatus)),
            progress=percent(),
            step=string(nullable=True),
            attempts=integer("Scrape attempts started so far."),
            result=task_result,
            error=task_error,
            position=integer("PENDING only: waiting tasks that start before this one."),
            estimated_time=integer("PENDING only: seconds until the result, estimated."),
        ),
        "OsRecord": obj(
            numero_os=string(),
            outcome=string("ok"),
            data=ref("OsData"),
            scraped_at=date_time("When the portal was read (UTC)."),
            expires_at=date_time("When the cache stops serving it to lookups (UTC)."),
        ),
        "BatchCounts": obj(
            "Data lines of the file (blank ones ignored) and what became of them: every "
            "line is `valid` (a distinct number), `invalid` or one of the `duplicates`; "
            "every valid number is answered from the cache (`cached`), joins an active "
            "scrape (`joined`) or gets one (`queued`), and ends `succeeded`, `failed` or "
            "`not_found`.",
            **{name: integer(name) for name in COUNTS},
        ),
        "Batch": obj(
            _required=("batch_id", "status", "counts", "progress"),
            batch_id=string(),
            status=string(*(s.value for s in BatchStatus)),
            filename=string(nullable=True),
            counts=ref("BatchCounts"),
            progress=percent(),
            error=string(
                nullable=True,
                description="Why the file was rejected (status `rejected`), or `cancelled`.",
            ),
            created_at=date_time("When the batch was created.", nullable=True),
            finished_at=date_time("When it completed.", nullable=True),
            results=results,
        ),
        "BatchCreated": obj(
            _required=("batch_id", "status", "upload", "status_url"),
            batch_id=string(),
            status=string("awaiting_upload"),
            status_url=string(),
            upload=upload,
        ),
        "Health": obj(status=string("ok"), service=string("raspa")),
    }
