"""CDK entry point: ``cdk synth`` / ``cdk deploy`` in infra/, or ``python -m infra.app``.

Settings are the ``RASPA_*`` variables the functions read (see the README's table), taken
from the environment at synth time. Context values (``cdk deploy -c Name=value``):

* ``StackName`` — default ``Raspa``;
* ``UserPoolId`` (and optionally ``UserPoolClientId``) — use an existing Cognito pool;
* ``PageOrigins`` — comma-separated extra browser origins allowed to upload batch files.

Templates go to ``$CDK_OUTDIR`` (the cdk CLI sets it to infra/cdk.out).
"""

from __future__ import annotations

import os
import sys
from dataclasses import replace
from pathlib import Path
from typing import Mapping

if __package__ in (None, ""):  # run as a script (cdk.json): import from the repository root
    _ROOT = Path(__file__).resolve().parents[1]
    sys.path[:] = [p for p in sys.path if Path(p or ".").resolve() != _ROOT / "infra"]
    sys.path.insert(0, str(_ROOT))

from aws_cdk import App, Aspects, Aws
from cdk_nag import AwsSolutionsChecks

from chalicelib.config import Settings
from infra.stack import RaspaStack

__all__ = ["build", "stack_settings"]

#: CDK behaviours the stack relies on, set here so ``python -m infra.app`` matches cdk.json:
#: S3 access logs delivered through a bucket policy, not ACLs.
FEATURE_FLAGS = ("@aws-cdk/aws-s3:serverAccessLogsUseBucketPolicy",)


def stack_settings(environ: Mapping[str, str] | None = None) -> Settings:
    """The deployed settings; an unnamed batch bucket gets the account and region appended
    (bucket names are global)."""
    env = os.environ if environ is None else environ
    settings = Settings.from_env(env)
    if not env.get("RASPA_BATCH_BUCKET"):
        settings = replace(
            settings, batch_bucket=f"{settings.batch_bucket}-{Aws.ACCOUNT_ID}-{Aws.REGION}"
        )
    return settings


def build(
    app: App | None = None, *, environ: Mapping[str, str] | None = None, nag: bool = True
) -> tuple[App, RaspaStack]:
    """The app with raspa's stack, checked by cdk-nag's AWS Solutions rules."""
    app = app or App()
    for flag in FEATURE_FLAGS:
        app.node.set_context(flag, True)
    context = app.node.try_get_context
    origins = tuple(o.strip() for o in (context("PageOrigins") or "").split(",") if o.strip())
    stack = RaspaStack(
        app,
        context("StackName") or "Raspa",
        settings=stack_settings(environ),
        user_pool_id=context("UserPoolId") or None,
        user_pool_client_id=context("UserPoolClientId") or None,
        page_origins=origins,
        description="raspa: on-demand scraping of service orders (Chalice app and its resources)",
    )
    if nag:
        Aspects.of(app).add(AwsSolutionsChecks(verbose=True))
    return app, stack


def main() -> None:
    app, _ = build()
    app.synth()


if __name__ == "__main__":
    main()
