"""Batch uploads' use cases for the API: create a batch and its upload URL, view, cancel.

``BatchService`` is the one object every caller of a batch uses: the API's routes
(here), the ingest function (``services.ingest``), the worker's hooks and ops
(``services.results`` and ``services.ingest``), built by ``build_batch_service``.
"""

from __future__ import annotations

import logging
import re
import time
from typing import Any

from chalicelib.config import Settings
from chalicelib.domain.batches import BatchStatus, counts_of, is_batch_id, new_batch_id
from chalicelib.domain.batchfile import upload_key
from chalicelib.domain.codec import IngestMessage, IngestOp
from chalicelib.domain.identity import Identity
from chalicelib.domain.records import BatchRecord
from chalicelib.errors import BatchFinishedError, BatchNotFoundError, InvalidRequestError
from chalicelib.observability import correlate
from chalicelib.services.ingest import BatchIngest
from chalicelib.services.ports import BatchFiles, IngestQueue, MessageQueue, OsNumbers, UserNotifier
from chalicelib.services.results import BatchLimits
from chalicelib.services.stores import BatchStores

__all__ = ["BatchService", "build_batch_service"]

logger = logging.getLogger(__name__)

_FILENAME = re.compile(r"[^\w.\- ()]+")
_USER = re.compile(r"[A-Za-z0-9._@+-]{1,128}")


class BatchService(BatchIngest):
    """Everything raspa does with a batch, from upload URL to results file: the API's use
    cases here, the ingest function's and the worker's hooks inherited."""

    # ------------------------------------------------------------------ API
    def create(self, identity: Identity, body: dict[str, Any]) -> dict[str, Any]:
        """A new batch and a presigned PUT for its file (``POST /batches``)."""
        size = body.get("size")
        if isinstance(size, bool) or not isinstance(size, int) or size < 1:
            raise InvalidRequestError("invalid_size", "size must be the file's size in bytes")
        if size > self.limits.max_bytes:
            raise InvalidRequestError(
                "file_too_large", f"the file may have at most {self.limits.max_bytes} bytes"
            )
        raw_name = body.get("filename", "batch.csv")
        if not isinstance(raw_name, str) or len(raw_name) > 200:
            raise InvalidRequestError("invalid_filename", "filename must be at most 200 characters")
        if not _USER.fullmatch(identity.user):
            raise InvalidRequestError("invalid_user", "this user name cannot own batch files")
        filename = _FILENAME.sub("_", raw_name).strip() or "batch.csv"
        batch_id = new_batch_id()
        key = upload_key(identity.user, batch_id)
        self.batches.create(batch_id, identity.user, key, filename, size)
        url = self.bucket.upload_url(key, size, "text/csv", self.limits.url_expiry_seconds)
        return {
            "batch_id": batch_id,
            "status": BatchStatus.AWAITING_UPLOAD.value,
            "upload": {
                "url": url,
                "method": "PUT",
                "headers": {"Content-Type": "text/csv"},
                "expires_in": self.limits.url_expiry_seconds,
                "max_bytes": self.limits.max_bytes,
            },
            "status_url": f"/batches/{batch_id}",
        }

    def view(self, batch_id: str, user: str) -> dict[str, Any]:
        """The batch's state for its owner (``GET /batches/{id}``); others get not found."""
        batch = self.batches.get(batch_id) if is_batch_id(batch_id) else None
        if batch is None or batch.owner != user:
            raise BatchNotFoundError(batch_id)
        body = summary(batch)
        if batch.status == BatchStatus.COMPLETE.value and batch.results_csv:
            stem = (batch.filename or "batch.csv").rsplit(".", 1)[0]
            expiry = self.limits.url_expiry_seconds
            body["results"] = {
                "csv_url": self.bucket.download_url(
                    batch.results_csv, f"{stem}-resultados.csv", expiry
                ),
                "json_url": self.bucket.download_url(
                    batch.results_json, f"{stem}-resultados.json", expiry
                ),
                "expires_in": expiry,
            }
        return body

    # --------------------------------------------------------------- cancel
    def cancel(self, batch_id: str, user: str | None) -> dict[str, Any]:
        """Cancel a batch (``DELETE /batches/{id}`` by its owner, or ops with ``user`` None):
        it stops ingesting, and its tasks that have not started and that nobody else waits
        for fail as ``cancelled`` with their OS locks released (by the ingest function,
        which walks the file in chunks). Idempotent; a finished batch is refused."""
        batch = self.batches.get(batch_id) if is_batch_id(batch_id) else None
        if batch is None or (user is not None and batch.owner != user):
            raise BatchNotFoundError(batch_id)
        if batch.status in (BatchStatus.COMPLETE.value, BatchStatus.REJECTED.value):
            raise BatchFinishedError(batch_id, batch.status)
        if batch.status != BatchStatus.CANCELLED.value:
            if self.batches.cancel(batch_id, user) is None:
                return self.cancel(batch_id, user)  # it changed meanwhile: look again
            correlate(batch_id, batch_id=batch_id)
            logger.info("batch cancelled", extra={"batch_id": batch_id, "by": user or "ops"})
            self.ingest.send_body(IngestMessage(IngestOp.CANCEL, batch_id).encode())
            self.notifier.publish_to_user(
                batch.owner, {"batch_id": batch_id, "status": "cancelled"}
            )
        body = summary(self.batches.get(batch_id))
        body["message"] = "lote cancelado; as OS que ainda não começaram foram retiradas da fila"
        return body


def summary(batch: BatchRecord) -> dict[str, Any]:
    counts = counts_of(batch)
    done = counts["succeeded"] + counts["failed"] + counts["not_found"]
    return {
        "batch_id": batch.batch_id,
        "status": batch.status,
        "filename": batch.filename,
        "counts": counts,
        "progress": 100 if not counts["valid"] else int(100 * done / counts["valid"]),
        "error": batch.error,
        "created_at": _iso(batch.created_at),
        "finished_at": _iso(batch.finished_at),
    }


def _iso(epoch: float | None) -> str | None:
    if epoch is None:
        return None
    return time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime(float(epoch)))


def build_batch_service(
    settings: Settings,
    stores: BatchStores,
    *,
    bucket: BatchFiles,
    batch_queue: MessageQueue,
    ingest_queue: IngestQueue,
    profile: OsNumbers,
    notifier: UserNotifier,
) -> BatchService:
    """The batch use cases over ``stores``, as ``settings`` say (the API's functions and the
    ops CLI build them alike)."""
    s = settings
    return BatchService(
        stores.batches,
        bucket,
        stores.batch_lane(batch_queue),
        ingest_queue,
        profile,
        notifier,
        batch_tasks=stores.batch_tasks,
        tasks=stores.tasks,
        runs=stores.runs,
        cache=stores.cache,
        waits=stores.waits,
        limits=BatchLimits(
            max_bytes=s.batch_max_bytes,
            max_lines=s.batch_max_lines,
            daily_lines=s.batch_daily_lines,
            url_expiry_seconds=s.batch_url_expiry_seconds,
        ),
    )
