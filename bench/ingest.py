"""Batch ingest of a 100,000-line file: wall time and AWS calls against their minimum.

Runs in its own process (``python -m bench.ingest LINES DISTINCT CACHED``) on a sandbox
with moto's in-process backend (``Sandbox(aws="memory")``): the calls are what matter, and
an HTTP emulator would measure itself. Prints one JSON line.
"""

from __future__ import annotations

import json
import math
import subprocess
import sys
import time
from collections import Counter
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

__all__ = ["IngestFigures", "finish_ingest", "measure_ingest", "start_ingest"]


class IngestFigures(dict):
    """lines, seconds, invocations, calls (by operation), sends/reads/writes and minima."""

    @property
    def sends(self) -> int:
        return self["calls"].get("sqs.SendMessageBatch", 0) + self["calls"].get(
            "sqs.SendMessage", 0
        )

    @property
    def reads(self) -> int:
        calls = self["calls"]
        return sum(
            n for op, n in calls.items() if op.split(".")[1] in READS and op.startswith("dynamodb")
        )

    @property
    def writes(self) -> int:
        calls = self["calls"]
        return sum(
            n for op, n in calls.items() if op.split(".")[1] in WRITES and op.startswith("dynamodb")
        )

    @property
    def min_sends(self) -> int:
        """The batch lane's release window in SendMessageBatch calls (ten per call), and the
        one later release look the ingest schedules; the rest of the new numbers are held
        in the owners' fair order and released by the worker as batch slots free up."""
        if not self["queued"]:
            return 0
        return math.ceil(min(self["queued"], self["window"]) / 10) + 1

    @property
    def min_reads(self) -> int:
        """One BatchGetItem (of the cache) per hundred distinct numbers."""
        return math.ceil(self["distinct"] / 100)


READS = {"GetItem", "BatchGetItem", "Query", "Scan", "TransactGetItems"}
WRITES = {"PutItem", "UpdateItem", "DeleteItem", "BatchWriteItem", "TransactWriteItems"}


def start_ingest(lines: int, distinct: int, cached: int) -> subprocess.Popen[str]:
    """Start ``python -m bench.ingest`` (its own process and in-process moto)."""
    root = Path(__file__).resolve().parents[1]
    return subprocess.Popen(
        [sys.executable, "-m", "bench.ingest", str(lines), str(distinct), str(cached)],
        cwd=root,
        stdout=subprocess.PIPE,
        stderr=subprocess.DEVNULL,
        text=True,
    )


def finish_ingest(process: subprocess.Popen[str]) -> IngestFigures:
    """Wait for a started ingest and parse its answer."""
    out, _ = process.communicate(timeout=600)
    if process.returncode:
        raise RuntimeError(f"the batch ingest benchmark failed ({process.returncode})")
    return IngestFigures(json.loads(out.strip().splitlines()[-1]))


def measure_ingest(lines: int, distinct: int, cached: int) -> IngestFigures:
    """Run ``python -m bench.ingest`` and parse its answer."""
    return finish_ingest(start_ingest(lines, distinct, cached))


def _run(lines: int, distinct: int, cached: int) -> dict[str, Any]:
    """``lines`` lines cycling through ``distinct`` numbers, the first ``cached`` of which
    are in the cache already."""
    from local.moto_fixes import install as install_moto_fixes

    install_moto_fixes()
    from bench.counting import install

    counter = install()
    from local.event_source import LambdaContext
    from local.sandbox import Sandbox

    with Sandbox(aws="memory", portal=False, gateway=False) as box:
        settings = box.settings(batch_max_lines=max(lines, 100_000))
        deployment = box.deploy(settings, credentials=None)
        services, raspa_app = deployment.services, deployment.app
        s3 = counter.ignore(box.clients.client("s3"))
        sqs = counter.ignore(deployment.sqs)
        numbers = [str(100_000 + i) for i in range(distinct)]
        OsRecord = services.models.OsRecord
        now = time.time()
        with OsRecord.batch_write() as writer:
            for numero in numbers[:cached]:
                writer.save(
                    OsRecord(
                        numero,
                        outcome="ok",
                        data={"numero": numero},
                        scraped_at=now,
                        expires_at=datetime.fromtimestamp(now + 86_400, tz=UTC),
                    )
                )
        rows = [numbers[i % distinct] for i in range(lines)]
        body = ("numero_os\n" + "\n".join(rows) + "\n").encode()
        batch_id = "b" * 32
        s3.put_object(Bucket=settings.batch_bucket, Key=f"batches/ana/{batch_id}.csv", Body=body)
        url = deployment.queue_urls["ingest"]
        invocations = 0
        calls: Counter[str] = Counter()
        started = time.perf_counter()
        while True:
            messages = sqs.receive_message(QueueUrl=url, MaxNumberOfMessages=1).get("Messages", [])
            if not messages:
                break
            event = {
                "Records": [
                    {
                        "messageId": m["MessageId"],
                        "receiptHandle": m["ReceiptHandle"],
                        "body": m["Body"],
                        "attributes": {"ApproximateReceiveCount": "1"},
                        "messageAttributes": {},
                        "eventSource": "aws:sqs",
                        "eventSourceARN": "arn:aws:sqs:us-east-1:123456789012:ingest",
                        "awsRegion": "us-east-1",
                    }
                    for m in messages
                ]
            }
            with counter.record() as one:
                raspa_app.batch_ingest(
                    event, LambdaContext("batch_ingest", settings.ingest_timeout_seconds)
                )
            calls.update(one)
            invocations += 1
            sqs.delete_message(QueueUrl=url, ReceiptHandle=messages[0]["ReceiptHandle"])
        seconds = time.perf_counter() - started
        batch = services.batches.batches.get(batch_id)
        queued = int(batch.queued)
    return {
        "window": settings.batch_release_window,
        "lines": lines,
        "distinct": distinct,
        "cached": cached,
        "queued": queued,
        "seconds": seconds,
        "invocations": invocations,
        "calls": dict(calls),
    }


if __name__ == "__main__":
    import contextlib

    with contextlib.redirect_stdout(sys.stderr):
        result = _run(*(int(a) for a in sys.argv[1:4]))
    print(json.dumps(result))
