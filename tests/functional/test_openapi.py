"""The OpenAPI document: equal to the app's routes, served behind the token, and true to
what the app answers, checked by schemathesis against Chalice's local server over moto."""

from __future__ import annotations

import json
import subprocess
import sys
import threading
import time
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any, Iterator

import pytest
import requests
import schemathesis
from botocore.exceptions import ClientError
from schemathesis.checks import not_a_server_error
from schemathesis.specs.openapi.checks import (
    content_type_conformance,
    ignored_auth,
    response_headers_conformance,
    response_schema_conformance,
    status_code_conformance,
)

import app as raspa_app
from chalicelib.errors import OsNotFoundError
from chalicelib.http.openapi import PUBLIC_ROUTES, document

ROOT = Path(__file__).resolve().parents[2]
METHODS = {"get", "put", "post", "delete", "patch", "head", "options", "trace"}
CONFORMANCE = [
    status_code_conformance,
    content_type_conformance,
    response_headers_conformance,
    response_schema_conformance,
    ignored_auth,
]
#: The CLI run's checks: every one but the two that judge how strict validation is. The API
#: is lenient on purpose (numbers are stripped, `refresh` takes 1/0/yes/no) and its 1024-byte
#: body limit cannot be said in JSON Schema, so those checks would test the generator, not it.
#: Nor the one that wants a deleted resource gone: `DELETE /batches/{id}` cancels a batch,
#: which its owner still reads (status `cancelled`, its counts so far), as documented.
CLI_EXCLUDED_CHECKS = "positive_data_acceptance,negative_data_rejection,use_after_free"
#: Undeclared methods to probe: not TRACE, QUERY (Python's http.server behind Chalice's local
#: server answers 501 itself) nor OPTIONS (it emulates API Gateway's CORS preflight).
CLI_CONFIG = '[phases.coverage]\nunexpected-methods = ["get", "put", "post", "delete", "patch"]\n'
RECORD = {
    "situacao": "Aberta",
    "tipo_servico": "Instalação",
    "cliente": "Ana",
    "endereco": "Rua A, 1",
    "data_abertura": "2026-11-02",
    "prazo": None,
    "tecnico": None,
    "descricao": "Instalação de medidor",
    "historico": [{"data": "2026-11-02T09:30", "evento": "Aberta", "responsavel": None}],
}


def app_document() -> dict[str, Any]:
    """The document for the profile the app is configured with."""
    profile = raspa_app.services().profile
    return document(profile.number_pattern, profile.number_description)


def documented_operations() -> dict[tuple[str, str], dict[str, Any]]:
    return {
        (path, method.upper()): operation
        for path, item in app_document()["paths"].items()
        for method, operation in item.items()
        if method in METHODS
    }


def test_the_document_lists_exactly_the_apps_routes() -> None:
    routes = {
        (path, method): entry
        for path, methods in raspa_app.app.routes.items()
        for method, entry in methods.items()
    }
    operations = documented_operations()
    assert set(operations) == set(routes)
    for key, operation in operations.items():
        assert operation["operationId"] == routes[key].view_name
        if key in PUBLIC_ROUTES:
            assert routes[key].authorizer is None
            assert operation["security"] == []
        else:
            assert routes[key].authorizer is raspa_app.jwt_auth
            assert operation["security"] == [{"bearerAuth": []}]
            assert {"401", "403"} <= set(operation["responses"])


def test_the_document_is_valid_openapi_and_hands_out_copies() -> None:
    first = app_document()
    schemathesis.openapi.from_dict(first).validate()
    first["paths"].clear()
    assert app_document()["paths"]


def test_the_number_parameter_follows_the_portal_profile() -> None:
    parameter = documented_operations()[("/os/{numero_os}", "GET")]["parameters"][0]
    assert parameter["schema"]["pattern"] == raspa_app.services().profile.number_pattern


def test_openapi_json_is_served_to_token_holders_only(client, auth_headers) -> None:
    response = client.http.get("/openapi.json", headers=auth_headers)
    assert response.status_code == 200
    assert response.headers["Content-Type"].startswith("application/json")
    assert json.loads(response.body) == json.loads(json.dumps(app_document()))
    assert client.http.get("/openapi.json", headers={}).status_code == 401


# ------------------------------------------------------------- schemathesis
@pytest.fixture
def live_api(client, aws) -> Iterator[str]:
    """The app on Chalice's local dev server (its API Gateway emulation, with the token
    authorizer) on a free loopback port, over the functional fixtures' moto."""
    from chalice.cli.factory import CLIFactory
    from chalice.local import create_local_server

    # Generated lookups start many scrapes: room for them (the limit has its own tests).
    aws.reconfigure(rate_limit=100)
    original_class = raspa_app.app.__class__
    config = CLIFactory(str(ROOT)).create_config_obj(chalice_stage_name="dev")
    server = create_local_server(raspa_app.app, config, "127.0.0.1", 0)
    thread = threading.Thread(target=server.server.serve_forever, name="api", daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{server.server.server_address[1]}"
    finally:
        server.server.shutdown()
        server.server.server_close()
        thread.join(timeout=5)
        raspa_app.app.__class__ = original_class  # create_local_server swapped it


def seed_cache() -> None:
    """Fresh cache entries for the numbers generators try first: 1-9 found, 0 not found."""
    models = raspa_app.services().models
    expires = datetime.now(UTC) + timedelta(hours=1)
    for n in range(10):
        numero = str(n)
        models.OsRecord(
            numero,
            outcome="ok" if n else "not_found",
            data={"numero": numero, **RECORD} if n else None,
            scraped_at=time.time() - 60,
            expires_at=expires,
        ).save()


def test_schemathesis_run_finds_the_app_true_to_its_document(
    live_api, auth_headers, tmp_path
) -> None:
    """`schemathesis run` over every operation, as the app serves the document: examples,
    coverage (boundary and negative cases), fuzzing, and stateful (the document's links)."""
    seed_cache()
    served = requests.get(f"{live_api}/openapi.json", headers=auth_headers, timeout=10)
    assert served.status_code == 200
    # From a file, not the URL: the CLI leaves out the operation its schema URL names.
    (tmp_path / "openapi.json").write_bytes(served.content)
    (tmp_path / "schemathesis.toml").write_text(CLI_CONFIG)
    command = [
        *(sys.executable, "-m", "schemathesis.cli", "run", "openapi.json"),
        *("--url", live_api),
        *("--header", f"Authorization: {auth_headers['Authorization']}"),
        *("--checks", "all", "--exclude-checks", CLI_EXCLUDED_CHECKS),
        *("--max-examples", "40", "--seed", "20261125", "--workers", "1"),
        *("--request-timeout", "10", "--no-color", "--output-truncate", "false"),
    ]
    result = subprocess.run(
        command, cwd=tmp_path, capture_output=True, text=True, timeout=100, check=False
    )
    report = result.stdout + result.stderr
    assert result.returncode == 0, report
    assert "9 selected / 9 total" in report, report


def test_every_documented_answer_is_real_and_conforms(
    live_api, aws, auth_headers, monkeypatch, driver, scripted
) -> None:
    """Answers generated data rarely reaches, provoked on purpose and checked by schemathesis:
    cache hits, negative cache, body limits, 415, 429, every task state, 503."""
    seed_cache()
    schema = schemathesis.openapi.from_url(
        f"{live_api}/openapi.json", headers=auth_headers, timeout=10
    )
    lookup = schema["/buscar-os-async/{numero_os}"]["POST"]
    status_of = schema["/scraping-status/{task_id}"]["GET"]
    stored = schema["/os/{numero_os}"]["GET"]

    def check(case: Any, expected: int | None, checks: list | None = None) -> dict[str, Any]:
        response = case.call_and_validate(
            base_url=live_api,
            headers=auth_headers,
            checks=checks or [not_a_server_error, *CONFORMANCE],
        )
        assert expected is None or response.status_code == expected, response.text
        return response.json()

    def look_up(numero: str, expected: int, **kwargs: Any) -> dict[str, Any]:
        return check(lookup.Case(path_parameters={"numero_os": numero}, **kwargs), expected)

    assert look_up("1", 200)["data"]["historico"]
    assert look_up("0", 404)["error"] == "os_not_found"
    assert look_up("12a", 400)["error"] == "invalid_os_number"
    assert look_up("12", 400, query={"refresh": "maybe"})["error"] == "invalid_parameter"
    assert look_up("12", 400, body=[1])["error"] == "invalid_body"
    assert look_up("12", 413, body={"x": "y" * 1100})["error"] == "body_too_large"
    assert look_up("12", 415, headers={"Content-Type": "text/plain"})["Code"]
    assert check(stored.Case(path_parameters={"numero_os": "1"}), 200)["outcome"] == "ok"
    assert check(stored.Case(path_parameters={"numero_os": "12"}), 404)["error"]
    assert check(stored.Case(path_parameters={"numero_os": "x"}), 400)["error"]
    assert check(status_of.Case(path_parameters={"task_id": "0" * 32}), 404)["error"]

    scripted(RECORD, OsNotFoundError("21"))
    tasks = {numero: look_up(numero, 202)["task_id"] for numero in ("20", "21", "22")}
    assert driver.deliver_once() == "ok" and driver.deliver_once() == "ok"
    states = {
        check(status_of.Case(path_parameters={"task_id": task_id}), 200)["status"]
        for task_id in tasks.values()
    }
    assert states == {"SUCCESS", "FAILURE", "PENDING"}

    aws.reconfigure(rate_limit=1)  # one slot: taken now if it was still free
    check(lookup.Case(path_parameters={"numero_os": "23"}), None)
    assert look_up("24", 429)["error"] == "rate_limited"

    def broken(**kwargs: Any) -> None:
        raise ClientError({"Error": {"Code": "ServiceUnavailable", "Message": "down"}}, "Send")

    aws.reconfigure(rate_limit=100)
    monkeypatch.setattr(raspa_app.services().queue.client, "send_message", broken)
    unavailable = lookup.Case(path_parameters={"numero_os": "25"})
    assert check(unavailable, 503, CONFORMANCE)["error"] == "backend_unavailable"
