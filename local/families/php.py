"""The classic PHP family (Apache 2.2 + PHP 5 look): ISO-8859-1 bytes, no charset anywhere.

``Content-Type: text/html`` and no meta charset; characters outside Latin-1 (the address's
"—", the description's curly quotes) go as numeric character references. ``POST
/login.php`` always answers 302: ``principal.php`` with a ``PHPSESSID`` cookie, or
``index.php?erro=1``. Without a session, every page but the login is HTTP 401 "Sessão
expirada"; an unknown OS is HTTP 404. ``os.php?id=N`` is a frameset whose ``principal``
frame (``os_dados.php``) shows the data and links to ``historico.php``, paged by
"Próxima >>" links. Dates have two-digit years; every link is relative, ``&amp;``-escaped.
"""

from __future__ import annotations

import secrets
import time
from html import escape

from local.families.base import FamilyHandler
from local.families.data import (
    FIELDS,
    family_record,
    history_page,
    money,
    page_count,
    thousands,
)

__all__ = ["COOKIE", "PhpHandler"]

COOKIE = "PHPSESSID"
PAGES = (
    "/",
    "/index.php",
    "/login.php",
    "/principal.php",
    "/topo.php",
    "/os.php",
    "/os_dados.php",
    "/historico.php",
    "/sair.php",
)
_NO_CACHE = [
    ("Expires", "Thu, 19 Nov 1981 08:52:00 GMT"),
    ("Cache-Control", "no-store, no-cache, must-revalidate, post-check=0, pre-check=0"),
    ("Pragma", "no-cache"),
]
_SID_CHARS = "0123456789abcdefghijklmnopqrstuv"


def _page(title: str, body: str) -> str:
    return (
        f"<html>\n<head>\n<title>{escape(title)}</title>\n"
        '<link rel="stylesheet" href="estilo.css" type="text/css">\n</head>\n'
        f'<body bgcolor="#FFFFFF">\n{body}\n</body>\n</html>\n'
    )


def _short_year(text: str) -> str:
    """ "dd/mm/YYYY[ HH:MM]" → "dd/mm/yy[ HH:MM]"."""
    return text[:6] + text[8:]


class PhpHandler(FamilyHandler):
    ENCODING = "iso-8859-1"
    CONTENT_TYPE = "text/html"
    HEADERS = (("X-Powered-By", "PHP/5.2.17"),)
    server_version = "Apache/2.2.22 (Debian)"

    def portal(self) -> None:
        path = self.url_path
        if path not in PAGES:
            html = (
                '<!DOCTYPE HTML PUBLIC "-//IETF//DTD HTML 2.0//EN">\n<html><head>\n<title>404 '
                "Not Found</title>\n</head><body>\n<h1>Not Found</h1>\n<p>The requested URL "
                f"{escape(path)} was not found on this server.</p>\n</body></html>\n"
            )
            self.send(404, html.encode(), "text/html; charset=iso-8859-1")
        elif path in ("/", "/index.php"):
            self._index()
        elif path == "/login.php":
            self._login()
        elif (session := self.session(COOKIE)) is None:
            body = (
                "<h3>Sessão expirada</h3>\n<p>Sua sessão expirou. "
                '<a href="index.php" target="_top">Entrar novamente</a></p>'
            )
            self.send_html(401, _page("Sessão expirada", body), _NO_CACHE)
        elif path == "/sair.php":
            with self.state.lock:
                self.state.sessions.pop(self.cookies.get(COOKIE, ""), None)
            self.send(302, b"", self.CONTENT_TYPE, [("Location", "index.php")])
        elif path == "/principal.php":
            body = (
                f"<h2>Bem-vindo, {escape(session['user'])}</h2>\n"
                '<form name="frmBusca" method="get" action="os.php">\nNúmero da OS: '
                '<input type="text" name="id" size="8" maxlength="6">\n'
                '<input type="submit" value="Consultar">\n</form>'
            )
            self.send_html(200, _page("Sistema OS", body), _NO_CACHE)
        elif path == "/topo.php":
            body = (
                '<table width="100%" bgcolor="#003366"><tr><td><font color="#FFFFFF" '
                'face="Verdana" size="4"><b>Sistema OS</b></font></td><td align="right">'
                f'<font color="#FFFFFF" face="Verdana" size="2">Usuário: {escape(session["user"])}'
                ' | <a href="sair.php" target="_top"><font color="#FFFFFF">Sair</font></a>'
                "</font></td></tr></table>"
            )
            self.send_html(200, _page("Sistema OS", body), _NO_CACHE)
        else:
            self._os(path)

    def _index(self) -> None:
        erro = (
            '<tr><td colspan="2"><font color="red">Login inválido</font></td></tr>\n'
            if self.query.get("erro") == "1"
            else ""
        )
        body = (
            '<center>\n<h2>Sistema OS - Acesso</h2>\n<form name="frmLogin" method="post" '
            f'action="login.php">\n<table border="0" cellpadding="3">\n{erro}'
            '<tr><td>Login:</td><td><input type="text" name="login" size="20"></td></tr>\n'
            '<tr><td>Senha:</td><td><input type="password" name="senha" size="20"></td></tr>\n'
            '<tr><td></td><td><input type="submit" value="Entrar"></td></tr>\n</table>\n'
            "</form>\n</center>"
        )
        self.send_html(200, _page("Sistema OS", body), _NO_CACHE)

    def _login(self) -> None:
        form = self.form
        if self.method != "POST" or not self.credentials_ok(form.get("login"), form.get("senha")):
            self.send(302, b"", self.CONTENT_TYPE, [("Location", "index.php?erro=1")])
            return
        sid = "".join(secrets.choice(_SID_CHARS) for _ in range(26))
        with self.state.lock:
            self.state.sessions[sid] = {"user": form["login"]}
            self.state.logins += 1
        headers = [("Set-Cookie", f"{COOKIE}={sid}; path=/"), *_NO_CACHE]
        self.send(302, b"", self.CONTENT_TYPE, [("Location", "principal.php"), *headers])

    def _os(self, path: str) -> None:
        record = family_record(self.query.get("id", "").strip())
        if record is None:
            body = '<h3>OS não encontrada</h3>\n<p><a href="principal.php">Voltar</a></p>'
            self.send_html(404, _page("Sistema OS", body), _NO_CACHE)
            return
        numero = record["numero"]
        if path == "/os.php":
            html = (
                f"<html>\n<head>\n<title>Sistema OS - OS {numero}</title>\n</head>\n"
                '<frameset rows="80,*" frameborder="0" border="0">\n'
                '<frame src="topo.php" name="topo" scrolling="no" noresize>\n'
                f'<frame src="os_dados.php?id={numero}&amp;t={int(time.time())}" '
                'name="principal">\n<noframes><body>Seu navegador não suporta frames.</body>'
                "</noframes>\n</frameset>\n</html>\n"
            )
        elif path == "/os_dados.php":
            html = _page(f"OS {numero}", _dados(record))
        else:
            html = _page(f"Histórico da OS {numero}", _historico(record, self.query.get("pag", "")))
        self.send_html(200, html, _NO_CACHE)


def _dados(record: dict) -> str:
    values = {
        **{key: escape(str(record[key])) for _, key in FIELDS if key in record},
        "data_abertura": _short_year(record["data_abertura"]),
        "prazo": _short_year(record["prazo"]),
        "descricao": "<br>\n".join(escape(s) for s in record["descricao"]),
        "valor": money(record["valor_centavos"]),
        "quantidade": thousands(record["quantidade"]),
    }
    rows = "\n".join(f"  <dt>{label}</dt>\n  <dd>{values[key]}</dd>" for label, key in FIELDS)
    numero = record["numero"]
    return (
        f'<h2>Ordem de Serviço nº {numero}</h2>\n<dl class="dados">\n{rows}\n</dl>\n'
        f'<p><a href="historico.php?id={numero}&amp;pag=1" id="ver-historico">Ver histórico</a>'
        "</p>"
    )


def _historico(record: dict, pag: str) -> str:
    page = int(pag) if pag.isascii() and pag.isdigit() and int(pag) > 0 else 1
    numero, pages = record["numero"], page_count(record)
    rows = "".join(
        f"<tr><td>{_short_year(row['data'])}</td><td>{escape(row['evento'])}</td>"
        f"<td>{escape(row['responsavel'])}</td></tr>\n"
        for row in history_page(record, page)
    )
    link = f'<a href="historico.php?id={numero}&amp;pag='
    nav = f"Página {page} de {pages}"
    if page > 1:
        nav += f' {link}{page - 1}" class="ant">&lt;&lt; Anterior</a>'
    if page < pages:
        nav += f' {link}{page + 1}" class="prox">Próxima &gt;&gt;</a>'
    return (
        f"<h3>Histórico da OS {numero}</h3>\n"
        '<table class="hist" border="1" cellspacing="0" cellpadding="3">\n'
        f"<tr><th>Data</th><th>Evento</th><th>Responsável</th></tr>\n{rows}</table>\n"
        f'<p>{nav}</p>\n<p><a href="os_dados.php?id={numero}">Voltar</a></p>'
    )
