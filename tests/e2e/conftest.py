"""End-to-end fixtures: the whole local stack (``python -m local.stack``, as ``make run``
starts it) in a subprocess on free ports, and Debian's Chromium driven by Playwright."""

from __future__ import annotations

import contextlib
import json
import os
import shutil
import socket
import subprocess
import sys
import time
import urllib.error
import urllib.request
from pathlib import Path
from typing import Any, Iterator

import pytest

ROOT = Path(__file__).resolve().parents[2]
ARTIFACTS = ROOT / "test-artifacts"
CHROMIUM_CANDIDATES = ("chromium", "chromium-browser", "/usr/bin/chromium")


def chromium_path() -> str | None:
    for candidate in CHROMIUM_CANDIDATES:
        found = shutil.which(candidate)
        if found:
            return found
    return None


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@pytest.fixture(scope="session")
def chromium() -> str:
    path = chromium_path()
    if path is None:
        message = (
            "browser tests need Debian's Chromium (apt-get install chromium); "
            "none found, so they were not run"
        )
        if os.environ.get("RASPA_REQUIRE_BROWSER") == "1":
            pytest.fail(message)
        pytest.skip(message)
    return path


@contextlib.contextmanager
def run_stack(
    state: Path, log_name: str, extra: dict[str, str] | None = None
) -> Iterator[dict[str, Any]]:
    """``python -m local.stack`` in a subprocess on free ports with fast retries and the
    ``extra`` variables; yields its URLs as written to local.json, with ``_env`` (the
    process's environment) and ``_log`` (its output, in test-artifacts/``log_name``)."""
    ARTIFACTS.mkdir(exist_ok=True)
    env = {k: v for k, v in os.environ.items() if not k.startswith(("AWS_", "RASPA_"))}
    env.update(
        {
            "RASPA_STATE_DIR": str(state),
            "RASPA_RETRY_BASE_DELAY_SECONDS": "0",
            "RASPA_READ_TIMEOUT_SECONDS": "2",
            "RASPA_API_PORT": str(free_port()),
            "RASPA_PORTAL_PORT": str(free_port()),
            "RASPA_WS_PORT": str(free_port()),
            "RASPA_WS_MANAGEMENT_PORT": str(free_port()),
            "RASPA_AWS_PORT": str(free_port()),
            "PYTHONUNBUFFERED": "1",
            **(extra or {}),
        }
    )
    log_path = ARTIFACTS / log_name
    log = log_path.open("w")
    process = subprocess.Popen(
        [sys.executable, "-m", "local.stack"],
        cwd=ROOT,
        env=env,
        stdout=log,
        stderr=subprocess.STDOUT,
    )
    info = state / "local.json"
    deadline = time.monotonic() + 60
    while not info.exists():
        if process.poll() is not None or time.monotonic() > deadline:
            process.kill()
            raise RuntimeError(f"the local stack did not start; see {log.name}")
        time.sleep(0.1)
    urls = json.loads(info.read_text())
    try:
        yield {**urls, "_env": env, "_log": log_path}
    finally:
        process.terminate()
        try:
            process.wait(timeout=15)
        except subprocess.TimeoutExpired:
            process.kill()
        log.close()


@pytest.fixture(scope="session")
def stack(tmp_path_factory: pytest.TempPathFactory) -> Iterator[dict[str, Any]]:
    """The local stack with fast retries and the demo portal, its URLs as written to
    local.json."""
    # One stack per test process (pytest-xdist runs several), each with its own log.
    worker = os.environ.get("PYTEST_XDIST_WORKER", "main")
    with run_stack(tmp_path_factory.mktemp("raspa-state"), f"e2e-stack-{worker}.log") as urls:
        yield urls


def portal_control(stack: dict[str, Any], path: str, payload: dict | None = None) -> Any:
    data = json.dumps(payload or {}).encode()
    request = urllib.request.Request(
        stack["portal_url"] + path,
        data=data,
        method="POST",
        headers={"Content-Type": "application/json"},
    )
    with urllib.request.urlopen(request, timeout=10) as response:
        return json.loads(response.read())


@pytest.fixture
def portal(stack: dict[str, Any]) -> Any:
    portal_control(stack, "/_reset")
    return lambda **faults: portal_control(stack, "/_faults", faults)


@pytest.fixture(scope="module")
def browser(chromium: str) -> Iterator[Any]:
    from playwright.sync_api import sync_playwright

    with sync_playwright() as p:
        instance = p.chromium.launch(
            executable_path=chromium,
            headless=True,
            args=[
                "--no-sandbox",
                "--disable-gpu",
                "--disable-dev-shm-usage",
                "--no-first-run",
                "--disable-background-networking",
                "--disable-component-update",
                "--disable-sync",
                "--disable-quic",
            ],
        )
        yield instance
        instance.close()


def sign_in(page: Any, stack: dict[str, Any], username: str = "ana") -> None:
    """Sign in through the page's form with the demo user's password from local.json."""
    user = next(u for u in stack["users"] if u["username"] == username)
    page.goto(stack["api_url"] + "/")
    page.fill("#username", user["username"])
    page.fill("#password", user["password"])
    page.click("#signin button[type=submit]")
    page.wait_for_selector("#lookup-form", state="visible", timeout=10_000)


@pytest.fixture
def anonymous_page(browser: Any, request: pytest.FixtureRequest) -> Iterator[Any]:
    context = browser.new_context(locale="pt-BR", viewport={"width": 1100, "height": 800})
    page = context.new_page()
    yield page
    page.screenshot(path=str(ARTIFACTS / f"{request.node.name}.png"), full_page=True)
    context.close()


@pytest.fixture
def page(browser: Any, stack: dict[str, Any], request: pytest.FixtureRequest) -> Iterator[Any]:
    """A page signed in as ana."""
    context = browser.new_context(locale="pt-BR", viewport={"width": 1100, "height": 800})
    page = context.new_page()
    sign_in(page, stack)
    yield page
    page.screenshot(path=str(ARTIFACTS / f"{request.node.name}.png"), full_page=True)
    context.close()


# ------------------------------------------------------------------ batch uploads
def aws_client(stack: dict[str, Any], service: str) -> Any:
    """A boto3 client of the stack's AWS emulation."""
    import boto3

    return boto3.client(
        service,
        endpoint_url=stack["aws_endpoint_url"],
        region_name=stack["region"],
        aws_access_key_id="local",
        aws_secret_access_key="local",
    )


def id_token(stack: dict[str, Any], username: str) -> str:
    """A demo user's ID token, signed in against the stack's user pool as the page does."""
    from local.users import Pool
    from local.users import sign_in as cognito_sign_in

    user = next(u for u in stack["users"] if u["username"] == username)
    pool = Pool(stack["user_pool_id"], stack["user_pool_client_id"], stack["region"])
    return cognito_sign_in(aws_client(stack, "cognito-idp"), pool, username, user["password"])


def api_request(
    stack: dict[str, Any], method: str, path: str, *, token: str, body: Any = None
) -> tuple[int, Any]:
    """Call the stack's HTTP API with a bearer token: (status, JSON body)."""
    request = urllib.request.Request(
        stack["api_url"] + path,
        data=None if body is None else json.dumps(body).encode(),
        method=method,
        headers={"Authorization": f"Bearer {token}", "Content-Type": "application/json"},
    )
    try:
        with urllib.request.urlopen(request, timeout=10) as response:
            return response.status, json.loads(response.read() or b"null")
    except urllib.error.HTTPError as exc:
        return exc.code, json.loads(exc.read() or b"null")


class OsCache:
    """Writes OS records straight into the stack's cache table, in the shape the worker's
    store saves them (a fresh entry is answered without a scrape)."""

    def __init__(self, stack: dict[str, Any]) -> None:
        from chalicelib.config import Settings

        self.ddb = aws_client(stack, "dynamodb")
        self.table = Settings().os_table  # the stack runs with the default table names

    def found(self, records: dict[str, dict[str, str]], *, ttl_seconds: int = 86_400) -> None:
        """Fresh positive entries: ``{numero: data}``."""
        now = time.time()
        self._put(
            {
                "numero_os": {"S": numero},
                "outcome": {"S": "ok"},
                "data": {"M": {k: {"S": v} for k, v in data.items()}},
                "scraped_at": {"N": str(now)},
                "expires_at": {"N": str(int(now + ttl_seconds))},
            }
            for numero, data in records.items()
        )

    def not_found(self, numbers: list[str], *, ttl_seconds: int = 900) -> None:
        """Fresh negative entries: the portal said these do not exist."""
        now = time.time()
        self._put(
            {
                "numero_os": {"S": numero},
                "outcome": {"S": "not_found"},
                "scraped_at": {"N": str(now)},
                "expires_at": {"N": str(int(now + ttl_seconds))},
            }
            for numero in numbers
        )

    def _put(self, items: Any) -> None:
        requests = [{"PutRequest": {"Item": item}} for item in items]
        for start in range(0, len(requests), 25):  # BatchWriteItem's limit
            pending = {self.table: requests[start : start + 25]}
            while pending:
                pending = self.ddb.batch_write_item(RequestItems=pending).get("UnprocessedItems")


@pytest.fixture
def os_cache(stack: dict[str, Any]) -> OsCache:
    return OsCache(stack)
