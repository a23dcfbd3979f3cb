"""The CDK app's entry points: ``cdk synth`` through infra/cdk.json, or ``python infra/app.py``."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from infra import app as infra_app

INFRA = Path(infra_app.__file__).resolve().parent


def test_cdk_json_runs_the_app_with_the_projects_virtualenv_into_cdk_out() -> None:
    settings = json.loads((INFRA / "cdk.json").read_text(encoding="utf-8"))
    assert settings["app"] == "../.venv/bin/python app.py"
    assert settings["output"] == "cdk.out"
    assert settings["context"]["@aws-cdk/aws-s3:serverAccessLogsUseBucketPolicy"] is True


def test_the_synthesis_applies_cdk_jsons_context_like_the_cli(synthesized: Any) -> None:
    context = infra_app.cdk_context()
    assert context, "cdk.json sets feature flags"
    for key, value in context.items():
        if key != "@aws-cdk/core:annotationsInValidationReport":  # see conftest
            assert synthesized.app.node.try_get_context(key) == value, key


def test_running_the_app_with_an_outdir_writes_the_template_and_the_nag_report(
    synthesized: Any, tmp_path: Path
) -> None:
    infra_app.main([str(tmp_path)])
    written = json.loads((tmp_path / "Raspa.template.json").read_text(encoding="utf-8"))
    assert set(written["Resources"]) == set(synthesized.body["Resources"])
    assert set(written["Outputs"]) == set(synthesized.body["Outputs"])
    assert list(tmp_path.glob("AwsSolutions-*NagReport.csv"))
    assert (tmp_path / "manifest.json").exists()
