"""A person using the page of a stack that ``make run`` pointed at another portal (an
ASP.NET WebForms one, with its documented profile): the lookup reaches that portal, with
the account the variables gave, the page shows the fields that profile names, and no demo
portal runs."""

from __future__ import annotations

import os
import socket
from pathlib import Path
from typing import Any, Iterator

import pytest

from local.families import FamilyPortal, expected_record
from tests.e2e.conftest import ARTIFACTS, ROOT, run_stack, sign_in

pytestmark = pytest.mark.e2e

TIMEOUT = 20_000  # ms
USERNAME = "outra"
PASSWORD = "outra-senha-ção"


@pytest.fixture(scope="module")
def second_portal() -> Iterator[FamilyPortal]:
    """Another portal than the demo one, of another family, in this process on a free
    port, with its own account."""
    with FamilyPortal("aspnet", username=USERNAME, password=PASSWORD) as server:
        yield server


@pytest.fixture(scope="module")
def other_stack(
    second_portal: FamilyPortal, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[dict[str, Any]]:
    """``python -m local.stack`` whose variables name the second portal: its family's
    documented profile, its base URL and its account."""
    state = tmp_path_factory.mktemp("raspa-other-state")
    worker = os.environ.get("PYTEST_XDIST_WORKER", "main")
    portal = {
        "RASPA_PROFILE_PATH": str(ROOT / "docs" / "profiles" / "aspnet.toml"),
        "RASPA_PORTAL_BASE_URL": second_portal.url,
        "RASPA_PORTAL_USERNAME": USERNAME,
        "RASPA_PORTAL_PASSWORD": PASSWORD,
    }
    with run_stack(state, f"e2e-other-portal-{worker}.log", portal) as urls:
        yield urls


@pytest.fixture
def other_page(
    browser: Any, other_stack: dict[str, Any], request: pytest.FixtureRequest
) -> Iterator[Any]:
    """A page of the other stack, signed in as ana."""
    context = browser.new_context(locale="pt-BR", viewport={"width": 1100, "height": 800})
    page = context.new_page()
    sign_in(page, other_stack)
    yield page
    page.screenshot(path=str(ARTIFACTS / f"{request.node.name}.png"), full_page=True)
    context.close()


def listening(port: int) -> bool:
    with socket.socket() as s:
        s.settimeout(1)
        return s.connect_ex(("127.0.0.1", port)) == 0


def test_given_make_run_pointed_at_a_second_portal_when_an_os_is_looked_up_on_the_page_then_that_portal_answers_it(  # noqa: E501
    second_portal, other_stack, other_page
):
    second_portal.reset()
    # When a signed-in user looks an OS with three history pages up through the page
    other_page.fill("#numero", "123465")
    other_page.click("#lookup-form button[type=submit]")
    lookup = other_page.locator("li.lookup[data-numero='123465']").first
    lookup.locator("[data-field=cliente]").wait_for(timeout=TIMEOUT)
    # Then the record is shown, scraped from the second portal with its account
    expected = expected_record("aspnet", "123465")
    assert lookup.get_attribute("data-state") == "success"
    assert lookup.locator("[data-field=cliente]").inner_text() == expected["cliente"]
    # with the fields only that portal's profile names, and every history page's rows
    assert lookup.locator("[data-field=valor]").get_attribute("data-value") == expected["valor"]
    assert lookup.locator("[data-field=quantidade]").get_attribute("data-value") == str(
        expected["quantidade"]
    )
    rows = lookup.locator("table.history tbody tr")
    assert rows.count() == len(expected["historico"]) > 20
    stats = second_portal.stats()
    assert stats["logins"] == 1 and stats["postbacks"] >= 2
    assert stats["by_path"].get("/OS/Detalhe.aspx", 0) >= 1
    # and no demo portal runs: local.json names the second one, the demo port is closed
    assert other_stack["portal_url"] == second_portal.url
    assert not listening(int(other_stack["_env"]["RASPA_PORTAL_PORT"]))
    # and the stack's output names the portal and its user, never the password
    log = Path(other_stack["_log"]).read_text(encoding="utf-8")
    assert f"portal         {second_portal.url}  (user {USERNAME}, password not shown)" in log
    assert "demo portal" not in log
    assert PASSWORD not in log
