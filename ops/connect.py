"""Where the commands go: AWS, or the local stack that ``.raspa/local.json`` describes.

Either way they work with raspa's own services (``Services.build``) on one set of AWS
clients: the stores, the batch service, the scrape and ingest queues and the bucket are
built by the composition root, as for the functions. Against AWS the settings are
``Settings.from_env()`` (the ``RASPA_*`` names) and the clients use boto3's default
credentials; ``--local`` takes the tables, queue URLs and bucket from local.json and
points every client at its moto endpoint with dummy keys. The process environment is
neither read here nor changed.
"""

from __future__ import annotations

import contextlib
import dataclasses
import json
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Mapping

from botocore.exceptions import BotoCoreError, ClientError, EndpointConnectionError

from chalicelib.adapters.aws import AwsClients
from chalicelib.composition import Services
from chalicelib.config import Settings
from chalicelib.errors import QueueError
from ops.letters import DLQ, INGEST, QUEUES, SCRAPE

__all__ = [
    "LOCAL_KEYS",
    "Ops",
    "OpsError",
    "connect",
    "default_state",
    "local_settings",
    "on_aws",
    "on_local",
    "queue_names",
    "read_state",
]

#: The ``Settings`` fields of each queue's URL and name, by role (the DLQ has no URL field).
URL_FIELDS = {SCRAPE: "queue_url", INGEST: "ingest_queue_url"}
NAME_FIELDS = {SCRAPE: "queue_name", INGEST: "ingest_queue_name", DLQ: "dlq_name"}
#: ``.raspa/local.json`` keys of the queue URLs ``make run`` writes (the URL fields' names).
LOCAL_KEYS = {**URL_FIELDS, DLQ: "dlq_url"}
#: The table fields local.json names.
TABLES = ("os_table", "tasks_table", "connections_table")


class OpsError(Exception):
    """Bad input or nothing to talk to: one line for the operator, exit code 2."""


@dataclass
class Ops:
    """What one command works with: raspa's services and the queues that exist."""

    services: Services
    #: Queue URLs and names by role (``scrape``, ``ingest``, ``dlq``): those that exist.
    urls: dict[str, str]
    names: dict[str, str]
    #: Where the commands go, for messages ("the local stack at ...", "AWS us-east-1").
    where: str
    local: bool = False

    @property
    def settings(self) -> Settings:
        return self.services.settings

    @property
    def store(self) -> Any:
        """Every DynamoDB store (``DynamoStores``)."""
        return self.services.store

    @property
    def sqs(self) -> Any:
        """The services' SQS client."""
        return self.services.aws.client("sqs")

    @property
    def batches(self) -> Any:
        """The batch use cases (``BatchService``); the scrape and ingest queues must exist."""
        self.url(SCRAPE)
        self.url(INGEST)
        return self.services.batches

    def url(self, queue: str) -> str:
        if queue not in self.urls:
            raise OpsError(f"no {queue} queue named {self.names[queue]!r} on {self.where}")
        return self.urls[queue]


def connect(
    *,
    local: bool = False,
    state: Path | None = None,
    region: str | None = None,
    endpoint_url: str | None = None,
) -> Ops:
    """AWS (``local`` false) or the local stack whose file is ``state``."""
    if local:
        info = read_state(state or default_state())
        return on_local(info, region=region, endpoint_url=endpoint_url)
    return on_aws(region=region, endpoint_url=endpoint_url)


def on_aws(*, region: str | None = None, endpoint_url: str | None = None) -> Ops:
    """The deployment the ``RASPA_*`` names describe, with boto3's default credentials.

    Queues with a ``RASPA_*_QUEUE_URL`` are used as given; the others (and the DLQ) are
    looked up by name, and those that do not exist are left out.
    """
    settings = Settings.from_env()
    # No WebSocket: a batch's owner reads what ops did in the page or GET /batches/{id}.
    settings = dataclasses.replace(settings, region=region or settings.region, ws_endpoint="")
    services = Services.build(
        settings, AwsClients(region=settings.region, endpoint_url=endpoint_url)
    )
    where = f"AWS {settings.region}" + (f" ({endpoint_url})" if endpoint_url else "")
    return Ops(services, queue_urls(services, look_up=True), queue_names(settings), where)


def on_local(
    info: Mapping[str, Any],
    *,
    region: str | None = None,
    endpoint_url: str | None = None,
    where: str | None = None,
) -> Ops:
    """The local stack ``info`` (local.json's content) describes; only its queues exist.

    Checks that the stack answers (an OpsError naming ``make run`` if not)."""
    endpoint = endpoint_url or str(info["aws_endpoint_url"])
    settings = local_settings(info, region=region)
    aws = AwsClients(
        region=settings.region,
        endpoint_url=endpoint,
        access_key_id="local",  # moto accepts any key; an operator's own stay out of it
        secret_access_key="local",  # noqa: S106 - a dummy key
    )
    services = Services.build(settings, aws)
    dlq_url = str(info.get(LOCAL_KEYS[DLQ]) or "")
    _probe(services.aws.client("sqs"), dlq_url, endpoint)
    urls = queue_urls(services, look_up=False, dlq_url=dlq_url)
    where = where or f"the local stack at {endpoint}"
    return Ops(services, urls, queue_names(settings), where, local=True)


def local_settings(info: Mapping[str, Any], *, region: str | None = None) -> Settings:
    """The settings of the stack ``info`` describes: its tables, its queues (named as
    their URLs end), its bucket and region; the rest the defaults."""
    values: dict[str, Any] = {t: str(info[t]) for t in TABLES if info.get(t)}
    for queue, key in LOCAL_KEYS.items():
        url = str(info.get(key) or "")
        if not url:
            continue
        values[NAME_FIELDS[queue]] = url.rstrip("/").rsplit("/", 1)[-1]
        if queue in URL_FIELDS:
            values[URL_FIELDS[queue]] = url
    if info.get("batch_bucket"):
        values["batch_bucket"] = str(info["batch_bucket"])
    values["region"] = region or str(info.get("region") or Settings.region)
    return dataclasses.replace(Settings(), **values)


def queue_names(settings: Settings) -> dict[str, str]:
    """Every queue's name, by queue."""
    return {queue: getattr(settings, name) for queue, name in NAME_FIELDS.items()}


def queue_urls(services: Services, *, look_up: bool, dlq_url: str = "") -> dict[str, str]:
    """The URLs of the queues that exist, by role: the scrape and ingest queues' from the
    services (``look_up``: by name when the settings give no URL), the DLQ's
    ``dlq_url`` or (``look_up``) found by name."""
    settings, sqs = services.settings, services.aws.client("sqs")
    urls: dict[str, str] = {}
    for queue in QUEUES:
        if queue == DLQ:
            url = dlq_url or (_find(sqs, settings.dlq_name) if look_up else None)
        elif look_up or getattr(settings, URL_FIELDS[queue]):
            url = _scrape_queue_url(services, queue)
        else:
            url = None
        if url:
            urls[queue] = url
    return urls


def _scrape_queue_url(services: Services, queue: str) -> str | None:
    """The URL of the scrape or the ingest queue as the services built it; None if no
    queue of that name exists."""
    try:
        built = services.queue if queue == SCRAPE else services.ingest_queue
    except QueueError as exc:
        cause = exc.__cause__
        if isinstance(cause, services.aws.client("sqs").exceptions.QueueDoesNotExist):
            return None
        if isinstance(cause, ClientError):
            raise cause from None  # "AWS refused GetQueueUrl: ...", as any other call
        raise
    return built.queue_url


def _find(sqs: Any, name: str) -> str | None:
    with contextlib.suppress(sqs.exceptions.QueueDoesNotExist):
        return sqs.get_queue_url(QueueName=name)["QueueUrl"]
    return None


def default_state() -> Path:
    """``make run``'s state file, where the stack writes it (``RASPA_STATE_DIR`` moves it)."""
    from local.stack import STATE_DIR

    return STATE_DIR / "local.json"


def read_state(state: Path) -> dict[str, Any]:
    """local.json's content; an OpsError when there is no usable one."""
    try:
        info = json.loads(state.read_text())
    except FileNotFoundError:
        raise OpsError(
            f"no local stack running: {state} not found (start one with `make run`)"
        ) from None
    except (OSError, ValueError) as exc:
        raise OpsError(f"cannot read {state}: {exc}") from None
    if not isinstance(info, dict) or not info.get("aws_endpoint_url"):
        raise OpsError(f"{state} names no aws_endpoint_url; restart the stack with `make run`")
    return info


def _probe(sqs: Any, dlq_url: str, endpoint: str) -> None:
    """Fail early, in one line, when the local stack is gone or is another one."""
    try:
        sqs.get_queue_attributes(QueueUrl=dlq_url, AttributeNames=["QueueArn"])
    except (EndpointConnectionError, ConnectionError):
        raise OpsError(
            f"no local stack answering at {endpoint} (start one with `make run`)"
        ) from None
    except (ClientError, BotoCoreError) as exc:
        raise OpsError(
            f"the local stack at {endpoint} lacks the queues its local.json names ({exc}); "
            "restart it with `make run`"
        ) from None
