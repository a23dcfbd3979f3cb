"""The ASP.NET WebForms family (IIS 6, .NET 2.0 look): windows-1252 pages.

Every form carries ``__VIEWSTATE``/``__EVENTVALIDATION`` issued by the server and checked
on each post (unknown, or issued with another page: 500 "Validation of viewstate MAC
failed"). ``/Login.aspx`` has two submit buttons (only ``btnEntrar`` logs in; ``btnEsqueci``
shows a password-recovery page) and an unchecked ``chkLembrar`` (posting it refuses the
login); success is a 302 to the local ``ReturnUrl`` (else ``/Default.aspx``) with an
``.ASPXAUTH`` cookie. Without it, every page is a 302 to ``/Login.aspx?ReturnUrl=…``. An
unknown OS is a 302 to ``/OS/Consulta.aspx?erro=1``. The history GridView pages by
``__doPostBack`` (option ``pager="postback"``, the default) or by GET links (``"link"``).
Paths are case-insensitive, as on IIS.
"""

from __future__ import annotations

import base64
import re
import secrets
from html import escape
from typing import Any, ClassVar
from urllib.parse import quote

from local.families.base import FamilyHandler
from local.families.data import family_record, history_page, money, page_count, thousands

__all__ = ["AUTH_COOKIE", "GRID", "AspNetHandler"]

AUTH_COOKIE = ".ASPXAUTH"
GRID = "ctl00$Main$gvHistorico"
USER, PASSWORD = "ctl00$Main$txtUsuario", "ctl00$Main$txtSenha"
ENTRAR, ESQUECI, LEMBRAR = "ctl00$Main$btnEntrar", "ctl00$Main$btnEsqueci", "ctl00$Main$chkLembrar"
#: (span id suffix, label, record key) of the detail table, in page order.
FIELDS = (
    ("Numero", "Número", "numero"),
    ("Situacao", "Situação", "situacao"),
    ("TipoServico", "Tipo de serviço", "tipo_servico"),
    ("Cliente", "Cliente", "cliente"),
    ("Endereco", "Endereço", "endereco"),
    ("DataAbertura", "Data de abertura", "data_abertura"),
    ("Prazo", "Prazo", "prazo"),
    ("Tecnico", "Técnico", "tecnico"),
    ("Descricao", "Descrição", "descricao"),
    ("Valor", "Valor", "valor"),
    ("Quantidade", "Quantidade", "quantidade"),
)
_GENERATOR = {
    "login": "C2EE9ABB",
    "default": "CA0B0334",
    "consulta": "5A1F0E7D",
    "detalhe": "3B5A0F8E",
}
_DOCTYPE = (
    '<!DOCTYPE html PUBLIC "-//W3C//DTD XHTML 1.0 Transitional//EN" '
    '"http://www.w3.org/TR/xhtml1/DTD/xhtml1-transitional.dtd">\n'
)
_SCRIPT = """<script type="text/javascript">
//<![CDATA[
var theForm = document.forms['aspnetForm'];
if (!theForm) {
    theForm = document.aspnetForm;
}
function __doPostBack(eventTarget, eventArgument) {
    if (!theForm.onsubmit || (theForm.onsubmit() != false)) {
        theForm.__EVENTTARGET.value = eventTarget;
        theForm.__EVENTARGUMENT.value = eventArgument;
        theForm.submit();
    }
}
//]]>
</script>
"""


def _blob(prefix: str, size: int) -> str:
    return prefix + base64.b64encode(secrets.token_bytes(size)).decode()


def url_encode(text: str) -> str:
    """HttpUtility.UrlEncode's escapes: every reserved character, lowercase hex."""
    return re.sub(r"%[0-9A-F]{2}", lambda m: m[0].lower(), quote(text, safe=""))


def _local(url: str) -> bool:
    return url.startswith("/") and not url.startswith(("//", "/\\"))


def _head(title: str, css: str) -> str:
    return (
        f'{_DOCTYPE}<html xmlns="http://www.w3.org/1999/xhtml">\n<head><meta http-equiv='
        '"Content-Type" content="text/html; charset=windows-1252" /><title>\n\t'
        f'{escape(title)}\n</title><link href="{css}" type="text/css" rel="stylesheet" />'
        "</head>\n<body>\n"
    )


class AspNetHandler(FamilyHandler):
    ENCODING = "windows-1252"
    CONTENT_TYPE = "text/html; charset=windows-1252"
    HEADERS = (
        ("Cache-Control", "private"),
        ("X-AspNet-Version", "2.0.50727"),
        ("X-Powered-By", "ASP.NET"),
    )
    OPTIONS: ClassVar[dict[str, tuple[str, ...]]] = {"pager": ("postback", "link")}
    server_version = "Microsoft-IIS/6.0"

    def portal(self) -> None:
        path = self.url_path.lower()
        if path == "/login.aspx":
            self._login()
            return
        auth = self.session(AUTH_COOKIE)
        if auth is None:
            target = self.url_path + (f"?{self.raw_query}" if self.raw_query else "")
            self._redirect(f"/Login.aspx?ReturnUrl={url_encode(target)}")
        elif path in ("/", "/default.aspx"):
            body = '<h2>Bem-vindo</h2>\n<p><a href="OS/Consulta.aspx">Consultar OS</a></p>'
            self.send_html(200, self._master("default", "Início", body, auth["user"], ""))
        elif path == "/os/consulta.aspx":
            self._consulta(auth["user"])
        elif path == "/os/detalhe.aspx":
            self._detalhe(auth["user"])
        else:
            self._server_error(404, "The resource cannot be found.", "HttpException")

    # -------------------------------------------------------------- login
    def _login(self) -> None:
        headers = []
        if "ASP.NET_SessionId" not in self.cookies:
            sid = base64.b32encode(secrets.token_bytes(15)).decode().lower()
            headers.append(("Set-Cookie", f"ASP.NET_SessionId={sid}; path=/; HttpOnly"))
        form = self.form
        if self.method == "GET":
            self.send_html(200, self._login_page(), headers)
        elif self._posted_state("login") is None:
            self._mac_failed()
        elif ESQUECI in form:
            body = (
                '<div id="login">\n<h1>Recuperação de senha</h1>\n<p>Procure o administrador do '
                'sistema (ramal 4321) para redefinir sua senha.</p>\n<p><a href="Login.aspx">'
                "Voltar</a></p>\n</div>\n</body>\n</html>\n"
            )
            self.send_html(200, _head("Recuperação de senha", "estilo.css") + body, headers)
        elif form.get(ENTRAR) != "Entrar":  # no button pressed: the page again, no event
            self.send_html(200, self._login_page(form.get(USER, "")), headers)
        elif LEMBRAR in form or not self.credentials_ok(form.get(USER), form.get(PASSWORD)):
            page = self._login_page(form.get(USER, ""), "Usuário ou senha inválidos.")
            self.send_html(200, page, headers)
        else:
            token = secrets.token_hex(80).upper()
            with self.state.lock:
                self.state.sessions[token] = {"user": form[USER]}
                self.state.logins += 1
            return_url = self.query.get("ReturnUrl", "")
            headers.append(("Set-Cookie", f"{AUTH_COOKIE}={token}; path=/; HttpOnly"))
            self._redirect(return_url if _local(return_url) else "/Default.aspx", headers)

    def _login_page(self, usuario: str = "", erro: str | None = None) -> str:
        action = "./Login.aspx" + (f"?{self.raw_query}" if self.raw_query else "")
        value = f' value="{escape(usuario)}"' if usuario else ""
        label = f'<span id="ctl00_Main_lblErro" class="erro">{escape(erro)}</span>' if erro else ""
        body = f"""    <div id="login">
        <h1>Sistema de Ordens de Serviço</h1>
        <table class="login">
            <tr><td><label for="ctl00_Main_txtUsuario">Usuário:</label></td><td><input name="{USER}" type="text"{value} maxlength="50" id="ctl00_Main_txtUsuario" /></td></tr>
            <tr><td><label for="ctl00_Main_txtSenha">Senha:</label></td><td><input name="{PASSWORD}" type="password" maxlength="50" id="ctl00_Main_txtSenha" /></td></tr>
            <tr><td></td><td><input id="ctl00_Main_chkLembrar" type="checkbox" name="{LEMBRAR}" /><label for="ctl00_Main_chkLembrar">Lembrar-me neste computador</label></td></tr>
            <tr><td></td><td><input type="submit" name="{ENTRAR}" value="Entrar" id="ctl00_Main_btnEntrar" />
                <input type="submit" name="{ESQUECI}" value="Esqueci minha senha" id="ctl00_Main_btnEsqueci" class="link" /></td></tr>
        </table>
        {label}
    </div>
"""  # noqa: E501
        return (
            _head("Sistema de Ordens de Serviço - Acesso", "estilo.css")
            + self._form_open("form1", action, "login")
            + body
            + "    </form>\n</body>\n</html>\n"
        )

    # ------------------------------------------------------ webforms state
    def _form_open(
        self, form_id: str, action: str, page: str, events: set[str] | None = None, grid: int = 1
    ) -> str:
        """The form tag and its hidden state, remembered as issued with ``page``."""
        viewstate, validation = _blob("/wEPDwUK", 48), _blob("/wEW", 30)
        info = {"page": page, "ev": validation, "events": events or set(), "grid": grid}
        self.state.remember(viewstate, info)
        generator = _GENERATOR[page.partition(":")[0]]
        script = _SCRIPT.replace("aspnetForm", form_id) if events else ""
        return (
            f'    <form method="post" action="{escape(action)}" id="{form_id}">\n'
            '<div class="aspNetHidden">\n'
            '<input type="hidden" name="__EVENTTARGET" id="__EVENTTARGET" value="" />\n'
            '<input type="hidden" name="__EVENTARGUMENT" id="__EVENTARGUMENT" value="" />\n'
            f'<input type="hidden" name="__VIEWSTATE" id="__VIEWSTATE" value="{viewstate}" />\n'
            f"</div>\n\n{script}\n"
            '<div class="aspNetHidden">\n\t<input type="hidden" name="__VIEWSTATEGENERATOR" '
            f'id="__VIEWSTATEGENERATOR" value="{generator}" />\n\t<input type="hidden" '
            f'name="__EVENTVALIDATION" id="__EVENTVALIDATION" value="{validation}" />\n</div>\n'
        )

    def _posted_state(self, page: str) -> dict[str, Any] | None:
        """What the posted __VIEWSTATE was issued with, if issued with ``page`` and posted
        with its own __EVENTVALIDATION."""
        with self.state.lock:
            info = self.state.tokens.get(self.form.get("__VIEWSTATE", ""))
        if info is None or info["page"] != page or self.form.get("__EVENTVALIDATION") != info["ev"]:
            return None
        return info

    def _master(self, page: str, title: str, body: str, user: str, prefix: str, **kw: Any) -> str:
        """A page of the master page (``aspnetForm``); ``prefix`` leads to the site's root."""
        action = f"./{self.url_path.rsplit('/', 1)[-1]}" + (
            f"?{self.raw_query}" if self.raw_query else ""
        )
        return (
            _head(f"{title} - SisOS", f"{prefix}App_Themes/Padrao/estilo.css")
            + self._form_open("aspnetForm", action, page, **kw)
            + f'    <div id="cabecalho"><span class="logo">SisOS .NET</span> Usuário: '
            f'<span id="ctl00_lblUsuario">{escape(user)}</span> | <a href="{prefix}Default.aspx">'
            f'Início</a></div>\n    <div id="conteudo">\n{body}\n    </div>\n'
            '    <div id="rodape">© 2006 Informática Ltda.</div>\n    </form>\n</body>\n</html>\n'
        )

    # ---------------------------------------------------------- OS pages
    def _consulta(self, user: str) -> None:
        if self.method == "POST":
            if self._posted_state("consulta") is None:
                self._mac_failed()
                return
            if "ctl00$Main$btnConsultar" in self.form:
                with self.state.lock:
                    self.state.postbacks += 1
                numero = self.form.get("ctl00$Main$txtNumero", "").strip()
                self._redirect(f"/OS/Detalhe.aspx?num={quote(numero, safe='')}")
                return
        aviso = (
            '<span id="ctl00_Main_lblMensagem" class="aviso">OS não encontrada</span><br />\n'
            if self.query.get("erro") == "1"
            else ""
        )
        body = (
            f"<h2>Consulta de OS</h2>\n{aviso}"
            '<label for="ctl00_Main_txtNumero">Número da OS:</label> <input name='
            '"ctl00$Main$txtNumero" type="text" maxlength="6" id="ctl00_Main_txtNumero" />\n'
            '<input type="submit" name="ctl00$Main$btnConsultar" value="Consultar" '
            'id="ctl00_Main_btnConsultar" />'
        )
        self.send_html(200, self._master("consulta", "Consulta de OS", body, user, "../"))

    def _detalhe(self, user: str) -> None:
        record = family_record(self.query.get("num", "").strip())
        if record is None:
            self._redirect("/OS/Consulta.aspx?erro=1")
            return
        pages = page_count(record)
        link = self.state.options["pager"] == "link"
        if self.method == "GET":
            page = _int(self.query.get("pagina", "1")) if link else 1
            self.send_html(200, self._detail_page(record, min(max(page, 1), pages), user))
            return
        info = self._posted_state(f"detalhe:{record['numero']}")
        if info is None:
            self._mac_failed()
            return
        if "ctl00$Main$btnVoltar" in self.form:  # a button's click wins over __EVENTTARGET
            self._redirect("/OS/Consulta.aspx")
            return
        page = info["grid"]
        target, argument = self.form.get("__EVENTTARGET"), self.form.get("__EVENTARGUMENT")
        if target or argument:
            if target != GRID or argument not in info["events"]:
                self._server_error(
                    500, "Invalid postback or callback argument.", "ArgumentException"
                )
                return
            page = int(argument.removeprefix("Page$"))
        with self.state.lock:
            self.state.postbacks += 1
        self.send_html(200, self._detail_page(record, page, user))

    def _detail_page(self, record: dict, page: int, user: str) -> str:
        numero, pages = record["numero"], page_count(record)
        link = self.state.options["pager"] == "link"
        values = {
            **record,
            "descricao": "<br />".join(escape(s) for s in record["descricao"]),
            "valor": "R$ " + money(record["valor_centavos"]),
            "quantidade": thousands(record["quantidade"]),
        }
        rows = "\n".join(
            f'\t<tr><td class="rotulo">{label}:</td><td class="valor"><span id="ctl00_Main_lbl'
            f'{suffix}">{values[key] if key == "descricao" else escape(values[key])}'
            "</span></td></tr>"
            for suffix, label, key in FIELDS
        )
        body = (
            f"<h2>Ordem de Serviço nº {numero}</h2>\n"
            f'<table id="ctl00_Main_tblDados" class="dados">\n{rows}\n</table>\n'
            f"<h3>Histórico</h3>\n{_grid(record, page, link)}\n"
            '<input type="submit" name="ctl00$Main$btnVoltar" value="Voltar" '
            'id="ctl00_Main_btnVoltar" />'
        )
        events = set() if link else {f"Page${k}" for k in range(1, pages + 1) if k != page}
        title = f"Ordem de Serviço {numero}"
        return self._master(f"detalhe:{numero}", title, body, user, "../", events=events, grid=page)

    # ------------------------------------------------------------ answers
    def _redirect(self, location: str, headers: list[tuple[str, str]] | None = None) -> None:
        body = (
            "<html><head><title>Object moved</title></head><body>\r\n<h2>Object moved to "
            f'<a href="{escape(location)}">here</a>.</h2>\r\n</body></html>\r\n'
        )
        headers = [("Location", location), *(headers or [])]
        self.send(302, body.encode(), "text/html; charset=utf-8", headers)

    def _mac_failed(self) -> None:
        self._server_error(500, "Validation of viewstate MAC failed.", "HttpException")

    def _server_error(self, status: int, message: str, exception: str) -> None:
        """ASP.NET's yellow error page (UTF-8, as ASP.NET writes its own errors)."""
        html = (
            f"<html>\r\n    <head>\r\n        <title>{escape(message)}</title>\r\n    </head>\r\n"
            "    <body bgcolor=\"white\">\r\n            <span><H1>Server Error in '/' "
            "Application.<hr width=100% size=1 color=silver></H1>\r\n            <h2> <i>"
            f"{escape(message)}</i> </h2></span>\r\n            <b> Exception Details: </b>"
            f"System.Web.{exception}: {escape(message)}<br><br>\r\n    </body>\r\n</html>\r\n"
        )
        self.send(status, html.encode(), "text/html; charset=utf-8")


def _grid(record: dict, page: int, link: bool) -> str:
    """The history GridView; no table at all when empty (no EmptyDataText)."""
    rows = history_page(record, page)
    if not rows:
        return '<div>\n\n</div>\n<p class="vazio">Nenhum evento registrado.</p>'
    out = [
        "<div>",
        '\t<table class="grid" cellspacing="0" rules="all" border="1" '
        'id="ctl00_Main_gvHistorico" style="border-collapse:collapse;">',
        '\t\t<tr class="cabecalho">\n\t\t\t<th scope="col">Data</th><th scope="col">Evento</th>'
        '<th scope="col">Responsável</th>\n\t\t</tr>',
    ]
    for i, row in enumerate(rows):
        style = ' style="background-color:#F7F7DE;"' if i % 2 else ""
        out.append(
            f"\t\t<tr{style}>\n\t\t\t<td>{escape(row['data'])}</td><td>{escape(row['evento'])}"
            f"</td><td>{escape(row['responsavel'])}</td>\n\t\t</tr>"
        )
    pages, numero = page_count(record), record["numero"]
    if pages > 1:
        cells = []
        for k in range(1, pages + 1):
            if k == page:
                cells.append(f"<td><span>{k}</span></td>")
            elif link:
                cells.append(f'<td><a href="Detalhe.aspx?num={numero}&amp;pagina={k}">{k}</a></td>')
            else:
                cells.append(
                    f'<td><a href="javascript:__doPostBack(&#39;{GRID}&#39;,&#39;Page${k}&#39;)">'
                    f"{k}</a></td>"
                )
        out.append(
            '\t\t<tr class="pager">\n\t\t\t<td colspan="3"><table>\n\t\t\t\t<tr>\n\t\t\t\t\t'
            + "".join(cells)
            + "\n\t\t\t\t</tr>\n\t\t\t</table></td>\n\t\t</tr>"
        )
    out += ["\t</table>", "</div>"]
    return "\n".join(out)


def _int(text: str) -> int:
    return int(text) if text.isascii() and text.isdigit() else 1
