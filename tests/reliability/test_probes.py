"""The suite's own instruments, without a stack: EMF documents, alarm evaluation, the
throttle injected at botocore's send."""

from __future__ import annotations

import json

import boto3
import pytest
from botocore.config import Config
from botocore.exceptions import ClientError

from reliability.probes import AlarmSpec, EmfTap, Throttler, evaluate_alarm
from reliability.report import Row

ALARM = AlarmSpec(
    name="LayoutDrift",
    namespace="Raspa",
    metric="LayoutDrift",
    dimensions={"service": "raspa"},
    statistic="Sum",
    period=300,
    threshold=1,
    comparison="GreaterThanOrEqualToThreshold",
    evaluation_periods=1,
    datapoints_to_alarm=1,
)


def emf(metric: str, value: object, timestamp_ms: int = 1_700_000_000_000) -> str:
    return json.dumps(
        {
            "_aws": {
                "Timestamp": timestamp_ms,
                "CloudWatchMetrics": [
                    {
                        "Namespace": "Raspa",
                        "Dimensions": [["service"]],
                        "Metrics": [{"Name": metric}],
                    }
                ],
            },
            "service": "raspa",
            metric: value,
        }
    )


def test_given_documents_powertools_prints_then_the_tap_sums_a_metrics_values_since_a_mark() -> (
    None
):
    from aws_lambda_powertools import Metrics, single_metric
    from aws_lambda_powertools.metrics import MetricUnit

    tap = EmfTap(quiet=True).install()
    try:
        metrics = Metrics(namespace="Raspa", service="raspa")
        metrics.add_metric(name="LayoutDrift", unit=MetricUnit.Count, value=1)
        metrics.add_metric(name="LayoutDrift", unit=MetricUnit.Count, value=1)
        metrics.flush_metrics()
        mark = tap.mark()
        with single_metric(
            name="LayoutDrift", unit=MetricUnit.Count, value=1, namespace="Raspa"
        ) as metric:
            metric.add_dimension(name="service", value="raspa")
    finally:
        tap.uninstall()
    tap.write(emf("ScrapeFailed", 3.0) + "\nnot a metric\n")
    assert tap.total("LayoutDrift") == 3
    assert tap.total("LayoutDrift", since=mark) == 1
    assert tap.total("LayoutDrift", service="other") == 0
    assert tap.total("ScrapeFailed") == 3


@pytest.mark.parametrize(
    ("values", "state"),
    [
        ([], "OK"),
        ([1.0], "ALARM"),
        ([0.0, 0.0], "OK"),
    ],
)
def test_given_datapoints_then_the_alarm_is_evaluated_as_cloudwatch_does(
    values: list[float], state: str
) -> None:
    points = [(1_700_000_000_000 + i * 1000, v) for i, v in enumerate(values)]
    assert evaluate_alarm(ALARM, points)[0] == state


def test_given_datapoints_in_different_periods_then_each_period_is_judged_alone() -> None:
    above_ten = AlarmSpec(
        **{**ALARM.__dict__, "threshold": 10, "comparison": "GreaterThanThreshold"}
    )
    spread = [(1_700_000_000_000 + i * 300_000, 6.0) for i in range(3)]  # 6 per period
    together = [(1_700_000_000_000 + i, 6.0) for i in range(3)]  # 18 in one period
    assert evaluate_alarm(above_ten, spread) == ("OK", 6.0)
    assert evaluate_alarm(above_ten, together) == ("ALARM", 18.0)


def test_given_every_call_throttled_then_botocore_retries_it_and_reports_the_throttle() -> None:
    sqs = boto3.client(
        "sqs",
        region_name="us-east-1",
        endpoint_url="http://127.0.0.1:9",  # never reached: the hook answers first
        aws_access_key_id="x",
        aws_secret_access_key="x",
        config=Config(retries={"mode": "standard", "total_max_attempts": 2}),
    )
    throttler = Throttler(1.0)
    assert throttler.hook([sqs, sqs]) == 1
    throttler.enabled = True
    with pytest.raises(ClientError) as info:
        sqs.get_queue_url(QueueName="q")
    assert info.value.response["Error"]["Code"] == "ThrottlingException"
    assert info.value.response["ResponseMetadata"]["RetryAttempts"] == 1
    assert throttler.injected == {"sqs.GetQueueUrl": 2}


def test_given_a_row_then_it_passes_only_with_checks_that_all_held_and_no_error() -> None:
    row = Row("s", "t", {})
    assert not row.ok  # no criterion checked proves nothing
    row.check("a", True, 1)
    assert row.ok
    row.check("b", False, 2)
    assert not row.ok and "b — measured 2" in row.explain()
