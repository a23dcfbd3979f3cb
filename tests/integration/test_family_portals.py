"""The family demo portals themselves (local.families), driven with plain ``requests``: each
family's login, form state, pagination, "não encontrada" and session-expiry conventions,
its encoding, and that the saved fixtures are still what the portals serve."""

from __future__ import annotations

import json
import re
import subprocess
import sys
from datetime import datetime
from pathlib import Path
from typing import Iterator
from urllib.parse import urljoin, urlsplit

import pytest
import requests
from parsel import Selector

from local.families import FAMILIES, FamilyPortal, expected_record
from local.families.aspnet import GRID
from local.families.data import family_record, page_count
from local.families.save_fixtures import (
    MULTI_PAGE,
    NOT_FOUND,
    capture,
    hidden_fields,
    normalise,
    post_form,
)

pytestmark = pytest.mark.integration
ROOT = Path(__file__).resolve().parents[2]
FIXTURES = ROOT / "tests" / "fixtures" / "portals"
#: Accented, so each family must read the posted form in its own encoding.
PASSWORD = "señha-ção"
N = MULTI_PAGE  # 22 history rows: 3 pages
EMPTY = "123440"  # no history at all
LABELS = {
    "numero": "Número",
    "situacao": "Situação",
    "tipo_servico": "Tipo de serviço",
    "cliente": "Cliente",
    "endereco": "Endereço",
    "data_abertura": "Data de abertura",
    "prazo": "Prazo",
    "tecnico": "Técnico",
    "descricao": "Descrição",
    "valor": "Valor",
    "quantidade": "Quantidade",
}


@pytest.fixture(scope="module")
def started() -> Iterator[dict[str, FamilyPortal]]:
    portals = {f: FamilyPortal(f, password=PASSWORD) for f in FAMILIES}
    portals["aspnet-link"] = FamilyPortal("aspnet", password=PASSWORD, pager="link")
    for portal in portals.values():
        portal.start()
    yield portals
    for portal in portals.values():
        portal.stop()


@pytest.fixture
def portals(started: dict[str, FamilyPortal]) -> dict[str, FamilyPortal]:
    for portal in started.values():
        portal.reset()
    return started


@pytest.fixture
def aspnet(portals: dict[str, FamilyPortal]) -> FamilyPortal:
    return portals["aspnet"]


@pytest.fixture
def jsf(portals: dict[str, FamilyPortal]) -> FamilyPortal:
    return portals["jsf"]


@pytest.fixture
def php(portals: dict[str, FamilyPortal]) -> FamilyPortal:
    return portals["php"]


# ------------------------------------------------------------------ helpers
def text_of(node: Selector) -> str:
    """Every text under ``node``, stripped and joined with one space."""
    return " ".join(t.strip() for t in node.xpath(".//text()").getall() if t.strip())


def labelled(page: Selector, label: str) -> str:
    """The value after the td/dt whose text is ``label`` (a trailing ':' allowed)."""
    found = page.xpath(
        "//*[self::td or self::dt][normalize-space()=$l or normalize-space()=concat($l, ':')]"
        "/following-sibling::*[1]",
        l=label,
    )
    assert len(found) == 1, label
    return text_of(found[0])


def cells(rows: list[Selector]) -> list[list[str]]:
    return [[text_of(td) for td in row.css("td")] for row in rows]


def as_record(page: Selector, rows: list[list[str]], date: str, moment: str) -> dict:
    """What a correct scraper makes of the fields and history rows."""
    values = {key: labelled(page, label) for key, label in LABELS.items()}
    return {
        **values,
        "data_abertura": datetime.strptime(values["data_abertura"], date).strftime("%Y-%m-%d"),
        "prazo": datetime.strptime(values["prazo"], date).strftime("%Y-%m-%d"),
        "valor": values["valor"].removeprefix("R$ ").replace(".", "").replace(",", "."),
        "quantidade": int(values["quantidade"].replace(".", "")),
        "historico": [
            {
                "data": datetime.strptime(d, moment).strftime("%Y-%m-%dT%H:%M"),
                "evento": e,
                "responsavel": r,
            }
            for d, e, r in rows
        ],
    }


def cp1252(response: requests.Response) -> Selector:
    return Selector(response.content.decode("cp1252"))


def form_action(response: requests.Response, page: Selector, css: str) -> str:
    return urljoin(response.url, page.css(f"{css}::attr(action)").get())


def aspnet_login(
    s: requests.Session,
    login: requests.Response,
    password: str = PASSWORD,
    buttons: dict[str, str] | None = None,
    encoding: str = "cp1252",
    **kw: object,
) -> requests.Response:
    page = cp1252(login)
    fields = hidden_fields(page.get()) | {
        "ctl00$Main$txtUsuario": "demo",
        "ctl00$Main$txtSenha": password,
        **({"ctl00$Main$btnEntrar": "Entrar"} if buttons is None else buttons),
    }
    return post_form(s, form_action(login, page, "form#form1"), fields, encoding, **kw)


def aspnet_session(portal: FamilyPortal, path: str = f"/OS/Detalhe.aspx?num={N}"):
    """A signed-in session and the page ``path`` it landed on."""
    s = requests.Session()
    landed = aspnet_login(s, s.get(portal.url + path, timeout=5))
    assert landed.status_code == 200 and urlsplit(landed.url).path == path.split("?")[0]
    return s, landed


def postback(s: requests.Session, page: requests.Response, target: str, argument: str, **kw):
    html = cp1252(page)
    fields = hidden_fields(html.get()) | {"__EVENTTARGET": target, "__EVENTARGUMENT": argument}
    return post_form(s, form_action(page, html, "form#aspnetForm"), fields, "cp1252", **kw)


def aspnet_rows(page: Selector) -> list[Selector]:
    return page.css("table#ctl00_Main_gvHistorico > tr:not(.pager):not(.cabecalho)")


def jsf_session(portal: FamilyPortal) -> tuple[requests.Session, requests.Response]:
    s = requests.Session()
    login = s.get(portal.url + "/app/login.xhtml", timeout=5)
    fields = hidden_fields(login.text) | {
        "loginForm:usuario": "demo",
        "loginForm:senha": PASSWORD,
        "loginForm:entrar": "Entrar",
    }
    search = post_form(s, portal.url + "/app/login.xhtml", fields, "utf-8")
    assert search.url == portal.url + "/app/consulta.xhtml" and 'id="frmBusca"' in search.text
    return s, search


def jsf_search(s: requests.Session, page: requests.Response, numero: str, **extra: str):
    fields = hidden_fields(page.text) | {"frmBusca:numero": numero, "frmBusca:buscar": "Buscar"}
    return post_form(s, page.url, fields | extra, "utf-8")


def php_session(portal: FamilyPortal) -> requests.Session:
    s = requests.Session()
    fields = {"login": "demo", "senha": PASSWORD}
    answer = post_form(s, portal.url + "/login.php", fields, "latin-1", allow_redirects=False)
    assert answer.headers["Location"] == "principal.php"
    return s


def follow(s: requests.Session, response: requests.Response, css: str) -> requests.Response:
    href = Selector(response.content.decode("latin-1")).css(css).get()
    return s.get(urljoin(response.url, href), timeout=5)


# ------------------------------------------------------------------- data
def test_expected_record_is_the_normalised_family_record():
    record = expected_record("php", int(N))
    assert record is not None
    assert record["numero"] == N and record["valor"] == "205647.16"
    assert record["quantidade"] == 2790
    assert record["data_abertura"] == "2025-07-30" and record["prazo"] == "2025-08-04"
    assert record["endereco"] == "Avenida Paulista, 2664 — Curitiba/PR"
    assert record["descricao"] == (
        "Ruído excessivo no compressor. Contato no local: “Sebastião Brandão”."
    )
    assert len(record["historico"]) == 22 and page_count(family_record(N)) == 3
    assert record["historico"][0] == {
        "data": "2025-08-02T09:59",
        "evento": "Abertura da OS",
        "responsavel": "Maria Conceição",
    }
    assert all(expected_record(f, N) == record for f in FAMILIES)


def test_expected_record_is_none_for_an_unknown_os_and_refuses_an_unknown_family():
    assert expected_record("aspnet", NOT_FOUND) is None
    assert expected_record("jsf", "12345a") is None
    with pytest.raises(ValueError, match="unknown family"):
        expected_record("coldfusion", N)


def test_extras_span_small_and_thousand_separated_amounts():
    records = [family_record(n) for n in range(100_000, 100_300)]
    cents = [r["valor_centavos"] for r in records]
    units = [r["quantidade"] for r in records]
    assert min(cents) < 100_000 <= max(cents) <= 25_000_000
    assert min(units) >= 1 and min(units) < 1000 <= max(units) <= 5000


def test_family_portal_refuses_an_unknown_family_or_option():
    with pytest.raises(ValueError, match="unknown family"):
        FamilyPortal("coldfusion")
    with pytest.raises(ValueError, match="bad option"):
        FamilyPortal("aspnet", pager="infinite")
    with pytest.raises(ValueError, match="bad option"):
        FamilyPortal("php", pager="link")


# ----------------------------------------------------------------- aspnet
def test_aspnet_login_page_sets_a_session_cookie_and_issues_webforms_state(aspnet):
    answer = requests.get(aspnet.url + "/Login.aspx", timeout=5)
    assert answer.status_code == 200
    assert "HttpOnly" in answer.headers["Set-Cookie"] and "ASP.NET_SessionId" in answer.cookies
    page = cp1252(answer)
    form = page.css("form#form1")
    assert form.attrib == {"method": "post", "action": "./Login.aspx", "id": "form1"}
    fields = hidden_fields(answer.content.decode("cp1252"))
    assert set(fields) == {
        "__EVENTTARGET",
        "__EVENTARGUMENT",
        "__VIEWSTATE",
        "__VIEWSTATEGENERATOR",
        "__EVENTVALIDATION",
    }
    assert fields["__EVENTTARGET"] == fields["__EVENTARGUMENT"] == ""
    assert re.fullmatch(r"[A-Za-z0-9+/]+=*", fields["__VIEWSTATE"])
    submits = form.css("input[type=submit]")
    assert [(b.attrib["name"], b.attrib["value"]) for b in submits] == [
        ("ctl00$Main$btnEntrar", "Entrar"),
        ("ctl00$Main$btnEsqueci", "Esqueci minha senha"),
    ]
    checkbox = form.css("input[type=checkbox]")
    assert checkbox.attrib["name"] == "ctl00$Main$chkLembrar" and "checked" not in checkbox.attrib


def test_aspnet_redirects_a_page_without_auth_to_login_with_its_return_url(aspnet):
    answer = requests.get(f"{aspnet.url}/OS/Detalhe.aspx?num={N}", allow_redirects=False, timeout=5)
    assert answer.status_code == 302
    assert answer.headers["Location"] == f"/Login.aspx?ReturnUrl=%2fOS%2fDetalhe.aspx%3fnum%3d{N}"
    assert b"Object moved" in answer.content


def test_aspnet_logs_in_with_a_windows_1252_password_and_returns_to_the_return_url(aspnet):
    s = requests.Session()
    login = s.get(f"{aspnet.url}/OS/Detalhe.aspx?num={N}", timeout=5)
    action = cp1252(login).css("form#form1::attr(action)").get()
    assert action.startswith("./Login.aspx?ReturnUrl=")
    answer = aspnet_login(s, login, allow_redirects=False)
    assert answer.status_code == 302 and answer.headers["Location"] == f"/OS/Detalhe.aspx?num={N}"
    cookie = answer.headers["Set-Cookie"]
    assert cookie.startswith(".ASPXAUTH=") and "path=/" in cookie and "HttpOnly" in cookie
    detail = s.get(urljoin(aspnet.url, answer.headers["Location"]), timeout=5)
    assert cp1252(detail).css("#ctl00_Main_lblNumero::text").get() == N
    assert aspnet.stats()["logins"] == 1 and aspnet.stats()["sessions"] == 1


def test_aspnet_refuses_the_password_posted_as_utf_8(aspnet):
    s = requests.Session()
    answer = aspnet_login(s, s.get(aspnet.url + "/Login.aspx", timeout=5), encoding="utf-8")
    assert answer.status_code == 200 and ".ASPXAUTH" not in s.cookies
    assert cp1252(answer).css("span#ctl00_Main_lblErro.erro::text").get()


def test_aspnet_refuses_wrong_credentials_with_the_error_label(aspnet):
    s = requests.Session()
    answer = aspnet_login(s, s.get(aspnet.url + "/Login.aspx", timeout=5), password="errada")
    assert answer.status_code == 200 and answer.history == []
    page = cp1252(answer)
    assert page.css("span#ctl00_Main_lblErro.erro::text").get() == "Usuário ou senha inválidos."
    assert page.css("#ctl00_Main_txtUsuario::attr(value)").get() == "demo"
    assert page.css("form#form1") and aspnet.stats()["logins"] == 0


@pytest.mark.parametrize(
    "buttons",
    [
        {"ctl00$Main$btnEsqueci": "Esqueci minha senha"},
        {"ctl00$Main$btnEntrar": "Entrar", "ctl00$Main$btnEsqueci": "Esqueci minha senha"},
    ],
    ids=["esqueci", "every-button"],
)
def test_aspnet_pressing_esqueci_shows_password_recovery_without_logging_in(aspnet, buttons):
    s = requests.Session()
    answer = aspnet_login(s, s.get(aspnet.url + "/Login.aspx", timeout=5), buttons=buttons)
    assert answer.status_code == 200 and "Recuperação de senha" in answer.content.decode("cp1252")
    assert ".ASPXAUTH" not in s.cookies and aspnet.stats()["logins"] == 0


def test_aspnet_refuses_a_login_that_posts_the_unchecked_checkbox(aspnet):
    s = requests.Session()
    buttons = {"ctl00$Main$btnEntrar": "Entrar", "ctl00$Main$chkLembrar": "on"}
    answer = aspnet_login(s, s.get(aspnet.url + "/Login.aspx", timeout=5), buttons=buttons)
    assert cp1252(answer).css("span.erro") and ".ASPXAUTH" not in s.cookies


def test_aspnet_renders_the_login_again_when_no_button_is_posted(aspnet):
    s = requests.Session()
    answer = aspnet_login(s, s.get(aspnet.url + "/Login.aspx", timeout=5), buttons={})
    page = cp1252(answer)
    assert answer.status_code == 200 and page.css("form#form1") and not page.css("span.erro")
    assert ".ASPXAUTH" not in s.cookies


@pytest.mark.parametrize("bad", ["missing", "unknown", "other-validation"])
def test_aspnet_refuses_a_login_without_its_viewstate(aspnet, bad):
    s = requests.Session()
    other = hidden_fields(s.get(aspnet.url + "/Login.aspx", timeout=5).content.decode("cp1252"))
    login = s.get(aspnet.url + "/Login.aspx", timeout=5)
    fields = hidden_fields(login.content.decode("cp1252")) | {
        "ctl00$Main$txtUsuario": "demo",
        "ctl00$Main$txtSenha": PASSWORD,
        "ctl00$Main$btnEntrar": "Entrar",
    }
    if bad == "missing":
        del fields["__VIEWSTATE"]
    elif bad == "unknown":
        fields["__VIEWSTATE"] = "/wEPDwUKMTIzNDU2Nzg5MA=="
    else:
        fields["__EVENTVALIDATION"] = other["__EVENTVALIDATION"]
    answer = post_form(s, aspnet.url + "/Login.aspx", fields, "cp1252")
    assert answer.status_code == 500 and b"Validation of viewstate MAC failed" in answer.content
    assert ".ASPXAUTH" not in s.cookies


@pytest.mark.parametrize("return_url", ["http://evil.example/", "//evil.example/x", "OS/x"])
def test_aspnet_ignores_a_return_url_that_is_not_a_local_path(aspnet, return_url):
    s = requests.Session()
    login = s.get(aspnet.url + "/Login.aspx", params={"ReturnUrl": return_url}, timeout=5)
    answer = aspnet_login(s, login, allow_redirects=False)
    assert answer.status_code == 302 and answer.headers["Location"] == "/Default.aspx"


def test_aspnet_pages_history_by_postback_to_every_row(aspnet):
    s, page = aspnet_session(aspnet)
    rows, pages = [], []
    while True:
        html = cp1252(page)
        pages.append(html.css("tr.pager span::text").get())
        rows += cells(aspnet_rows(html))
        following = html.css("tr.pager td:has(> span) + td > a::attr(href)").get()
        if following is None:
            break
        target, argument = re.fullmatch(
            r"javascript:__doPostBack\('(.+)','(.+)'\)", following
        ).groups()
        assert target == GRID
        page = postback(s, page, target, argument)
        assert page.status_code == 200 and page.request.method == "POST"
    assert pages == ["1", "2", "3"]
    record = as_record(cp1252(page), rows, "%d/%m/%Y", "%d/%m/%Y %H:%M")
    assert record["historico"] == expected_record("aspnet", N)["historico"]
    assert aspnet.stats()["postbacks"] == 2


def test_aspnet_pager_is_typical_gridview_markup(aspnet):
    _, page = aspnet_session(aspnet)
    html = cp1252(page)
    assert html.css("form#aspnetForm::attr(action)").get() == f"./Detalhe.aspx?num={N}"
    pager = html.css("table#ctl00_Main_gvHistorico > tr.pager > td[colspan='3'] > table > tr > td")
    assert [td.css("span::text, a::text").get() for td in pager] == ["1", "2", "3"]
    assert pager[1].css("a::attr(href)").get() == (
        "javascript:__doPostBack('ctl00$Main$gvHistorico','Page$2')"
    )
    assert b"__doPostBack(&#39;ctl00$Main$gvHistorico&#39;,&#39;Page$3&#39;)" in page.content
    assert html.css("table#ctl00_Main_gvHistorico > tr.cabecalho > th::text").getall() == [
        "Data",
        "Evento",
        "Responsável",
    ]


@pytest.mark.parametrize("bad", ["missing", "other-os", "other-page", "validation"])
def test_aspnet_refuses_a_postback_without_its_viewstate(aspnet, bad):
    s, page = aspnet_session(aspnet)
    other = s.get(f"{aspnet.url}/OS/Detalhe.aspx?num=123461", timeout=5)
    consulta = s.get(f"{aspnet.url}/OS/Consulta.aspx", timeout=5)
    fields = hidden_fields(page.content.decode("cp1252"))
    fields |= {"__EVENTTARGET": GRID, "__EVENTARGUMENT": "Page$2"}
    if bad == "missing":
        del fields["__VIEWSTATE"], fields["__EVENTVALIDATION"]
    else:
        source = {"other-os": other, "other-page": consulta, "validation": other}[bad]
        stolen = hidden_fields(source.content.decode("cp1252"))
        keys = (
            ["__EVENTVALIDATION"] if bad == "validation" else ["__VIEWSTATE", "__EVENTVALIDATION"]
        )
        fields |= {k: stolen[k] for k in keys}
    answer = post_form(s, page.url, fields, "cp1252")
    assert answer.status_code == 500 and b"Validation of viewstate MAC failed" in answer.content
    assert aspnet.stats()["postbacks"] == 0


@pytest.mark.parametrize("argument", ["Page$1", "Page$4", "Page$Next"])
def test_aspnet_refuses_a_postback_argument_its_pager_does_not_offer(aspnet, argument):
    s, page = aspnet_session(aspnet)
    answer = postback(s, page, GRID, argument)
    assert answer.status_code == 500 and b"Invalid postback or callback argument" in answer.content


def test_aspnet_a_posted_submit_button_wins_over_the_pager_event(aspnet):
    s, page = aspnet_session(aspnet)
    html = cp1252(page)
    fields = hidden_fields(html.get()) | {
        "__EVENTTARGET": GRID,
        "__EVENTARGUMENT": "Page$2",
        "ctl00$Main$btnVoltar": "Voltar",
    }
    answer = post_form(s, page.url, fields, "cp1252", allow_redirects=False)
    assert answer.status_code == 302 and answer.headers["Location"] == "/OS/Consulta.aspx"


def test_aspnet_link_pager_serves_pages_by_get_through_relative_escaped_links(portals):
    linked = portals["aspnet-link"]
    s, page = aspnet_session(linked)
    assert f'<a href="Detalhe.aspx?num={N}&amp;pagina=2">2</a>'.encode() in page.content
    assert b"__doPostBack(" not in page.content
    rows = []
    while True:
        html = cp1252(page)
        rows += cells(aspnet_rows(html))
        href = html.css("tr.pager td:has(> span) + td > a::attr(href)").get()
        if href is None:
            break
        page = s.get(urljoin(page.url, href), timeout=5)
        assert page.request.method == "GET" and "&pagina=" in page.url
    record = as_record(cp1252(page), rows, "%d/%m/%Y", "%d/%m/%Y %H:%M")
    assert record == expected_record("aspnet", N)
    assert postback(s, page, GRID, "Page$1").status_code == 500  # no pager events to post


def test_aspnet_answers_an_unknown_os_with_a_redirect_to_the_search_page(aspnet):
    s, _ = aspnet_session(aspnet)
    answer = s.get(
        f"{aspnet.url}/OS/Detalhe.aspx?num={NOT_FOUND}", allow_redirects=False, timeout=5
    )
    assert answer.status_code == 302 and answer.headers["Location"] == "/OS/Consulta.aspx?erro=1"
    landed = s.get(f"{aspnet.url}/OS/Detalhe.aspx?num={NOT_FOUND}", timeout=5)
    assert urlsplit(landed.url).path == "/OS/Consulta.aspx"
    assert cp1252(landed).css("span#ctl00_Main_lblMensagem.aviso::text").get() == (
        "OS não encontrada"
    )


def test_aspnet_search_form_redirects_to_the_detail(aspnet):
    s, consulta = aspnet_session(aspnet, "/OS/Consulta.aspx")
    fields = hidden_fields(consulta.content.decode("cp1252")) | {
        "ctl00$Main$txtNumero": N,
        "ctl00$Main$btnConsultar": "Consultar",
    }
    detail = post_form(s, consulta.url, fields, "cp1252")
    assert detail.url == f"{aspnet.url}/OS/Detalhe.aspx?num={N}"


def test_aspnet_redirects_to_login_after_the_session_expires(aspnet):
    s, page = aspnet_session(aspnet)
    assert aspnet.expire_sessions() == 1 and aspnet.stats()["sessions"] == 0
    again = s.get(page.url, allow_redirects=False, timeout=5)
    expected = f"/Login.aspx?ReturnUrl=%2fOS%2fDetalhe.aspx%3fnum%3d{N}"
    assert again.status_code == 302 and again.headers["Location"] == expected
    posted = postback(s, page, GRID, "Page$2", allow_redirects=False)
    assert posted.status_code == 302 and posted.headers["Location"] == expected
    requests.post(aspnet.url + "/_reset", timeout=5)
    _, relogged = aspnet_session(aspnet)
    assert requests.post(aspnet.url + "/_expire", timeout=5).json() == {"expired": 1}
    assert s.get(relogged.url, allow_redirects=False, timeout=5).status_code == 302


def test_aspnet_serves_windows_1252_declared_in_header_and_meta(aspnet):
    _, page = aspnet_session(aspnet)
    assert page.headers["Content-Type"] == "text/html; charset=windows-1252"
    assert b'<meta http-equiv="Content-Type" content="text/html; charset=windows-1252" />' in (
        page.content
    )
    assert b"Avenida Paulista, 2664 \x97 Curitiba/PR" in page.content  # em dash
    assert b"\x93Sebasti\xe3o Brand\xe3o\x94" in page.content  # curly quotes, ã
    with pytest.raises(UnicodeDecodeError):
        page.content.decode("utf-8")


def test_aspnet_paths_are_case_insensitive(aspnet):
    s, _ = aspnet_session(aspnet)
    answer = s.get(f"{aspnet.url}/os/detalhe.ASPX?num={N}", timeout=5)
    assert cp1252(answer).css("#ctl00_Main_lblNumero::text").get() == N


# -------------------------------------------------------------------- jsf
def test_jsf_login_page_sets_jsessionid_and_a_view_state(jsf):
    answer = requests.get(jsf.url + "/app/login.xhtml", timeout=5)
    assert answer.headers["Content-Type"] == "text/html;charset=UTF-8"
    assert "Path=/app" in answer.headers["Set-Cookie"] and "JSESSIONID" in answer.cookies
    form = Selector(answer.text).css("form#loginForm")
    assert form.attrib["action"] == "/app/login.xhtml" and form.attrib["name"] == "loginForm"
    assert form.attrib["enctype"] == "application/x-www-form-urlencoded"
    state = form.css("input[name='javax.faces.ViewState']")
    assert state.attrib["id"] == "j_id1:javax.faces.ViewState:0"
    assert re.fullmatch(r"-?\d+:-?\d+", state.attrib["value"])
    assert hidden_fields(answer.text)["loginForm"] == "loginForm"
    assert form.css("input[type=submit]::attr(name)").getall() == ["loginForm:entrar"]


def test_jsf_logs_in_with_a_utf_8_password_and_redirects_to_the_search(jsf):
    _, search = jsf_session(jsf)
    assert search.history[0].status_code == 302
    assert search.history[0].headers["Location"] == "/app/consulta.xhtml"
    form = Selector(search.text).css("form#frmBusca")
    assert form.attrib["action"] == "/app/consulta.xhtml"
    assert form.css("input[type=text]::attr(name)").get() == "frmBusca:numero"
    assert jsf.stats()["logins"] == 1 and jsf.stats()["sessions"] == 1


def test_jsf_refuses_wrong_credentials_with_a_message_in_place(jsf):
    s = requests.Session()
    login = s.get(jsf.url + "/app/login.xhtml", timeout=5)
    fields = hidden_fields(login.text) | {
        "loginForm:usuario": "demo",
        "loginForm:senha": PASSWORD.encode("utf-8").decode("latin-1"),
        "loginForm:entrar": "Entrar",
    }
    answer = post_form(s, jsf.url + "/app/login.xhtml", fields, "utf-8")
    assert answer.status_code == 200 and answer.history == []
    page = Selector(answer.text)
    assert page.css("ul.mensagens li.erro::text").get() == "Credenciais inválidas"
    assert page.css("form#loginForm") and jsf.stats()["logins"] == 0


@pytest.mark.parametrize("bad", ["unknown", "other-session", "other-view", "missing"])
def test_jsf_answers_a_post_with_an_unknown_view_state_with_view_expired(jsf, bad):
    s = requests.Session()
    login = s.get(jsf.url + "/app/login.xhtml", timeout=5)
    fields = hidden_fields(login.text) | {
        "loginForm:usuario": "demo",
        "loginForm:senha": PASSWORD,
        "loginForm:entrar": "Entrar",
    }
    if bad == "unknown":
        fields["javax.faces.ViewState"] = "-1:1"
    elif bad == "other-session":
        fields["javax.faces.ViewState"] = hidden_fields(
            requests.get(jsf.url + "/app/login.xhtml", timeout=5).text
        )["javax.faces.ViewState"]
    elif bad == "other-view":
        _, search = jsf_session(jsf)
        fields["javax.faces.ViewState"] = hidden_fields(search.text)["javax.faces.ViewState"]
    else:
        del fields["javax.faces.ViewState"]
    answer = post_form(s, jsf.url + "/app/login.xhtml", fields, "utf-8")
    assert answer.status_code == 500
    assert "javax.faces.application.ViewExpiredException" in answer.text


@pytest.mark.parametrize("how", ["no-session", "expired"])
def test_jsf_renders_the_login_form_in_place_without_a_session(jsf, how):
    s, search = (requests.Session(), None) if how == "no-session" else jsf_session(jsf)
    if how == "expired":
        jsf.expire_sessions()
    answer = s.get(jsf.url + "/app/consulta.xhtml", allow_redirects=False, timeout=5)
    assert answer.status_code == 200 and answer.url == jsf.url + "/app/consulta.xhtml"
    assert Selector(answer.text).css("form#loginForm::attr(action)").get() == "/app/login.xhtml"
    if search is not None:  # a postback of the old page lands on the login too
        posted = jsf_search(s, search, N)
        assert posted.status_code == 200 and 'id="loginForm"' in posted.text
    relogged = post_form(
        s,
        jsf.url + "/app/login.xhtml",
        hidden_fields(answer.text)
        | {"loginForm:usuario": "demo", "loginForm:senha": PASSWORD, "loginForm:entrar": "Entrar"},
        "utf-8",
    )
    assert relogged.url == jsf.url + "/app/consulta.xhtml" and 'id="frmBusca"' in relogged.text


def test_jsf_search_answers_the_os_with_every_history_row_in_place(jsf):
    s, search = jsf_session(jsf)
    answer = jsf_search(s, search, N)
    assert answer.status_code == 200 and answer.url == jsf.url + "/app/consulta.xhtml"
    page = Selector(answer.text)
    rows = page.css("table.ui-datatable > tbody > tr:not(.ui-datatable-empty-message)")
    assert len(rows) == 22
    record = as_record(page, cells(rows), "%d/%m/%Y", "%d/%m/%Y %H:%M:%S")
    assert record == expected_record("jsf", N)
    endereco = page.xpath("//td[label='Endereço']/following-sibling::td[1]")
    assert endereco.css("span.logradouro::text").get() == "Avenida Paulista, 2664"
    assert endereco.css("span.cidade::text").get() == "Curitiba/PR"
    assert jsf.stats()["postbacks"] == 1


def test_jsf_shows_an_empty_history_as_an_empty_message_row(jsf):
    s, search = jsf_session(jsf)
    page = Selector(jsf_search(s, search, EMPTY).text)
    assert page.css("table.ui-datatable > tbody > tr.ui-datatable-empty-message")
    rows = page.css("table.ui-datatable > tbody > tr:not(.ui-datatable-empty-message)")
    assert as_record(page, cells(rows), "%d/%m/%Y", "%d/%m/%Y %H:%M:%S") == expected_record(
        "jsf", EMPTY
    )


def test_jsf_unknown_os_is_a_message_in_place(jsf):
    s, search = jsf_session(jsf)
    answer = jsf_search(s, search, NOT_FOUND)
    assert answer.status_code == 200 and answer.history == []
    page = Selector(answer.text)
    assert (
        page.css("span.ui-messages-error-summary::text").get() == f"OS {NOT_FOUND} não encontrada"
    )
    assert not page.css("table.ui-panelgrid tr td label")


@pytest.mark.parametrize("extra", ["no-form-marker", "clear-too", "no-button"])
def test_jsf_search_acts_only_with_its_form_marker_and_only_its_button(jsf, extra):
    s, search = jsf_session(jsf)
    fields = hidden_fields(search.text) | {"frmBusca:numero": N, "frmBusca:buscar": "Buscar"}
    if extra == "no-form-marker":
        del fields["frmBusca"]
    elif extra == "clear-too":
        fields["frmBusca:limpar"] = "Limpar"
    else:
        del fields["frmBusca:buscar"]
    answer = post_form(s, search.url, fields, "utf-8")
    assert answer.status_code == 200 and "ui-panelgrid" not in answer.text
    assert jsf.stats()["postbacks"] == 0


def test_jsf_serves_utf_8_declared_in_header_and_meta(jsf):
    s, search = jsf_session(jsf)
    answer = jsf_search(s, search, N)
    assert answer.headers["Content-Type"] == "text/html;charset=UTF-8"
    assert b'content="text/html; charset=UTF-8"' in answer.content
    text = answer.content.decode("utf-8")
    assert "2664</span> — <span" in text and "“Sebastião Brandão”" in text


# -------------------------------------------------------------------- php
def test_php_login_form_has_an_unnamed_submit_and_no_charset(php):
    answer = requests.get(php.url + "/index.php", timeout=5)
    assert answer.headers["Content-Type"] == "text/html"
    form = Selector(answer.content.decode("latin-1")).css("form[name=frmLogin]")
    assert form.attrib["action"] == "login.php" and form.attrib["method"] == "post"
    assert form.css("input::attr(name)").getall() == ["login", "senha"]
    assert "name" not in form.css("input[type=submit]").attrib
    assert b"charset" not in answer.content.lower()


def test_php_login_redirects_relatively_and_sets_phpsessid(php):
    s = requests.Session()
    fields = {"login": "demo", "senha": PASSWORD}
    answer = post_form(s, php.url + "/login.php", fields, "latin-1", allow_redirects=False)
    assert answer.status_code == 302 and answer.headers["Location"] == "principal.php"
    assert answer.headers["Set-Cookie"].startswith("PHPSESSID=") and "PHPSESSID" in s.cookies
    assert s.get(php.url + "/principal.php", timeout=5).status_code == 200
    assert php.stats()["logins"] == 1


@pytest.mark.parametrize("password", ["errada", PASSWORD.encode().decode("latin-1")])
def test_php_refused_login_redirects_to_index_with_an_error(php, password):
    s = requests.Session()
    fields = {"login": "demo", "senha": password}
    answer = post_form(s, php.url + "/login.php", fields, "latin-1", allow_redirects=False)
    assert answer.status_code == 302 and answer.headers["Location"] == "index.php?erro=1"
    landed = s.get(urljoin(answer.url, answer.headers["Location"]), timeout=5)
    page = Selector(landed.content.decode("latin-1"))
    assert page.css("font[color=red]::text").get() == "Login inválido"
    assert "PHPSESSID" not in s.cookies


@pytest.mark.parametrize("how", ["no-session", "expired"])
def test_php_answers_401_without_a_session(php, how):
    s = php_session(php) if how == "expired" else requests.Session()
    if how == "expired":
        assert php.expire_sessions() == 1
    for path in (f"/os.php?id={N}", f"/os_dados.php?id={N}", f"/historico.php?id={N}&pag=2"):
        answer = s.get(php.url + path, allow_redirects=False, timeout=5)
        assert answer.status_code == 401 and "Sessão expirada" in answer.content.decode("latin-1")
    assert s.get(php.url + "/index.php", timeout=5).status_code == 200


def test_php_frameset_links_the_data_frame_with_a_relative_escaped_url(php):
    s = php_session(php)
    frameset = s.get(f"{php.url}/os.php?id={N}", timeout=5)
    assert re.search(
        rb'<frameset rows="80,\*"[^>]*>\n<frame src="topo.php" name="topo"[^>]*>\n'
        rb'<frame src="os_dados.php\?id=' + N.encode() + rb'&amp;t=\d+" name="principal">',
        frameset.content,
    )
    detail = follow(s, frameset, "frame[name=principal]::attr(src)")
    assert urlsplit(detail.url).path == "/os_dados.php" and "&t=" in detail.url
    assert f'href="historico.php?id={N}&amp;pag=1" id="ver-historico"'.encode() in detail.content
    assert s.get(php.url + "/topo.php", timeout=5).status_code == 200


def test_php_history_follows_next_links_to_every_row(php):
    s = php_session(php)
    frameset = s.get(f"{php.url}/os.php?id={N}", timeout=5)
    detail = follow(s, frameset, "frame[name=principal]::attr(src)")
    page = follow(s, detail, "a#ver-historico::attr(href)")
    rows, urls = [], []
    while True:
        urls.append(urlsplit(page.url).query)
        html = Selector(page.content.decode("latin-1"))
        rows += cells(html.css("table.hist tr:has(td)"))
        if not html.css("a.prox"):
            break
        assert f'&amp;pag={len(urls) + 1}" class="prox">Próxima &gt;&gt;</a>'.encode("latin-1") in (
            page.content
        )
        page = follow(s, page, "a.prox::attr(href)")
    assert urls == [f"id={N}&pag=1", f"id={N}&pag=2", f"id={N}&pag=3"]
    data = Selector(detail.content.decode("latin-1"))
    assert as_record(data, rows, "%d/%m/%y", "%d/%m/%y %H:%M") == expected_record("php", N)


def test_php_unknown_os_is_404_on_every_os_page(php):
    s = php_session(php)
    for page in ("os.php", "os_dados.php", "historico.php"):
        answer = s.get(f"{php.url}/{page}?id={NOT_FOUND}", timeout=5)
        assert answer.status_code == 404 and "OS não encontrada" in answer.content.decode("latin-1")


def test_php_serves_latin_1_without_any_charset(php):
    s = php_session(php)
    answer = s.get(f"{php.url}/os_dados.php?id={N}", timeout=5)
    assert answer.headers["Content-Type"] == "text/html" and b"charset" not in answer.content
    assert b"<dt>Situa\xe7\xe3o</dt>" in answer.content
    assert not re.search(rb"[\x80-\x9f]", answer.content)  # Latin-1 proper, no cp1252 bytes
    assert b"2664 &#8212; Curitiba/PR" in answer.content  # outside Latin-1: references
    assert b"&#8220;Sebasti\xe3o Brand\xe3o&#8221;" in answer.content
    with pytest.raises(UnicodeDecodeError):
        answer.content.decode("utf-8")


# ------------------------------------------------------------------ common
@pytest.mark.parametrize("family", FAMILIES)
def test_control_endpoints_are_never_counted_and_reset_clears_everything(portals, family):
    portal = portals[family]
    login = {"aspnet": "/Login.aspx", "jsf": "/app/login.xhtml", "php": "/index.php"}[family]
    requests.get(portal.url + login, timeout=5)
    stats = requests.get(portal.url + "/_stats", timeout=5).json()
    assert stats == {
        "requests": 1,
        "logins": 0,
        "by_path": {login: 1},
        "postbacks": 0,
        "sessions": 0,
    }
    assert requests.post(portal.url + "/_expire", timeout=5).status_code == 200
    assert requests.post(portal.url + "/_reset", timeout=5).json() == {"reset": True}
    assert portal.stats()["requests"] == 0 and portal.stats()["by_path"] == {}


@pytest.mark.parametrize("family", FAMILIES)
def test_saved_fixtures_are_what_the_portal_serves_now(family):
    folder = FIXTURES / family
    meta = json.loads((folder / "meta.json").read_text())
    pages = capture(family)
    assert sorted(meta) == sorted(pages) == sorted(p.name for p in folder.glob("*.html"))
    for name, page in pages.items():
        assert normalise((folder / name).read_bytes()) == normalise(page.body), name
        saved = meta[name] | {"path": normalise(meta[name]["path"].encode()).decode()}
        now = page.meta() | {"path": normalise(page.path.encode()).decode()}
        assert saved == now, name


def test_fixtures_show_each_family_convention():
    aspnet, php = FIXTURES / "aspnet", FIXTURES / "php"
    assert b"Page$3" in (aspnet / "detail.html").read_bytes()
    assert b"<td><span>2</span></td>" in (aspnet / "page2.html").read_bytes()
    assert b"OS n\xe3o encontrada" in (aspnet / "not_found.html").read_bytes()
    jsf = {n: (FIXTURES / "jsf" / n).read_text("utf-8") for n in ("expired.html", "detail.html")}
    assert 'id="loginForm"' in jsf["expired.html"] and "ui-datatable" in jsf["detail.html"]
    assert b"<frameset" in (php / "frameset.html").read_bytes()
    assert b'pag=2" class="prox"' in (php / "history.html").read_bytes()
    assert b'pag=3" class="prox"' in (php / "history2.html").read_bytes()
    assert b"<th>Respons\xe1vel</th>" in (php / "history.html").read_bytes()


def test_cli_runs_one_family_printing_its_url_and_username_but_never_the_password():
    proc = subprocess.Popen(
        [sys.executable, "-m", "local.families", "php", "--port", "0", "--password", "s3gr3d0"],
        cwd=ROOT,
        stdout=subprocess.PIPE,
        text=True,
    )
    try:
        line = proc.stdout.readline()
        url = re.search(r"http://127\.0\.0\.1:\d+", line)[0]
        assert "user demo" in line and "s3gr3d0" not in line
        assert requests.get(url + "/index.php", timeout=5).status_code == 200
    finally:
        proc.terminate()
        proc.wait(timeout=5)
