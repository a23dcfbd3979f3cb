"""Alerts (an encrypted SNS topic), the CloudWatch dashboard and the alarms that feed it.

Longer than 400 lines: one alarm or widget per metric the app emits, each with its
threshold and what an operator does about it; they share the topic and the dashboard.
"""

from __future__ import annotations

from dataclasses import dataclass

from aws_cdk import CfnCondition, CfnParameter, Duration, Fn, RemovalPolicy, Stack
from aws_cdk import aws_cloudwatch as cw
from aws_cdk import aws_cloudwatch_actions as cw_actions
from aws_cdk import aws_iam as iam
from aws_cdk import aws_kms as kms
from aws_cdk import aws_sns as sns
from aws_cdk import aws_sqs as sqs
from constructs import Construct

__all__ = ["APP_METRICS", "NAMESPACE", "Monitoring", "Thresholds", "Watched", "app_metric"]

#: Where Powertools publishes raspa's metrics, and the dimension it adds.
NAMESPACE = "Raspa"
SERVICE = {"service": "raspa"}
PERIOD = Duration.minutes(5)


#: Every metric name the dashboard and alarms read from the ``Raspa`` namespace; each is
#: emitted by chalicelib (``count``/``timing``/``count_by`` in chalicelib/observability.py).
APP_METRICS = (
    "Lookups",
    "CacheHits",
    "Joins",
    "Enqueued",
    "RateLimited",
    "ScrapeSucceeded",
    "ScrapeFailed",
    "ScrapeFailedByReason",
    "ScrapeRetried",
    "ScrapeDuration",
    "LayoutDrift",
    "BatchLines",
    "PortalRequests",
    "NotificationsSent",
    "NotificationsFailed",
    "WakeupsIdle",
    "WakeupsParked",
    "PortalBreakerOpen",
    "PortalBreakerOpened",
    "PortalBreakerClosed",
    "PortalProbes",
)
#: What the account's administrators may do with the alerts key: manage it, never use it
#: (the default policy's ``kms:*`` would also let any IAM principal encrypt and decrypt).
KEY_ADMIN_ACTIONS = (
    "kms:Create*",
    "kms:Describe*",
    "kms:Enable*",
    "kms:List*",
    "kms:Put*",
    "kms:Update*",
    "kms:Revoke*",
    "kms:Disable*",
    "kms:Get*",
    "kms:Delete*",
    "kms:TagResource",
    "kms:UntagResource",
    "kms:ScheduleKeyDeletion",
    "kms:CancelKeyDeletion",
)


@dataclass(frozen=True)
class Thresholds:
    """When ops are paged."""

    queue_depth: int = 50
    failed_scrapes: int = 10
    oldest_message_seconds: int = 15 * 60
    #: Throttled worker invocations in 5 minutes that page ops. The scrape queue's event
    #: source asks for at most the worker's reserved concurrency, so Lambda never needs to
    #: throttle it: any throttle means something is wrong (a changed reservation or cap),
    #: and each throttled receive counts towards the scrape queue's maxReceiveCount.
    worker_throttles: int = 1
    #: Share of worker invocations that fail (%), for ``sustained_periods`` periods in a row.
    #: The worker raises on purpose to hand a message back to SQS (a retry, a dead letter),
    #: so single errors are normal; most invocations failing is not.
    worker_error_percent: int = 50
    #: Invocations in a period below which the error share is not judged.
    worker_min_invocations: int = 5
    sustained_periods: int = 3


@dataclass(frozen=True)
class Watched:
    """What the dashboard and alarms look at."""

    #: Every queue a function consumes, by queue name (the dashboard shows them all).
    queues: dict[str, sqs.IQueue]
    #: The queues whose depth and age page ops: the scrape queue (every lane's wake-ups;
    #: a batch upload releases only a few of its tasks at a time). The ingest queue
    #: drains a big upload over minutes by design.
    alarmed_queues: tuple[str, ...]
    dead_letter_queue: sqs.IQueue
    worker_function_name: str
    api_name: str


def app_metric(name: str, statistic: str = "Sum", **dimensions: str) -> cw.Metric:
    """One of the metrics the app emits through Powertools (EMF)."""
    if name not in APP_METRICS:
        raise ValueError(f"{name} is not a metric raspa emits: {APP_METRICS}")
    return cw.Metric(
        namespace=NAMESPACE,
        metric_name=name,
        dimensions_map={**SERVICE, **dimensions},
        statistic=statistic,
        period=PERIOD,
    )


class Monitoring(Construct):
    """The alerts topic (and its optional e-mail subscription), the alarms and the dashboard."""

    def __init__(
        self,
        scope: Construct,
        construct_id: str,
        watched: Watched,
        thresholds: Thresholds | None = None,
    ) -> None:
        super().__init__(scope, construct_id)
        self.watched = watched
        self.thresholds = thresholds or Thresholds()
        self.topic = self._topic()
        self.alarms: dict[str, cw.Alarm] = {}
        self._alarms()
        self.dashboard = self._dashboard()

    # ------------------------------------------------------------------ topic
    def _topic(self) -> sns.Topic:
        # The AWS managed SNS key cannot be used: CloudWatch may only publish to a topic
        # whose key policy lets it encrypt, and that key's policy cannot be changed:
        # https://repost.aws/knowledge-center/cloudwatch-receive-sns-for-alarm-trigger
        # In a key policy, resource "*" means this key.
        policy = iam.PolicyDocument(
            statements=[
                iam.PolicyStatement(
                    sid="KeyAdministration",
                    principals=[iam.AccountRootPrincipal()],
                    actions=list(KEY_ADMIN_ACTIONS),
                    resources=["*"],
                ),
                iam.PolicyStatement(
                    sid="CloudWatchAlarms",
                    principals=[iam.ServicePrincipal("cloudwatch.amazonaws.com")],
                    actions=["kms:Decrypt", "kms:GenerateDataKey*"],
                    resources=["*"],
                ),
            ]
        )
        key = kms.Key(
            self,
            "AlertsKey",
            description="raspa alerts topic (CloudWatch alarms publish to it)",
            enable_key_rotation=True,
            policy=policy,
            removal_policy=RemovalPolicy.DESTROY,
            pending_window=Duration.days(7),
        )
        topic = sns.Topic(
            self, "Alerts", display_name="raspa alerts", master_key=key, enforce_ssl=True
        )
        email = CfnParameter(
            Stack.of(self),
            "AlertEmail",
            type="String",
            default="",
            description="E-mail address subscribed to raspa's alerts (empty: none)",
        )
        has_email = CfnCondition(
            self,
            "HasAlertEmail",
            expression=Fn.condition_not(Fn.condition_equals(email.value_as_string, "")),
        )
        subscription = sns.CfnSubscription(
            self,
            "AlertEmailSubscription",
            topic_arn=topic.topic_arn,
            protocol="email",
            endpoint=email.value_as_string,
        )
        subscription.cfn_options.condition = has_email
        return topic

    # ------------------------------------------------------------------ alarms
    def _alarms(self) -> None:
        w, t = self.watched, self.thresholds
        above, at_least = (
            cw.ComparisonOperator.GREATER_THAN_THRESHOLD,
            cw.ComparisonOperator.GREATER_THAN_OR_EQUAL_TO_THRESHOLD,
        )
        for name in w.alarmed_queues:
            queue = w.queues[name]
            self._alarm(
                f"Depth-{name}",
                queue.metric_approximate_number_of_messages_visible(
                    statistic="Maximum", period=PERIOD
                ),
                t.queue_depth,
                above,
                f"More than {t.queue_depth} wake-ups are waiting in {name}: tasks wait for a "
                "free worker (see `python -m ops status` for each lane)",
            )
            self._alarm(
                f"OldestMessage-{name}",
                queue.metric_approximate_age_of_oldest_message(statistic="Maximum", period=PERIOD),
                t.oldest_message_seconds,
                above,
                f"A wake-up has waited in {name} for more than {t.oldest_message_seconds} s: "
                "the worker is not keeping up, or not consuming",
            )
        self._alarm(
            "DeadLetters",
            w.dead_letter_queue.metric_approximate_number_of_messages_visible(
                statistic="Maximum", period=PERIOD
            ),
            1,
            at_least,
            "Messages are in the DLQ: see `python -m ops dlq`, then `redrive`",
        )
        self._alarm(
            "ScrapesFailed",
            app_metric("ScrapeFailed"),
            t.failed_scrapes,
            above,
            f"More than {t.failed_scrapes} scrapes failed in 5 minutes",
        )
        self._alarm(
            "LayoutDrift",
            app_metric("LayoutDrift"),
            1,
            at_least,
            "The portal's pages no longer match the profile's selectors",
        )
        self._alarm(
            "PortalBreakerOpen",
            app_metric("PortalBreakerOpen", "Maximum"),
            1,
            at_least,
            "The portal breaker is open: the portal failed for everyone. Lookups wait "
            "(WAITING_PORTAL) and one probe scrape checks it with back-off; the backlog drains "
            "by itself when it answers. See `python -m ops status`.",
        )
        self._alarm(
            "WorkerThrottles",
            self._worker("Throttles"),
            t.worker_throttles,
            at_least,
            "The worker was throttled: its scrape queue event source's MaximumConcurrency "
            "and its reserved concurrency should both be RASPA_CONCURRENCY, so Lambda never "
            "throttles it; check both (and the account's concurrency). Throttled receives "
            "count towards the scrape queue's maxReceiveCount.",
        )
        error_share = cw.MathExpression(
            expression=f"IF(invocations >= {t.worker_min_invocations}, "
            "100 * errors / invocations, 0)",
            using_metrics={
                "errors": self._worker("Errors"),
                "invocations": self._worker("Invocations"),
            },
            label="worker error %",
            period=PERIOD,
        )
        self._alarm(
            "WorkerErrors",
            error_share,
            t.worker_error_percent,
            above,
            f"More than {t.worker_error_percent}% of worker invocations failed for "
            f"{t.sustained_periods * 5} minutes (the portal is down, or the worker is broken)",
            periods=t.sustained_periods,
        )
        self._alarm("Api5xx", self._api("5XXError"), 1, at_least, "The API answered 5xx")

    def _alarm(
        self,
        name: str,
        metric: cw.IMetric,
        threshold: float,
        comparison: cw.ComparisonOperator,
        description: str,
        *,
        periods: int = 1,
    ) -> None:
        """An alarm that publishes to the topic; ``periods`` in a row must breach."""
        alarm = cw.Alarm(
            self,
            name,
            alarm_name=f"{Stack.of(self).stack_name}-{name}",
            metric=metric,
            threshold=threshold,
            comparison_operator=comparison,
            evaluation_periods=periods,
            datapoints_to_alarm=periods,
            treat_missing_data=cw.TreatMissingData.NOT_BREACHING,
            alarm_description=description,
        )
        alarm.add_alarm_action(cw_actions.SnsAction(self.topic))
        self.alarms[name] = alarm

    # --------------------------------------------------------------- dashboard
    def _worker(self, name: str, statistic: str = "Sum") -> cw.Metric:
        return cw.Metric(
            namespace="AWS/Lambda",
            metric_name=name,
            dimensions_map={"FunctionName": self.watched.worker_function_name},
            statistic=statistic,
            period=PERIOD,
        )

    def _api(self, name: str, statistic: str = "Sum") -> cw.Metric:
        return cw.Metric(
            namespace="AWS/ApiGateway",
            metric_name=name,
            dimensions_map={"ApiName": self.watched.api_name},
            statistic=statistic,
            period=PERIOD,
        )

    def _dashboard(self) -> cw.Dashboard:
        w = self.watched
        queues = w.queues.items()

        def graph(title: str, metrics: list[cw.IMetric], **kwargs: object) -> cw.GraphWidget:
            return cw.GraphWidget(title=title, left=metrics, width=8, height=6, **kwargs)  # type: ignore[arg-type]

        depth = [
            q.metric_approximate_number_of_messages_visible(
                label=n, statistic="Maximum", period=PERIOD
            )
            for n, q in queues
        ]
        age = [
            q.metric_approximate_age_of_oldest_message(label=n, statistic="Maximum", period=PERIOD)
            for n, q in queues
        ]
        dlq = w.dead_letter_queue.metric_approximate_number_of_messages_visible(
            label="DLQ", statistic="Maximum", period=PERIOD
        )
        hit_ratio = cw.MathExpression(
            expression="IF(lookups > 0, 100 * hits / lookups, 0)",
            using_metrics={"hits": app_metric("CacheHits"), "lookups": app_metric("Lookups")},
            label="cache hit %",
            period=PERIOD,
        )
        by_reason = cw.MathExpression(
            expression=f"SEARCH('{{{NAMESPACE},reason,service}} "
            f"MetricName=\"ScrapeFailedByReason\"', 'Sum', 300)",
            using_metrics={},
            label="failed by reason",
            period=PERIOD,
        )
        dashboard = cw.Dashboard(self, "Dashboard", dashboard_name=Stack.of(self).stack_name)
        dashboard.add_widgets(
            graph("Queue depth", depth),
            graph("Age of oldest message (s)", age),
            graph("DLQ depth", [dlq]),
        )
        dashboard.add_widgets(
            graph("Worker concurrency", [self._worker("ConcurrentExecutions", "Maximum")]),
            graph(
                "Worker invocations, throttles and errors",
                [
                    self._worker("Invocations"),
                    self._worker("Throttles"),
                    self._worker("Errors"),
                ],
            ),
            graph(
                "Worker duration (ms)",
                [self._worker("Duration", "p95"), self._worker("Duration", "Average")],
            ),
        )
        dashboard.add_widgets(
            graph(
                "Scrapes succeeded and failed",
                [
                    app_metric("ScrapeSucceeded"),
                    app_metric("ScrapeFailed"),
                    app_metric("ScrapeRetried"),
                ],
            ),
            graph("Scrape failures by reason", [by_reason]),
            graph("Cache hit ratio (%)", [hit_ratio], left_y_axis=cw.YAxisProps(min=0, max=100)),
        )
        dashboard.add_widgets(
            graph(
                "Scrape time (ms)",
                [app_metric("ScrapeDuration", "p95"), app_metric("ScrapeDuration", "p50")],
            ),
            graph("Rate-limited requests", [app_metric("RateLimited")]),
            graph(
                "Lookups, joins and enqueued",
                [app_metric("Lookups"), app_metric("Joins"), app_metric("Enqueued")],
            ),
        )
        dashboard.add_widgets(
            graph("API 4xx and 5xx", [self._api("4XXError"), self._api("5XXError")]),
            graph(
                "API latency (ms)", [self._api("Latency", "p95"), self._api("Latency", "Average")]
            ),
            graph(
                "Layout drift and batch lines",
                [app_metric("LayoutDrift"), app_metric("BatchLines")],
            ),
        )
        dashboard.add_widgets(
            graph("Portal requests", [app_metric("PortalRequests")]),
            graph("Wake-ups that found no task waiting", [app_metric("WakeupsIdle")]),
            graph(
                "Portal breaker: open, probes, parked wake-ups",
                [
                    app_metric("PortalBreakerOpen", "Maximum"),
                    app_metric("PortalProbes"),
                    app_metric("WakeupsParked"),
                ],
            ),
            graph(
                "WebSocket notifications",
                [app_metric("NotificationsSent"), app_metric("NotificationsFailed")],
            ),
        )
        dashboard.add_widgets(
            cw.AlarmStatusWidget(
                title="Alarms", alarms=list(self.alarms.values()), width=24, height=4
            )
        )
        return dashboard
