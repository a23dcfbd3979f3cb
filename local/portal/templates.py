"""The portal's HTML, in its two layouts: "default" and "drifted" (field markup changed).

The hostile modes only change where a link points (the login form's ``action``, the
"próxima" link) and how many history rows a page holds; their defaults give the pages
the portal always served (``tests/fixtures/portals/demo``)."""

from __future__ import annotations

from html import escape

from local.portal.data import HISTORY_PAGE_SIZE, history_pages

_LABELS = [
    ("numero", "Número"),
    ("situacao", "Situação"),
    ("tipo_servico", "Tipo de serviço"),
    ("cliente", "Cliente"),
    ("endereco", "Endereço"),
    ("data_abertura", "Data de abertura"),
    ("prazo", "Prazo"),
    ("tecnico", "Técnico responsável"),
    ("descricao", "Descrição"),
]


def _page(title: str, body: str) -> str:
    return (
        '<!DOCTYPE html>\n<html lang="pt-BR"><head>'
        '<meta http-equiv="Content-Type" content="text/html; charset=iso-8859-1">'
        f"<title>{escape(title)} - Portal de Ordens de Serviço</title></head>\n<body>\n"
        '<div id="cabecalho"><span class="logo">PortalOS 2.3</span></div>\n'
        f'{body}\n<div id="rodape">© Sistemas Legados S.A.</div>\n</body></html>\n'
    )


def login_page(
    csrf_token: str, next_url: str, error: str | None = None, action: str = "/login"
) -> str:
    erro = f'<div class="erro">{escape(error)}</div>\n' if error else ""
    return _page(
        "Entrar",
        (
            f"<h1>Acesso ao portal</h1>\n{erro}"
            f'<form id="login-form" method="post" action="{escape(action)}">\n'
            f'  <input type="hidden" name="csrf_token" value="{escape(csrf_token)}">\n'
            '  <input type="hidden" name="origem" value="portal">\n'
            f'  <input type="hidden" name="next" value="{escape(next_url)}">\n'
            '  <label>Usuário <input type="text" name="usuario"></label>\n'
            '  <label>Senha <input type="password" name="senha"></label>\n'
            '  <button type="submit">Entrar</button>\n</form>'
        ),
    )


def home_page() -> str:
    return _page("Início", "<h1>Bem-vindo</h1><p>Consulte uma OS pelo endereço /os/número.</p>")


def not_found_page(numero: str) -> str:
    return _page(
        "OS",
        f'<h1>Consulta de OS</h1>\n<p class="aviso">OS não encontrada</p>\n'
        f"<p>Número pesquisado: {escape(numero)}</p>",
    )


def _value(record: dict, key: str) -> str:
    value = record[key]
    if isinstance(value, list):
        return "<br>\n".join(escape(v) for v in value)
    return escape(value)


def _history_rows(record: dict, page: int, drifted: bool, page_size: int) -> str:
    start = (page - 1) * page_size
    rows = []
    for item in record["historico"][start : start + page_size]:
        if drifted:
            rows.append(
                f"<li><span>{escape(item['data'])}</span> — {escape(item['evento'])} "
                f"({escape(item['responsavel'])})</li>"
            )
        else:
            rows.append(
                f'<tr><td class="data">{escape(item["data"])}</td>'
                f'<td class="evento">{escape(item["evento"])}</td>'
                f'<td class="responsavel">{escape(item["responsavel"])}</td></tr>'
            )
    return "\n".join(rows)


def detail_page(
    record: dict,
    page: int,
    layout: str = "default",
    *,
    page_size: int = HISTORY_PAGE_SIZE,
    next_href: str | None = None,
) -> str:
    """One page of an OS; ``next_href`` makes every page's "próxima" link point there."""
    numero = record["numero"]
    pages = history_pages(record, page_size)
    drifted = layout == "drifted"
    if drifted:
        fields = "\n".join(
            f'<tr><th>{label}</th><td data-campo="{key}">{_value(record, key)}</td></tr>'
            for key, label in _LABELS
        )
        fields = f'<table class="ficha">\n{fields}\n</table>'
        history = f'<ul class="eventos">\n{_history_rows(record, page, True, page_size)}\n</ul>'
    else:
        fields = "\n".join(
            f'  <dt>{label}</dt><dd id="{key}">{_value(record, key)}</dd>' for key, label in _LABELS
        )
        fields = f'<dl class="os-detalhe">\n{fields}\n</dl>'
        rows = _history_rows(record, page, False, page_size)
        history = (
            '<table class="historico">\n<thead><tr><th>Data</th><th>Evento</th>'
            f"<th>Responsável</th></tr></thead>\n<tbody>\n{rows}\n</tbody>\n</table>"
        )
    nav = f"Página {page} de {pages}"
    if page > 1:
        nav += f' <a class="anterior" href="/os/{numero}?pagina={page - 1}">anterior</a>'
    if next_href is not None:
        nav += f' <a class="proxima" href="{escape(next_href)}">próxima</a>'
    elif page < pages:
        nav += f' <a class="proxima" href="/os/{numero}?pagina={page + 1}">próxima</a>'
    return _page(
        f"OS {numero}",
        (
            f"<h1>Ordem de Serviço nº {escape(numero)}</h1>\n{fields}\n"
            f'<h2>Histórico</h2>\n{history}\n<div class="paginacao">{nav}</div>'
        ),
    )
