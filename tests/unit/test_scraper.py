"""Scraper policy with a scripted transport: login, session reuse, pages, progress."""

from __future__ import annotations

import json
from urllib.parse import parse_qs

import pytest

from chalicelib.errors import LayoutChangedError, LoginFailedError, OsNotFoundError
from local.portal.data import record_for


def test_scrape_logs_in_once_posting_every_hidden_input_and_reads_all_pages(fake_portal):
    # Given a portal whose login form carries a CSRF token and another hidden input
    route, state = fake_portal.route()
    scraper, _ = fake_portal.scraper(route)
    # When an OS with three history pages is scraped
    record = scraper.scrape("123451")
    # Then every input of the form was posted back with the credentials
    posted = {k: v[0] for k, v in parse_qs(state["posts"][0]).items()}
    assert posted == {
        "csrf_token": "fixture-token",
        "origem": "portal",
        "next": "/os/123451",
        "usuario": "demo",
        "senha": fake_portal.password,
    }
    # And the record has every field and the whole history
    expected = record_for("123451")
    assert record["numero"] == "123451" and record["pages"] == 3
    assert record["source_url"] == f"{fake_portal.base}/os/123451"
    assert [h["evento"] for h in record["historico"]] == [
        h["evento"] for h in expected["historico"]
    ]


def test_record_is_json_serialisable_with_iso_dates(fake_portal):
    scraper, _ = fake_portal.scraper(fake_portal.route()[0])
    record = scraper.scrape("123451")
    assert json.loads(json.dumps(record)) == record
    assert len(record["data_abertura"]) == 10 and record["data_abertura"][4] == "-"
    assert all(len(h["data"]) == 16 and h["data"][10] == "T" for h in record["historico"])


def test_session_is_reused_for_later_scrapes(fake_portal):
    scraper, adapter = fake_portal.scraper(fake_portal.route()[0])
    for _ in range(3):
        scraper.scrape("123451")
    assert scraper.logins == 1
    assert sum(1 for m, u in adapter.requests if m == "POST" and u.endswith("/login")) == 1


def test_progress_reports_login_detail_then_growing_history_steps(fake_portal):
    scraper, _ = fake_portal.scraper(fake_portal.route()[0])
    first, second = [], []
    scraper.scrape("123451", lambda step, pct: first.append((step, pct)))
    scraper.scrape("123451", lambda step, pct: second.append((step, pct)))
    assert [s for s, _ in first] == ["login", "detail", "history", "history"]
    history = [p for s, p in first if s == "history"]
    assert history == sorted(history) and all(40 < p <= 90 for p in history)
    assert [s for s, _ in second] == ["detail", "history", "history"]  # no new login


def test_expired_session_logs_in_again_once_and_retries_the_page(fake_portal):
    route, _ = fake_portal.route(expire_after=1)
    scraper, adapter = fake_portal.scraper(route)
    record = scraper.scrape("123451")
    assert record["pages"] == 3 and scraper.logins == 2
    assert sum(1 for _, u in adapter.requests if u.endswith("/os/123451")) == 2


def test_a_redirect_to_the_login_url_is_seen_as_an_expired_session(fake_portal):
    # Given a portal that redirects the first detail request to its login page
    redirected = []

    def detail(url):
        if "/os/" in url and not redirected:
            redirected.append(url)
            return 302, b"", {"Location": f"{fake_portal.base}/login?next=%2Fos%2F123451"}
        return None

    route, _ = fake_portal.route(detail=detail)
    scraper, _ = fake_portal.scraper(route)
    # When scraping, then it logs in again and succeeds
    assert scraper.scrape("123451")["pages"] == 3
    assert scraper.logins == 2


def test_refused_login_is_a_login_failure_without_the_password_anywhere(fake_portal, caplog):
    route, _ = fake_portal.route(login_ok=False)
    scraper, _ = fake_portal.scraper(route)
    with pytest.raises(LoginFailedError) as info:
        scraper.scrape("123451")
    assert fake_portal.password not in str(info.value)
    assert fake_portal.password not in repr(scraper.credentials)
    assert fake_portal.password not in caplog.text
    assert scraper.logins == 0


def test_not_found_page_is_os_not_found(fake_portal):
    route, _ = fake_portal.route(detail=lambda url: (200, fake_portal.page("not_found.html")))
    with pytest.raises(OsNotFoundError) as info:
        fake_portal.scraper(route)[0].scrape("950000")
    assert info.value.numero_os == "950000"


def test_drifted_layout_is_layout_changed_and_logged_with_the_url(fake_portal, caplog):
    route, _ = fake_portal.route(detail=lambda url: (200, fake_portal.page("detail_drifted.html")))
    with pytest.raises(LayoutChangedError) as info:
        fake_portal.scraper(route)[0].scrape("123451")
    assert info.value.url == f"{fake_portal.base}/os/123451" and info.value.field == "numero"
    assert any(
        r.levelname == "WARNING" and getattr(r, "url", "") == info.value.url for r in caplog.records
    )


def test_a_history_loop_is_not_followed_forever(fake_portal):
    # Given page 3 answering with page 2's content, whose "next" link is page 3 again
    route, _ = fake_portal.route(
        detail=lambda url: (200, fake_portal.page("detail_page2.html")) if "pagina" in url else None
    )
    scraper, adapter = fake_portal.scraper(route)
    record = scraper.scrape("123451")
    # Then page 3 is fetched once and the scrape ends
    assert record["pages"] == 3
    assert sum(1 for _, url in adapter.requests if url.endswith("pagina=3")) == 1


def test_every_portal_request_is_counted_as_a_metric(fake_portal):
    from chalicelib.observability import metrics

    scraper, adapter = fake_portal.scraper(fake_portal.route()[0])
    metrics.clear_metrics()
    scraper.scrape("123451")
    counted = sum(metrics.metric_set["PortalRequests"]["Value"])
    metrics.clear_metrics()
    assert counted == len(adapter.requests) and counted >= 4  # login form, login, 3 pages
