"""Importing app.py stays light: every Lambda pays it at cold start."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]

HEAVY = ("pynamodb", "requests", "parsel", "boto3", "aws_lambda_powertools.utilities.parameters")


def test_importing_app_loads_no_heavy_library_and_builds_no_client():
    code = (
        "import json, sys; import app; "
        f"print(json.dumps([m for m in {list(HEAVY)!r} if m in sys.modules]))"
    )
    out = subprocess.run(
        [sys.executable, "-c", code],
        cwd=ROOT,
        capture_output=True,
        text=True,
        check=True,
        env={"PATH": "", "PYTHONPATH": str(ROOT)},
    )
    assert json.loads(out.stdout.strip().splitlines()[-1]) == []


def test_app_imports_with_no_environment_at_all():
    """``chalice package`` imports the app without any RASPA_* variable set."""
    out = subprocess.run(
        [sys.executable, "-c", "import app; print(sorted(app.app.routes))"],
        cwd=ROOT,
        capture_output=True,
        text=True,
        check=True,
        env={"PATH": "", "PYTHONPATH": str(ROOT)},
    )
    assert "/buscar-os-async/{numero_os}" in out.stdout
