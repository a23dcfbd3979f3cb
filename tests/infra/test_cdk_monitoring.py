"""Alerts: the SNS topic and its e-mail parameter, the alarms, and the dashboard's metrics."""

from __future__ import annotations

import ast
import json
import re
from pathlib import Path
from typing import Any

from infra.monitoring import APP_METRICS, NAMESPACE
from tests.infra.cfn import ref_id, render

ROOT = Path(__file__).resolve().parents[2]
#: chalicelib's helpers that emit a metric named by their first argument.
EMITTERS = {"count", "timing", "count_by"}


def emitted_metrics() -> set[str]:
    """Every metric name chalicelib passes, as a literal, to count/timing/count_by."""
    names = set()
    for path in (ROOT / "chalicelib").rglob("*.py"):
        for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
            if (
                isinstance(node, ast.Call)
                and isinstance(node.func, ast.Name)
                and node.func.id in EMITTERS
                and node.args
                and isinstance(node.args[0], ast.Constant)
                and isinstance(node.args[0].value, str)
            ):
                names.add(node.args[0].value)
    return names


def alarms(synthesized: Any) -> dict[str, dict[str, Any]]:
    """Alarms by the name given in infra/monitoring.py (``Raspa-<name>``)."""
    return {
        r["Properties"]["AlarmName"].split("-", 1)[1]: r["Properties"]
        for r in synthesized.resources("AWS::CloudWatch::Alarm").values()
    }


def dashboard(synthesized: Any) -> dict[str, dict[str, Any]]:
    """The dashboard's widgets by title."""
    (resource,) = synthesized.resources("AWS::CloudWatch::Dashboard").values()
    body = json.loads(render(resource["Properties"]["DashboardBody"]))
    return {w["properties"]["title"]: w["properties"] for w in body["widgets"]}


def metric_names(widget: dict[str, Any]) -> list[tuple[str, str]]:
    """(namespace, metric) of each plain metric of a graph, expressions left out."""
    return [(m[0], m[1]) for m in widget.get("metrics", []) if isinstance(m[0], str)]


def topic_id(synthesized: Any) -> str:
    (found,) = synthesized.resources("AWS::SNS::Topic")
    return found


# ------------------------------------------------------------------- topic
def test_alerts_go_to_a_kms_encrypted_topic_that_refuses_plain_http(synthesized: Any) -> None:
    topic = topic_id(synthesized)
    key_id = ref_id(synthesized.props(topic)["KmsMasterKeyId"])
    key = synthesized.props(key_id)
    assert key["EnableKeyRotation"] is True
    (policy,) = [
        r["Properties"]["PolicyDocument"]
        for r in synthesized.resources("AWS::SNS::TopicPolicy").values()
        if ref_id(r["Properties"]["Topics"][0]) == topic
    ]
    assert any(
        s["Effect"] == "Deny" and s["Condition"] == {"Bool": {"aws:SecureTransport": "false"}}
        for s in policy["Statement"]
    )
    cloudwatch = [
        s
        for s in key["KeyPolicy"]["Statement"]
        if s["Principal"] == {"Service": "cloudwatch.amazonaws.com"}
    ]
    assert cloudwatch and set(cloudwatch[0]["Action"]) == {"kms:Decrypt", "kms:GenerateDataKey*"}


def test_an_alert_email_parameter_subscribes_that_address_only_when_given(
    synthesized: Any,
) -> None:
    parameter = synthesized.body["Parameters"]["AlertEmail"]
    assert parameter["Type"] == "String" and parameter["Default"] == ""
    (subscription,) = synthesized.resources("AWS::SNS::Subscription").values()
    assert subscription["Properties"]["Protocol"] == "email"
    assert subscription["Properties"]["Endpoint"] == {"Ref": "AlertEmail"}
    assert ref_id(subscription["Properties"]["TopicArn"]) == topic_id(synthesized)
    condition = synthesized.body["Conditions"][subscription["Condition"]]
    assert condition == {"Fn::Not": [{"Fn::Equals": [{"Ref": "AlertEmail"}, ""]}]}


# ------------------------------------------------------------------- alarms
def test_every_alarm_notifies_the_topic_and_treats_missing_data_as_fine(
    synthesized: Any,
) -> None:
    found = alarms(synthesized)
    assert len(found) == 9
    for name, props in found.items():
        assert [ref_id(a) for a in props["AlarmActions"]] == [topic_id(synthesized)], name
        assert props["TreatMissingData"] == "notBreaching", name
        assert props["AlarmDescription"], name


def test_more_than_50_waiting_or_a_15_minute_wait_in_the_scrape_queue_pages_ops(
    synthesized: Any,
) -> None:
    found = alarms(synthesized)
    queue = next(
        k
        for k, r in synthesized.resources("AWS::SQS::Queue").items()
        if r["Properties"]["QueueName"] == "raspa-scrape"
    )
    depth, oldest = found["Depth-raspa-scrape"], found["OldestMessage-raspa-scrape"]
    for props in (depth, oldest):
        assert props["Namespace"] == "AWS/SQS"
        assert ref_id(props["Dimensions"][0]["Value"]) == queue
        assert props["ComparisonOperator"] == "GreaterThanThreshold"
        assert props["Period"] == 300 and props["Statistic"] == "Maximum"
    assert depth["MetricName"] == "ApproximateNumberOfMessagesVisible"
    assert depth["Threshold"] == 50
    assert oldest["MetricName"] == "ApproximateAgeOfOldestMessage"
    assert oldest["Threshold"] == 15 * 60


def test_only_the_scrape_queue_pages_ops_for_its_depth_and_age(synthesized: Any) -> None:
    queued = [n for n in alarms(synthesized) if n.startswith(("Depth-", "OldestMessage-"))]
    assert sorted(queued) == ["Depth-raspa-scrape", "OldestMessage-raspa-scrape"]
    # the ingest queue drains a big upload by design; no lane has a queue of its own
    assert not [n for n in alarms(synthesized) if n.endswith(("batch-ingest", "priority"))]


def test_any_message_in_the_dlq_pages_ops(synthesized: Any) -> None:
    props = alarms(synthesized)["DeadLetters"]
    dlq = next(
        k
        for k, r in synthesized.resources("AWS::SQS::Queue").items()
        if r["Properties"]["QueueName"] == "raspa-scrape-dlq"
    )
    assert props["MetricName"] == "ApproximateNumberOfMessagesVisible"
    assert ref_id(props["Dimensions"][0]["Value"]) == dlq
    assert (props["ComparisonOperator"], props["Threshold"]) == ("GreaterThanOrEqualToThreshold", 1)


def test_more_than_10_failed_scrapes_in_5_minutes_pages_ops(synthesized: Any) -> None:
    props = alarms(synthesized)["ScrapesFailed"]
    assert (props["Namespace"], props["MetricName"]) == ("Raspa", "ScrapeFailed")
    assert props["Dimensions"] == [{"Name": "service", "Value": "raspa"}]
    assert (props["Statistic"], props["Period"], props["EvaluationPeriods"]) == ("Sum", 300, 1)
    assert (props["ComparisonOperator"], props["Threshold"]) == ("GreaterThanThreshold", 10)


def test_any_layout_drift_pages_ops(synthesized: Any) -> None:
    props = alarms(synthesized)["LayoutDrift"]
    assert (props["Namespace"], props["MetricName"]) == ("Raspa", "LayoutDrift")
    assert props["Dimensions"] == [{"Name": "service", "Value": "raspa"}]
    assert (props["ComparisonOperator"], props["Threshold"]) == ("GreaterThanOrEqualToThreshold", 1)


def test_an_open_portal_breaker_pages_ops(synthesized: Any) -> None:
    # The worker emits PortalBreakerOpen = 1 at each parked wake-up and probe while open
    props = alarms(synthesized)["PortalBreakerOpen"]
    assert (props["Namespace"], props["MetricName"]) == ("Raspa", "PortalBreakerOpen")
    assert props["Dimensions"] == [{"Name": "service", "Value": "raspa"}]
    assert (props["Statistic"], props["Period"]) == ("Maximum", 300)
    assert (props["ComparisonOperator"], props["Threshold"]) == ("GreaterThanOrEqualToThreshold", 1)


def test_any_worker_throttling_pages_ops_as_something_wrong(synthesized: Any) -> None:
    # The event source asks for at most the reserved concurrency: throttles are not normal
    props = alarms(synthesized)["WorkerThrottles"]
    assert (props["Namespace"], props["MetricName"]) == ("AWS/Lambda", "Throttles")
    assert props["Dimensions"] == [{"Name": "FunctionName", "Value": {"Ref": "ScrapeWorker"}}]
    assert props["EvaluationPeriods"] == props["DatapointsToAlarm"] == 1
    assert (props["ComparisonOperator"], props["Threshold"]) == ("GreaterThanOrEqualToThreshold", 1)
    assert "by design" not in props["AlarmDescription"]
    assert "RASPA_CONCURRENCY" in props["AlarmDescription"]


def test_mostly_failing_worker_invocations_page_ops(synthesized: Any) -> None:
    props = alarms(synthesized)["WorkerErrors"]
    expression, *inputs = props["Metrics"]
    assert "100 * errors / invocations" in expression["Expression"]
    used = {m["Id"]: m["MetricStat"]["Metric"] for m in inputs}
    assert {k: m["MetricName"] for k, m in used.items()} == {
        "errors": "Errors",
        "invocations": "Invocations",
    }
    for metric in used.values():
        assert metric["Dimensions"] == [{"Name": "FunctionName", "Value": {"Ref": "ScrapeWorker"}}]
    assert (props["ComparisonOperator"], props["Threshold"]) == ("GreaterThanThreshold", 50)
    assert props["EvaluationPeriods"] == props["DatapointsToAlarm"] == 3


def test_any_api_5xx_pages_ops(synthesized: Any) -> None:
    props = alarms(synthesized)["Api5xx"]
    assert (props["Namespace"], props["MetricName"]) == ("AWS/ApiGateway", "5XXError")
    assert props["Dimensions"] == [{"Name": "ApiName", "Value": "Raspa-api"}]
    assert (props["ComparisonOperator"], props["Threshold"]) == ("GreaterThanOrEqualToThreshold", 1)


# ------------------------------------------------------------------ dashboard
def test_the_dashboard_shows_depth_and_age_of_the_scrape_and_ingest_queues_and_the_dlq(
    synthesized: Any, settings: Any
) -> None:
    widgets = dashboard(synthesized)
    queues = [settings.queue_name, settings.ingest_queue_name]
    for title, metric in (
        ("Queue depth", "ApproximateNumberOfMessagesVisible"),
        ("Age of oldest message (s)", "ApproximateAgeOfOldestMessage"),
    ):
        shown = widgets[title]["metrics"]
        assert [m[1] for m in shown] == [metric] * len(queues)
        assert [m[4]["label"] for m in shown] == queues
    assert metric_names(widgets["DLQ depth"]) == [("AWS/SQS", "ApproximateNumberOfMessagesVisible")]
    idle = widgets["Wake-ups that found no task waiting"]
    assert metric_names(idle) == [("Raspa", "WakeupsIdle")]


def test_the_dashboard_shows_the_workers_concurrency_throttles_errors_and_duration(
    synthesized: Any,
) -> None:
    widgets = dashboard(synthesized)
    shown = {
        name
        for title in widgets
        if title.startswith("Worker")
        for namespace, name in metric_names(widgets[title])
        if namespace == "AWS/Lambda"
    }
    assert {"ConcurrentExecutions", "Throttles", "Errors", "Duration"} <= shown


def test_the_dashboard_shows_scrapes_cache_hits_scrape_time_and_rate_limiting(
    synthesized: Any,
) -> None:
    widgets = dashboard(synthesized)
    scrapes = metric_names(widgets["Scrapes succeeded and failed"])
    assert {("Raspa", "ScrapeSucceeded"), ("Raspa", "ScrapeFailed")} <= set(scrapes)
    ratio = widgets["Cache hit ratio (%)"]["metrics"]
    assert ratio[0][0]["expression"] == "IF(lookups > 0, 100 * hits / lookups, 0)"
    assert {(m[1], m[4]["id"]) for m in ratio[1:]} == {
        ("CacheHits", "hits"),
        ("Lookups", "lookups"),
    }
    timing = widgets["Scrape time (ms)"]["metrics"]
    assert [(m[1], m[4]["stat"]) for m in timing] == [
        ("ScrapeDuration", "p95"),
        ("ScrapeDuration", "p50"),
    ]
    assert metric_names(widgets["Rate-limited requests"]) == [("Raspa", "RateLimited")]


def test_the_dashboard_shows_api_errors_and_latency(synthesized: Any) -> None:
    widgets = dashboard(synthesized)
    assert metric_names(widgets["API 4xx and 5xx"]) == [
        ("AWS/ApiGateway", "4XXError"),
        ("AWS/ApiGateway", "5XXError"),
    ]
    latency = widgets["API latency (ms)"]["metrics"]
    assert latency[0][1] == "Latency" and latency[0][4]["stat"] == "p95"
    assert all(m[3] == "Raspa-api" for m in latency)
    assert widgets["Alarms"]["alarms"], "an alarm status row"


def test_every_app_metric_the_stack_reads_is_one_chalicelib_emits(synthesized: Any) -> None:
    emitted = emitted_metrics()
    assert {"ScrapeFailed", "LayoutDrift", "CacheHits", "Lookups"} <= emitted
    read = {
        name
        for w in dashboard(synthesized).values()
        for ns, name in metric_names(w)
        if ns == NAMESPACE
    }
    for widget in dashboard(synthesized).values():
        for metric in widget.get("metrics", []):
            if isinstance(metric[0], dict):
                read.update(re.findall(r'MetricName="(\w+)"', metric[0]["expression"]))
    read.update(
        p["MetricName"] for p in alarms(synthesized).values() if p.get("Namespace") == NAMESPACE
    )
    assert read, "the dashboard reads app metrics"
    assert read <= emitted, f"not emitted by chalicelib: {sorted(read - emitted)}"
    assert set(APP_METRICS) <= emitted, f"stale names: {sorted(set(APP_METRICS) - emitted)}"
