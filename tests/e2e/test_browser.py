"""A person using the page in Chromium, against the whole local stack."""

from __future__ import annotations

import pytest

from local.portal.data import record_for
from tests.e2e.conftest import sign_in

pytestmark = pytest.mark.e2e

TIMEOUT = 20_000  # ms


def look_up(page, numero: str) -> None:
    page.fill("#numero", numero)
    page.click("#lookup-form button[type=submit]")


def card(page, numero: str):
    return page.locator(f"li.lookup[data-numero='{numero}']").first


def test_a_fresh_os_shows_live_progress_then_its_data(stack, portal, page):
    portal(latency_ms=250)
    page.wait_for_selector("#conn.live", timeout=TIMEOUT)
    look_up(page, "123451")
    lookup = card(page, "123451")
    lookup.locator(".state", has_text="em andamento").wait_for(timeout=TIMEOUT)
    assert lookup.locator(".bar > div").evaluate("el => parseFloat(el.style.width)") > 0
    lookup.locator("[data-field=cliente]").wait_for(timeout=TIMEOUT)
    assert lookup.get_attribute("data-state") == "success"
    expected = record_for("123451")
    assert lookup.locator("[data-field=cliente]").inner_text() == expected["cliente"]
    opened = lookup.locator("[data-field=data_abertura]")
    year, month, day = opened.get_attribute("data-value").split("-")
    assert opened.inner_text() == f"{day}/{month}/{year}"  # shown the Brazilian way
    lookup.locator("summary").click()
    assert lookup.locator("table.history tbody tr").count() == len(expected["historico"])


def test_the_same_os_again_is_answered_from_the_cache_at_once(stack, portal, page):
    look_up(page, "123452")
    card(page, "123452").locator("[data-field=cliente]").wait_for(timeout=TIMEOUT)
    portal(latency_ms=5000)  # a scrape now would be slow: the answer must not need one
    look_up(page, "123452")
    again = page.locator("li.lookup[data-numero='123452']").first
    again.locator("[data-field=cliente]").wait_for(timeout=3000)
    assert "cache" in again.locator(".state").inner_text()


def test_a_failing_portal_shows_the_error(stack, portal, page):
    portal(error_rate=1.0)
    look_up(page, "123453")
    message = card(page, "123453").locator(".message")
    message.wait_for(timeout=TIMEOUT)
    assert "O portal não respondeu" in message.inner_text()
    detail = card(page, "123453").locator(".detail").inner_text()
    assert "4 tentativas" in detail and "http" not in detail  # no portal URL reaches users
    assert card(page, "123453").get_attribute("data-state") == "error"


def test_an_invalid_number_is_explained(stack, portal, page):
    look_up(page, "12ab")
    message = card(page, "12ab").locator(".message")
    message.wait_for(timeout=TIMEOUT)
    assert "1 a 12" in message.inner_text()


def test_without_websockets_the_page_completes_by_polling(stack, portal, page):
    page.add_init_script("window.WebSocket = function () { throw new Error('blocked'); };")
    page.reload()
    page.wait_for_selector("#conn.poll", timeout=TIMEOUT)
    look_up(page, "123454")
    card(page, "123454").locator("[data-field=cliente]").wait_for(timeout=TIMEOUT)


def test_several_lookups_run_at_once_and_english_is_used_when_preferred(stack, portal, browser):
    context = browser.new_context(locale="en-US")
    page = context.new_page()
    portal(latency_ms=200)
    sign_in(page, stack, "bruno")
    assert page.locator("#lookup-form button[type=submit]").inner_text() == "Look up"
    for numero in ("123455", "123456", "123457"):
        look_up(page, numero)
    for numero in ("123455", "123456", "123457"):
        card(page, numero).locator("[data-field=cliente]").wait_for(timeout=TIMEOUT)
    assert page.locator("li.lookup").count() == 3
    context.close()


def test_a_signed_out_visitor_sees_only_the_sign_in_form(stack, anonymous_page):
    anonymous_page.goto(stack["api_url"] + "/")
    assert anonymous_page.locator("#signin").is_visible()
    assert not anonymous_page.locator("#lookup-form").is_visible()
    anonymous_page.fill("#username", "ana")
    anonymous_page.fill("#password", "wrong-password")
    anonymous_page.click("#signin button[type=submit]")
    anonymous_page.locator("#signin-error", has_text="inválidos").wait_for(timeout=TIMEOUT)


def test_signing_out_returns_to_the_sign_in_form(stack, page):
    assert page.locator("#who-name").inner_text() == "ana"
    page.click("#signout")
    assert page.locator("#signin").is_visible()
    page.reload()
    assert page.locator("#signin").is_visible()
