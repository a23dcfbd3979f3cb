"""Structured JSON logs (Powertools Logger) and CloudWatch EMF metrics (Powertools Metrics).

Modules in ``chalicelib`` log with the standard ``logging`` module; their records go
through the Powertools formatter, so every line is JSON with the same keys, including
the correlation id (the task id) appended by the handlers.
"""

from __future__ import annotations

import logging

from aws_lambda_powertools import Logger, Metrics, single_metric
from aws_lambda_powertools.logging.utils import copy_config_to_registered_loggers
from aws_lambda_powertools.metrics import MetricUnit

__all__ = [
    "MetricUnit",
    "correlate",
    "count",
    "count_by",
    "count_failure",
    "flush_metrics",
    "logger",
    "metrics",
    "timing",
]

#: The service dimension and the metrics namespace (the dashboards and alarms read them).
SERVICE = "raspa"
NAMESPACE = "Raspa"

logger = Logger(service=SERVICE)
logging.getLogger("chalicelib")
copy_config_to_registered_loggers(source_logger=logger, include={"chalicelib"})
# botocore and urllib3 print whole requests and responses at DEBUG (a secret's value,
# authorization headers): they never log below WARNING, whatever the root level is.
for _noisy in ("botocore", "boto3", "urllib3"):
    logging.getLogger(_noisy).setLevel(logging.WARNING)

metrics = Metrics(namespace=NAMESPACE, service=SERVICE)


def count(name: str, value: float = 1) -> None:
    metrics.add_metric(name=name, unit=MetricUnit.Count, value=value)


def count_by(name: str, dimension: str, value: str) -> None:
    """A count with one extra dimension (e.g. failures by reason), written at once."""
    with single_metric(name=name, unit=MetricUnit.Count, value=1, namespace=NAMESPACE) as m:
        m.add_dimension(name="service", value=SERVICE)
        m.add_dimension(name=dimension, value=value)


def count_failure(reason: str) -> None:
    """A failed scrape: ``ScrapeFailed`` (what alarms watch) and ``ScrapeFailedByReason``;
    a drifted portal layout also counts ``LayoutDrift``."""
    count("ScrapeFailed")
    count_by("ScrapeFailedByReason", "reason", reason)
    if reason == "layout_changed":
        count("LayoutDrift")


def timing(name: str, seconds: float) -> None:
    metrics.add_metric(name=name, unit=MetricUnit.Milliseconds, value=round(seconds * 1000, 1))


def correlate(correlation_id: str | None, **keys: str) -> None:
    """Tag every later log line with the correlation id (a task's or a batch's id), carried
    from the API through the queue to the worker and its notifications; None clears it."""
    logger.set_correlation_id(correlation_id)
    if keys:
        logger.append_keys(**keys)


def flush_metrics() -> None:
    """Write the collected metrics as one EMF log line (nothing if none were added)."""
    if metrics.metric_set:
        metrics.flush_metrics()
