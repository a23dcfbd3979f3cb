"""``chalice package`` inside the CDK app: the Chalice app as a SAM template in the stack.

Chalice's packager writes into the working directory and loads the app's settings into
the process environment; ``package`` confines both to the packaging step.
"""

from __future__ import annotations

import importlib
import os
import sys
from contextlib import contextmanager
from typing import Iterator

from aws_cdk import Annotations, CfnResource, Stack, Stage
from chalice.cdk import Chalice

__all__ = ["API_STAGE", "function_ids", "package"]

#: The API Gateway stage of both the REST and the WebSocket API.
API_STAGE = "api"


def function_ids(chalice: Chalice) -> list[str]:
    return [
        child.node.id
        for child in chalice.sam_template.node.children
        if isinstance(child, CfnResource) and child.cfn_resource_type == "AWS::Serverless::Function"
    ]


def package(stack: Stack, source_dir: str, region: str, role_arn: str) -> Chalice:
    """``chalice package`` into the stack; its files go under the assembly's output dir."""
    _opt_in_experimental_features(stack, source_dir)
    outdir = os.path.abspath(Stage.of(stack).outdir)  # type: ignore[union-attr]
    with _sandbox(outdir, region):
        return Chalice(
            stack,
            "Chalice",
            source_dir=source_dir,
            stage_config={
                "api_gateway_stage": API_STAGE,
                "manage_iam_role": False,
                "iam_role_arn": role_arn,
            },
        )


def _opt_in_experimental_features(stack: Stack, source_dir: str) -> None:
    """Chalice refuses to package WebSocket handlers unless app.py opts in; say so, and go on."""
    if source_dir not in sys.path:
        sys.path.insert(0, source_dir)
    chalice_app = importlib.import_module("app").app
    missing = set(chalice_app._features_used) - set(chalice_app.experimental_feature_flags)
    if missing:
        Annotations.of(stack).add_warning_v2(
            "raspa:feature-flags",
            f"app.py uses experimental Chalice features without opting in: {sorted(missing)}; "
            f"add app.experimental_feature_flags.update({sorted(missing)})",
        )
        chalice_app.experimental_feature_flags.update(missing)


@contextmanager
def _sandbox(outdir: str, region: str) -> Iterator[None]:
    """Chalice writes into the working directory and loads the app's settings into
    ``os.environ``; keep both to the packaging step."""
    saved_env, saved_cwd = dict(os.environ), os.getcwd()
    os.makedirs(outdir, exist_ok=True)
    os.environ.setdefault("AWS_DEFAULT_REGION", region)
    os.chdir(outdir)
    try:
        yield
    finally:
        os.chdir(saved_cwd)
        os.environ.clear()
        os.environ.update(saved_env)
