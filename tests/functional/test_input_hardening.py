"""Hostile input at every entry point (moto + chalice.test.Client).

Every bad OS number, ``refresh`` value, body, task id or WebSocket message gets a JSON
4xx (or a WebSocket error message) that names the problem, never a 5xx nor an exception;
nothing is stored or enqueued for it; and a normal lookup still works afterwards.
"""

from __future__ import annotations

import copy
import json
from pathlib import Path
from typing import Any

import boto3
import pytest
from moto.dynamodb.responses import DynamoHandler

import app as raspa_app
from chalicelib.http.responses import MAX_BODY_BYTES
from chalicelib.services.websocket import MAX_BODY_BYTES as WS_MAX_BYTES
from local.event_source import LambdaContext

EVENTS = Path(__file__).resolve().parents[1] / "events"
RECORD = {"situacao": "Aberta", "cliente": "Ana", "historico": []}
#: Far bigger than any answer that merely names the problem (no echo of a huge input).
MAX_ANSWER_BYTES = 2048

# OS numbers as a client types them into the URL: chalice.test passes them undecoded.
NUMBERS_IN_URL = [
    "..%2F..%2Fadmin",
    "%2e%2e",
    "%2E%2E%2F%2E%2E%2Fetc%2Fpasswd",
    "..",
    "http:%2F%2F169.254.169.254",
    "http%3A%2F%2F169.254.169.254%2Flatest%2Fmeta-data",
    "1" * 10_000,
    "١٢٣٤٥٦",  # Arabic-Indic digits
    "１２３４５６",  # fullwidth digits
    "%20",
    "12%2034",
    "%00",
    "123%00456",
    "-1",
    "-123456",
    "%2B123456",
]
# The same attacks as API Gateway delivers them: path parameters URL-decoded.
NUMBERS_DECODED = [
    "../../admin",
    "..",
    "/etc/passwd",
    "http://169.254.169.254",
    "http://169.254.169.254/latest/meta-data/iam/",
    "file:///etc/passwd",
    "%2e%2e",  # double-encoded, decoded once
    "1" * 10_000,
    "9" * 13,
    "١٢٣٤٥٦",
    "۱۲۳۴۵۶",  # extended Arabic-Indic digits
    "１２３４５６",
    "12３4",
    "¹²³",
    "",
    " ",
    "\t\n ",
    "12 34",
    "\x00",
    "123\x00456",
    "123456\x00",
    "\x00123456",
    "\u200b123456",  # zero-width space: not whitespace to strip
    "123456\u202e",
    "-1",
    "-123456",
    "+123456",
    "0x1F",
    "1e5",
    "1_000",
    "123456;rm -rf /",
    "123456' OR '1'='1",
    "${jndi:ldap://x/a}",
]
REFRESH_GARBAGE = [
    "maybe",
    "2",
    "on",
    "truee",
    "TRUE%00",
    "%00",
    "x" * 5_000,
    "-1",
    "null",
    "%5B%5D",
    "true&refresh=maybe",  # the last value counts, as in API Gateway
]
BODIES_TOO_LARGE = [
    b'{"a": "' + b"x" * MAX_BODY_BYTES + b'"}',
    b"{" + b" " * MAX_BODY_BYTES + b"}",  # a valid object, just too big
    b"x" * (1024 * 1024),
    b"[" * 5_000,  # JSON bomb beyond the limit
    b"[" * 100_000,
]
BODIES_INVALID = [
    b"not json",
    b"[1, 2, 3]",
    b'"a string"',
    b"42",
    b"null",
    b"true",
    b"\xff\xfe\xfd",  # invalid UTF-8
    b'{"a": "\xff"}',
    b"\xc0\xaf",  # overlong UTF-8
    b"\x00" * 16,
    b'{"a": 1} {"b": 2}',
    b"{" * MAX_BODY_BYTES,
    b"[" * 1_000,  # JSON bomb within the limit
    b"[" * MAX_BODY_BYTES,
    b"[" * 500 + b"]" * 500,  # deep, well-formed, not an object
]
# Task ids as typed into the URL (undecoded) and as API Gateway decodes them.
TASK_IDS_IN_URL = [
    "x" * 10_000,
    "x" * 2_049,
    "é" * 1_100,
    "0" * 31,
    "0" * 33,
    "A" * 32,
    "G" * 32,
    "..%2F..%2Fetc%2Fpasswd",
    "os%23123456",
    "rate%23ana%230",
    "stats%232026112509",
    "%00",
    "'%20OR%20'1'%3D'1",
    "null",
    "١٢٣",
]
TASK_IDS_DECODED = [
    "x" * 10_000,
    "é" * 1_100,  # 2,200 bytes: over DynamoDB's key limit in far fewer characters
    "os#123456",
    "rate#ana#0",
    "stats#2026112509",
    "sub#" + "0" * 32,
    "\x00",
    " ",
    "0" * 32 + "\n",
    "0" * 32 + "\x00",
    "../../etc/passwd",
    "0123456789ABCDEF0123456789ABCDEF",
]
_ID = "0123456789abcdef0123456789abcdef"
# WebSocket messages: (body as sent, or a dict to JSON-encode, or None for no body; the
# problem the error message must name).
WS_MESSAGES: list[tuple[Any, str]] = [
    ("x" * 5_000, "larger than"),
    ('{"action": "ping", "pad": "' + "x" * WS_MAX_BYTES + '"}', "larger than"),
    ("é" * 2_100, "larger than"),  # 2,100 characters, 4,200 bytes
    ("\ud800" * 2_000, "larger than"),  # lone surrogates
    ("", "must be JSON"),
    ("not json", "must be JSON"),
    ("{", "must be JSON"),
    (None, "must be JSON"),
    ("\ud800", "must be JSON"),
    ("[" * 4_000, "must be JSON"),  # deep nesting within the size limit
    ("[" * WS_MAX_BYTES, "must be JSON"),
    ("[]", "JSON object"),
    ("null", "JSON object"),
    ('"subscribe"', "JSON object"),
    ("42", "JSON object"),
    ("[" * 300 + "]" * 300, "JSON object"),
    ('{"a":' * 600 + "1" + "}" * 600, "action must be"),  # deep, but an object
    ({}, "action must be"),
    ({"action": "dance"}, "action must be"),
    ({"action": None}, "action must be"),
    ({"action": ["subscribe"]}, "action must be"),
    ({"action": {"$ne": None}}, "action must be"),
    ({"action": "SUBSCRIBE"}, "action must be"),
    ({"action": "subscribe "}, "action must be"),
    ({"action": "subscribe"}, "task_id must be"),
    ({"action": "subscribe", "task_id": None}, "task_id must be"),
    ({"action": "subscribe", "task_id": 123}, "task_id must be"),
    ({"action": "subscribe", "task_id": 1.5}, "task_id must be"),
    ({"action": "subscribe", "task_id": True}, "task_id must be"),
    ({"action": "subscribe", "task_id": []}, "task_id must be"),
    ({"action": "subscribe", "task_id": {}}, "task_id must be"),
    ({"action": "subscribe", "task_id": [_ID]}, "task_id must be"),
    ({"action": "subscribe", "task_id": {"S": _ID}}, "task_id must be"),
    ({"action": "subscribe", "task_id": _ID.upper()}, "task_id must be"),
    ({"action": "subscribe", "task_id": _ID[:-1]}, "task_id must be"),
    ({"action": "subscribe", "task_id": _ID + "0"}, "task_id must be"),
    ({"action": "subscribe", "task_id": _ID + "\n"}, "task_id must be"),
    ({"action": "subscribe", "task_id": "../../etc/passwd"}, "task_id must be"),
    ({"action": "subscribe", "task_id": "os#123456"}, "task_id must be"),
    ({"action": "subscribe", "task_id": "x" * 3_000}, "task_id must be"),
    ('{"action": "subscribe", "task_id": NaN}', "task_id must be"),
    ('{"action": "subscribe", "task_id": 1' + "0" * 3_000 + "}", "task_id must be"),
    ('{"action": "ping", "action": "subscribe"}', "task_id must be"),  # last key wins
    ('{"action": "subscribe", "task_id": "\ud800"}', "task_id must be"),
]
WS_TOKENS: list[Any] = [
    None,
    {},
    {"token": ""},
    {"token": "Bearer "},
    {"token": "x" * 10_000},
    {"token": "é" * 10},
    {"token": "\x00"},
    {"token": "a.b.c"},
    {"token": "eyJhbGciOiJub25lIn0.e30."},  # alg "none"
    {"token": "TAMPERED"},  # ana's real token with one more character
]


# ------------------------------------------------------------------ fixtures
@pytest.fixture(autouse=True)
def dynamodb_key_limits(monkeypatch: pytest.MonkeyPatch) -> None:
    """Make moto's GetItem refuse keys over 2,048 bytes, as DynamoDB does.

    moto checks key sizes only on writes; real DynamoDB answers a ValidationException to
    a GetItem with an oversized key, which raspa would turn into a 503.
    """
    original = DynamoHandler.get_item

    def get_item(self: DynamoHandler) -> Any:
        table = self.dynamodb_backend.get_table(self.body["TableName"])
        table._validate_key_sizes(self.body["Key"])
        return original(self)

    monkeypatch.setattr(DynamoHandler, "get_item", get_item)


# ------------------------------------------------------------------- helpers
def item_count(table: str) -> int:
    return boto3.client("dynamodb").scan(TableName=table, Select="COUNT")["Count"]


def stored_and_enqueued(aws: Any) -> tuple[int, int]:
    """(task-table items but the user's own connection list, scrape-queue messages)."""
    scan = boto3.client("dynamodb").scan(
        TableName=aws.settings.tasks_table,
        Select="COUNT",
        FilterExpression="NOT begins_with(pk, :uconn)",
        ExpressionAttributeValues={":uconn": {"S": "uconn#"}},
    )
    tasks = scan["Count"]
    return tasks, aws.queue_depth()


def assert_nothing_stored_or_enqueued(aws: Any) -> None:
    """No task, lock or rate-limit slot written; no message on the scrape queue."""
    assert stored_and_enqueued(aws) == (0, 0)


def assert_named_4xx(status: int, headers: dict[str, str], body: bytes, *codes: str) -> dict:
    """A JSON 4xx whose ``error`` is one of ``codes`` and whose message says why."""
    assert 400 <= status < 500, (status, body[:300])
    assert headers.get("Content-Type", "").startswith("application/json"), headers
    assert len(body) <= MAX_ANSWER_BYTES, f"answer of {len(body)} bytes echoes the input"
    answer = json.loads(body)
    assert answer["error"] in codes, answer
    assert isinstance(answer["message"], str) and answer["message"], answer
    return answer


def gateway(
    method: str,
    resource: str,
    params: dict[str, str],
    *,
    body: str | None = None,
    user: str = "ana",
) -> tuple[int, dict[str, str], bytes]:
    """Invoke a route with an API Gateway proxy event whose parameters are decoded, as
    API Gateway delivers them (chalice.test passes path parameters undecoded)."""
    path = resource
    for name, value in params.items():
        path = path.replace("{" + name + "}", value)
    event = {
        "resource": resource,
        "path": path,
        "httpMethod": method,
        "headers": {"content-type": "application/json"},
        "multiValueQueryStringParameters": None,
        "pathParameters": params,
        "stageVariables": None,
        "requestContext": {
            "httpMethod": method,
            "resourcePath": resource,
            "path": path,
            "identity": {"sourceIp": "203.0.113.7"},
            "authorizer": {"principalId": user, "user": user, "vip": "false"},
        },
        "body": body,
        "isBase64Encoded": False,
    }
    response = raspa_app.app(event, LambdaContext("api_handler", 30))
    return response["statusCode"], response["headers"], response["body"].encode()


def http(client: Any, method: str, path: str, **kwargs: Any) -> tuple[int, dict, bytes]:
    response = client.http.request(method, path, **kwargs)
    return response.status_code, response.headers, response.body


def json_headers(aws: Any, user: str = "ana") -> dict[str, str]:
    return {**aws.headers(user), "Content-Type": "application/json"}


def ws_event(name: str, connection_id: str, body: Any = ..., query: Any = ...) -> dict:
    event = copy.deepcopy(json.loads((EVENTS / f"ws_{name}.json").read_text()))
    event["requestContext"]["connectionId"] = connection_id
    if body is None:
        event.pop("body", None)
    elif body is not ...:
        event["body"] = body if isinstance(body, str) else json.dumps(body)
    if query is not ...:
        event["queryStringParameters"] = query
    return event


def ws_connect(connection_id: str, token: str) -> dict:
    event = ws_event("connect", connection_id, query={"token": token})
    return raspa_app.ws_connect(event, LambdaContext("ws", 30))


def ws_send(connection_id: str, body: Any) -> Any:
    return raspa_app.ws_message(ws_event("message", connection_id, body), LambdaContext("ws", 30))


def each(inputs: list[Any], check: Any) -> None:
    """Run ``check`` on every input; fail once, naming every input that failed and how."""
    failures = []
    for value in inputs:
        try:
            check(value)
        except Exception as exc:  # noqa: BLE001 - an assertion, or an exception that escaped
            failures.append(f"{short(value)}: {type(exc).__name__}: {str(exc)[:300]}")
    assert not failures, f"{len(failures)} of {len(inputs)} inputs failed:\n" + "\n".join(failures)


def short(value: Any) -> str:
    """A readable test id for long or binary parameters."""
    text = value.decode("latin-1") if isinstance(value, bytes) else str(value)
    text = text.encode("unicode_escape").decode()
    return text if len(text) <= 30 else f"{text[:20]}...({len(text)})"


# ------------------------------------------------------------ HTTP: OS numbers
def test_given_hostile_os_numbers_in_the_url_when_looked_up_then_400_and_nothing_enqueued(
    client, aws
):
    def check(numero: str) -> None:
        status, headers, body = http(client, "POST", f"/buscar-os-async/{numero}")
        assert assert_named_4xx(status, headers, body, "invalid_os_number")["rule"]
        assert_nothing_stored_or_enqueued(aws)

    each(NUMBERS_IN_URL, check)


def test_given_hostile_os_numbers_decoded_by_api_gateway_then_400_and_nothing_enqueued(client, aws):
    def check(numero: str) -> None:
        route = {"numero_os": numero}
        status, headers, body = gateway("POST", "/buscar-os-async/{numero_os}", route)
        assert_named_4xx(status, headers, body, "invalid_os_number")
        status, headers, body = gateway("GET", "/os/{numero_os}", route)
        assert_named_4xx(status, headers, body, "invalid_os_number")
        assert_nothing_stored_or_enqueued(aws)

    each(NUMBERS_DECODED, check)


def test_given_whitespace_around_a_valid_number_then_it_is_stripped_to_the_same_task(client, aws):
    """Surrounding whitespace is normalised (as validate_number documents), not a new OS."""
    status, _, body = gateway("POST", "/buscar-os-async/{numero_os}", {"numero_os": "123456"})
    assert status == 202
    first = json.loads(body)

    def check(padded: str) -> None:
        status, _, body = gateway("POST", "/buscar-os-async/{numero_os}", {"numero_os": padded})
        assert status == 202, body
        joined = json.loads(body)
        assert joined["numero_os"] == "123456" and joined["task_id"] == first["task_id"]
        assert aws.queue_depth() == 1

    each([" 123456", "123456 ", "\t123456\n", "\u00a0123456\u3000"], check)


def test_given_no_os_number_when_posted_then_a_json_4xx_and_nothing_enqueued(client, aws):
    status, _, body = http(client, "POST", "/buscar-os-async/")
    assert 400 <= status < 500
    assert json.loads(body)["message"]
    assert_nothing_stored_or_enqueued(aws)


# --------------------------------------------------------------- HTTP: refresh
def test_given_garbage_refresh_flags_when_looked_up_then_400_and_nothing_enqueued(client, aws):
    def check(refresh: str) -> None:
        status, headers, body = http(client, "POST", f"/buscar-os-async/123456?refresh={refresh}")
        answer = assert_named_4xx(status, headers, body, "invalid_parameter")
        assert "refresh" in answer["message"]
        assert_nothing_stored_or_enqueued(aws)

    each(REFRESH_GARBAGE, check)


# ---------------------------------------------------------------- HTTP: bodies
def post_body(client: Any, aws: Any, payload: bytes) -> tuple[int, dict, bytes]:
    return http(client, "POST", "/buscar-os-async/123456", headers=json_headers(aws), body=payload)


def test_given_bodies_over_the_limit_when_looked_up_then_413_and_nothing_enqueued(client, aws):
    def check(payload: bytes) -> None:
        status, headers, body = post_body(client, aws, payload)
        assert status == 413, (status, body[:200])
        answer = assert_named_4xx(status, headers, body, "body_too_large")
        assert str(MAX_BODY_BYTES) in answer["message"]
        assert_nothing_stored_or_enqueued(aws)

    each(BODIES_TOO_LARGE, check)


def test_given_bodies_that_are_not_a_json_object_when_looked_up_then_400_and_nothing_enqueued(
    client, aws
):
    def check(payload: bytes) -> None:
        status, headers, body = post_body(client, aws, payload)
        assert status == 400, (status, body[:200])
        assert_named_4xx(status, headers, body, "invalid_body")
        assert_nothing_stored_or_enqueued(aws)

    each(BODIES_INVALID, check)


def test_given_a_body_of_another_media_type_then_415_and_nothing_enqueued(client, aws):
    headers = {**aws.headers(), "Content-Type": "application/x-www-form-urlencoded"}
    status, _, body = http(
        client, "POST", "/buscar-os-async/123456", headers=headers, body=b"numero=1"
    )
    assert status == 415 and json.loads(body)["Code"] == "UnsupportedMediaType"
    assert_nothing_stored_or_enqueued(aws)


def test_given_whitespace_bodies_over_the_limit_when_looked_up_then_413(client, aws):
    def check(payload: bytes) -> None:
        status, headers, body = post_body(client, aws, payload)
        assert status == 413, (status, body[:200])
        assert_named_4xx(status, headers, body, "body_too_large")
        assert_nothing_stored_or_enqueued(aws)

    each([b" " * 2_000, b"\r\n" * 100_000], check)


def test_given_an_event_body_with_an_unpaired_surrogate_then_400_not_500(client, aws):
    def check(payload: str) -> None:
        route = {"numero_os": "123456"}
        status, headers, body = gateway("POST", "/buscar-os-async/{numero_os}", route, body=payload)
        assert_named_4xx(status, headers, body, "invalid_body")
        assert_nothing_stored_or_enqueued(aws)

    each(["\ud800", '{"a": "\udfff"}'], check)


# ------------------------------------------------------------ HTTP: task ids
def test_the_key_size_emulation_is_active(client):
    from pynamodb.exceptions import GetError

    with pytest.raises(GetError, match="2048"):
        raspa_app.services().models.Task.get("x" * 2_049)


def test_given_garbage_task_ids_when_status_is_asked_then_404_and_nothing_changes(client, aws):
    """Probed in the URL (undecoded) and as API Gateway decodes them, next to a real task
    whose lock, rate slot and counters are there to be found."""
    assert http(client, "POST", "/buscar-os-async/123456")[0] == 202
    before = stored_and_enqueued(aws)

    def in_url(task_id: str) -> None:
        status, headers, body = http(client, "GET", f"/scraping-status/{task_id}")
        assert status == 404, (status, body[:200])
        assert_named_4xx(status, headers, body, "task_not_found")
        assert stored_and_enqueued(aws) == before

    def decoded(task_id: str) -> None:
        status, headers, body = gateway("GET", "/scraping-status/{task_id}", {"task_id": task_id})
        assert status == 404, (status, body[:200])
        assert_named_4xx(status, headers, body, "task_not_found")
        assert stored_and_enqueued(aws) == before

    each(TASK_IDS_IN_URL, in_url)
    each(TASK_IDS_DECODED, decoded)


# ------------------------------------------------------------------ WebSocket
def test_given_hostile_websocket_messages_then_each_gets_an_error_and_nothing_breaks(
    client, aws, api_gw
):
    assert ws_connect("c1", aws.tokens["ana"]) == {"statusCode": 200}

    def check(case: tuple[Any, str]) -> None:
        message, problem = case
        api_gw.sent.clear()
        ws_send("c1", message)  # must not raise
        assert len(api_gw.sent.get("c1", [])) == 1, api_gw.sent
        reply = api_gw.sent["c1"][0]
        assert reply["status"] == "error" and reply["error"] == "invalid_message", reply
        assert problem in reply["message"], reply
        assert len(json.dumps(reply)) <= MAX_ANSWER_BYTES
        assert stored_and_enqueued(aws) == (0, 0)  # no subscription written either

    each(WS_MESSAGES, check)
    ws_send("c1", {"action": "ping"})
    assert api_gw.sent["c1"][-1] == {"status": "pong"}


def test_given_hostile_websocket_tokens_when_connecting_then_401_and_nothing_registered(
    client, aws, api_gw
):
    def check(query: Any) -> None:
        if query and query.get("token") == "TAMPERED":
            query = {"token": aws.tokens["ana"] + "x"}
        event = ws_event("connect", "c1", query=query)
        assert raspa_app.ws_connect(event, LambdaContext("ws", 30)) == {"statusCode": 401}
        assert item_count(aws.settings.connections_table) == 0

    each(WS_TOKENS, check)
    assert api_gw.sent == {}


# ----------------------------------------------------------------- afterwards
def test_given_every_hostile_input_at_once_then_normal_lookups_still_work(
    client, aws, api_gw, driver, scripted
):
    """One app instance takes the whole barrage, then serves ten lookups (the whole rate
    limit: no rejected request took a slot), a WebSocket subscription and a scrape."""
    assert ws_connect("c1", aws.tokens["ana"]) == {"statusCode": 200}
    for message, _ in WS_MESSAGES:
        ws_send("c1", message)
    assert len(api_gw.sent["c1"]) == len(WS_MESSAGES)
    for numero in NUMBERS_IN_URL:
        assert http(client, "POST", f"/buscar-os-async/{numero}")[0] == 400
    for numero in NUMBERS_DECODED:
        route = {"numero_os": numero}
        assert gateway("POST", "/buscar-os-async/{numero_os}", route)[0] == 400
    for refresh in REFRESH_GARBAGE:
        assert http(client, "POST", f"/buscar-os-async/123456?refresh={refresh}")[0] == 400
    for payload in BODIES_TOO_LARGE + BODIES_INVALID:
        status = http(
            client, "POST", "/buscar-os-async/123456", headers=json_headers(aws), body=payload
        )[0]
        assert status in (400, 413)
    for task_id in TASK_IDS_IN_URL:
        assert http(client, "GET", f"/scraping-status/{task_id}")[0] == 404
    for task_id in TASK_IDS_DECODED:
        assert gateway("GET", "/scraping-status/{task_id}", {"task_id": task_id})[0] == 404
    assert_nothing_stored_or_enqueued(aws)

    # A body of exactly the limit is fine, and so is a junk X-Connection-Id (ignored).
    at_limit = b'{"a": "' + b"x" * (MAX_BODY_BYTES - 9) + b'"}'
    assert len(at_limit) == MAX_BODY_BYTES
    headers = {**json_headers(aws), "X-Connection-Id": "c1"}
    status, _, body = http(
        client, "POST", "/buscar-os-async/123456", headers=headers, body=at_limit
    )
    assert status == 202, body
    task_id = json.loads(body)["task_id"]
    junk = {**aws.headers(), "X-Connection-Id": "x" * 10_000}
    assert http(client, "POST", "/buscar-os-async/200001", headers=junk)[0] == 202
    for n in range(200002, 200010):
        assert http(client, "POST", f"/buscar-os-async/{n}")[0] == 202
    assert aws.queue_depth() == 10

    scripted(RECORD)
    assert driver.deliver_once() == "ok"
    status, _, body = http(client, "GET", f"/scraping-status/{task_id}")
    assert status == 200 and json.loads(body)["status"] == "SUCCESS"
    assert api_gw.sent["c1"][-1]["status"] == "success"
    status, _, body = http(client, "POST", "/buscar-os-async/123456")
    assert status == 200 and json.loads(body)["data"]["cliente"] == "Ana"
