"""Save pages of each family portal, as served (bytes in the page's own encoding), as fixtures.

Run: ``python -m local.families.save_fixtures`` (writes tests/fixtures/portals/<family>/*.html
and a meta.json per family: for each file the URL path (and query) it came from, the
method, the status, the Content-Type header and the OS number). ``capture(family)`` is
what it saves; ``normalise`` blanks what differs on every visit (view states, the PHP
frame's cache buster) so a test can compare the fixtures with what the portals serve now.
"""

from __future__ import annotations

import html
import json
import re
from pathlib import Path
from typing import Any, NamedTuple
from urllib.parse import urlencode, urljoin, urlsplit

import requests

from local.families.data import FAMILIES
from local.families.portal import FamilyPortal

OUT = Path(__file__).resolve().parents[2] / "tests" / "fixtures" / "portals"
#: An OS with 22 history rows (3 pages), a valor of R$ 205.647,16 and 2.790 units.
MULTI_PAGE = "123465"
NOT_FOUND = "950000"
PASSWORD = "demo-password"
_VOLATILE = re.compile(
    rb'((?:name="(?:__VIEWSTATE|__EVENTVALIDATION|javax\.faces\.ViewState)"[^>]*? value=")'
    rb'|(?:&(?:amp;)?t=))[^"&]*'
)


class Page(NamedTuple):
    path: str
    method: str
    status: int
    content_type: str
    numero: str | None
    body: bytes

    def meta(self) -> dict[str, Any]:
        return {
            "path": self.path,
            "method": self.method,
            "status": self.status,
            "content_type": self.content_type,
            "numero": self.numero,
        }


def normalise(data: bytes) -> bytes:
    """The bytes with view states and cache busters blanked."""
    return _VOLATILE.sub(rb"\1*", data)


def hidden_fields(page: str) -> dict[str, str]:
    """The hidden inputs of a page (name → value), unescaped."""
    found = re.findall(r'<input type="hidden" name="([^"]+)"[^>]*? value="([^"]*)"', page)
    return {name: html.unescape(value) for name, value in found}


def post_form(
    session: requests.Session, url: str, fields: dict[str, str], encoding: str, **kw: Any
) -> requests.Response:
    """POST ``fields`` urlencoded in ``encoding`` (a browser posts in the page's charset)."""
    body = urlencode(fields, encoding=encoding)
    headers = {"Content-Type": "application/x-www-form-urlencoded"}
    return session.post(url, data=body, headers=headers, timeout=5, **kw)


def _page(response: requests.Response, numero: str | None) -> Page:
    url = urlsplit(response.url)
    return Page(
        url.path + (f"?{url.query}" if url.query else ""),
        response.request.method or "GET",
        response.status_code,
        response.headers.get("Content-Type", ""),
        numero,
        response.content,
    )


def _aspnet_login(
    s: requests.Session, login: requests.Response, password: str
) -> requests.Response:
    text = login.content.decode("cp1252")
    action = html.unescape(re.search(r'<form method="post" action="([^"]+)"', text)[1])
    fields = hidden_fields(text) | {
        "ctl00$Main$txtUsuario": "demo",
        "ctl00$Main$txtSenha": password,
        "ctl00$Main$btnEntrar": "Entrar",
    }
    return post_form(s, urljoin(login.url, action), fields, "cp1252")


def _aspnet(pages: dict[str, Page], url: str, link_url: str) -> None:
    s = requests.Session()
    detail_url = f"{url}/OS/Detalhe.aspx?num={MULTI_PAGE}"
    login = s.get(detail_url, timeout=5)
    pages["login.html"] = _page(login, MULTI_PAGE)
    pages["login_failed.html"] = _page(_aspnet_login(s, login, "errada"), None)
    detail = _aspnet_login(s, login, PASSWORD)
    pages["detail.html"] = _page(detail, MULTI_PAGE)
    fields = hidden_fields(detail.content.decode("cp1252"))
    fields |= {"__EVENTTARGET": "ctl00$Main$gvHistorico", "__EVENTARGUMENT": "Page$2"}
    pages["page2.html"] = _page(post_form(s, detail_url, fields, "cp1252"), MULTI_PAGE)
    missing = s.get(f"{url}/OS/Detalhe.aspx?num={NOT_FOUND}", timeout=5)
    pages["not_found.html"] = _page(missing, NOT_FOUND)
    s = requests.Session()
    _aspnet_login(s, s.get(f"{link_url}/Login.aspx", timeout=5), PASSWORD)
    detail = s.get(f"{link_url}/OS/Detalhe.aspx?num={MULTI_PAGE}", timeout=5)
    pages["detail_link.html"] = _page(detail, MULTI_PAGE)
    page2 = s.get(f"{link_url}/OS/Detalhe.aspx?num={MULTI_PAGE}&pagina=2", timeout=5)
    pages["page2_link.html"] = _page(page2, MULTI_PAGE)


def _jsf(pages: dict[str, Page], url: str) -> None:
    s = requests.Session()
    pages["expired.html"] = _page(s.get(f"{url}/app/consulta.xhtml", timeout=5), None)
    login = s.get(f"{url}/app/login.xhtml", timeout=5)
    pages["login.html"] = _page(login, None)

    def sign_in(password: str) -> requests.Response:
        fields = hidden_fields(login.text) | {
            "loginForm:usuario": "demo",
            "loginForm:senha": password,
            "loginForm:entrar": "Entrar",
        }
        return post_form(s, f"{url}/app/login.xhtml", fields, "utf-8")

    pages["login_failed.html"] = _page(sign_in("errada"), None)
    search = sign_in(PASSWORD)
    pages["search.html"] = _page(search, None)
    for name, numero in (("detail.html", MULTI_PAGE), ("not_found.html", NOT_FOUND)):
        fields = hidden_fields(search.text) | {
            "frmBusca:numero": numero,
            "frmBusca:buscar": "Buscar",
        }
        pages[name] = _page(post_form(s, f"{url}/app/consulta.xhtml", fields, "utf-8"), numero)


def _php(pages: dict[str, Page], url: str) -> None:
    s = requests.Session()
    pages["expired.html"] = _page(s.get(f"{url}/os.php?id={MULTI_PAGE}", timeout=5), MULTI_PAGE)
    pages["login.html"] = _page(s.get(f"{url}/index.php", timeout=5), None)
    failed = post_form(s, f"{url}/login.php", {"login": "demo", "senha": "errada"}, "latin-1")
    pages["login_failed.html"] = _page(failed, None)
    post_form(s, f"{url}/login.php", {"login": "demo", "senha": PASSWORD}, "latin-1")
    frameset = s.get(f"{url}/os.php?id={MULTI_PAGE}", timeout=5)
    pages["frameset.html"] = _page(frameset, MULTI_PAGE)
    found = re.search(rb'<frame src="([^"]+)" name="principal"', frameset.content)
    detail = s.get(urljoin(frameset.url, html.unescape(found[1].decode())), timeout=5)
    pages["detail.html"] = _page(detail, MULTI_PAGE)
    link = re.search(rb'href="([^"]+)" id="ver-historico"', detail.content)
    history = s.get(urljoin(detail.url, html.unescape(link[1].decode())), timeout=5)
    pages["history.html"] = _page(history, MULTI_PAGE)
    following = re.search(rb'href="([^"]+)" class="prox"', history.content)
    page2 = s.get(urljoin(history.url, html.unescape(following[1].decode())), timeout=5)
    pages["history2.html"] = _page(page2, MULTI_PAGE)
    missing = s.get(f"{url}/os.php?id={NOT_FOUND}", timeout=5)
    pages["not_found.html"] = _page(missing, NOT_FOUND)


def capture(family: str) -> dict[str, Page]:
    """Every fixture page of ``family``, from fresh portals (file name → page)."""
    pages: dict[str, Page] = {}
    with FamilyPortal(family, password=PASSWORD) as portal:
        if family == "aspnet":
            with FamilyPortal(family, password=PASSWORD, pager="link") as linked:
                _aspnet(pages, portal.url, linked.url)
        elif family == "jsf":
            _jsf(pages, portal.url)
        else:
            _php(pages, portal.url)
    return pages


def main() -> None:
    for family in FAMILIES:
        folder = OUT / family
        folder.mkdir(parents=True, exist_ok=True)
        pages = capture(family)
        for name, page in pages.items():
            (folder / name).write_bytes(page.body)
            print(folder / name)
        meta = {name: page.meta() for name, page in pages.items()}
        (folder / "meta.json").write_text(json.dumps(meta, indent=2, ensure_ascii=False) + "\n")


if __name__ == "__main__":
    main()
