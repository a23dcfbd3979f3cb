"""The scraper against the real demo portal on loopback, and the portal's own behaviour."""

from __future__ import annotations

import json
import re
import threading
import time
import urllib.error
import urllib.request
from datetime import datetime
from pathlib import Path

import pytest
import requests

from chalicelib.adapters.scraper import Credentials, PortalScraper
from chalicelib.adapters.transport import build_session
from chalicelib.domain.profile import DEFAULT_PROFILE_PATH, load_profile
from chalicelib.errors import (
    LayoutChangedError,
    LoginFailedError,
    OffSiteError,
    OsNotFoundError,
    TransientScrapeError,
)
from local.portal import PortalServer, control
from local.portal.data import record_for

pytestmark = pytest.mark.integration
FIXTURES = Path(__file__).resolve().parents[1] / "fixtures" / "portals" / "demo"


def make_scraper(portal, password: str = "demo-password", read_timeout: float = 2.0):
    profile = load_profile(DEFAULT_PROFILE_PATH, base_url=portal.url)
    session = build_session(connect_timeout=1, read_timeout=read_timeout, origin=portal.url)
    return PortalScraper(session, profile, Credentials("demo", password))


def iso(value: str, fmt: str) -> str:
    return datetime.strptime(value, fmt).isoformat()


def expected_record(numero: str) -> dict:
    """What the scraper must return, computed from the portal's own data."""
    data = record_for(numero)
    assert data is not None
    return {
        **{k: data[k] for k in ("numero", "situacao", "tipo_servico", "cliente", "endereco")},
        "tecnico": data["tecnico"],
        "data_abertura": iso(data["data_abertura"], "%d/%m/%Y")[:10],
        "prazo": iso(data["prazo"], "%d/%m/%Y")[:10],
        "descricao": " ".join(data["descricao"]),
        "historico": [
            {**h, "data": iso(h["data"], "%d/%m/%Y %H:%M")[:16]} for h in data["historico"]
        ],
    }


def login_form(portal, session: requests.Session) -> dict[str, str]:
    html = session.get(portal.url + "/login", timeout=5).text
    return dict(re.findall(r'name="(\w+)" value="([^"]*)"', html))


# ----------------------------------------------------------------- scraper


@pytest.mark.parametrize("numero", ["100000", "123451", "123455", "123458", "899999"])
def test_scraped_record_matches_the_portal_data_with_full_history(portal, numero):
    # Given OS numbers with 0 to 4 history pages; when each is scraped
    record = make_scraper(portal).scrape(numero)
    # Then every field and every history row is the portal's, cleaned
    expected = expected_record(numero)
    assert {k: record[k] for k in expected} == expected
    assert record["pages"] == max(1, -(-len(expected["historico"]) // 10))
    assert record["source_url"] == f"{portal.url}/os/{numero}"


def test_many_scrapes_share_one_login(portal):
    scraper = make_scraper(portal)
    for n in range(200000, 200008):
        scraper.scrape(str(n))
    assert scraper.logins == 1 and control.stats(portal.url)["logins"] == 1


def test_stats_count_requests_by_kind(portal):
    make_scraper(portal).scrape("123451")  # three pages
    stats = control.stats(portal.url)
    # GET and POST /login, then "/" (the post-login redirect), the detail and two history pages
    assert stats["by_kind"] == {"login": 2, "detail": 1, "history": 2, "other": 1}
    assert stats["requests"] == 6 and stats["by_status"] == {"200": 5, "302": 1}


def test_expired_session_logs_in_again_once_and_the_scrape_succeeds(portal):
    control.faults(portal.url, session_ttl_requests=2)
    scraper = make_scraper(portal)
    records = [scraper.scrape(str(n)) for n in (123451, 123454, 123457)]
    assert [r["pages"] for r in records] == [3, 3, 3]
    assert scraper.logins >= 3 and control.stats(portal.url)["logins"] == scraper.logins


def test_wrong_password_is_a_login_failure_without_the_password(portal):
    with pytest.raises(LoginFailedError) as info:
        make_scraper(portal, password="wrong-pass").scrape("123456")
    assert "wrong-pass" not in str(info.value)
    assert control.stats(portal.url)["logins"] == 0


def test_unknown_number_is_not_found(portal):
    with pytest.raises(OsNotFoundError):
        make_scraper(portal).scrape("950000")


def test_drifted_layout_is_detected(portal):
    control.faults(portal.url, layout="drifted")
    with pytest.raises(LayoutChangedError) as info:
        make_scraper(portal).scrape("123456")
    assert info.value.url == f"{portal.url}/os/123456"


@pytest.mark.parametrize(
    "fault,retry_after",
    [
        ({"error_rate": 1.0}, None),
        ({"unavailable_rate": 1.0, "retry_after_s": 42}, 42.0),
        ({"hang_rate": 1.0, "hang_ms": 3000}, None),
    ],
)
def test_portal_faults_are_transient(portal, fault, retry_after):
    control.faults(portal.url, **fault)
    started = time.monotonic()
    with pytest.raises(TransientScrapeError) as info:
        make_scraper(portal, read_timeout=0.5).scrape("123456")
    assert info.value.retry_after == retry_after
    assert time.monotonic() - started < 2  # a hang is cut by the read timeout


def test_peak_concurrency_is_counted_across_threads(portal):
    control.faults(portal.url, latency_ms=150)
    barrier = threading.Barrier(3)
    errors = []

    def scrape(n: int) -> None:
        scraper = make_scraper(portal)
        barrier.wait()
        try:
            scraper.scrape(str(n))
        except Exception as exc:  # noqa: BLE001 - reported below
            errors.append(exc)

    threads = [threading.Thread(target=scrape, args=(n,)) for n in (300001, 300002, 300003)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    observed = control.stats(portal.url)
    assert errors == []
    assert observed["peak_concurrent"] == 3 and observed["concurrent"] == 0


# ------------------------------------------------------------ the portal


def test_pages_without_a_session_redirect_to_login(portal):
    response = requests.get(portal.url + "/os/123456?pagina=2", allow_redirects=False, timeout=5)
    assert response.status_code == 302
    assert response.headers["Location"] == "/login?next=%2Fos%2F123456%3Fpagina%3D2"


def test_login_sets_an_http_only_session_cookie_and_redirects_to_next(portal):
    session = requests.Session()
    form = login_form(portal, session) | {"usuario": "demo", "senha": "demo-password"}
    form["next"] = "/os/123456"
    response = session.post(portal.url + "/login", data=form, allow_redirects=False, timeout=5)
    assert response.status_code == 302 and response.headers["Location"] == "/os/123456"
    cookie = response.headers["Set-Cookie"]
    assert cookie.startswith("PORTALSESSID=") and "HttpOnly" in cookie and "Path=/" in cookie
    assert session.get(portal.url + "/os/123456", timeout=5).url.endswith("/os/123456")


def test_login_form_has_a_fresh_csrf_token_and_other_hidden_inputs(portal):
    session = requests.Session()
    first, second = login_form(portal, session), login_form(portal, session)
    assert first["origem"] == "portal" and first["csrf_token"] != second["csrf_token"]


@pytest.mark.parametrize("csrf", ["forged", "replayed", "missing"])
def test_login_without_a_valid_csrf_token_is_refused(portal, csrf):
    session = requests.Session()
    form = login_form(portal, session) | {"usuario": "demo", "senha": "demo-password"}
    if csrf == "replayed":
        session.post(portal.url + "/login", data=form, allow_redirects=False, timeout=5)
        session.cookies.clear()
    elif csrf == "forged":
        form["csrf_token"] = "x"
    else:
        del form["csrf_token"]
    response = session.post(portal.url + "/login", data=form, allow_redirects=False, timeout=5)
    assert response.status_code == 200 and "Set-Cookie" not in response.headers
    html = response.content.decode("iso-8859-1")
    assert '<div class="erro">Usuário ou senha inválidos</div>' in html


@pytest.mark.parametrize("numero", ["12", "950000", "0123456", "abc", "12%2F34"])
def test_unknown_numbers_answer_200_with_the_not_found_message(portal, numero):
    scraper = make_scraper(portal)
    scraper.scrape("100000")  # logged in
    page = scraper.session.get(f"{portal.url}/os/{numero}", timeout=5)
    html = page.content.decode("iso-8859-1")
    assert page.status_code == 200 and '<p class="aviso">OS não encontrada</p>' in html
    assert 'id="numero"' not in html


def test_saved_fixtures_are_the_pages_the_portal_serves(portal):
    # The unit tests parse tests/fixtures/portals/demo: they must not drift from the real portal.
    scraper = make_scraper(portal)
    scraper.scrape("100000")

    def served(path: str) -> bytes:
        return scraper.session.get(portal.url + path, timeout=5).content

    for name, path in [
        ("detail_default.html", "/os/123451"),
        ("detail_page2.html", "/os/123451?pagina=2"),
        ("detail_last_page.html", "/os/123451?pagina=3"),
        ("not_found.html", "/os/950000"),
    ]:
        assert served(path) == (FIXTURES / name).read_bytes(), name
    control.faults(portal.url, layout="drifted")
    assert served("/os/123451") == (FIXTURES / "detail_drifted.html").read_bytes()
    login = requests.get(portal.url + "/login?next=%2Fos%2F123451", timeout=5).content
    token = re.compile(rb'name="csrf_token" value="[^"]*"')
    assert token.sub(b"", login) == token.sub(b"", (FIXTURES / "login.html").read_bytes())


@pytest.mark.parametrize(
    "body",
    [
        {"error_rate": 2},
        {"layout": "weird"},
        {"nope": 1},
        {"latency_ms": -1},
        {"retry_after_s": 1.5},
        {"session_ttl_requests": True},
        {"offsite": "everywhere", "offsite_url": "http://127.0.0.1:1"},
        {"offsite": "next_link"},  # no offsite_url
        {"offsite": "login_action", "offsite_url": "ftp://127.0.0.1/x"},
        {"offsite_url": 5},
        {"drip_ms": -1},
        {"drip_bytes": 0},
        {"history_rows": 1.5},
        {"history_rows": 10_000_000},
        [1, 2],
        "not json",
    ],
)
def test_fault_endpoint_rejects_bad_values_with_400(portal, body):
    data = body.encode() if isinstance(body, str) else json.dumps(body).encode()
    request = urllib.request.Request(portal.url + "/_faults", data=data, method="POST")
    with pytest.raises(urllib.error.HTTPError) as info:
        urllib.request.urlopen(request, timeout=5)
    assert info.value.code == 400
    assert json.loads(info.value.read())["error"] == "invalid_faults"
    assert control.call(portal.url, "/_faults")["error_rate"] == 0  # unchanged


def test_fault_endpoint_returns_the_configuration(portal):
    answer = control.faults(portal.url, latency_ms=5, seed=7)
    assert answer["latency_ms"] == 5 and answer["seed"] == 7 and answer["hang_ms"] == 30000
    assert control.call(portal.url, "/_faults") == answer


def test_the_hostile_modes_are_off_by_default(portal):
    answer = control.call(portal.url, "/_faults")
    assert {k: answer[k] for k in ("offsite", "offsite_url", "drip_ms", "history_rows")} == {
        "offsite": "",
        "offsite_url": "",
        "drip_ms": 0,
        "history_rows": 0,
    }


def test_hostile_modes_point_the_login_action_the_307_and_the_next_link_off_site(portal):
    elsewhere = "http://127.0.0.1:9/steal"
    control.faults(portal.url, offsite="login_action", offsite_url=elsewhere)
    session = requests.Session()
    assert f'action="{elsewhere}"' in session.get(portal.url + "/login", timeout=5).text
    control.faults(portal.url, offsite="redirect_307", offsite_url=elsewhere)
    answer = session.post(portal.url + "/login", data={}, allow_redirects=False, timeout=5)
    assert answer.status_code == 307 and answer.headers["Location"] == elsewhere
    control.faults(portal.url, offsite="next_link", offsite_url=elsewhere)
    scraper = make_scraper(portal)
    with pytest.raises(OffSiteError):  # OS 100000 has no history: the link is there anyway
        scraper.scrape("100000")
    page = scraper.session.get(portal.url + "/os/100000", timeout=5).text
    assert f'<a class="proxima" href="{elsewhere}">' in page


def test_drip_sends_the_headers_at_once_then_the_body_slowly(portal):
    control.faults(portal.url, drip_ms=50, drip_bytes=100)
    started = time.monotonic()
    with requests.get(portal.url + "/login", stream=True, timeout=5) as response:
        headers_after = time.monotonic() - started
        body = response.content
    pauses = (len(body) - 1) // 100  # between the 100-byte pieces
    assert headers_after < 0.5 and time.monotonic() - started >= 0.05 * pauses
    assert response.headers["Content-Length"] == str(len(body)) and b"login-form" in body


def test_control_endpoints_are_never_faulted_nor_counted(portal):
    control.faults(portal.url, error_rate=1.0)
    for _ in range(3):
        assert control.stats(portal.url)["requests"] == 0


def test_reset_clears_faults_stats_and_sessions(portal):
    scraper = make_scraper(portal)
    scraper.scrape("123456")
    control.faults(portal.url, error_rate=1.0)
    control.reset(portal.url)
    assert control.stats(portal.url)["requests"] == 0
    assert control.call(portal.url, "/_faults")["error_rate"] == 0
    # The old session is gone: the scraper logs in again and succeeds.
    assert scraper.scrape("123456")["numero"] == "123456" and scraper.logins == 2


def test_portal_pages_are_latin1_as_a_legacy_portal_serves_them(portal):
    with urllib.request.urlopen(portal.url + "/login", timeout=5) as response:
        assert response.headers["Content-Type"] == "text/html; charset=iso-8859-1"
        assert "Usuário".encode("iso-8859-1") in response.read()


def test_stopping_the_portal_ends_a_hanging_request_promptly():
    # Given a portal of its own, hanging every page for 30 s
    server = PortalServer().start()
    control.faults(server.url, hang_rate=1.0, hang_ms=30_000)
    thread = threading.Thread(
        target=lambda: requests.get(server.url + "/login", timeout=10), daemon=True
    )
    thread.start()
    deadline = time.monotonic() + 2
    while control.stats(server.url)["concurrent"] == 0 and time.monotonic() < deadline:
        time.sleep(0.01)
    # When it is stopped, then it stops at once and the sleeping request ends
    started = time.monotonic()
    server.stop()
    thread.join(timeout=3)
    assert time.monotonic() - started < 2 and not thread.is_alive()
