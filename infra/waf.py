"""The REST API's web ACL: a per-IP rate limit and AWS managed rules, blocked requests logged.

WAF cannot be associated with a WebSocket API (of API Gateway's, it protects REST API
stages only): the WebSocket stage's own throttling, the token check of ``$connect`` and the
per-user connection cap are what protect it (README, "The API's own limits").
"""

from __future__ import annotations

from aws_cdk import ArnFormat, Fn, RemovalPolicy, Stack
from aws_cdk import aws_logs as logs
from aws_cdk import aws_wafv2 as wafv2
from constructs import Construct

__all__ = ["MANAGED_RULE_GROUPS", "RATE_RULE", "RATE_WINDOW_SECONDS", "ApiFirewall"]

#: The rate-based rule counts each client IP's requests over this window (five minutes).
RATE_WINDOW_SECONDS = 300
RATE_RULE = "RateLimitPerIp"
#: AWS's managed rule groups, evaluated in this order after the rate rule. None can refuse
#: a request of raspa's: its bodies are JSON of at most 1 KB (the app answers 413 above
#: that) and the Common rule set blocks only bodies over 8 KB, query strings over 2 KB
#: (raspa's only one is ``refresh``), URI paths over 1 KB and cookies over 10 KB (it sends
#: none: the token travels in the Authorization header). Batch files go to S3 through
#: presigned URLs, never through the API. The page and every HTTP client send a
#: User-Agent, which the Common set requires.
MANAGED_RULE_GROUPS = (
    "AWSManagedRulesAmazonIpReputationList",  # addresses AWS has seen in botnets and scans
    "AWSManagedRulesCommonRuleSet",  # OWASP-style: XSS, LFI/RFI, SSRF to instance metadata
    "AWSManagedRulesKnownBadInputsRuleSet",  # Log4Shell, Java deserialization, bad hosts
)
#: What a client refused by the rate rule reads: 429, like the app's own limits, in JSON.
_TOO_MANY = "TooManyRequests"
_TOO_MANY_BODY = (
    '{"error": "too_many_requests", "message": "too many requests from this address: '
    'wait a few minutes and retry"}'
)
_LOG_RETENTION = logs.RetentionDays.ONE_MONTH


class ApiFirewall(Construct):
    """A REGIONAL web ACL associated with the stage of the SAM API ``rest_api_id``.

    Chalice's REST API is an ``AWS::Serverless::Api``: its stage exists only once SAM's
    transform runs at deploy time. The association names it as SAM's ``<api>.Stage``
    reference, which the transform turns into a ``Ref`` of the stage it generates, so
    CloudFormation creates the stage before associating it.
    """

    def __init__(
        self, scope: Construct, construct_id: str, *, name: str, rate_limit: int, rest_api_id: str
    ) -> None:
        super().__init__(scope, construct_id)
        self.web_acl = wafv2.CfnWebACL(
            self,
            "WebAcl",
            name=name,
            description="raspa REST API: a per-IP rate limit and AWS managed rules",
            scope="REGIONAL",
            default_action=wafv2.CfnWebACL.DefaultActionProperty(allow={}),
            visibility_config=_visibility(name),
            custom_response_bodies={
                _TOO_MANY: wafv2.CfnWebACL.CustomResponseBodyProperty(
                    content_type="APPLICATION_JSON", content=_TOO_MANY_BODY
                )
            },
            rules=[
                _rate_rule(rate_limit),
                *(
                    _managed_rule(group, priority)
                    for priority, group in enumerate(MANAGED_RULE_GROUPS, start=1)
                ),
            ],
        )
        self.association = wafv2.CfnWebACLAssociation(
            self,
            "RestApiStage",
            web_acl_arn=self.web_acl.attr_arn,
            resource_arn=Fn.sub(
                "arn:${AWS::Partition}:apigateway:${AWS::Region}::"
                f"/restapis/${{{rest_api_id}}}/stages/${{{rest_api_id}.Stage}}"
            ),
        )
        self.log_group = logs.LogGroup(
            self,
            "Logs",
            # WAF writes only to log groups named aws-waf-logs-*.
            log_group_name=f"aws-waf-logs-{name}",
            retention=_LOG_RETENTION,
            removal_policy=RemovalPolicy.DESTROY,
        )
        self.logging = wafv2.CfnLoggingConfiguration(
            self,
            "Logging",
            resource_arn=self.web_acl.attr_arn,
            # The group's ARN without GetAtt's trailing ":*", which WAF refuses.
            log_destination_configs=[
                Stack.of(self).format_arn(
                    service="logs",
                    resource="log-group",
                    resource_name=self.log_group.log_group_name,
                    arn_format=ArnFormat.COLON_RESOURCE_NAME,
                )
            ],
            # Bearer tokens never reach the logs.
            redacted_fields=[
                wafv2.CfnLoggingConfiguration.FieldToMatchProperty(
                    single_header={"Name": "authorization"}
                )
            ],
            # Only what WAF blocked: allowed requests are in API Gateway's metrics.
            logging_filter={
                "DefaultBehavior": "DROP",
                "Filters": [
                    {
                        "Behavior": "KEEP",
                        "Requirement": "MEETS_ANY",
                        "Conditions": [{"ActionCondition": {"Action": "BLOCK"}}],
                    }
                ],
            },
        )


def _visibility(metric_name: str) -> wafv2.CfnWebACL.VisibilityConfigProperty:
    return wafv2.CfnWebACL.VisibilityConfigProperty(
        cloud_watch_metrics_enabled=True,
        metric_name=metric_name,
        sampled_requests_enabled=True,
    )


def _rate_rule(limit: int) -> wafv2.CfnWebACL.RuleProperty:
    """Blocks a client IP for as long as it sends over ``limit`` requests per 5 minutes."""
    return wafv2.CfnWebACL.RuleProperty(
        name=RATE_RULE,
        priority=0,
        action=wafv2.CfnWebACL.RuleActionProperty(
            block=wafv2.CfnWebACL.BlockActionProperty(
                custom_response=wafv2.CfnWebACL.CustomResponseProperty(
                    response_code=429, custom_response_body_key=_TOO_MANY
                )
            )
        ),
        statement=wafv2.CfnWebACL.StatementProperty(
            rate_based_statement=wafv2.CfnWebACL.RateBasedStatementProperty(
                aggregate_key_type="IP",
                limit=limit,
                evaluation_window_sec=RATE_WINDOW_SECONDS,
            )
        ),
        visibility_config=_visibility(RATE_RULE),
    )


def _managed_rule(group: str, priority: int) -> wafv2.CfnWebACL.RuleProperty:
    return wafv2.CfnWebACL.RuleProperty(
        name=group,
        priority=priority,
        override_action=wafv2.CfnWebACL.OverrideActionProperty(none={}),
        statement=wafv2.CfnWebACL.StatementProperty(
            managed_rule_group_statement=wafv2.CfnWebACL.ManagedRuleGroupStatementProperty(
                vendor_name="AWS", name=group
            )
        ),
        visibility_config=_visibility(group),
    )
