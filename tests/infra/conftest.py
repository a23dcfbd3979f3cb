"""Infrastructure tests: raspa's CDK stack, synthesized once per session, in process.

Synthesis packages the Chalice app (``chalice package``: the Lambda zip with the Linux wheels
of requirements.txt, reused from ``.chalice/deployments`` while app.py and chalicelib are
unchanged) and runs cdk-nag; it takes about 30-60 s, so every test shares one synthesis
(test_cdk_limits adds one with changed limits, which reuses that package: a few seconds).
No cdk CLI and no AWS account are needed.
"""

from __future__ import annotations

import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest

#: Synthesis runs inside the first test that asks for it: give it room beyond the default.
SYNTH_TIMEOUT_SECONDS = 600
HERE = Path(__file__).resolve().parent
REPORT_FLAG = "@aws-cdk/core:annotationsInValidationReport"


def pytest_collection_modifyitems(config: pytest.Config, items: list[pytest.Item]) -> None:
    for item in items:
        if HERE in Path(str(item.path)).resolve().parents:
            item.add_marker(pytest.mark.timeout(SYNTH_TIMEOUT_SECONDS))


@dataclass(frozen=True)
class Synthesized:
    """The synthesized app, its stack and the stack's template."""

    app: Any
    stack: Any
    template: Any  # aws_cdk.assertions.Template
    body: dict[str, Any]
    outdir: Path
    seconds: float

    def resources(self, kind: str) -> dict[str, dict[str, Any]]:
        """Every resource of CloudFormation type ``kind``, by logical id."""
        return {k: r for k, r in self.body["Resources"].items() if r["Type"] == kind}

    def props(self, logical_id: str) -> dict[str, Any]:
        return self.body["Resources"][logical_id].get("Properties", {})


@pytest.fixture(scope="session")
def synthesized(tmp_path_factory: pytest.TempPathFactory) -> Synthesized:
    """raspa's stack with default settings (no ``RASPA_*`` variable), as ``cdk synth`` makes it."""
    from aws_cdk import App
    from aws_cdk.assertions import Template

    from infra.app import build

    outdir = tmp_path_factory.mktemp("cdk.out")
    started = time.monotonic()
    # cdk.json's flags make an error annotation (an unsuppressed cdk-nag finding) abort the
    # synthesis; here it is kept as an annotation so the compliance tests list every one.
    # The template is the same either way.
    app = App(outdir=str(outdir), context={REPORT_FLAG: False})
    app, stack = build(app, environ={})
    app.synth()
    template = Template.from_stack(stack)
    seconds = time.monotonic() - started
    print(f"\nraspa stack synthesized in {seconds:.1f} s")  # shown with -s
    return Synthesized(app, stack, template, template.to_json(), outdir, seconds)


@pytest.fixture(scope="session")
def spec(synthesized: Synthesized) -> Any:
    """The resource spec the stack was built from (``infra.spec.resources``)."""
    return synthesized.stack.spec


@pytest.fixture(scope="session")
def settings(synthesized: Synthesized) -> Any:
    return synthesized.stack.settings


@pytest.fixture(scope="session")
def expanded(synthesized: Synthesized, tmp_path_factory: pytest.TempPathFactory) -> Any:
    """cdk-nag on the template after SAM's transform (a ``tests.infra.cfn.Nagged``): the
    Lambda functions and the REST API chalice declares as AWS::Serverless::* are invisible
    to cdk-nag until expanded."""
    from tests.infra.cfn import expand_sam, nag_template

    return nag_template(expand_sam(synthesized.body), tmp_path_factory.mktemp("expanded"))
