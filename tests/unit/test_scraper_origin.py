"""Every request stays on the portal's origin: form actions, redirects and next links that
point elsewhere are refused before anything is sent (scripted transport, no network)."""

from __future__ import annotations

from urllib.parse import parse_qs, urlsplit

import pytest

from chalicelib.errors import LayoutChangedError, OffSiteError, TransientScrapeError

EVIL = "https://evil.test"


def hosts(adapter) -> set[str]:
    return {urlsplit(url).netloc for _, url in adapter.requests}


def login_page_posting_to(fake_portal, action: str) -> bytes:
    return fake_portal.page("login.html").replace(b'action="/login"', f'action="{action}"'.encode())


def test_an_off_site_login_action_gets_neither_the_password_nor_any_request(fake_portal):
    # Given a login form whose action points at another host
    page = login_page_posting_to(fake_portal, f"{EVIL}/steal")
    route, state = fake_portal.route()

    def hostile(method, url, body):
        if url == f"{fake_portal.base}/login" and method == "GET":
            return 200, page
        return route(method, url, body)

    scraper, adapter = fake_portal.scraper(hostile)
    # When scraping, then the login is refused as off-site, naming the URL
    with pytest.raises(OffSiteError) as info:
        scraper.scrape("123451")
    assert info.value.url == f"{EVIL}/steal" and info.value.field == "login form action"
    assert info.value.reason == "off_site" and isinstance(info.value, LayoutChangedError)
    # And nothing was posted anywhere: only the login form was fetched, from the portal
    assert adapter.requests == [("GET", f"{fake_portal.base}/login")]
    assert state["posts"] == [] and scraper.logins == 0


def test_a_307_from_the_login_post_to_another_host_is_not_followed(fake_portal):
    # Given a portal answering the login post with a 307 (which re-posts) off-site
    route, _ = fake_portal.route()

    def hostile(method, url, body):
        if method == "POST":
            return 307, b"", {"Location": f"{EVIL}/steal"}
        return route(method, url, body)

    scraper, adapter = fake_portal.scraper(hostile)
    with pytest.raises(OffSiteError) as info:
        scraper.scrape("123451")
    # Then the redirect is refused: the credentials went to the portal only
    assert info.value.url == f"{EVIL}/steal" and info.value.field == "redirect"
    assert hosts(adapter) == {"portal.test"}
    assert [m for m, _ in adapter.requests] == ["GET", "POST"]


def test_a_307_on_the_portal_itself_posts_the_form_again_there(fake_portal):
    # Given a login post answered 307 to another path of the portal
    route, state = fake_portal.route()

    def moved(method, url, body):
        if method == "POST" and url.endswith("/login"):
            return 307, b"", {"Location": "/entrar"}
        if method == "POST" and url.endswith("/entrar"):
            state["posts"].append(body.decode())
            return 302, b"", {"Location": f"{fake_portal.base}/"}
        return route(method, url, body)

    scraper, adapter = fake_portal.scraper(moved)
    # When scraping, then the form is posted again on the portal and the login succeeds
    assert scraper.scrape("123451")["pages"] == 3
    posted = {k: v[0] for k, v in parse_qs(state["posts"][0]).items()}
    assert posted["senha"] == fake_portal.password
    assert hosts(adapter) == {"portal.test"}


@pytest.mark.parametrize(
    "location,refused",
    [
        ("http://portal.test/os/123451", "http://portal.test/os/123451"),  # https → http
        ("https://portal.test:8443/os/123451", "https://portal.test:8443/os/123451"),
        ("https://sub.portal.test/os/123451", "https://sub.portal.test/os/123451"),
        ("//evil.test/os/123451", "https://evil.test/os/123451"),  # scheme-relative
        ("javascript:alert(1)", "javascript:alert(1)"),
    ],
)
def test_a_redirect_to_another_scheme_port_or_host_is_off_site(fake_portal, location, refused):
    route, _ = fake_portal.route(
        detail=lambda url: (302, b"", {"Location": location}) if "/os/" in url else None
    )
    scraper, adapter = fake_portal.scraper(route)
    with pytest.raises(OffSiteError) as info:
        scraper.scrape("123451")
    assert info.value.url == refused
    assert hosts(adapter) == {"portal.test"}


def test_the_default_port_is_the_same_origin(fake_portal):
    # A redirect spelling out :443 stays on https://portal.test
    route, _ = fake_portal.route(
        detail=lambda url: (
            (302, b"", {"Location": "https://portal.test:443/os/123451?pagina=1"})
            if url.endswith("/os/123451")
            else None
        )
    )
    assert fake_portal.scraper(route)[0].scrape("123451")["pages"] == 3


def test_an_off_site_next_link_is_never_fetched(fake_portal, caplog):
    # Given a detail page whose "next" link points at another host
    page = fake_portal.page("detail_default.html").replace(
        b'href="/os/123451?pagina=2"', f'href="{EVIL}/os/123451?pagina=2"'.encode()
    )
    route, _ = fake_portal.route(detail=lambda url: (200, page))
    scraper, adapter = fake_portal.scraper(route)
    # When scraping, then the scrape fails as off-site and the link is not followed
    with pytest.raises(OffSiteError) as info:
        scraper.scrape("123451")
    assert info.value.url == f"{EVIL}/os/123451?pagina=2"
    assert info.value.field == "next page link"
    assert hosts(adapter) == {"portal.test"}
    # And the refused URL is logged for ops, the password nowhere
    assert any(getattr(r, "url", "") == info.value.url for r in caplog.records)
    assert fake_portal.password not in caplog.text


def test_a_303_after_the_login_post_is_followed_with_a_get_without_the_form(fake_portal):
    route, _ = fake_portal.route()
    bodies = []

    def see_other(method, url, body):
        if method == "POST":
            return 303, b"", {"Location": "/"}
        bodies.append((method, url, body))
        return route(method, url, body)

    fake_portal.scraper(see_other)[0].scrape("123451")
    assert ("GET", f"{fake_portal.base}/", None) in bodies


def test_a_redirect_loop_on_the_portal_ends_as_a_transient_failure(fake_portal):
    route, _ = fake_portal.route(
        detail=lambda url: (302, b"", {"Location": "/os/123451?x=1"}) if "/os/" in url else None
    )
    scraper, adapter = fake_portal.scraper(route)
    with pytest.raises(TransientScrapeError, match="redirected more than"):
        scraper.scrape("123451")
    assert sum(1 for _, url in adapter.requests if "/os/" in url) == 11
