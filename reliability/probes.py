"""Instruments the scenarios read: EMF metric documents, injected AWS throttling, and the
CloudWatch alarm that watches a metric, evaluated over the documents."""

from __future__ import annotations

import importlib
import json
import random
import threading
import uuid
from collections import Counter
from dataclasses import dataclass
from typing import Any, Iterable

from botocore.awsrequest import AWSResponse

__all__ = ["AlarmSpec", "EmfTap", "Throttler", "evaluate_alarm"]


#: The modules Powertools prints EMF documents from (``print(json.dumps(...))``).
EMF_MODULES = (
    "aws_lambda_powertools.metrics.provider.cloudwatch_emf.cloudwatch",
    "aws_lambda_powertools.metrics.base",
)


class EmfTap:
    """Keeps every CloudWatch EMF document Powertools prints while installed: a ``print``
    in its printing modules' namespace catches the documents (CloudWatch would read them
    from the log), and passes anything else to the real ``print``."""

    def __init__(self, *, quiet: bool = True) -> None:
        self.quiet = quiet
        self.documents: list[dict[str, Any]] = []
        self._lock = threading.Lock()
        self._modules: list[Any] = []

    def install(self) -> EmfTap:
        for name in EMF_MODULES:
            module = importlib.import_module(name)
            module.print = self._print  # type: ignore[attr-defined]
            self._modules.append(module)
        return self

    def uninstall(self) -> None:
        for module in self._modules:
            if getattr(module, "print", None) == self._print:
                del module.print
        self._modules.clear()

    def _print(self, *values: Any, **options: Any) -> None:
        text = " ".join(str(v) for v in values)
        for line in text.splitlines():
            self._line(line)
        if not self.quiet:
            print(*values, **options)

    def _line(self, line: str) -> None:
        if not line.startswith('{"_aws"'):
            return
        try:
            document = json.loads(line)
        except ValueError:
            return
        if isinstance(document, dict):
            with self._lock:
                self.documents.append(document)

    def write(self, text: str) -> int:
        """Read printed output (``print(..., file=tap)``), one document a line."""
        for line in text.splitlines():
            self._line(line)
        return len(text)

    def mark(self) -> int:
        """A point to count from (``since=``): the documents printed so far."""
        with self._lock:
            return len(self.documents)

    def total(self, metric: str, *, since: int = 0, **dimensions: str) -> float:
        """The sum of every value of ``metric`` whose documents carry ``dimensions``."""
        return sum(v for _, v in self.values(metric, since=since, **dimensions))

    def values(
        self, metric: str, *, since: int = 0, **dimensions: str
    ) -> list[tuple[float, float]]:
        """(timestamp in ms, value) of every datapoint of ``metric`` since the mark."""
        found = []
        with self._lock:
            documents = self.documents[since:]
        for doc in documents:
            names = {
                m["Name"]
                for directive in doc.get("_aws", {}).get("CloudWatchMetrics", [])
                for m in directive.get("Metrics", [])
            }
            if metric not in names or any(doc.get(k) != v for k, v in dimensions.items()):
                continue
            raw = doc.get(metric)
            for value in raw if isinstance(raw, list) else [raw]:
                found.append((float(doc["_aws"]["Timestamp"]), float(value)))
        return found


@dataclass(frozen=True)
class AlarmSpec:
    """The parts of a CloudWatch alarm (``AWS::CloudWatch::Alarm``) its evaluation needs."""

    name: str
    namespace: str
    metric: str
    dimensions: dict[str, str]
    statistic: str
    period: int
    threshold: float
    comparison: str
    evaluation_periods: int
    datapoints_to_alarm: int

    @classmethod
    def from_properties(cls, props: dict[str, Any]) -> AlarmSpec:
        return cls(
            name=str(props.get("AlarmName")),
            namespace=props["Namespace"],
            metric=props["MetricName"],
            dimensions={d["Name"]: d["Value"] for d in props.get("Dimensions", [])},
            statistic=props["Statistic"],
            period=int(props["Period"]),
            threshold=float(props["Threshold"]),
            comparison=props["ComparisonOperator"],
            evaluation_periods=int(props.get("EvaluationPeriods", 1)),
            datapoints_to_alarm=int(
                props.get("DatapointsToAlarm", props.get("EvaluationPeriods", 1))
            ),
        )


_COMPARE = {
    "GreaterThanOrEqualToThreshold": lambda v, t: v >= t,
    "GreaterThanThreshold": lambda v, t: v > t,
    "LessThanThreshold": lambda v, t: v < t,
    "LessThanOrEqualToThreshold": lambda v, t: v <= t,
}


def evaluate_alarm(
    alarm: AlarmSpec, datapoints: Iterable[tuple[float, float]]
) -> tuple[str, float]:
    """The alarm's state over EMF datapoints (CloudWatch's evaluation, missing data not
    breaching), and the statistic of its worst period."""
    buckets: dict[int, list[float]] = {}
    for timestamp_ms, value in datapoints:
        buckets.setdefault(int(timestamp_ms // 1000 // alarm.period), []).append(value)
    statistic = {
        "Sum": sum,
        "Maximum": max,
        "Minimum": min,
        "SampleCount": len,
        "Average": lambda vs: sum(vs) / len(vs),
    }[alarm.statistic]
    series = {bucket: float(statistic(values)) for bucket, values in buckets.items()}
    compare = _COMPARE[alarm.comparison]
    worst = max(series.values(), default=0.0)
    for last in sorted(series):
        window = range(last - alarm.evaluation_periods + 1, last + 1)
        breaching = sum(1 for b in window if b in series and compare(series[b], alarm.threshold))
        if breaching >= alarm.datapoints_to_alarm:
            return "ALARM", worst
    return "OK", worst


class _Raw:
    """The raw body botocore reads from an HTTP response."""

    def __init__(self, body: bytes) -> None:
        self._body = body

    def stream(self, **_: Any) -> Iterable[bytes]:
        yield self._body


#: What DynamoDB and SQS answer when they throttle a call (each retried by botocore).
_THROTTLES = {
    "dynamodb": (
        "com.amazonaws.dynamodb.v20120810#ProvisionedThroughputExceededException",
        "com.amazonaws.dynamodb.v20120810#ThrottlingException",
    ),
    "sqs": ("com.amazonaws.sqs#ThrottlingException",),
}


class Throttler:
    """Answers a share of the app's DynamoDB and SQS calls with a throttling error, at
    botocore's ``before-send`` (inside its retry loop, as a real throttle arrives: the
    request never reaches the service, and botocore's retry handler sees the error)."""

    def __init__(self, share: float, *, seed: int = 0) -> None:
        self.share = share
        self.enabled = False
        self.sent: Counter[str] = Counter()
        self.injected: Counter[str] = Counter()
        self._rng = random.Random(seed)  # noqa: S311 - a reproducible share, not a secret
        self._lock = threading.Lock()
        self._hooked: set[int] = set()

    def hook(self, clients: Iterable[Any]) -> int:
        """Register on each botocore client (once each); returns how many were new."""
        added = 0
        for client in clients:
            if id(client) in self._hooked:
                continue
            client.meta.events.register("before-send", self._before_send)
            self._hooked.add(id(client))
            added += 1
        return added

    def _before_send(self, request: Any, event_name: str = "", **_: Any) -> AWSResponse | None:
        parts = event_name.split(".")
        service = parts[1] if len(parts) > 1 else ""
        if service not in _THROTTLES or not self.enabled:
            return None
        operation = parts[2] if len(parts) > 2 else "?"
        with self._lock:
            self.sent[service] += 1
            throttle = self._rng.random() < self.share
            if not throttle:
                return None
            self.injected[f"{service}.{operation}"] += 1
            kind = self._rng.choice(_THROTTLES[service])
        body = json.dumps({"__type": kind, "message": "Rate exceeded (injected)"}).encode()
        headers = {
            "x-amzn-RequestId": str(uuid.uuid4()),
            "Content-Type": "application/x-amz-json-1.0",
            "Content-Length": str(len(body)),
        }
        return AWSResponse(request.url, 400, headers, _Raw(body))

    def injected_by_service(self) -> dict[str, int]:
        totals: Counter[str] = Counter()
        for key, n in self.injected.items():
            totals[key.split(".", 1)[0]] += n
        return dict(totals)
