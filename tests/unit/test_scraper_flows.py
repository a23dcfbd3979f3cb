"""The scraper follows each portal family's flow from its profile alone: forms with hidden
state and the pressed button, a search form, frames, history on its own page, postback
pagination, and every way a portal says "não encontrada" or "sessão expirada"."""

from __future__ import annotations

import tomllib
from typing import Any
from urllib.parse import parse_qs

import pytest
import requests

from chalicelib.adapters.scraper import MAX_PAGES, Credentials, PortalScraper
from chalicelib.domain.profile import parse_profile
from chalicelib.errors import (
    LayoutChangedError,
    LoginFailedError,
    OffSiteError,
    OsNotFoundError,
    TooLargeError,
)
from tests.unit.conftest import ScriptedAdapter

BASE = "https://portal.test"
PASSWORD = "señha-ção"

PROFILE = """
version = 1
base_url = "https://portal.test"

[numero]
pattern = "^[0-9]{1,8}$"

[login]
url = "/Login.aspx"
form_selector = "form#form1"
username_field = "txtUsuario"
password_field = "txtSenha"
submit = "btnEntrar"
failure_selector = "span.erro"

[detail]
url = "/Detalhe.aspx?num={numero}"
not_found_redirect = "/Consulta.aspx"
not_found_status = [404]
not_found_selector = "span.aviso"

[fields.cliente]
label = "Cliente"

[fields.valor]
label = "Valor"
clean = "decimal"

[history]
row_selector = "table#gv tr.linha"
next_postback_selector = "xpath://tr[@class='pager']//td[span]/following-sibling::td[1]/a/@href"
postback_form_selector = "form#aspnetForm"

[history.columns.data]
css = "td:nth-child(1)::text"
clean = "datetime"

[history.columns.evento]
css = "td:nth-child(2)::text"
"""

LOGIN = """<html><head><meta charset="windows-1252"></head><body>
<form id="form1" method="post" action="./Login.aspx?ReturnUrl=%2fDetalhe.aspx">
<input type="hidden" name="__VIEWSTATE" value="vs-login">
<input type="hidden" name="__EVENTVALIDATION" value="ev-login">
<input type="text" name="txtUsuario"><input type="password" name="txtSenha">
<input type="checkbox" name="chkLembrar">
<input type="submit" name="btnEntrar" value="Entrar">
<input type="submit" name="btnEsqueci" value="Esqueci minha senha">
</form></body></html>"""


def detail_page(page: int, pages: int = 3) -> str:
    links = "".join(
        f"<td><span>{k}</span></td>"
        if k == page
        else f"<td><a href=\"javascript:__doPostBack('ctl00$gv','Page${k}')\">{k}</a></td>"
        for k in range(1, pages + 1)
    )
    rows = "".join(
        f'<tr class="linha"><td>0{page}/03/24 10:0{i}</td><td>Evento {page}.{i}</td></tr>'
        for i in range(2)
    )
    return f"""<html><body><form id="aspnetForm" method="post" action="./Detalhe.aspx?num=42">
<input type="hidden" name="__EVENTTARGET" value="">
<input type="hidden" name="__EVENTARGUMENT" value="">
<input type="hidden" name="__VIEWSTATE" value="vs-{page}">
<input type="submit" name="btnVoltar" value="Voltar">
<table><tr><td class="rotulo">Cliente:</td><td><span>Padaria São João</span></td></tr>
<tr><td class="rotulo">Valor:</td><td><span>R$ 1.234,56</span></td></tr></table>
<table id="gv">{rows}<tr class="pager"><td><table><tr>{links}</tr></table></td></tr></table>
</form></body></html>"""


class Portal:
    """A scripted ASP.NET-like portal; ``expiry`` and ``missing`` pick how it says so."""

    def __init__(self, *, expiry: str = "redirect", missing: str = "redirect") -> None:
        self.expiry, self.missing = expiry, missing
        self.logged_in = False
        self.posts: list[dict[str, list[str]]] = []
        self.raw_posts: list[bytes] = []
        self.served: list[str] = []

    def expire(self) -> Any:
        self.logged_in = False
        if self.expiry == "redirect":
            return 302, b"", {"Location": "/Login.aspx?ReturnUrl=%2fDetalhe.aspx%3fnum%3d42"}
        if self.expiry == "in_place":
            return 200, LOGIN.encode("cp1252")
        return int(self.expiry), b"<p>Sessao expirada</p>"

    def __call__(self, method: str, url: str, body: Any) -> Any:
        path = url.removeprefix(BASE)
        self.served.append(f"{method} {path}")
        if path.startswith("/Login.aspx"):
            if method == "GET":
                return 200, LOGIN.encode("cp1252"), {"Content-Type": "text/html"}
            self.raw_posts.append(body)
            form = parse_qs(body.decode("ascii"), encoding="cp1252")
            if form.get("txtSenha") != [PASSWORD] or "btnEsqueci" in form:
                return 200, (LOGIN + '<span class="erro">Inválido</span>').encode("cp1252")
            self.logged_in = True
            return 302, b"", {"Location": "/Default.aspx"}
        if not self.logged_in:
            return self.expire()
        if path == "/Default.aspx":
            return 200, b"<p>Bem-vindo</p>"
        if path.startswith("/Consulta.aspx"):
            return 200, b"<p>Consulta</p>"
        if path == "/Detalhe.aspx?num=7":
            if self.missing == "redirect":
                return 302, b"", {"Location": "/Consulta.aspx?erro=1"}
            if self.missing == "status":
                return 404, b"<p>nao encontrada</p>"
            return 200, b'<span class="aviso">OS 7 n\xe3o encontrada</span>'
        if method == "POST":
            form = parse_qs(body.decode("ascii"), encoding="cp1252")
            self.posts.append(form)
            page = int(form["__EVENTARGUMENT"][0].split("$")[1])
            return 200, detail_page(page).encode("cp1252")
        return 200, detail_page(1).encode("cp1252")


def scraper(portal: Portal, profile_text: str = PROFILE) -> PortalScraper:
    session = requests.Session()
    adapter = ScriptedAdapter(portal)
    session.mount("https://", adapter)
    profile = parse_profile(tomllib.loads(profile_text))
    return PortalScraper(session, profile, Credentials("demo", PASSWORD))


def test_login_posts_the_hidden_state_and_only_the_named_button_in_the_pages_encoding():
    # Given a WebForms login with two submit buttons and an accented password
    portal = Portal()
    # When an OS is scraped
    scraper(portal).scrape("42")
    # Then the login post carried the view state, pressed Entrar only, left the box unticked
    posted = parse_qs(portal.raw_posts[0].decode("ascii"), encoding="cp1252")
    assert posted == {
        "__VIEWSTATE": ["vs-login"],
        "__EVENTVALIDATION": ["ev-login"],
        "txtUsuario": ["demo"],
        "txtSenha": [PASSWORD],
        "btnEntrar": ["Entrar"],
    }
    # And the password went in Windows-1252, as a browser on that page sends it
    assert b"se%F1ha-%E7%E3o" in portal.raw_posts[0]


def test_postback_pagination_posts_the_form_with_the_event_and_reads_every_page():
    portal = Portal()
    record = scraper(portal).scrape("42")
    # Then pages 2 and 3 came from postbacks carrying the previous page's view state
    assert [(p["__EVENTTARGET"], p["__EVENTARGUMENT"], p["__VIEWSTATE"]) for p in portal.posts] == [
        (["ctl00$gv"], ["Page$2"], ["vs-1"]),
        (["ctl00$gv"], ["Page$3"], ["vs-2"]),
    ]
    assert all("btnVoltar" not in p for p in portal.posts)  # a postback presses no button
    assert record["pages"] == 3
    assert [h["evento"] for h in record["historico"]] == [
        f"Evento {p}.{i}" for p in (1, 2, 3) for i in (0, 1)
    ]
    assert record["historico"][0]["data"] == "2024-03-01T10:00"
    assert record["cliente"] == "Padaria São João" and record["valor"] == "1234.56"


@pytest.mark.parametrize("expiry", ["redirect", "in_place", "401", "440"])
def test_an_expired_session_is_seen_in_each_form_and_logged_in_again_once(expiry):
    # Given a portal that expires the session after the first scrape
    portal = Portal(expiry=expiry)
    s = scraper(portal)
    s.scrape("42")
    portal.logged_in = False
    # When the next OS is scraped, then the scraper logs in again and gets it
    assert s.scrape("42")["cliente"] == "Padaria São João"
    assert s.logins == 2


@pytest.mark.parametrize("missing", ["redirect", "status", "message"])
def test_an_unknown_os_is_not_found_however_the_portal_says_it(missing):
    portal = Portal(missing=missing)
    with pytest.raises(OsNotFoundError):
        scraper(portal).scrape("7")


def test_a_refused_login_is_a_login_failure():
    portal = Portal()
    s = scraper(portal)
    s.credentials = Credentials("demo", "errada")
    with pytest.raises(LoginFailedError):
        s.scrape("42")


def test_a_submit_button_the_login_form_lacks_is_a_layout_change_naming_the_key():
    text = PROFILE.replace('submit = "btnEntrar"', 'submit = "btnLogin"')
    with pytest.raises(LayoutChangedError) as info:
        scraper(Portal(), text).scrape("42")
    assert info.value.field == "login.submit"


# ------------------------------------------------------------------ search form, frames
SEARCH_PROFILE = """
version = 1
base_url = "https://portal.test"
[numero]
pattern = "^[0-9]+$"
[login]
url = "/login.xhtml"
form_selector = "form#loginForm"
username_field = "loginForm:usuario"
password_field = "loginForm:senha"
failure_selector = "li.erro"
[detail]
url = "/consulta.xhtml"
form_selector = "form#frmBusca"
number_field = "frmBusca:numero"
submit = "frmBusca:buscar"
frames = ["iframe#conteudo::attr(src)"]
not_found_selector = "span.ui-messages-error-summary"
[fields.situacao]
label = "Situação"
[history]
row_selector = "table.hist tr.row"
link_selector = "a#ver-historico::attr(href)"
next_page_selector = "a.prox::attr(href)"
[history.columns.evento]
css = "td::text"
"""


class SearchPortal:
    """A JSF-like portal: a search form with a view state, the answer in an iframe, the
    history on its own pages linked with escaped ampersands."""

    def __init__(self) -> None:
        self.logged_in = False
        self.searches: list[dict[str, list[str]]] = []
        self.served: list[str] = []

    def __call__(self, method: str, url: str, body: Any) -> Any:
        path = url.removeprefix(BASE)
        self.served.append(f"{method} {path}")
        utf8 = {"Content-Type": "text/html; charset=UTF-8"}
        if path == "/login.xhtml" and method == "GET":
            return (
                200,
                (
                    b'<form id="loginForm" action="/login.xhtml" method="post">'
                    b'<input type="hidden" name="loginForm" value="loginForm">'
                    b'<input name="loginForm:usuario">'
                    b'<input type="password" name="loginForm:senha">'
                    b'<input type="hidden" name="javax.faces.ViewState" value="vs:1">'
                    b'<input type="submit" name="loginForm:entrar" value="Entrar"></form>'
                ),
                utf8,
            )
        if path == "/login.xhtml":
            form = parse_qs(body.decode())
            assert form["javax.faces.ViewState"] == ["vs:1"] and "loginForm:entrar" in form
            self.logged_in = True
            return 302, b"", {"Location": "/consulta.xhtml"}
        if path == "/consulta.xhtml" and method == "GET":
            return (
                200,
                (
                    b'<form id="frmBusca" action="/consulta.xhtml" method="post">'
                    b'<input type="hidden" name="frmBusca" value="frmBusca">'
                    b'<input name="frmBusca:numero">'
                    b'<input type="hidden" name="javax.faces.ViewState"'
                    b' value="vs:2"><input type="submit" name="frmBusca:limpar" value="Limpar">'
                    b'<input type="submit" name="frmBusca:buscar" value="Buscar"></form>'
                ),
                utf8,
            )
        if path == "/consulta.xhtml":
            form = parse_qs(body.decode())
            self.searches.append(form)
            if form["frmBusca:numero"] == ["7"]:
                return 200, b'<span class="ui-messages-error-summary">OS 7 n\xc3\xa3o</span>', utf8
            return 200, b'<iframe id="conteudo" src="os/dados.xhtml?id=42&amp;v=1"></iframe>', utf8
        if path == "/os/dados.xhtml?id=42&v=1":
            return (
                200,
                (
                    "<dl><dt>Situação</dt><dd>Em andamento</dd></dl>"
                    '<a id="ver-historico" href="historico.xhtml?id=42&amp;pag=1">Histórico</a>'
                ).encode(),
                utf8,
            )
        if path.startswith("/os/historico.xhtml?id=42&pag="):
            page = int(path.rsplit("=", 1)[1])
            more = f'<a class="prox" href="historico.xhtml?id=42&amp;pag={page + 1}">&gt;&gt;</a>'
            rows = f'<table class="hist"><tr class="row"><td>E{page}</td></tr></table>'
            return 200, (rows + (more if page < 3 else "")).encode(), utf8
        return 404, b""


def test_a_search_form_then_a_frame_then_a_linked_history_give_the_whole_record():
    portal = SearchPortal()
    record = scraper_for_search(portal).scrape("42")
    # Then the search posted the number with the view state and the Buscar button only
    search = portal.searches[0]
    assert search == {
        "frmBusca": ["frmBusca"],
        "frmBusca:numero": ["42"],
        "javax.faces.ViewState": ["vs:2"],
        "frmBusca:buscar": ["Buscar"],
    }
    # And the frame's URL and the history links had their &amp; unescaped
    assert "GET /os/dados.xhtml?id=42&v=1" in portal.served
    assert record["situacao"] == "Em andamento"
    assert [h["evento"] for h in record["historico"]] == ["E1", "E2", "E3"]
    assert record["pages"] == 3


def test_a_search_answering_a_message_in_place_is_not_found():
    with pytest.raises(OsNotFoundError):
        scraper_for_search(SearchPortal()).scrape("7")


def test_a_missing_frame_is_a_layout_change_naming_the_key():
    portal = SearchPortal()

    def no_frame(method: str, url: str, body: Any) -> Any:
        if method == "POST" and url.endswith("/consulta.xhtml"):
            return 200, b"<p>nada</p>"
        return portal(method, url, body)

    with pytest.raises(LayoutChangedError) as info:
        scraper_for_search(no_frame).scrape("42")
    assert info.value.field == "detail.frames"


def scraper_for_search(route: Any) -> PortalScraper:
    session = requests.Session()
    session.mount("https://", ScriptedAdapter(route))
    profile = parse_profile(tomllib.loads(SEARCH_PROFILE))
    return PortalScraper(session, profile, Credentials("demo", PASSWORD))


# ------------------------------------------------------------------ hostile pages
@pytest.mark.parametrize(
    "page,what",
    [
        ('<iframe id="conteudo" src="https://evil.test/dados"></iframe>', "frame"),
        (
            '<dl><dt>Situação</dt><dd>X</dd></dl><a id="ver-historico" href="//evil.test/h">H</a>',
            "history link",
        ),
    ],
)
def test_a_frame_or_history_link_off_the_portal_is_refused_before_anything_is_sent(page, what):
    portal = SearchPortal()
    sent: list[str] = []

    def hostile(method: str, url: str, body: Any) -> Any:
        sent.append(url)
        if method == "POST" and url.endswith("/consulta.xhtml"):
            inner = '<iframe id="conteudo" src="os/dados.xhtml?id=42&amp;v=1"></iframe>'
            return 200, (page if what == "frame" else inner).encode()
        if "dados.xhtml" in url and what == "history link":
            return 200, page.encode(), {"Content-Type": "text/html; charset=UTF-8"}
        return portal(method, url, body)

    with pytest.raises(OffSiteError) as info:
        scraper_for_search(hostile).scrape("42")
    assert info.value.field == what
    assert not [u for u in sent if "evil.test" in u]


def test_a_postback_form_posting_off_the_portal_is_refused():
    portal = Portal()

    def hostile(method: str, url: str, body: Any) -> Any:
        answer = portal(method, url, body)
        if url.endswith("/Detalhe.aspx?num=42") and method == "GET":
            html = (
                answer[1]
                .decode("cp1252")
                .replace('action="./Detalhe.aspx?num=42"', 'action="https://evil.test/x"')
            )
            return 200, html.encode("cp1252")
        return answer

    with pytest.raises(OffSiteError):
        scraper(hostile).scrape("42")  # type: ignore[arg-type]
    assert not portal.posts


def test_history_pages_that_never_end_are_too_large_not_silently_cut():
    # Given a portal whose every history page links to one more
    portal = SearchPortal()

    def endless(method: str, url: str, body: Any) -> Any:
        if "/historico.xhtml?id=42&pag=" in url:
            page = int(url.rsplit("=", 1)[1])
            more = f'<a class="prox" href="historico.xhtml?id=42&amp;pag={page + 1}">+</a>'
            return (
                200,
                f'<table class="hist"><tr class="row"><td>E</td></tr></table>{more}'.encode(),
            )
        return portal(method, url, body)

    # When it is scraped, then it fails as too large at the page cap, not with 100 pages kept
    with pytest.raises(TooLargeError) as info:
        scraper_for_search(endless).scrape("42")
    assert info.value.what == "history pages" and info.value.limit == MAX_PAGES
