"""``make run``'s process: one at a time, and what it writes for scripts."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
pytestmark = pytest.mark.e2e


def test_local_json_names_every_url_scripts_need(stack):
    written = json.loads((Path(stack["_env"]["RASPA_STATE_DIR"]) / "local.json").read_text())
    for key in ("api_url", "ws_url", "portal_url", "aws_endpoint_url", "region", "tasks_table"):
        assert written[key], key


def test_a_second_run_says_one_is_already_running(stack):
    second = subprocess.run(
        [sys.executable, "-m", "local.stack"],
        cwd=ROOT,
        env=stack["_env"],
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert second.returncode == 1
    assert "already running" in second.stderr and stack["api_url"] in second.stderr
