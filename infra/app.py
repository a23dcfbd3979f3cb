"""CDK entry point: ``cdk synth`` / ``cdk deploy`` in infra/, or ``python -m infra.app``.

Settings are the ``RASPA_*`` variables the functions read (see the README's table), taken
from the environment at synth time. Context values (``cdk deploy -c Name=value``):

* ``StackName`` — default ``Raspa``;
* ``UserPoolId`` (and optionally ``UserPoolClientId``) — use an existing Cognito pool;
* ``PageOrigins`` — comma-separated extra browser origins allowed to upload batch files.

Templates go to ``$CDK_OUTDIR`` (the cdk CLI sets it to infra/cdk.out).
"""

from __future__ import annotations

import json
import sys
from dataclasses import replace
from pathlib import Path
from typing import Any, Mapping

if __package__ in (None, ""):  # run as a script (cdk.json): import from the repository root
    _ROOT = Path(__file__).resolve().parents[1]
    sys.path[:] = [p for p in sys.path if Path(p or ".").resolve() != _ROOT / "infra"]
    sys.path.insert(0, str(_ROOT))

from aws_cdk import App, Aspects, Aws
from cdk_nag import AwsSolutionsChecks

from chalicelib.config import Settings
from infra.stack import RaspaStack

__all__ = ["build", "cdk_context", "stack_options", "stack_settings"]

#: The cdk CLI's settings: the app command and the context (CDK's feature flags).
CDK_JSON = Path(__file__).resolve().with_name("cdk.json")


def cdk_context() -> dict[str, Any]:
    """The context cdk.json sets, feature flags among them (S3 access logs through a bucket
    policy, not ACLs...): ``build`` applies it too, so a synth without the cdk CLI (tests,
    ``python -m infra.app``) makes the template ``cdk synth`` makes."""
    return dict(json.loads(CDK_JSON.read_text(encoding="utf-8"))["context"])


def stack_settings(environ: Mapping[str, str] | None = None) -> Settings:
    """The deployed settings; an unnamed batch bucket gets the account and region appended
    (bucket names are global)."""
    settings = Settings.from_env(environ)
    if settings.batch_bucket == Settings().batch_bucket:
        settings = replace(
            settings, batch_bucket=f"{settings.batch_bucket}-{Aws.ACCOUNT_ID}-{Aws.REGION}"
        )
    return settings


def stack_options(app: App) -> dict[str, Any]:
    """The stack's id and options from the app's context values (``cdk -c Name=value``)."""
    context = app.node.try_get_context
    origins = tuple(o.strip() for o in (context("PageOrigins") or "").split(",") if o.strip())
    return {
        "construct_id": context("StackName") or "Raspa",
        "user_pool_id": context("UserPoolId") or None,
        "user_pool_client_id": context("UserPoolClientId") or None,
        "page_origins": origins,
    }


def build(
    app: App | None = None, *, environ: Mapping[str, str] | None = None, nag: bool = True
) -> tuple[App, RaspaStack]:
    """The app with raspa's stack, checked by cdk-nag's AWS Solutions rules."""
    app = app or App()
    for key, value in cdk_context().items():
        if app.node.try_get_context(key) is None:
            app.node.set_context(key, value)
    options = stack_options(app)
    stack = RaspaStack(
        app,
        options.pop("construct_id"),
        settings=stack_settings(environ),
        description="raspa: on-demand scraping of service orders (Chalice app and its resources)",
        **options,
    )
    if nag:
        Aspects.of(app).add(AwsSolutionsChecks(verbose=True))
    return app, stack


def main(argv: list[str] | None = None) -> None:
    """Synthesize into the folder named on the command line (``python app.py cdk.out``), or
    where the cdk CLI says (it starts this process with ``CDK_OUTDIR``, which the CDK's
    Node.js runtime reads itself)."""
    args = sys.argv[1:] if argv is None else argv
    app, _ = build(App(outdir=args[0] if args else None))
    app.synth()


if __name__ == "__main__":
    main()
