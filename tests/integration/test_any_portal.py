"""``make run`` pointed at another portal than its demo one.

``RASPA_PORTAL_BASE_URL`` and/or ``RASPA_PROFILE_PATH`` name the portal, and
``RASPA_PORTAL_USERNAME`` / ``RASPA_PORTAL_PASSWORD`` its account: the stack scrapes that
portal with that account, starts no demo portal, and never shows the password. With none
of them set the stack runs on its demo portal as before.
"""

from __future__ import annotations

import itertools
import json
import re
import subprocess
import sys
import time
import urllib.error
import urllib.request
from pathlib import Path
from typing import Any, Iterator

import pytest

from chalicelib.domain.profile import DEFAULT_PROFILE_PATH
from local.deployment import process_env
from local.portal import PortalServer, control
from local.portal.data import record_for
from local.resources import named
from local.sandbox import DEMO_CREDENTIALS, Ports
from local.stack import LocalStack, PortalChoice, banner, portal_choice

pytestmark = pytest.mark.integration

ROOT = Path(__file__).resolve().parents[2]
USERNAME = "outra"
PASSWORD = "outra-senha-ção"
#: What ``make run`` would be started with besides the portal: quick retries.
FAST = {"RASPA_RETRY_BASE_DELAY_SECONDS": "0", "RASPA_READ_TIMEOUT_SECONDS": "2"}
ACCOUNT = {"RASPA_PORTAL_USERNAME": USERNAME, "RASPA_PORTAL_PASSWORD": PASSWORD}
_runs = itertools.count(1)


# ------------------------------------------------------------------ helpers and fixtures


@pytest.fixture(scope="module")
def second_portal() -> Iterator[PortalServer]:
    """Another portal than the demo one: its own port and account."""
    with PortalServer(port=0, username=USERNAME, password=PASSWORD) as server:
        yield server


@pytest.fixture
def portal(second_portal: PortalServer) -> PortalServer:
    control.reset(second_portal.url)
    return second_portal


@pytest.fixture
def portal_starts(monkeypatch: pytest.MonkeyPatch) -> list[PortalServer]:
    """Every demo portal a sandbox starts from now on."""
    import local.portal

    started: list[PortalServer] = []

    class Recorded(PortalServer):
        def start(self) -> PortalServer:
            started.append(self)
            return super().start()

    monkeypatch.setattr(local.portal, "PortalServer", Recorded)
    return started


def profile_copy(folder: Path, base_url: str | None = None) -> Path:
    """The demo profile copied into ``folder`` (so its format's changes follow), its
    ``base_url`` replaced when given."""
    text = DEFAULT_PROFILE_PATH.read_text(encoding="utf-8")
    if base_url is not None:
        text, count = re.subn(r"(?m)^base_url\s*=.*$", f'base_url = "{base_url}"', text)
        assert count == 1, "the demo profile has one top-level base_url line"
    path = folder / "outra.toml"
    path.write_text(text, encoding="utf-8")
    return path


def portal_env(how: str, portal_url: str, folder: Path) -> dict[str, str]:
    """The variables naming the portal at ``portal_url``: by its base URL, by a profile
    and a base URL, or by a profile alone (whose base_url is that portal)."""
    if how == "base_url":
        return {"RASPA_PORTAL_BASE_URL": portal_url}
    if how == "profile_and_base_url":
        return {
            "RASPA_PROFILE_PATH": str(profile_copy(folder)),
            "RASPA_PORTAL_BASE_URL": portal_url,
        }
    return {"RASPA_PROFILE_PATH": str(profile_copy(folder, base_url=portal_url))}


def fresh(env: dict[str, str]) -> dict[str, str]:
    """``env`` with tables, queues, bucket and secret of their own: stacks started in this
    process share one AWS emulation, so ``make run``'s default names would meet earlier
    runs' cached records."""
    return {**named(f"anyportal{next(_runs)}"), **env}


def api_call(stack: LocalStack, method: str, path: str, user: str = "ana") -> dict[str, Any]:
    """One call to the stack's HTTP API (Chalice's local server) as ``user``."""
    request = urllib.request.Request(
        stack.urls["api_url"] + path, method=method, headers=stack.box.headers(user)
    )
    try:
        with urllib.request.urlopen(request, timeout=10) as response:
            return json.loads(response.read())
    except urllib.error.HTTPError as exc:
        return json.loads(exc.read())


def look_up(stack: LocalStack, numero: str, timeout: float = 30) -> dict[str, Any]:
    """Ask for ``numero`` through the API and follow its task to a terminal status."""
    queued = api_call(stack, "POST", f"/buscar-os-async/{numero}")
    assert queued.get("status") == "queued", queued
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        status = api_call(stack, "GET", f"/scraping-status/{queued['task_id']}")
        if status["status"] in ("SUCCESS", "FAILURE"):
            return status
        time.sleep(0.1)
    raise AssertionError(f"task {queued['task_id']} did not finish: {status}")


def portal_secret(stack: LocalStack) -> dict[str, str]:
    sm = stack.box.clients.client("secretsmanager")
    secret = sm.get_secret_value(SecretId=stack.settings.portal_secret_name)
    return json.loads(secret["SecretString"])


def run_stack_process(env: dict[str, str], timeout: float = 60) -> subprocess.CompletedProcess:
    """``python -m local.stack`` as ``make run`` starts it, with only ``env``'s settings;
    for runs that exit by themselves."""
    return subprocess.run(
        [sys.executable, "-m", "local.stack"],
        cwd=ROOT,
        env=process_env(**env),
        capture_output=True,
        text=True,
        timeout=timeout,
    )


def any_ports(state: Path) -> dict[str, str]:
    """A state folder of its own and free ports for every server (port 0: any)."""
    names = ("API", "PORTAL", "WS", "WS_MANAGEMENT", "AWS")
    return {"RASPA_STATE_DIR": str(state), **{f"RASPA_{n}_PORT": "0" for n in names}}


# ------------------------------------------------------------------ the lookup


@pytest.mark.parametrize("how", ["base_url", "profile_and_base_url", "profile_only"])
def test_given_make_runs_variables_naming_a_second_portal_when_an_os_is_looked_up_then_that_portal_answers_it(  # noqa: E501
    how, portal, portal_starts, tmp_path, caplog
):
    # Given the variables make run would get, naming the second portal and its account
    env = fresh({**FAST, **portal_env(how, portal.url, tmp_path), **ACCOUNT})
    # When the stack starts from them and a user looks an OS up through the API
    with LocalStack(Ports(), env=env) as stack:
        done = look_up(stack, "123456")
        secret = portal_secret(stack)
        urls = stack.urls
    # Then the record arrived, scraped from the second portal with its account
    assert done["status"] == "SUCCESS", done
    expected = record_for("123456")
    assert done["result"]["cliente"] == expected["cliente"]
    assert len(done["result"]["historico"]) == len(expected["historico"])
    stats = control.stats(portal.url)
    assert stats["logins"] == 1
    assert stats["by_kind"]["login"] >= 1 and stats["by_kind"]["detail"] >= 1
    assert secret == {"username": USERNAME, "password": PASSWORD}
    # and no demo portal ran: local.json's portal is the second one
    assert portal_starts == []
    assert urls["portal_url"] == portal.url
    # and the password reached neither the logs nor what local.json would hold
    assert caplog.records, "the app's log records are seen"
    assert not [r for r in caplog.records if PASSWORD in repr(vars(r))]
    assert PASSWORD not in json.dumps(urls, ensure_ascii=False)


def test_given_no_portal_variables_when_the_stack_starts_then_it_scrapes_its_demo_portal_as_before(
    portal, portal_starts
):
    # Given none of the portal variables
    # When the stack starts and an OS is looked up
    with LocalStack(Ports(), env=fresh(FAST)) as stack:
        done = look_up(stack, "123457")
        demo_stats = control.stats(stack.portal.url)
        secret = portal_secret(stack)
        urls = stack.urls
        lines = banner(urls, stack.choice)
    # Then the demo portal was started, with the demo account, and answered it
    assert done["status"] == "SUCCESS", done
    assert len(portal_starts) == 1 and urls["portal_url"] == portal_starts[0].url
    assert demo_stats["logins"] == 1 and demo_stats["by_kind"]["detail"] >= 1
    assert secret == DEMO_CREDENTIALS
    assert f"  demo portal    {urls['portal_url']}  (demo / demo-password)" in lines
    # and the second portal saw nothing
    assert control.stats(portal.url)["requests"] == 0


@pytest.mark.parametrize("family", ["aspnet", "jsf", "php"])
def test_given_make_run_pointed_at_a_portal_of_each_family_then_its_records_are_exact(family):
    # Given a portal of that family and its documented profile, named as in the README
    from local.families import FamilyPortal, expected_record

    with FamilyPortal(family, username=USERNAME, password="senha-ção") as other:
        env = {
            **FAST,
            "RASPA_PROFILE_PATH": str(ROOT / "docs" / "profiles" / f"{family}.toml"),
            "RASPA_PORTAL_BASE_URL": other.url,
            "RASPA_PORTAL_USERNAME": USERNAME,
            "RASPA_PORTAL_PASSWORD": "senha-ção",
        }
        # When two OS and an unknown one are looked up through the API
        with LocalStack(Ports(), env=fresh(env)) as stack:
            found = [look_up(stack, n) for n in ("123465", "123461")]
            missing = look_up(stack, "950000")
        stats = other.stats()
    # Then each record is the portal's, exactly (accents, types, every history page)
    for numero, done in zip(("123465", "123461"), found, strict=True):
        assert done["status"] == "SUCCESS", done
        expected = expected_record(family, numero)
        assert {k: done["result"].get(k) for k in expected} == expected
    # and the unknown OS is "não encontrada", and one login served every lookup
    assert missing["status"] == "FAILURE" and missing["error"]["reason"] == "not_found"
    assert stats["logins"] == 1


# ------------------------------------------------------------------ the choice of portal


def test_given_nothing_set_then_the_choice_is_the_demo_portal_with_the_demo_account():
    choice = portal_choice({})
    assert choice.demo and choice.credentials == DEMO_CREDENTIALS and not choice.ignored


def test_given_only_an_account_then_the_demo_portal_is_used_and_the_account_ignored_by_name():
    choice = portal_choice(ACCOUNT)
    assert choice.demo and choice.credentials == DEMO_CREDENTIALS
    assert choice.ignored == ("RASPA_PORTAL_USERNAME", "RASPA_PORTAL_PASSWORD")


def test_given_only_a_profile_then_the_portal_is_the_profiles_base_url(tmp_path):
    path = profile_copy(tmp_path, base_url="https://portal.example.com")
    choice = portal_choice({"RASPA_PROFILE_PATH": str(path), **ACCOUNT})
    assert not choice.demo
    assert choice.base_url == "https://portal.example.com"
    assert choice.profile_path == str(path)
    assert choice.credentials == {"username": USERNAME, "password": PASSWORD}


def test_given_only_a_base_url_then_the_built_in_profile_is_used_at_that_address():
    choice = portal_choice({"RASPA_PORTAL_BASE_URL": "https://portal.example.com", **ACCOUNT})
    assert not choice.demo and choice.base_url == "https://portal.example.com"
    assert choice.profile_path == "chalicelib/profiles/demo.toml"


def test_given_another_portal_then_neither_the_choice_nor_the_banner_shows_the_password():
    choice = PortalChoice(
        demo=False,
        base_url="https://portal.example.com",
        profile_path="acme.toml",
        username=USERNAME,
        password=PASSWORD,
    )
    urls = {
        "api_url": "http://127.0.0.1:8000",
        "ws_url": "ws://127.0.0.1:8002",
        "portal_url": choice.base_url,
        "aws_endpoint_url": "http://127.0.0.1:4566",
        "users": [],
    }
    lines = banner(urls, choice)
    text = "\n".join(lines)
    assert PASSWORD not in text and PASSWORD not in repr(choice)
    assert "  portal         https://portal.example.com  (user outra, password not shown)" in lines
    assert "  profile        acme.toml" in lines
    assert "demo portal" not in text and "demo-password" not in text


# ------------------------------------------------------------------ make run's own process


def test_given_a_second_portal_when_make_run_starts_then_neither_its_output_nor_local_json_has_the_password(  # noqa: E501
    portal, tmp_path
):
    # Given make run's variables naming the second portal by a profile and its base URL
    env = {
        **any_ports(tmp_path),
        **portal_env("profile_and_base_url", portal.url, tmp_path),
        **ACCOUNT,
        "PYTHONUNBUFFERED": "1",
    }
    # When the stack's process starts
    process = subprocess.Popen(
        [sys.executable, "-m", "local.stack"],
        cwd=ROOT,
        env=process_env(**env),
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    info = tmp_path / "local.json"
    try:
        deadline = time.monotonic() + 60
        while not info.exists() and process.poll() is None and time.monotonic() < deadline:
            time.sleep(0.1)
        assert info.exists(), "the stack did not start"
        written = info.read_text(encoding="utf-8")
        time.sleep(0.2)  # the banner is printed right after local.json is written
    finally:
        process.terminate()
        out, err = process.communicate(timeout=30)
    # Then the banner names the portal, its profile and its user, never the password
    assert json.loads(written)["portal_url"] == portal.url
    assert f"portal         {portal.url}  (user {USERNAME}, password not shown)" in out
    assert f"profile        {env['RASPA_PROFILE_PATH']}" in out
    assert "demo portal" not in out
    assert PASSWORD not in out + err
    assert PASSWORD not in written


@pytest.mark.parametrize(
    ("account", "missing"),
    [
        ({"RASPA_PORTAL_USERNAME": USERNAME}, "RASPA_PORTAL_PASSWORD is not set"),
        ({"RASPA_PORTAL_PASSWORD": PASSWORD}, "RASPA_PORTAL_USERNAME is not set"),
        ({}, "RASPA_PORTAL_USERNAME and RASPA_PORTAL_PASSWORD are not set"),
    ],
)
def test_given_a_second_portal_without_its_full_account_when_make_run_starts_then_it_exits_naming_the_missing_variable(  # noqa: E501
    account, missing, portal, tmp_path
):
    env = {**any_ports(tmp_path), "RASPA_PORTAL_BASE_URL": portal.url, **account}
    done = run_stack_process(env)
    assert done.returncode == 1
    assert done.stderr.strip().startswith(missing)
    assert len(done.stderr.strip().splitlines()) == 1 and "Traceback" not in done.stderr
    assert PASSWORD not in done.stdout + done.stderr
    assert not (tmp_path / "local.json").exists()
    assert control.stats(portal.url)["requests"] == 0


@pytest.mark.parametrize(("content", "expected"), [(None, "not found"), ("name = [unclosed", "")])
def test_given_a_profile_that_does_not_load_when_make_run_starts_then_it_exits_saying_why(
    content, expected, tmp_path
):
    profile = tmp_path / "broken.toml"
    if content is not None:
        profile.write_text(content, encoding="utf-8")
    env = {**any_ports(tmp_path), "RASPA_PROFILE_PATH": str(profile), **ACCOUNT}
    done = run_stack_process(env)
    assert done.returncode == 1
    message = done.stderr.strip()
    assert message.startswith("the portal profile cannot be used:")
    assert str(profile) in message and expected in message
    assert len(message.splitlines()) == 1 and "Traceback" not in done.stderr
    assert PASSWORD not in done.stdout + done.stderr
