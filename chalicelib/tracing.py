"""X-Ray tracing with Powertools Tracer, loaded only where Lambda traces.

The X-Ray SDK patches botocore and requests when it loads, which costs cold-start time,
so ``get_tracer()`` builds the Tracer on first use and only once ``configure(True)`` said
so: ``Settings.from_env()`` finds out whether Lambda traces this function (the stack sets
``POWERTOOLS_TRACE_DISABLED`` per function). Everywhere else the spans are no-ops and the
SDK is never imported.
"""

from __future__ import annotations

from collections.abc import Mapping
from contextlib import contextmanager
from functools import lru_cache
from typing import Any, Iterator

__all__ = ["annotate", "configure", "enabled", "get_tracer", "span"]

_TRUE = {"1", "true", "yes", "on"}
_on = False


def enabled(env: Mapping[str, str]) -> bool:
    """Whether Lambda traces a function with this environment: inside Lambda
    (``LAMBDA_TASK_ROOT``) unless it is turned off."""
    if env.get("POWERTOOLS_TRACE_DISABLED", "").strip().lower() in _TRUE:
        return False
    return bool(env.get("LAMBDA_TASK_ROOT")) and not env.get("AWS_CHALICE_CLI_MODE")


def configure(on: bool) -> None:
    """Turn tracing on or off for this process (``Settings.tracing``)."""
    global _on
    _on = on


def get_tracer() -> Any | None:
    """The Powertools Tracer (botocore and requests patched), or None where it is off."""
    return _tracer() if _on else None


@lru_cache(maxsize=1)
def _tracer() -> Any:
    from aws_lambda_powertools import Tracer

    return Tracer(service="raspa")


@contextmanager
def span(name: str, **annotations: str) -> Iterator[None]:
    """A subsegment named ``name`` with searchable annotations (nothing where it is off)."""
    tracer = get_tracer()
    if tracer is None:
        yield
        return
    with tracer.provider.in_subsegment(name) as subsegment:
        for key, value in annotations.items():
            subsegment.put_annotation(key=key, value=value)
        yield


def annotate(**annotations: str) -> None:
    """Annotate the current segment (e.g. with the task id once it is known)."""
    tracer = get_tracer()
    if tracer is None:
        return
    for key, value in annotations.items():
        tracer.put_annotation(key=key, value=value)
