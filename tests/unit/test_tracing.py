"""Tracing loads the X-Ray SDK only inside a traced Lambda; spans carry annotations."""

from __future__ import annotations

import subprocess
import sys
from contextlib import contextmanager
from pathlib import Path

import pytest

from chalicelib import tracing


@pytest.mark.parametrize(
    ("environ", "expected"),
    [
        ({}, False),
        ({"LAMBDA_TASK_ROOT": "/var/task"}, True),
        ({"LAMBDA_TASK_ROOT": "/var/task", "POWERTOOLS_TRACE_DISABLED": "true"}, False),
        ({"LAMBDA_TASK_ROOT": "/var/task", "POWERTOOLS_TRACE_DISABLED": "false"}, True),
        ({"LAMBDA_TASK_ROOT": "/var/task", "AWS_CHALICE_CLI_MODE": "true"}, False),
    ],
)
def test_tracing_runs_only_in_lambda_unless_turned_off(environ, expected):
    assert tracing.enabled(environ) is expected


def test_outside_lambda_a_span_is_a_no_op_and_the_xray_sdk_never_loads():
    code = (
        "import sys\n"
        "from chalicelib.tracing import annotate, span\n"
        "with span('## x', task_id='t'):\n"
        "    annotate(task_id='t')\n"
        "print('aws_xray_sdk' in sys.modules)\n"
    )
    out = subprocess.run(
        [sys.executable, "-c", code],
        capture_output=True,
        text=True,
        check=True,
        cwd=Path(__file__).resolve().parents[2],
    )
    assert out.stdout.strip() == "False"


class FakeSubsegment:
    def __init__(self) -> None:
        self.annotations: dict[str, str] = {}

    def put_annotation(self, key: str, value: str) -> None:
        self.annotations[key] = value


class FakeTracer:
    def __init__(self) -> None:
        self.opened: list[tuple[str, FakeSubsegment]] = []
        self.annotations: dict[str, str] = {}
        self.provider = self

    @contextmanager
    def in_subsegment(self, name: str):
        sub = FakeSubsegment()
        self.opened.append((name, sub))
        yield sub

    def put_annotation(self, key: str, value: str) -> None:
        self.annotations[key] = value


def test_in_a_traced_lambda_spans_open_subsegments_with_their_annotations(monkeypatch):
    fake = FakeTracer()
    monkeypatch.setattr(tracing, "get_tracer", lambda: fake)
    with tracing.span("## SQSEvent", lane="vip"):
        tracing.annotate(task_id="abc")
    assert [(name, sub.annotations) for name, sub in fake.opened] == [
        ("## SQSEvent", {"lane": "vip"})
    ]
    assert fake.annotations == {"task_id": "abc"}
