"""cdk-nag's AWS Solutions rules and cfn-lint on the synthesized stack: no unexplained finding."""

from __future__ import annotations

import csv
import json
from typing import Any

import pytest
from aws_cdk.assertions import Annotations, Match

from tests.infra.cfn import Nagged, nag_template

NAG = "AwsSolutions-"
#: cdk-nag's rule that a REST API stage has a WAF web ACL: raspa's must pass, unsuppressed.
WAF_RULE = "AwsSolutions-APIG3"
#: Where the template is linted (resource availability is per region; the README's deploy
#: guide prices us-east-1). One region keeps the check a few seconds long.
LINT_REGIONS = ["us-east-1"]


@pytest.fixture(scope="module")
def annotations(synthesized: Any) -> dict[str, list[str]]:
    """The stack's error and warning annotations (cdk-nag reports its findings as these)."""
    found = Annotations.from_stack(synthesized.stack)
    return {
        "error": [str(m.entry.data) for m in found.find_error("*", Match.any_value())],
        "warning": [str(m.entry.data) for m in found.find_warning("*", Match.any_value())],
    }


def nag_report(synthesized: Any) -> list[dict[str, str]]:
    (path,) = synthesized.outdir.glob("AwsSolutions-*NagReport.csv")
    with path.open(encoding="utf-8") as f:
        return list(csv.DictReader(f))


def suppressions(synthesized: Any) -> list[tuple[str, dict[str, Any]]]:
    """Every cdk-nag suppression in the template, with the resource it is on."""
    return [
        (logical_id, rule)
        for logical_id, r in synthesized.body["Resources"].items()
        for rule in r.get("Metadata", {}).get("cdk_nag", {}).get("rules_to_suppress", [])
    ]


def test_cdk_nag_reports_no_unsuppressed_error_or_warning(
    annotations: dict[str, list[str]],
) -> None:
    assert [m for m in annotations["error"] if m.startswith(NAG)] == []
    assert [m for m in annotations["warning"] if m.startswith(NAG)] == []


def test_the_synthesis_has_no_error_of_any_kind(annotations: dict[str, list[str]]) -> None:
    assert annotations["error"] == []


def test_cdk_nag_did_check_the_stack_and_every_finding_is_compliant_or_suppressed(
    synthesized: Any,
) -> None:
    rows = nag_report(synthesized)
    rules = {row["Rule ID"] for row in rows}
    assert {
        "AwsSolutions-SQS3",
        "AwsSolutions-S10",
        "AwsSolutions-IAM5",
        "AwsSolutions-DDB3",
    } <= rules
    assert {row["Compliance"] for row in rows} <= {"Compliant", "Suppressed"}
    assert [r for r in rows if r["Compliance"] == "Non-Compliant"] == []


def test_every_suppression_says_why_and_wildcard_ones_name_what_they_allow(
    synthesized: Any,
) -> None:
    found = suppressions(synthesized)
    assert found, "the stack has suppressions to check"
    for logical_id, rule in found:
        assert len(rule["reason"]) >= 40, f"{logical_id} {rule['id']}: say why"
        if rule["id"] == "AwsSolutions-IAM5":
            assert rule.get("applies_to"), f"{logical_id}: IAM5 must name each wildcard"
    assert {rule["id"] for _, rule in found} <= {
        "AwsSolutions-SMG4",
        "AwsSolutions-S1",
        "AwsSolutions-COG2",
        "AwsSolutions-COG8",
        "AwsSolutions-APIG1",
        "AwsSolutions-APIG2",
        "AwsSolutions-APIG4",
        "AwsSolutions-APIG6",
        "AwsSolutions-IAM5",
        "AwsSolutions-L1",
    }, "a new kind of suppression: review it, then add it here"


def test_cfn_lint_finds_nothing_in_the_synthesized_template(synthesized: Any) -> None:
    from cfnlint.api import lint

    matches = lint(json.dumps(synthesized.body), regions=["us-east-1", "sa-east-1", "eu-west-1"])
    assert [f"{m.rule.id} {m.message} ({'/'.join(map(str, m.path))})" for m in matches] == []


def test_cfn_lint_reports_a_broken_template_so_the_check_above_can_fail() -> None:
    from cfnlint.api import lint

    broken = {
        "Resources": {
            "Queue": {"Type": "AWS::SQS::Queue", "Properties": {"VisibilityTimeout": "soon"}}
        }
    }
    assert lint(json.dumps(broken), regions=["us-east-1"])


def test_a_cdk_nag_finding_shows_up_as_an_error_annotation_so_the_check_can_fail() -> None:
    from aws_cdk import App, Aspects, Stack
    from aws_cdk import aws_sqs as sqs
    from cdk_nag import AwsSolutionsChecks

    app = App()
    stack = Stack(app, "Careless")
    sqs.Queue(stack, "Plain", encryption=sqs.QueueEncryption.UNENCRYPTED)
    Aspects.of(app).add(AwsSolutionsChecks(reports=False))
    app.synth()
    found = Annotations.from_stack(stack).find_error("*", Match.any_value())
    messages = [str(m.entry.data) for m in found]
    assert any(m.startswith(f"{NAG}SQS2") for m in messages), messages


# --------------------------------------------- what SAM expands to at deploy time
def test_sam_expands_chalices_functions_and_rest_api_as_cloudformation_will(
    expanded: Nagged,
) -> None:
    resources = expanded.template["Resources"]
    kinds = [r["Type"] for r in resources.values()]
    assert not [k for k in kinds if k.startswith("AWS::Serverless::")]
    assert kinds.count("AWS::Lambda::Function") == 7
    assert resources["RestAPI"]["Type"] == "AWS::ApiGateway::RestApi"
    stages = [r for r in resources.values() if r["Type"] == "AWS::ApiGateway::Stage"]
    assert [s["Properties"]["StageName"] for s in stages] == ["api"]
    assert resources["ScrapeWorker"]["Properties"]["ReservedConcurrentExecutions"] == 3


def test_cdk_nag_finds_nothing_unsuppressed_in_what_sam_expands_to(
    expanded: Nagged,
) -> None:
    assert [m for m in expanded.messages if m.startswith(NAG)] == []
    rows = expanded.rows
    assert [r for r in rows if r["Compliance"] == "Non-Compliant"] == []
    runtime = {r["Resource ID"] for r in rows if r["Rule ID"] == "AwsSolutions-L1"}
    assert len(runtime) == 7, "cdk-nag judged every expanded function"
    stage_rules = {r["Rule ID"] for r in rows if r["Resource ID"].endswith("RestAPIapiStage")}
    assert {"AwsSolutions-APIG1", WAF_RULE, "AwsSolutions-APIG6"} <= stage_rules


def test_no_resource_suppresses_cdk_nags_waf_rule(synthesized: Any, expanded: Nagged) -> None:
    assert [k for k, rule in suppressions(synthesized) if rule["id"] == WAF_RULE] == []
    expanded_rules = [
        rule["id"]
        for r in expanded.template["Resources"].values()
        for rule in r.get("Metadata", {}).get("cdk_nag", {}).get("rules_to_suppress", [])
    ]
    assert WAF_RULE not in expanded_rules


def test_the_rest_api_stage_passes_cdk_nags_waf_rule_through_its_web_acl(
    expanded: Nagged,
) -> None:
    assert expanded.compliance(WAF_RULE, "RestAPIapiStage") == "Compliant"


def test_without_the_web_acl_association_cdk_nags_waf_rule_fails_the_rest_api_stage(
    expanded: Nagged, tmp_path: Any
) -> None:
    template = json.loads(json.dumps(expanded.template))
    resources = template["Resources"]
    (association,) = [
        k for k, r in resources.items() if r["Type"] == "AWS::WAFv2::WebACLAssociation"
    ]
    del resources[association]
    assert nag_template(template, tmp_path).compliance(WAF_RULE, "RestAPIapiStage") == (
        "Non-Compliant"
    )
