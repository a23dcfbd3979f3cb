"""No secret reaches the logs: the portal password, the caller's bearer token.

Given the local stack (moto server, demo portal on loopback, Cognito users) with a
distinctive portal password in Secrets Manager, when lookups run to terminal states
(success, not found, portal faults with retries and re-logins, a refused login, a drifted
layout), then nothing captured contains a secret: every record of every logger at DEBUG,
Powertools' JSON lines and the EMF metric lines on stdout/stderr.
"""

from __future__ import annotations

import json
import logging
import sys
import time
import traceback
import uuid
from contextlib import contextmanager
from dataclasses import dataclass
from logging import StreamHandler
from typing import Any, Iterator

import pytest
from chalice.test import Client

from local.portal import PortalServer, control
from tests.support.stack import PORTAL_CREDENTIALS, Stack, build_stack

pytestmark = pytest.mark.integration

#: Distinctive, so that a substring search for them means something.
PORTAL_PASSWORD = f"portal-pw-{uuid.uuid4().hex}"
WRONG_PASSWORD = f"wrong-pw-{uuid.uuid4().hex}"
#: botocore's wire dump ("Response body: ...") prints whatever AWS answers, the
#: GetSecretValue answer included. It is left out of the password check only; see
#: test_given_an_operators_debug_level_when_the_secret_is_read_then_botocore_does_not_print_it.
SDK_WIRE_DUMP = "botocore.parsers"
_RECORD_ATTRS = set(vars(logging.makeLogRecord({}))) | {"message", "asctime"}


# ------------------------------------------------------------------ fixtures


@pytest.fixture(scope="module")
def secret_portal() -> Iterator[PortalServer]:
    """The demo portal, accepting only PORTAL_PASSWORD."""
    with PortalServer(username=PORTAL_CREDENTIALS["username"], password=PORTAL_PASSWORD) as server:
        yield server


@pytest.fixture
def stack(sandbox, secret_portal) -> Stack:
    control.reset(secret_portal.url)
    # Attempts run out on purpose (the failure path's logs are read): no breaker opening
    stack = build_stack(sandbox, portal_url=secret_portal.url, breaker_failures=1_000)
    set_portal_password(stack, PORTAL_PASSWORD)
    return stack


@pytest.fixture
def api(stack: Stack) -> Iterator[Client]:
    from tests.functional.conftest import AuthedHTTP

    with Client(stack.app.app) as client:
        client._http_client = AuthedHTTP(client.http, stack.headers("ana"))
        yield client


class _CurrentStdout:
    """A stream that writes to whatever ``sys.stdout`` is now (capfd's, during a test)."""

    def write(self, text: str) -> int:
        return sys.stdout.write(text)

    def flush(self) -> None:
        sys.stdout.flush()


class _Recorder(logging.Handler):
    def __init__(self) -> None:
        super().__init__(logging.DEBUG)
        self.records: list[logging.LogRecord] = []

    def emit(self, record: logging.LogRecord) -> None:
        self.records.append(record)


@dataclass
class Capture:
    """Log records of every logger, and what reached stdout/stderr (file descriptors)."""

    records: list[logging.LogRecord]
    output: str = ""

    def record_text(self, *, skip: frozenset[str] = frozenset()) -> str:
        return "\n".join(render(r) for r in self.records if r.name not in skip)

    def everything(self, *, skip: frozenset[str] = frozenset()) -> str:
        return self.record_text(skip=skip) + "\n" + self.output

    @property
    def emf_lines(self) -> list[str]:
        return [line for line in self.output.splitlines() if '"_aws"' in line]


def render(record: logging.LogRecord) -> str:
    """Everything a formatter could print: message, arguments, extras, traceback."""
    try:
        message = record.getMessage()
    except Exception:  # noqa: BLE001 - a bad format string still has its parts
        message = f"{record.msg!r} % {record.args!r}"
    extras = {k: v for k, v in vars(record).items() if k not in _RECORD_ATTRS}
    parts = [record.name, record.levelname, message, repr(record.args), repr(extras)]
    if record.exc_info:
        parts.append("".join(traceback.format_exception(*record.exc_info)))
    if record.stack_info:
        parts.append(record.stack_info)
    return " ".join(parts)


@contextmanager
def capturing(capfd: pytest.CaptureFixture[str], *, every_logger: bool = True) -> Iterator[Capture]:
    """Record every log record at DEBUG and what reaches stdout/stderr, until exit.

    The root logger and raspa's loggers go to DEBUG; with ``every_logger`` so does every
    other registered logger (libraries' own levels overridden). Powertools' loggers do
    not propagate, so the recorder is attached to them as well as to the root.
    """
    import app  # noqa: F401 - the loggers raspa uses exist before levels are set
    import chalicelib.adapters.credentials
    import chalicelib.adapters.scraper
    import chalicelib.services.worker  # noqa: F401

    recorder = _Recorder()
    manager = logging.root.manager
    loggers = [logging.getLogger()] + [
        lg for lg in list(manager.loggerDict.values()) if isinstance(lg, logging.Logger)
    ]
    saved = [(lg, lg.level, list(lg.handlers)) for lg in loggers]
    powertools = [h for h in logging.getLogger("raspa").handlers if isinstance(h, StreamHandler)]
    streams = [(h, h.stream) for h in powertools]
    capture = Capture(recorder.records)
    try:
        for lg in loggers:
            name = lg.name
            ours = name in ("root", "raspa") or name.split(".")[0] in ("chalicelib", "app", "local")
            if every_logger or ours:
                lg.setLevel(logging.DEBUG)
            if lg is logging.getLogger() or not lg.propagate:
                lg.addHandler(recorder)
        # Powertools' JSON lines go to the sys.stdout of import time: send them to capfd's.
        for handler in powertools:
            handler.setStream(_CurrentStdout())  # type: ignore[arg-type]
        capfd.readouterr()
        yield capture
    finally:
        for lg, level, handlers in saved:
            lg.setLevel(level)
            lg.handlers = handlers
        for handler, stream in streams:
            handler.setStream(stream)
        out = capfd.readouterr()
        capture.output = out.out + out.err


# ------------------------------------------------------------------- helpers
def set_portal_password(stack: Stack, password: str) -> None:
    sm = stack.client("secretsmanager")
    sm.put_secret_value(
        SecretId=stack.settings.portal_secret_name,
        SecretString=json.dumps({"username": PORTAL_CREDENTIALS["username"], "password": password}),
    )


def lookup(api: Client, numero: str) -> tuple[int, dict[str, Any]]:
    response = api.http.post(f"/buscar-os-async/{numero}")
    return response.status_code, json.loads(response.body)


def wait_terminal(api: Client, task_id: str, timeout: float = 30) -> dict[str, Any]:
    deadline = time.monotonic() + timeout
    body: dict[str, Any] = {}
    while time.monotonic() < deadline:
        body = json.loads(api.http.get(f"/scraping-status/{task_id}").body)
        if body.get("status") in ("SUCCESS", "FAILURE"):
            return body
        time.sleep(0.05)
    raise AssertionError(f"task {task_id} did not finish: {body}")


def scrape(stack: Stack, api: Client, *numbers: str) -> dict[str, dict[str, Any]]:
    """Ask for every number, run the worker (one at a time) until all are terminal."""
    task_ids = {}
    for numero in numbers:
        status, body = lookup(api, numero)
        assert status == 202, body
        task_ids[numero] = body["task_id"]
    with stack.worker(concurrency=1):
        return {numero: wait_terminal(api, task) for numero, task in task_ids.items()}


def secrets_of(stack: Stack, *passwords: str) -> dict[str, str]:
    """Every string that must never be logged, by a name for the failure message."""
    found = {f"portal password {i}": p for i, p in enumerate(passwords)}
    for user, token in stack.tokens.items():
        found[f"{user}'s token"] = token
        found[f"{user}'s token signature"] = token.rsplit(".", 1)[1]
        found[f"{user}'s Authorization header"] = stack.headers(user)["Authorization"]
    return found


def assert_no_secrets(
    capture: Capture, stack: Stack, results: dict[str, dict[str, Any]], *passwords: str
) -> None:
    # The capture is real: records and JSON lines name every task, metrics were written.
    assert capture.records, "no log record was captured"
    assert any(r.name.startswith("chalicelib") for r in capture.records)
    for numero, result in results.items():
        assert result["task_id"] in capture.record_text(), f"task of {numero} not in records"
        assert result["task_id"] in capture.output, f"task of {numero} not in the JSON logs"
    assert capture.emf_lines, "no EMF metric line was captured"
    for name, secret in secrets_of(stack, *passwords).items():
        assert len(secret) >= 32, name  # a substring search for it means something
        for line in capture.emf_lines:
            assert secret not in line, f"{name} found in an EMF line"
        skip = frozenset({SDK_WIRE_DUMP}) if name.startswith("portal password") else frozenset()
        assert secret not in capture.everything(skip=skip), f"{name} found in the captured logs"


# --------------------------------------------------------------------- tests
def test_given_a_successful_and_a_missing_os_when_scraped_then_no_secret_is_logged(
    stack, api, capfd
):
    with capturing(capfd) as capture:
        results = scrape(stack, api, "123456", "950000")
        assert lookup(api, "123456")[0] == 200  # the cache answers
        assert lookup(api, "950000")[0] == 404  # the negative cache answers
    assert results["123456"]["status"] == "SUCCESS"
    assert results["950000"]["error"]["reason"] == "not_found"
    assert stack.portal_stats()["logins"] == 1
    assert_no_secrets(capture, stack, results, PORTAL_PASSWORD)


def test_given_portal_errors_and_expiring_sessions_when_retried_then_no_secret_is_logged(
    stack, api, capfd
):
    with capturing(capfd) as capture:
        stack.faults(
            session_ttl_requests=3, error_rate=0.3, unavailable_rate=0.1, retry_after_s=0, seed=1
        )
        flaky = scrape(stack, api, "400001", "400002", "400003", "400004")
        stats = stack.portal_stats()
        stack.faults(error_rate=1.0)
        exhausted = scrape(stack, api, "500001")
    assert stats["logins"] >= 2, stats  # sessions expired and the scraper logged in again
    assert stats["by_status"].get("500", 0) >= 1, stats
    assert any(r["attempts"] > 1 for r in flaky.values()), flaky  # retries happened
    assert exhausted["500001"]["status"] == "FAILURE"
    assert exhausted["500001"]["attempts"] == 4
    assert_no_secrets(capture, stack, {**flaky, **exhausted}, PORTAL_PASSWORD)


def test_given_a_wrong_portal_password_when_the_login_is_refused_then_neither_is_logged(
    stack, api, capfd
):
    set_portal_password(stack, WRONG_PASSWORD)  # before capturing: this call is the test's
    with capturing(capfd) as capture:
        results = scrape(stack, api, "123456")
    assert results["123456"]["status"] == "FAILURE"
    assert results["123456"]["error"]["reason"] == "login_failed"
    stats = stack.portal_stats()
    assert stats["logins"] == 0 and stats["by_kind"]["login"] >= 2  # form fetched and posted
    assert_no_secrets(capture, stack, results, WRONG_PASSWORD, PORTAL_PASSWORD)


def test_given_a_drifted_layout_when_scraped_then_no_secret_is_logged(stack, api, capfd):
    stack.faults(layout="drifted")
    with capturing(capfd) as capture:
        results = scrape(stack, api, "600001")
    assert results["600001"]["error"]["reason"] == "layout_changed"
    assert_no_secrets(capture, stack, results, PORTAL_PASSWORD)


def test_given_an_operators_debug_level_when_the_secret_is_read_then_botocore_does_not_print_it(
    stack, api, capfd
):
    """Root and raspa's loggers at DEBUG; levels that libraries set themselves are kept."""
    with capturing(capfd, every_logger=False) as capture:
        results = scrape(stack, api, "123456")
    assert results["123456"]["status"] == "SUCCESS"
    assert capture.records and results["123456"]["task_id"] in capture.output
    leaking = sorted({r.name for r in capture.records if PORTAL_PASSWORD in render(r)})
    assert not leaking, f"the portal password is in records of {leaking}"
