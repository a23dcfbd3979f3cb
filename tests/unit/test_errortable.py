"""The error table (chalicelib/http/errortable.py): the one list of error codes that the
answers and the OpenAPI document both read."""

from __future__ import annotations

import inspect
import json
import re
from pathlib import Path
from typing import Any

import pytest

from chalicelib import errors
from chalicelib.domain.tasks import ACTIVE, TASK_ID_PATTERN, TaskStatus
from chalicelib.http import responses
from chalicelib.http.errortable import BY_CODE, ERRORS, INTERNAL, by_status, spec_for, status_of
from chalicelib.http.openapi import document

ROOT = Path(__file__).resolve().parents[2]
DOC = document(r"^\d{1,10}$", "up to 10 digits")
#: One instance of each exception a view may raise.
SAMPLES: dict[type, errors.RaspaError] = {
    errors.RaspaError: errors.RaspaError("odd"),
    errors.ConfigurationError: errors.ConfigurationError("no issuer"),
    errors.ProfileError: errors.ProfileError("bad profile"),
    errors.InvalidOsNumberError: errors.InvalidOsNumberError("12a", "digits only"),
    errors.TaskNotFoundError: errors.TaskNotFoundError("t"),
    errors.RateLimitedError: errors.RateLimitedError(60, 10, 3600),
    errors.StorageError: errors.StorageError("down"),
    errors.ItemRefusedError: errors.ItemRefusedError("too big"),
    errors.QueueError: errors.QueueError("down"),
    errors.BucketError: errors.BucketError("down"),
    errors.ObjectMissingError: errors.ObjectMissingError("gone"),
    errors.BatchNotFoundError: errors.BatchNotFoundError("b"),
    errors.BatchFinishedError: errors.BatchFinishedError("b", "complete"),
    errors.InvalidRequestError: errors.InvalidRequestError("invalid_size", "size!"),
}


def raspa_errors() -> list[type]:
    return [
        cls
        for name in errors.__all__
        if inspect.isclass(cls := getattr(errors, name)) and issubclass(cls, errors.RaspaError)
    ]


def documented_codes() -> set[str]:
    """Every ``error`` enum value in the document, and the codes named in its prose."""
    found: set[str] = set()

    def walk(node: Any) -> None:
        if isinstance(node, dict):
            error = node.get("properties", {}).get("error") if "properties" in node else None
            if isinstance(error, dict):
                found.update(v for v in error.get("enum", []) if v)
            for value in node.values():
                walk(value)
        elif isinstance(node, list):
            for value in node:
                walk(value)

    walk(DOC)
    found.update(re.findall(r"`(\w+)`", DOC["info"]["description"]))
    return found


def test_given_the_table_then_each_code_is_listed_once_with_an_error_status():
    codes = [spec.code for spec in ERRORS]
    assert len(codes) == len(set(codes)) == len(BY_CODE)
    assert all(400 <= spec.status < 600 and spec.description for spec in ERRORS)


def test_given_every_code_in_the_table_then_the_openapi_document_names_it():
    assert {spec.code for spec in ERRORS} <= documented_codes()


def test_given_every_error_enum_in_the_document_then_the_table_lists_it():
    enums = documented_codes() - set(re.findall(r"`(\w+)`", DOC["info"]["description"]))
    assert enums <= set(BY_CODE)


def test_given_each_documented_error_response_then_its_status_is_the_tables():
    for path, item in DOC["paths"].items():
        for method, operation in item.items():
            for status, response in operation["responses"].items():
                if "$ref" in response or int(status) < 400:
                    continue
                schema = response["content"]["application/json"]["schema"]
                codes = [
                    code
                    for part in schema.get("allOf", [])
                    for code in part.get("properties", {}).get("error", {}).get("enum", [])
                ]
                assert all(BY_CODE[c].status == int(status) for c in codes), (path, method)


def test_given_every_raspa_error_a_view_may_raise_then_the_table_answers_it_by_its_class():
    for cls in raspa_errors():
        if issubclass(cls, INTERNAL):
            continue
        assert cls in SAMPLES, f"{cls.__name__}: add a sample here and an entry to the table"
        spec = spec_for(SAMPLES[cls])
        assert any(issubclass(cls, listed) for listed in spec.exceptions), cls
        if cls is not errors.RaspaError:
            assert spec.code != "unavailable", f"{cls.__name__} has no entry of its own"


def test_given_worker_errors_then_they_have_no_code_and_would_answer_unavailable():
    assert spec_for(errors.LoginFailedError("no")).code == "unavailable"
    assert spec_for(errors.MalformedMessageError("no")).code == "unavailable"


@pytest.mark.parametrize("cls", list(SAMPLES), ids=lambda cls: cls.__name__)
def test_given_a_raised_error_when_answered_then_status_and_code_come_from_the_table(cls):
    exc = SAMPLES[cls]

    @responses.handles_errors
    def view() -> None:
        raise exc

    answer = view()
    body = json.loads(answer.body)
    spec = spec_for(exc)
    assert (answer.status_code, body["error"]) == (spec.status, spec.code)
    assert body["message"]
    assert set(spec.extra) <= set(body)
    assert ("Retry-After" in answer.headers) == bool(spec.headers)


def test_given_an_invalid_request_with_an_unlisted_code_when_answered_then_it_is_a_400():
    answer = responses._for_exception(errors.InvalidRequestError("odd_field", "odd"))
    assert answer.status_code == 400 and json.loads(answer.body)["error"] == "odd_field"
    assert status_of("odd_field") == 400 and status_of("batch_finished") == 409


def test_given_codes_when_grouped_by_status_then_each_status_holds_its_codes():
    groups = by_status("invalid_body", "body_too_large", "invalid_parameter")
    assert {s: [e.code for e in g] for s, g in groups.items()} == {
        400: ["invalid_body", "invalid_parameter"],
        413: ["body_too_large"],
    }


def test_given_the_code_s_literals_then_every_code_answered_is_in_the_table():
    """Codes written as literals where answers are built (views, services) are listed."""
    sources = [ROOT / "app.py", *sorted((ROOT / "chalicelib" / "services").glob("*.py"))]
    raised = set()
    for source in sources:
        text = source.read_text(encoding="utf-8")
        raised.update(re.findall(r'InvalidRequestError\(\s*"(\w+)"', text))
        for status, code in re.findall(r'\berror\((\d{3}), "(\w+)"', text):
            assert BY_CODE[code].status == int(status), code
            raised.add(code)
    raised.update(
        re.findall(r'"error": "(\w+)"', (ROOT / "chalicelib/services/lookup.py").read_text())
    )
    assert raised and raised <= set(BY_CODE)


def test_given_the_document_then_task_states_come_from_task_status():
    schemas = DOC["components"]["schemas"]
    assert schemas["TaskStatus"]["properties"]["status"]["enum"] == [s.value for s in TaskStatus]
    queued = schemas["Queued"]["properties"]
    assert set(queued["task_status"]["enum"]) == {s.value for s in ACTIVE}
    assert queued["task_id"]["pattern"] == f"^{TASK_ID_PATTERN}$"


def test_given_the_rate_limited_code_then_its_body_and_header_come_from_the_table():
    spec = BY_CODE["rate_limited"]
    schema = DOC["components"]["schemas"]["RateLimited"]
    assert schema["required"] == ["error", "message", *spec.extra]
    lookup = DOC["paths"]["/buscar-os-async/{numero_os}"]["post"]["responses"]["429"]
    assert lookup["headers"] == spec.headers
    unavailable = DOC["components"]["responses"]["Unavailable"]
    assert "required" not in unavailable["headers"]["Retry-After"]
