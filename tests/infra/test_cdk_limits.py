"""The APIs' own limits: stage throttling, the REST API's web ACL, reserved concurrency."""

from __future__ import annotations

from dataclasses import fields
from typing import Any

import pytest

from chalicelib.config import Settings
from infra.functions import (
    API,
    AUTHORIZER,
    FUNCTIONS,
    INFRA_SETTINGS,
    INGEST,
    WORKER,
    WS_CONNECT,
    WS_DISCONNECT,
    WS_MESSAGE,
    function_environment,
)
from infra.waf import MANAGED_RULE_GROUPS, RATE_RULE
from tests.infra.cfn import ref_id, render

WEBSOCKET_FUNCTIONS = (WS_CONNECT, WS_MESSAGE, WS_DISCONNECT)
#: Every limit set away from its default (and from each other), for the second synthesis.
CHANGED = {
    "RASPA_API_RATE_LIMIT": "7",
    "RASPA_API_BURST_LIMIT": "9",
    "RASPA_WS_RATE_LIMIT": "3.5",
    "RASPA_WS_BURST_LIMIT": "4",
    "RASPA_WAF_RATE_LIMIT": "150",
    "RASPA_API_RESERVED_CONCURRENCY": "11",
    "RASPA_AUTHORIZER_RESERVED_CONCURRENCY": "6",
    "RASPA_WEBSOCKET_RESERVED_CONCURRENCY": "5",
    "RASPA_CONCURRENCY": "4",
}
#: Lambda's default account quota of concurrent executions, and what it keeps unreserved.
ACCOUNT_QUOTA, UNRESERVED_MINIMUM = 1_000, 100


def resources(body: dict[str, Any], kind: str) -> dict[str, dict[str, Any]]:
    return {k: r for k, r in body["Resources"].items() if r["Type"] == kind}


def rest_throttling(body: dict[str, Any]) -> dict[str, Any]:
    (setting,) = body["Resources"]["RestAPI"]["Properties"]["MethodSettings"]
    return setting


def websocket_throttling(body: dict[str, Any]) -> dict[str, Any]:
    (stage,) = resources(body, "AWS::ApiGatewayV2::Stage").values()
    return stage["Properties"]["DefaultRouteSettings"]


def web_acl(body: dict[str, Any]) -> tuple[str, dict[str, Any]]:
    ((logical_id, acl),) = resources(body, "AWS::WAFv2::WebACL").items()
    return logical_id, acl["Properties"]


def rules(body: dict[str, Any]) -> dict[str, dict[str, Any]]:
    return {rule["Name"]: rule for rule in web_acl(body)[1]["Rules"]}


def reserved(body: dict[str, Any]) -> dict[str, int | None]:
    return {
        name: r["Properties"].get("ReservedConcurrentExecutions")
        for name, r in resources(body, "AWS::Serverless::Function").items()
    }


@pytest.fixture(scope="module")
def changed(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Any]:
    """The template of a stack synthesized with every limit changed (``CHANGED``)."""
    from aws_cdk import App
    from aws_cdk.assertions import Template

    from infra.app import build

    app, stack = build(
        App(outdir=str(tmp_path_factory.mktemp("changed"))), environ=CHANGED, nag=False
    )
    app.synth()
    return Template.from_stack(stack).to_json()


# ------------------------------------------------------------ stage throttling
def test_the_rest_stage_throttles_every_resource_and_method_at_the_settings_rate(
    synthesized: Any, settings: Any
) -> None:
    assert rest_throttling(synthesized.body) == {
        "ResourcePath": "/*",
        "HttpMethod": "*",
        "ThrottlingRateLimit": settings.api_rate_limit,
        "ThrottlingBurstLimit": settings.api_burst_limit,
    }
    assert (settings.api_rate_limit, settings.api_burst_limit) == (100, 200)


def test_sam_carries_the_rest_throttling_to_the_stage_it_generates(expanded: Any) -> None:
    stage = expanded.template["Resources"]["RestAPIapiStage"]
    assert stage["Type"] == "AWS::ApiGateway::Stage"
    (setting,) = stage["Properties"]["MethodSettings"]
    assert (setting["ThrottlingRateLimit"], setting["ThrottlingBurstLimit"]) == (100, 200)


def test_the_websocket_stage_throttles_every_route_at_the_settings_rate(
    synthesized: Any, settings: Any
) -> None:
    assert websocket_throttling(synthesized.body) == {
        "ThrottlingRateLimit": settings.ws_rate_limit,
        "ThrottlingBurstLimit": settings.ws_burst_limit,
    }
    assert (settings.ws_rate_limit, settings.ws_burst_limit) == (50, 100)


# --------------------------------------------------------------------- the WAF
def test_the_web_acl_is_regional_allows_by_default_and_publishes_metrics(
    synthesized: Any,
) -> None:
    _, acl = web_acl(synthesized.body)
    assert acl["Scope"] == "REGIONAL"
    assert acl["DefaultAction"] == {"Allow": {}}
    configs = [acl["VisibilityConfig"], *(r["VisibilityConfig"] for r in acl["Rules"])]
    for config in configs:
        assert config["CloudWatchMetricsEnabled"] is True, config
        assert config["SampledRequestsEnabled"] is True, config
    names = [c["MetricName"] for c in configs]
    assert len(set(names)) == len(names), "one metric per rule"


def test_the_web_acl_first_blocks_a_client_ip_over_the_settings_requests_per_5_minutes(
    synthesized: Any, settings: Any
) -> None:
    rule = rules(synthesized.body)[RATE_RULE]
    assert rule["Priority"] == 0
    assert rule["Statement"] == {
        "RateBasedStatement": {
            "AggregateKeyType": "IP",
            "Limit": settings.waf_rate_limit,
            "EvaluationWindowSec": 300,
        }
    }
    assert settings.waf_rate_limit == 3_000
    block = rule["Action"]["Block"]["CustomResponse"]
    assert block["ResponseCode"] == 429
    _, acl = web_acl(synthesized.body)
    body = acl["CustomResponseBodies"][block["CustomResponseBodyKey"]]
    assert body["ContentType"] == "APPLICATION_JSON"


def test_aws_managed_rule_groups_run_after_the_rate_rule_and_keep_their_own_actions(
    synthesized: Any,
) -> None:
    found = rules(synthesized.body)
    assert set(found) == {RATE_RULE, *MANAGED_RULE_GROUPS}
    assert {
        "AWSManagedRulesCommonRuleSet",
        "AWSManagedRulesKnownBadInputsRuleSet",
    } <= set(MANAGED_RULE_GROUPS)
    for priority, group in enumerate(MANAGED_RULE_GROUPS, start=1):
        rule = found[group]
        assert rule["Priority"] == priority, group
        assert rule["Statement"] == {
            "ManagedRuleGroupStatement": {"VendorName": "AWS", "Name": group}
        }, "no rule of the group is excluded or overridden"
        assert rule["OverrideAction"] == {"None": {}}, f"{group} blocks, not just counts"


def test_the_web_acl_is_associated_with_the_rest_stage_as_sams_stage_reference(
    synthesized: Any,
) -> None:
    acl_id, _ = web_acl(synthesized.body)
    (association,) = resources(synthesized.body, "AWS::WAFv2::WebACLAssociation").values()
    props = association["Properties"]
    assert ref_id(props["WebACLArn"]) == acl_id
    assert props["ResourceArn"] == {
        "Fn::Sub": "arn:${AWS::Partition}:apigateway:${AWS::Region}::"
        "/restapis/${RestAPI}/stages/${RestAPI.Stage}"
    }


def test_after_sams_transform_the_association_refers_to_and_so_waits_for_the_api_stage(
    expanded: Any,
) -> None:
    found = expanded.template["Resources"]
    (association,) = [r for r in found.values() if r["Type"] == "AWS::WAFv2::WebACLAssociation"]
    arn = render(association["Properties"]["ResourceArn"])
    assert arn == (
        "arn:${AWS::Partition}:apigateway:${AWS::Region}::/restapis/${RestAPI}/stages/"
        "${RestAPIapiStage}"
    )
    stage = found["RestAPIapiStage"]
    assert stage["Type"] == "AWS::ApiGateway::Stage"
    assert stage["Properties"]["StageName"] == "api", "its Ref: the ARN ends in /stages/api"
    assert ref_id(stage["Properties"]["RestApiId"]) == "RestAPI"


def test_the_websocket_api_has_no_web_acl_because_waf_cannot_protect_it(
    synthesized: Any,
) -> None:
    (association,) = resources(synthesized.body, "AWS::WAFv2::WebACLAssociation").values()
    assert "WebsocketAPI" not in str(association["Properties"]["ResourceArn"])


def test_waf_logs_only_blocked_requests_without_their_token_to_a_group_kept_a_month(
    synthesized: Any,
) -> None:
    acl_id, _ = web_acl(synthesized.body)
    (logging,) = resources(synthesized.body, "AWS::WAFv2::LoggingConfiguration").values()
    props = logging["Properties"]
    assert ref_id(props["ResourceArn"]) == acl_id
    assert props["RedactedFields"] == [{"SingleHeader": {"Name": "authorization"}}]
    assert props["LoggingFilter"] == {
        "DefaultBehavior": "DROP",
        "Filters": [
            {
                "Behavior": "KEEP",
                "Requirement": "MEETS_ANY",
                "Conditions": [{"ActionCondition": {"Action": "BLOCK"}}],
            }
        ],
    }
    (destination,) = props["LogDestinationConfigs"]
    arn = render(destination)
    group_id = ref_id(destination["Fn::Join"][1][-1])
    group = synthesized.props(group_id)
    assert arn == f"arn:<AWS::Partition>:logs:<AWS::Region>:<AWS::AccountId>:log-group:<{group_id}>"
    assert group["LogGroupName"].startswith("aws-waf-logs-"), "WAF writes only there"
    assert group["RetentionInDays"] == 30


# --------------------------------------------------------- reserved concurrency
def test_every_public_function_has_the_reserved_concurrency_its_setting_gives(
    synthesized: Any, settings: Any
) -> None:
    found = reserved(synthesized.body)
    assert found[API] == settings.api_reserved_concurrency == 50
    assert found[AUTHORIZER] == settings.authorizer_reserved_concurrency == 20
    for name in WEBSOCKET_FUNCTIONS:
        assert found[name] == settings.websocket_reserved_concurrency == 20, name
    assert found[WORKER] == settings.concurrency == 3


def test_batch_ingest_reserves_nothing_its_one_capped_event_source_is_its_only_trigger(
    synthesized: Any, settings: Any
) -> None:
    assert reserved(synthesized.body)[INGEST] is None
    sources = [
        m["Properties"]
        for m in resources(synthesized.body, "AWS::Lambda::EventSourceMapping").values()
        if ref_id(m["Properties"]["FunctionName"]) == INGEST
    ]
    assert [s["ScalingConfig"]["MaximumConcurrency"] for s in sources] == [
        settings.ingest_max_concurrency
    ]
    invokers = [
        r["Properties"]
        for r in resources(synthesized.body, "AWS::Lambda::Permission").values()
        if INGEST in str(r["Properties"]["FunctionName"])
    ]
    assert invokers == [], "nothing else may invoke the ingest function"


def test_every_function_is_capped_so_raspa_leaves_most_of_the_accounts_concurrency(
    synthesized: Any, settings: Any
) -> None:
    found = reserved(synthesized.body)
    assert set(found) == set(FUNCTIONS)
    capped = {name: value for name, value in found.items() if value is not None}
    assert set(found) - set(capped) == {INGEST}
    most = sum(capped.values()) + settings.ingest_max_concurrency
    assert most == 50 + 20 + 3 * 20 + 3 + 2
    assert most <= ACCOUNT_QUOTA - UNRESERVED_MINIMUM


# ------------------------------------------------------------ settings changed
def test_given_changed_settings_the_throttling_follows_them(changed: dict[str, Any]) -> None:
    rest = rest_throttling(changed)
    assert (rest["ThrottlingRateLimit"], rest["ThrottlingBurstLimit"]) == (7, 9)
    ws = websocket_throttling(changed)
    assert (ws["ThrottlingRateLimit"], ws["ThrottlingBurstLimit"]) == (3.5, 4)


def test_given_changed_settings_the_waf_rate_limit_follows_them(changed: dict[str, Any]) -> None:
    assert rules(changed)[RATE_RULE]["Statement"]["RateBasedStatement"]["Limit"] == 150


def test_given_changed_settings_every_reserved_concurrency_follows_them(
    changed: dict[str, Any],
) -> None:
    assert reserved(changed) == {
        API: 11,
        AUTHORIZER: 6,
        WS_CONNECT: 5,
        WS_MESSAGE: 5,
        WS_DISCONNECT: 5,
        WORKER: 4,
        INGEST: None,
    }


# ------------------------------------------------------------ the environment
def test_the_limits_only_the_stack_reads_stay_out_of_every_functions_environment(
    synthesized: Any,
) -> None:
    infra_only = {"RASPA_" + name.upper() for name in INFRA_SETTINGS}
    for name in FUNCTIONS:
        env = synthesized.props(name)["Environment"]["Variables"]
        assert not infra_only & set(env), name
        assert env["RASPA_RATE_LIMIT"] == "10", "the app's own per-user limit stays"
        assert env["RASPA_CONCURRENCY"] == "3", name


def test_function_environment_leaves_out_the_infra_settings_region_tracing_and_extra() -> None:
    env = function_environment(Settings(api_rate_limit=7, waf_rate_limit=150), {})
    settings = {"RASPA_" + f.name.upper() for f in fields(Settings)}
    left_out = {f"RASPA_{n.upper()}" for n in (*INFRA_SETTINGS, "region", "tracing", "extra")}
    empty = {k for k in settings if getattr(Settings(), k[len("RASPA_") :].lower()) == ""}
    assert set(env) - {"POWERTOOLS_SERVICE_NAME", "POWERTOOLS_METRICS_NAMESPACE"} == (
        settings - left_out - empty
    )
    assert set(INFRA_SETTINGS) <= {f.name for f in fields(Settings)}
