"""Cold start, in fresh processes: importing ``app.py`` against importing chalice + boto3
alone, and import + first cached lookup against a bare Chalice app's first GetItem."""

from __future__ import annotations

import json
import statistics
import subprocess
import sys
from dataclasses import dataclass
from pathlib import Path

from local.sandbox import process_env

__all__ = ["ColdStart", "measure_cold_start"]

ROOT = Path(__file__).resolve().parents[1]

IMPORT_APP = """
import time; t = time.perf_counter(); import app; print(time.perf_counter() - t)
"""
IMPORT_BASE = """
import time; t = time.perf_counter(); import chalice, boto3; print(time.perf_counter() - t)
"""
FIRST_APP = """
import json, sys, time
t = time.perf_counter()
import app
from bench.latency import api_event
n = sys.argv[1]
event = api_event("POST", "/buscar-os-async/" + n, "/buscar-os-async/{numero_os}",
                  {"numero_os": n}, "ana")
response = app.app(event, None)
elapsed = time.perf_counter() - t
assert json.loads(response["body"])["status"] == "found", response
print(elapsed)
"""
FIRST_BARE = """
import json, sys, time
t = time.perf_counter()
import boto3
from chalice import Chalice
from bench.latency import api_event
bare = Chalice(app_name="bare", configure_logs=False)
@bare.route("/bare/{numero}", methods=["POST"])
def get(numero):
    client = boto3.client("dynamodb")
    item = client.get_item(TableName=sys.argv[2], Key={"numero_os": {"S": numero}})["Item"]
    return {"status": "found", "item": item}
n = sys.argv[1]
response = bare(api_event("POST", "/bare/" + n, "/bare/{numero}", {"numero": n}, "ana"), None)
elapsed = time.perf_counter() - t
assert json.loads(response["body"])["status"] == "found", response
print(elapsed)
"""


@dataclass(frozen=True)
class ColdStart:
    import_app: float
    import_base: float
    first_app: float
    first_bare: float
    repeats: int
    #: the modules ``import app`` loads that ``import chalice, boto3`` does not, by top name
    extra_modules: tuple[str, ...] = ()

    @property
    def import_ratio(self) -> float:
        return self.import_app / self.import_base

    @property
    def first_ratio(self) -> float:
        return self.first_app / self.first_bare


def _run(code: str, env: dict[str, str], *args: str) -> float:
    out = subprocess.run(
        [sys.executable, "-c", code, *args],
        cwd=ROOT,
        env=env,
        capture_output=True,
        text=True,
        check=True,
    )
    return float(out.stdout.strip().splitlines()[-1])


def _extra_modules(env: dict[str, str]) -> tuple[str, ...]:
    code = (
        "import sys, json; before = set(sys.modules); import chalice, boto3; "
        "base = set(sys.modules); import app; "
        "print(json.dumps(sorted({m.split('.')[0] for m in set(sys.modules) - base})))"
    )
    out = subprocess.run(
        [sys.executable, "-c", code], cwd=ROOT, env=env, capture_output=True, text=True, check=True
    )
    return tuple(json.loads(out.stdout.strip().splitlines()[-1]))


def measure_cold_start(
    numero: str, os_table: str, function_env: dict[str, str], *, repeats: int = 7
) -> ColdStart:
    """Medians over ``repeats`` interleaved fresh processes. The lookups run in
    ``function_env``, the environment a Lambda function has (``RASPA_*`` settings, AWS
    endpoint, region and keys): the moto server and a table with ``numero`` cached in it."""
    bare_env = process_env()
    lookup_env = {**function_env, **bare_env}
    times: dict[str, list[float]] = {"ia": [], "ib": [], "fa": [], "fb": []}
    for _ in range(repeats):
        times["ia"].append(_run(IMPORT_APP, bare_env))
        times["ib"].append(_run(IMPORT_BASE, bare_env))
        times["fa"].append(_run(FIRST_APP, lookup_env, numero))
        times["fb"].append(_run(FIRST_BARE, lookup_env, numero, os_table))
    med = {k: statistics.median(v) for k, v in times.items()}
    return ColdStart(med["ia"], med["ib"], med["fa"], med["fb"], repeats, _extra_modules(bare_env))
