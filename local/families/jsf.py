"""The JSF family (Mojarra 2 + PrimeFaces on Tomcat look): UTF-8 pages.

Every form carries a ``javax.faces.ViewState`` kept in the session (``JSESSIONID``, path
``/app``); a post whose view state the session does not hold is a 500
ViewExpiredException. A form acts only when its hidden ``<form id>=<form id>`` field and
its pressed button come back (else the page is rendered again). Without a signed-in
session, every page answers 200 with the login form in place (no redirect); a login is a
302 to ``/app/consulta.xhtml``. The OS is the answer to the search form posted back to
``/app/consulta.xhtml``; an unknown OS is a message on the search page (200).
"""

from __future__ import annotations

import secrets
from html import escape
from typing import Any

from local.families.base import FamilyHandler
from local.families.data import FIELDS, family_record, money, thousands

__all__ = ["COOKIE", "JsfHandler"]

COOKIE = "JSESSIONID"
#: How many views a session keeps (Mojarra's numberOfLogicalViews).
MAX_VIEWS = 15
_CELL = '<td role="gridcell" class="ui-panelgrid-cell">'


def _page(title: str, body: str) -> str:
    return (
        '<!DOCTYPE html PUBLIC "-//W3C//DTD XHTML 1.0 Transitional//EN" '
        '"http://www.w3.org/TR/xhtml1/DTD/xhtml1-transitional.dtd">\n'
        '<html xmlns="http://www.w3.org/1999/xhtml"><head><meta http-equiv="Content-Type" '
        'content="text/html; charset=UTF-8" /><link type="text/css" rel="stylesheet" '
        'href="/app/javax.faces.resource/theme.css.xhtml?ln=primefaces-aristo" />'
        '<script type="text/javascript" src="/app/javax.faces.resource/jsf.js.xhtml?'
        f'ln=javax.faces"></script><title>SGOS - {escape(title)}</title></head><body>\n'
        '<div id="topo" class="ui-widget-header">SGOS — Sistema de Gestão de Ordens de '
        f"Serviço</div>\n{body}\n</body>\n</html>\n"
    )


def _view_state(token: str) -> str:
    return (
        '<input type="hidden" name="javax.faces.ViewState" id="j_id1:javax.faces.ViewState:0" '
        f'value="{token}" autocomplete="off" />\n'
    )


class JsfHandler(FamilyHandler):
    ENCODING = "utf-8"
    CONTENT_TYPE = "text/html;charset=UTF-8"
    HEADERS = (("X-Powered-By", "JSF/2.0"),)
    server_version = "Apache-Coyote/1.1"

    def portal(self) -> None:
        if self.url_path not in ("/app/login.xhtml", "/app/consulta.xhtml"):
            html = (
                "<html><head><title>Apache Tomcat/6.0.35 - Error report</title></head><body>"
                f"<h1>HTTP Status 404 - {escape(self.url_path)}</h1></body></html>"
            )
            self.send(404, html.encode(), "text/html;charset=utf-8")
            return
        session, headers = self._session()
        if self.url_path == "/app/login.xhtml":
            self._login(session, headers)
        elif not session["user"]:
            self.send_html(200, self._login_page(session), headers)
        else:
            self._consulta(session, headers)

    def _session(self) -> tuple[dict[str, Any], list[tuple[str, str]]]:
        """The request's session, or a new one (and its cookie)."""
        with self.state.lock:
            session = self.state.sessions.get(self.cookies.get(COOKIE, ""))
            if session is not None:
                return session, []
            sid = secrets.token_hex(16).upper()
            session = self.state.sessions[sid] = {"user": None, "views": {}}
        return session, [("Set-Cookie", f"{COOKIE}={sid}; Path=/app; HttpOnly")]

    def _new_view(self, session: dict[str, Any], view_id: str) -> str:
        token = f"{secrets.randbits(63) - 2**62}:{secrets.randbits(63) - 2**62}"
        with self.state.lock:
            views = session["views"]
            views[token] = view_id
            while len(views) > MAX_VIEWS:
                del views[next(iter(views))]
        return token

    def _restored(self, session: dict[str, Any], view_id: str) -> bool:
        with self.state.lock:
            return session["views"].get(self.form.get("javax.faces.ViewState", "")) == view_id

    def _view_expired(self, view_id: str) -> None:
        message = f"viewId:{view_id} - View {view_id} could not be restored."
        html = (
            "<html><head><title>Apache Tomcat/6.0.35 - Error report</title></head><body>"
            "<h1>HTTP Status 500 - </h1><p><b>exception</b></p><pre>javax.servlet."
            f"ServletException: {message}\n</pre><p><b>root cause</b></p><pre>"
            f"javax.faces.application.ViewExpiredException: {message}\n"
            "\tat com.sun.faces.lifecycle.RestoreViewPhase.execute(RestoreViewPhase.java:212)\n"
            "</pre></body></html>"
        )
        self.send(500, html.encode(), "text/html;charset=utf-8")

    # -------------------------------------------------------------- login
    def _login(self, session: dict[str, Any], headers: list[tuple[str, str]]) -> None:
        form = self.form
        if self.method == "POST":
            if not self._restored(session, "/login.xhtml"):
                self._view_expired("/login.xhtml")
                return
            usuario = form.get("loginForm:usuario", "")
            if form.get("loginForm") != "loginForm" or "loginForm:entrar" not in form:
                self.send_html(200, self._login_page(session, usuario), headers)
                return
            if not self.credentials_ok(usuario, form.get("loginForm:senha")):
                page = self._login_page(session, usuario, "Credenciais inválidas")
                self.send_html(200, page, headers)
                return
            with self.state.lock:
                session["user"] = usuario
                self.state.logins += 1
            self.send(302, b"", None, [("Location", "/app/consulta.xhtml"), *headers])
            return
        self.send_html(200, self._login_page(session), headers)

    def _login_page(self, session: dict[str, Any], usuario: str = "", erro: str = "") -> str:
        mensagens = f'<ul class="mensagens"><li class="erro">{erro}</li></ul>\n' if erro else ""
        body = (
            '<form id="loginForm" name="loginForm" method="post" action="/app/login.xhtml" '
            'enctype="application/x-www-form-urlencoded">\n'
            '<input type="hidden" name="loginForm" value="loginForm" />\n'
            f"<h2>Acesso ao sistema</h2>\n{mensagens}"
            '<table class="ui-panelgrid ui-widget" role="grid"><tbody>\n'
            f'<tr class="ui-widget-content" role="row">{_CELL}<label for="loginForm:usuario">'
            f'Usuário</label></td>{_CELL}<input id="loginForm:usuario" name="loginForm:usuario" '
            f'type="text" value="{escape(usuario)}" class="ui-inputfield ui-inputtext" /></td>'
            f'</tr>\n<tr class="ui-widget-content" role="row">{_CELL}<label for="loginForm:senha">'
            f'Senha</label></td>{_CELL}<input id="loginForm:senha" name="loginForm:senha" '
            'type="password" value="" class="ui-inputfield ui-password" /></td></tr>\n'
            '</tbody></table>\n<input type="submit" name="loginForm:entrar" value="Entrar" '
            'class="ui-button" />\n'
            + _view_state(self._new_view(session, "/login.xhtml"))
            + "</form>"
        )
        return _page("Acesso", body)

    # ----------------------------------------------------------- consulta
    def _consulta(self, session: dict[str, Any], headers: list[tuple[str, str]]) -> None:
        form = self.form
        if self.method == "GET":
            self.send_html(200, self._search_page(session), headers)
            return
        if not self._restored(session, "/consulta.xhtml"):
            self._view_expired("/consulta.xhtml")
            return
        numero = form.get("frmBusca:numero", "").strip()
        if form.get("frmBusca") != "frmBusca" or "frmBusca:limpar" in form:
            self.send_html(200, self._search_page(session), headers)
            return
        if "frmBusca:buscar" not in form:
            self.send_html(200, self._search_page(session, numero), headers)
            return
        with self.state.lock:
            self.state.postbacks += 1
        record = family_record(numero) if numero else None
        if not numero:
            erro = "Número: Erro de validação: o valor é necessário."
        elif record is None:
            erro = f"OS {numero} não encontrada"
        else:
            erro = ""
        self.send_html(200, self._search_page(session, numero, erro, record), headers)

    def _search_page(
        self, session: dict[str, Any], numero: str = "", erro: str = "", record: dict | None = None
    ) -> str:
        msgs = (
            '<div class="ui-messages-error ui-corner-all"><span class="ui-messages-error-icon">'
            f'</span><ul><li><span class="ui-messages-error-summary">{escape(erro)}</span></li>'
            "</ul></div>"
            if erro
            else ""
        )
        body = (
            '<form id="frmBusca" name="frmBusca" method="post" action="/app/consulta.xhtml" '
            'enctype="application/x-www-form-urlencoded">\n'
            '<input type="hidden" name="frmBusca" value="frmBusca" />\n<h2>Consulta de OS</h2>\n'
            f'<div id="frmBusca:msgs" class="ui-messages ui-widget">{msgs}</div>\n'
            '<label for="frmBusca:numero">Número da OS</label> <input id="frmBusca:numero" '
            f'name="frmBusca:numero" type="text" value="{escape(numero)}" maxlength="6" '
            'class="ui-inputfield ui-inputtext" />\n<input type="submit" name="frmBusca:buscar" '
            'value="Buscar" class="ui-button" />\n<input type="submit" name="frmBusca:limpar" '
            'value="Limpar" class="ui-button" />\n'
            + (_result(record) if record else "")
            + _view_state(self._new_view(session, "/consulta.xhtml"))
            + "</form>"
        )
        return _page("Consulta de OS", body)


def _result(record: dict) -> str:
    logradouro, _, cidade = record["endereco"].partition(" — ")
    values = {key: escape(str(record[key])) for _, key in FIELDS if key in record}
    values.update(
        endereco=f'<span class="logradouro">{escape(logradouro)}</span> — '
        f'<span class="cidade">{escape(cidade)}</span>',
        descricao="<span>" + "<br />".join(escape(s) for s in record["descricao"]) + "</span>",
        valor=money(record["valor_centavos"]),
        quantidade=thousands(record["quantidade"]),
    )
    rows = "".join(
        f'<tr class="ui-widget-content" role="row">{_CELL}<label>{label}</label></td>{_CELL}'
        + (values[key] if key in ("endereco", "descricao") else f"<span>{values[key]}</span>")
        + "</td></tr>\n"
        for label, key in FIELDS
    )
    history = "".join(
        f'<tr data-ri="{i}" class="ui-widget-content ui-datatable-{"odd" if i % 2 else "even"}" '
        f'role="row"><td role="gridcell">{escape(row["data"])}:00</td><td role="gridcell">'
        f'{escape(row["evento"])}</td><td role="gridcell">{escape(row["responsavel"])}</td></tr>\n'
        for i, row in enumerate(record["historico"])
    ) or (
        '<tr class="ui-widget-content ui-datatable-empty-message"><td colspan="3">'
        "Nenhum registro encontrado.</td></tr>\n"
    )
    heads = "".join(
        f'<th class="ui-state-default" role="columnheader"><span class="ui-column-title">{h}'
        "</span></th>"
        for h in ("Data", "Evento", "Responsável")
    )
    return (
        '<div id="frmBusca:pnlResultado" class="ui-panel ui-widget ui-widget-content">\n'
        '<div class="ui-panel-titlebar ui-widget-header"><span class="ui-panel-title">Ordem de '
        f'Serviço {record["numero"]}</span></div>\n<div class="ui-panel-content">\n'
        f'<table id="frmBusca:pgDados" class="ui-panelgrid ui-widget" role="grid"><tbody>\n{rows}'
        '</tbody></table>\n<h3>Histórico</h3>\n<table id="frmBusca:dtHistorico" '
        f'class="ui-datatable ui-widget" role="grid">\n<thead><tr role="row">{heads}</tr></thead>\n'
        '<tbody id="frmBusca:dtHistorico_data" class="ui-datatable-data ui-widget-content">\n'
        f"{history}</tbody></table>\n</div>\n</div>\n"
    )
