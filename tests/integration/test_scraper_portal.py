"""The scraper against the real demo portal on loopback, and the portal's own behaviour."""

from __future__ import annotations

import threading
import urllib.error
import urllib.request

import pytest
import requests

from chalicelib.errors import (
    LayoutChangedError,
    LoginFailedError,
    OsNotFoundError,
    TransientScrapeError,
)
from chalicelib.profile import DEFAULT_PROFILE_PATH, load_profile
from chalicelib.scraper import Credentials, PortalScraper
from chalicelib.transport import build_session
from local.portal.data import record_for
from tests.support.stack import portal_call

pytestmark = pytest.mark.integration


def make_scraper(portal, password: str = "demo-password", read_timeout: float = 2.0):
    profile = load_profile(DEFAULT_PROFILE_PATH, base_url=portal.url)
    session = build_session(connect_timeout=1, read_timeout=read_timeout)
    return PortalScraper(session, profile, Credentials("demo", password))


def faults(portal, **values):
    return portal_call(portal.url, "/_faults", values)


def stats(portal):
    return portal_call(portal.url, "/_stats")


@pytest.mark.parametrize("numero", ["100000", "123451", "555555", "899999"])
def test_scraped_record_matches_the_portal_data_with_full_history(portal, numero):
    record = make_scraper(portal).scrape(numero)
    expected = record_for(numero)
    assert record["numero"] == numero
    assert (record["cliente"], record["situacao"], record["tecnico"]) == (
        expected["cliente"],
        expected["situacao"],
        expected["tecnico"],
    )
    assert [h["evento"] for h in record["historico"]] == [
        h["evento"] for h in expected["historico"]
    ]


def test_many_scrapes_share_one_login(portal):
    scraper = make_scraper(portal)
    for n in range(200000, 200008):
        scraper.scrape(str(n))
    assert scraper.logins == 1 and stats(portal)["logins"] == 1


def test_expired_session_logs_in_again_and_the_scrape_succeeds(portal):
    faults(portal, session_ttl_requests=2)
    scraper = make_scraper(portal)
    records = [scraper.scrape(str(n)) for n in (123451, 123454, 123457)]
    assert all(r["pages"] == 3 for r in records)
    assert scraper.logins >= 3 and stats(portal)["logins"] == scraper.logins


def test_wrong_password_is_a_login_failure(portal):
    with pytest.raises(LoginFailedError) as info:
        make_scraper(portal, password="wrong").scrape("123456")
    assert "wrong" not in str(info.value)


def test_unknown_number_is_not_found(portal):
    with pytest.raises(OsNotFoundError):
        make_scraper(portal).scrape("950000")


def test_drifted_layout_is_detected(portal):
    faults(portal, layout="drifted")
    with pytest.raises(LayoutChangedError) as info:
        make_scraper(portal).scrape("123456")
    assert info.value.url.endswith("/os/123456")


@pytest.mark.parametrize(
    "fault,retry_after",
    [
        ({"error_rate": 1.0}, None),
        ({"unavailable_rate": 1.0, "retry_after_s": 42}, 42.0),
        ({"hang_rate": 1.0, "hang_ms": 3000}, None),
    ],
)
def test_portal_faults_are_transient(portal, fault, retry_after):
    faults(portal, **fault)
    with pytest.raises(TransientScrapeError) as info:
        make_scraper(portal, read_timeout=0.5).scrape("123456")
    assert info.value.retry_after == retry_after


def test_peak_concurrency_is_counted_across_threads(portal):
    faults(portal, latency_ms=150)
    barrier = threading.Barrier(3)

    def scrape(n: int) -> None:
        scraper = make_scraper(portal)
        barrier.wait()
        scraper.scrape(str(n))

    threads = [threading.Thread(target=scrape, args=(n,)) for n in (300001, 300002, 300003)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    observed = stats(portal)
    assert observed["peak_concurrent"] == 3 and observed["concurrent"] == 0


def test_pages_without_a_session_redirect_to_login(portal):
    response = requests.get(portal.url + "/os/123456", allow_redirects=False, timeout=5)
    assert response.status_code == 302
    assert response.headers["Location"] == "/login?next=%2Fos%2F123456"


def test_login_requires_the_forms_csrf_token(portal):
    form = {"usuario": "demo", "senha": "demo-password", "origem": "portal", "csrf_token": "x"}
    response = requests.post(portal.url + "/login", data=form, allow_redirects=False, timeout=5)
    assert response.status_code == 200 and "PORTALSESSID" not in response.headers.get(
        "Set-Cookie", ""
    )
    assert "Formulário expirado" in response.content.decode("iso-8859-1")


def test_unknown_number_answers_200_with_the_not_found_message(portal):
    scraper = make_scraper(portal)
    with pytest.raises(OsNotFoundError):
        scraper.scrape("12")
    page = scraper.session.get(portal.url + "/os/12", timeout=5)
    assert page.status_code == 200 and "OS não encontrada" in page.content.decode("iso-8859-1")


@pytest.mark.parametrize(
    "body", [{"error_rate": 2}, {"layout": "weird"}, {"nope": 1}, {"latency_ms": -1}, [1, 2]]
)
def test_fault_endpoint_rejects_bad_values_with_400(portal, body):
    with pytest.raises(urllib.error.HTTPError) as info:
        portal_call(portal.url, "/_faults", body)
    assert info.value.code == 400


def test_reset_clears_faults_and_stats(portal):
    faults(portal, error_rate=1.0)
    with pytest.raises(TransientScrapeError):
        make_scraper(portal).scrape("123456")
    portal_call(portal.url, "/_reset")
    assert stats(portal)["requests"] == 0
    assert portal_call(portal.url, "/_faults")["error_rate"] == 0
    assert make_scraper(portal).scrape("123456")["numero"] == "123456"


def test_portal_pages_are_latin1_as_a_legacy_portal_serves_them(portal):
    with urllib.request.urlopen(portal.url + "/login", timeout=5) as response:
        assert response.headers["Content-Type"] == "text/html; charset=iso-8859-1"
        assert "Usuário".encode("iso-8859-1") in response.read()
