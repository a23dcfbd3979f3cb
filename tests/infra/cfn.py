"""Reading a synthesized CloudFormation template: intrinsics as text, resources by name,
every IAM statement in it (identity and resource policies) for the least-privilege checks,
SAM's transform applied offline, as CloudFormation applies it at deploy time, and cdk-nag
run on such a template."""

from __future__ import annotations

import copy
import csv
import json
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Iterator

#: Services whose data a wildcard resource would open up.
DATA_SERVICES = ("dynamodb", "sqs", "s3", "secretsmanager")

#: Resource types holding policy documents, and where: (property, kind).
POLICY_PROPERTIES = {
    "AWS::IAM::Policy": ("PolicyDocument", "identity"),
    "AWS::IAM::ManagedPolicy": ("PolicyDocument", "identity"),
    "AWS::SQS::QueuePolicy": ("PolicyDocument", "resource"),
    "AWS::S3::BucketPolicy": ("PolicyDocument", "resource"),
    "AWS::SNS::TopicPolicy": ("PolicyDocument", "resource"),
    "AWS::SecretsManager::ResourcePolicy": ("ResourcePolicy", "resource"),
    "AWS::KMS::Key": ("KeyPolicy", "resource"),
}


def render(value: Any) -> str:
    """An intrinsic function as readable text: ``{"Ref": "X"}`` → ``<X>``, joins joined."""
    if isinstance(value, str):
        return value
    if isinstance(value, dict) and len(value) == 1:
        ((fn, arg),) = value.items()
        if fn == "Ref":
            return f"<{arg}>"
        if fn == "Fn::GetAtt":
            return f"<{'.'.join(arg) if isinstance(arg, list) else arg}>"
        if fn == "Fn::Join":
            separator, parts = arg
            return separator.join(render(part) for part in parts)
        if fn == "Fn::Sub":
            if isinstance(arg, str):
                return arg
            text, variables = arg
            for name, variable in variables.items():
                text = text.replace("${" + name + "}", render(variable))
            return text
    return repr(value)


def as_list(value: Any) -> list[Any]:
    return value if isinstance(value, list) else [value]


def ref_id(value: Any) -> str | None:
    """The logical id a ``Ref`` or ``Fn::GetAtt`` points at."""
    if isinstance(value, dict):
        if "Ref" in value:
            return value["Ref"]
        if "Fn::GetAtt" in value:
            target = value["Fn::GetAtt"]
            return target[0] if isinstance(target, list) else target.split(".")[0]
    return None


@dataclass(frozen=True)
class Statement:
    """One policy statement and where it lives."""

    owner: str  # logical id of the role, policy or resource carrying it
    kind: str  # "identity" or "resource"
    body: dict[str, Any]

    @property
    def allows(self) -> bool:
        return self.body.get("Effect") == "Allow"

    @property
    def actions(self) -> list[str]:
        return [render(a) for a in as_list(self.body.get("Action", []))]

    @property
    def resources(self) -> list[str]:
        return [render(r) for r in as_list(self.body.get("Resource", []))]


def statements(template: dict[str, Any]) -> Iterator[Statement]:
    """Every statement of every policy in the template (role inline policies included)."""
    for logical_id, resource in template["Resources"].items():
        kind = resource["Type"]
        props = resource.get("Properties", {})
        documents: list[tuple[dict[str, Any], str]] = []
        if kind == "AWS::IAM::Role":
            documents += [(p["PolicyDocument"], "identity") for p in props.get("Policies", [])]
        elif kind == "AWS::Serverless::Function" and "Policies" in props:
            documents.append(({"Statement": [{"Effect": "Allow", "Action": "sam-policies"}]}, ""))
        elif kind in POLICY_PROPERTIES:
            prop, policy_kind = POLICY_PROPERTIES[kind]
            if prop in props:
                documents.append((props[prop], policy_kind))
        for document, policy_kind in documents:
            for body in as_list(document.get("Statement", [])):
                yield Statement(logical_id, policy_kind, body)


def is_wildcard_action(action: str) -> bool:
    """``*`` or a whole service (``s3:*``); named actions with a pattern (``kms:Get*``) pass."""
    return action == "*" or action.endswith(":*")


def is_wildcard_resource(resource: str) -> bool:
    """``*``, or an ARN that names no resource: ``arn:aws:sqs:*:*:*``, ``.../table/*``,
    ``arn:aws:s3:::bucket/*`` (every object). A prefix (``bucket/batches/*``) names some."""
    if resource == "*":
        return True
    fields = resource.split(":", 5)
    if len(fields) < 6 or fields[0] != "arn":
        return False
    if "*" in fields[1:5]:
        return True
    path = fields[5]
    for separator in ("/", ":"):
        _, found, rest = path.partition(separator)
        if found and rest == "*":
            return True
    return path == "*"


def least_privilege_problems(template: dict[str, Any]) -> list[str]:
    """Allow statements with a wildcard action, or a wildcard resource on data services.

    Deny statements are skipped: they take rights away (``enforce_ssl`` denies ``sqs:*`` and
    ``s3:*`` without TLS). A function given SAM ``Policies`` is a problem in itself: its
    role is then SAM's, not one written here.
    """
    problems = []
    for st in statements(template):
        if "sam-policies" in st.actions:
            problems.append(f"{st.owner}: SAM Policies instead of its own role")
            continue
        if not st.allows:
            continue
        if "NotAction" in st.body or "NotResource" in st.body:
            problems.append(f"{st.owner}: NotAction/NotResource in an Allow statement")
        for action in st.actions:
            if is_wildcard_action(action):
                problems.append(f"{st.owner}: wildcard action {action}")
        services = {action.split(":", 1)[0] for action in st.actions}
        if services & set(DATA_SERVICES):
            for resource in st.resources:
                if is_wildcard_resource(resource):
                    problems.append(
                        f"{st.owner}: {sorted(services)} on wildcard resource {resource}"
                    )
    return problems


class _NoManagedPolicies:
    """SAM asks IAM for managed policies only for functions with ``Policies``: none here."""

    def load(self) -> dict[str, str]:
        return {}


def expand_sam(template: dict[str, Any]) -> dict[str, Any]:
    """The template as CloudFormation deploys it: SAM's transform applied, and each resource
    SAM generates carrying the cdk-nag suppressions (``Metadata``) of the SAM resource it
    comes from (``RestAPI`` → ``RestAPIapiStage``...), which the transform drops.

    The bootstrap version check is left out: it belongs to the stack, not its resources.
    """
    from samtranslator.translator.transform import transform

    expanded = transform(copy.deepcopy(template), {}, _NoManagedPolicies())
    originals = template["Resources"]
    sam = [k for k, r in originals.items() if r["Type"].startswith("AWS::Serverless::")]
    for logical_id, resource in expanded["Resources"].items():
        if logical_id in originals and logical_id not in sam:
            continue  # a resource of the template itself keeps its own metadata
        sources = [k for k in sam if logical_id.startswith(k)]
        if sources:
            source = max(sources, key=len)
            metadata = originals[source].get("Metadata")
            if metadata:
                resource["Metadata"] = copy.deepcopy(metadata)
    expanded.get("Parameters", {}).pop("BootstrapVersion", None)
    expanded.pop("Rules", None)
    return expanded


@dataclass(frozen=True)
class Nagged:
    """A template cdk-nag judged outside raspa's stack: its findings and report rows."""

    template: dict[str, Any]
    messages: list[str]  # error and warning annotations
    rows: list[dict[str, str]]  # the NagReport.csv

    def compliance(self, rule: str, logical_id: str) -> str:
        """``Compliant``, ``Non-Compliant`` or ``Suppressed``: ``rule`` on ``logical_id``
        (cdk-nag may report a verdict twice, never two verdicts)."""
        (found,) = {
            r["Compliance"]
            for r in self.rows
            if r["Rule ID"] == rule and r["Resource ID"].endswith(f"/{logical_id}")
        }
        return found


def nag_template(template: dict[str, Any], outdir: Path) -> Nagged:
    """cdk-nag's AWS Solutions rules on ``template`` as it is (included, not synthesized)."""
    from aws_cdk import App, Aspects, Stack
    from aws_cdk import cloudformation_include as cfn_include
    from aws_cdk.assertions import Annotations, Match
    from cdk_nag import AwsSolutionsChecks

    outdir.mkdir(parents=True, exist_ok=True)
    path = outdir / "included.template.json"
    path.write_text(json.dumps(template), encoding="utf-8")
    app = App(outdir=str(outdir / "cdk.out"))
    stack = Stack(app, "Expanded")
    cfn_include.CfnInclude(stack, "Template", template_file=str(path))
    Aspects.of(app).add(AwsSolutionsChecks())
    app.synth()
    found = Annotations.from_stack(stack)
    (report,) = (outdir / "cdk.out").glob("AwsSolutions-*NagReport.csv")
    with report.open(encoding="utf-8") as f:
        rows = list(csv.DictReader(f))
    messages = [
        str(m.entry.data)
        for m in [
            *found.find_error("*", Match.any_value()),
            *found.find_warning("*", Match.any_value()),
        ]
    ]
    return Nagged(template, messages, rows)
