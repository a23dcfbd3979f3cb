"""The CloudWatch alarms exactly as the CDK stack defines them (``infra/monitoring.py``),
synthesized in process: the monitoring construct alone, on a stand-in queue."""

from __future__ import annotations

import os
import threading
from typing import Any

from reliability.probes import AlarmSpec

__all__ = ["AlarmDefinitions", "synthesize_alarms"]


def synthesize_alarms() -> dict[str, AlarmSpec]:
    """Every alarm of ``infra.monitoring.Monitoring`` by its name without the stack prefix
    (``LayoutDrift``, ``ScrapesFailed``...), for the metrics raspa emits."""
    # The CDK's Node.js runtime warns about old Node versions at length: by major version.
    majors = ",".join(str(v) for v in range(14, 30))
    for flag in ("END_OF_LIFE", "DEPRECATED", "UNTESTED"):
        os.environ.setdefault(f"JSII_SILENCE_WARNING_{flag}_NODE_VERSION", majors)
    from aws_cdk import App, Stack
    from aws_cdk import aws_sqs as sqs
    from aws_cdk.assertions import Template

    from infra.monitoring import Monitoring, Watched

    stack = Stack(App(), "Reliability")
    queue = sqs.Queue(stack, "Scrape")
    Monitoring(
        stack,
        "Monitoring",
        Watched(
            queues={"scrape": queue},
            alarmed_queues=("scrape",),
            dead_letter_queue=queue,
            worker_function_name="scrape_worker",
            api_name="raspa",
        ),
    )
    template: dict[str, Any] = Template.from_stack(stack).to_json()
    alarms = {}
    for resource in template["Resources"].values():
        props = resource.get("Properties", {})
        if resource["Type"] != "AWS::CloudWatch::Alarm" or "MetricName" not in props:
            continue  # metric-math alarms read no single metric
        name = str(props.get("AlarmName", "")).removeprefix("Reliability-")
        if props.get("Namespace") == "Raspa":
            alarms[name] = AlarmSpec.from_properties(props)
    return alarms


class AlarmDefinitions:
    """``synthesize_alarms`` in a background thread (the CDK takes some seconds), started
    at once so a scenario can run meanwhile; ``get()`` waits for it."""

    def __init__(self) -> None:
        self._result: dict[str, AlarmSpec] | None = None
        self._error: BaseException | None = None
        self._thread = threading.Thread(target=self._run, name="cdk-alarms", daemon=True)
        self._thread.start()

    def _run(self) -> None:
        try:
            self._result = synthesize_alarms()
        except BaseException as exc:  # noqa: BLE001 - handed to get()
            self._error = exc

    def get(self, timeout: float = 300) -> dict[str, AlarmSpec]:
        self._thread.join(timeout)
        if self._error is not None:
            raise RuntimeError(f"the CDK alarms could not be synthesized: {self._error}")
        if self._result is None:
            raise RuntimeError("the CDK alarms took too long to synthesize")
        return self._result
