"""Parsing pages of other portal families: values found by their label, history pages
followed by link or by ASP.NET postback, and ``profile check``'s explanation."""

from __future__ import annotations

import tomllib
from typing import Any
from urllib.parse import parse_qsl

import pytest
from parsel import Selector

from chalicelib.domain.fieldrules import field_rule, label_xpath
from chalicelib.domain.parse import explain_fields, first_link, next_history_request, parse_detail
from chalicelib.domain.profile import DEFAULT_PROFILE_PATH, PortalProfile, parse_profile
from chalicelib.errors import LayoutChangedError

URL = "https://portal.test/OS/Detalhe.aspx?num=123451"


def profile_with(*, fields: dict[str, Any] | None = None, **history: Any) -> PortalProfile:
    """The demo profile on https://portal.test with these fields and history keys."""
    raw = tomllib.loads(DEFAULT_PROFILE_PATH.read_text(encoding="utf-8"))
    raw["base_url"] = "https://portal.test"
    if fields is not None:
        raw["fields"] = fields
    raw["history"].pop("next_page_selector")
    raw["history"].update(history)
    return parse_profile(raw)


def by_label(label: str, html: str, **spec: Any) -> Any:
    """The value a ``label`` field finds on a page holding ``html``."""
    profile = profile_with(fields={"valor": {"label": label, **spec}})
    return parse_detail(f"<html><body>{html}</body></html>", URL, profile)["valor"]


# ------------------------------------------------------------------ label fields
def test_a_label_in_a_th_gives_the_text_of_the_next_td():
    html = "<table><tr><th>Situação</th><td> Aberta </td></tr></table>"
    assert by_label("Situação", html) == "Aberta"


def test_a_td_label_with_a_trailing_colon_matches_a_label_written_without_it():
    # Given a classic ASP page: <td class="rotulo">Cliente:</td><td>…</td>
    html = """
      <table>
        <tr><td class="rotulo">Número:</td><td>123451</td></tr>
        <tr><td class="rotulo">Cliente:</td><td class="valor">ACME  Ltda</td></tr>
      </table>"""
    # When the profile says label = "Cliente", then the next cell is its value
    assert by_label("Cliente", html) == "ACME Ltda"
    # And a label written with the colon finds it too
    assert by_label("Cliente:", html) == "ACME Ltda"


def test_a_dt_label_gives_the_text_of_its_dd():
    html = "<dl><dt>Técnico</dt><dd>João <b>Silva</b></dd><dt>Prazo</dt><dd>10/03/2024</dd></dl>"
    assert by_label("Prazo", html, clean="date") == "2024-03-10"
    assert by_label("Técnico", html, clean="join") == "João Silva"


def test_a_label_inside_a_panelgrid_cell_gives_the_span_of_the_next_cell():
    # Given a PrimeFaces panelGrid: <td><label/></td><td><span/></td>
    html = """
      <table id="frm:grid" class="ui-panelgrid ui-widget">
        <tbody>
          <tr class="ui-widget-content">
            <td class="ui-panelgrid-cell"><label class="ui-outputlabel">Cliente</label></td>
            <td class="ui-panelgrid-cell"><span id="frm:cliente">ACME Ltda</span></td>
          </tr>
          <tr class="ui-widget-content">
            <td class="ui-panelgrid-cell"><label class="ui-outputlabel">Abertura:</label></td>
            <td class="ui-panelgrid-cell"><span>10/03/2024 14:30</span></td>
          </tr>
        </tbody>
      </table>"""
    assert by_label("Cliente", html) == "ACME Ltda"
    assert by_label("Abertura", html, clean="datetime") == "2024-03-10T14:30"


def test_a_label_followed_by_a_span_in_the_same_cell_gives_the_span():
    html = "<div><label for='x'>Endereço:</label><span id='x'>Rua A, 1</span></div>"
    assert by_label("Endereço", html) == "Rua A, 1"


@pytest.mark.parametrize("label", ["Nº d'ordem", 'Código "interno" d\'OS', "'"])
def test_a_label_with_quotes_or_an_apostrophe_is_found(label):
    text = label.replace('"', "&quot;").replace("'", "&#39;")
    html = f"<table><tr><th>{text}:</th><td>X-9</td></tr></table>"
    assert by_label(label, html) == "X-9"


def test_white_space_in_the_page_label_and_in_the_profile_label_is_collapsed():
    html = "<table><tr><th>\n   Data   de\n\tabertura:\n</th><td>01/02/2024</td></tr></table>"
    assert by_label("  Data de   abertura ", html, clean="date") == "2024-02-01"


def test_a_non_breaking_space_after_the_label_is_white_space():
    # Given the ASP habit <td>Cliente:&nbsp;</td> (rendered "Cliente: ")
    html = "<table><tr><td>Cliente:&nbsp;</td><td>ACME</td></tr></table>"
    # Then label = "Cliente" finds it: white space is collapsed, a trailing ':' ignored
    assert by_label("Cliente", html) == "ACME"


def test_the_first_occurrence_of_a_label_wins():
    html = """
      <table><tr><th>Cliente</th><td>Primeiro</td></tr></table>
      <table><tr><th>Cliente</th><td>Segundo</td></tr></table>"""
    assert by_label("Cliente", html) == "Primeiro"


def test_a_label_matches_the_whole_text_not_a_part_of_it():
    html = """
      <table><tr><th>Cliente final</th><td>Errado</td></tr>
      <tr><th>Código do Cliente</th><td>Errado</td></tr>
      <tr><th>Cliente</th><td>Certo</td></tr></table>"""
    assert by_label("Cliente", html) == "Certo"


def test_a_label_in_an_element_that_is_not_a_label_tag_is_not_used():
    html = "<div>Cliente</div><div>Errado</div>"
    profile = profile_with(fields={"valor": {"label": "Cliente", "required": False}})
    assert parse_detail(html, URL, profile)["valor"] is None


def test_a_required_label_that_is_missing_is_a_layout_change():
    with pytest.raises(LayoutChangedError):
        by_label("Cliente", "<table><tr><th>Nome</th><td>ACME</td></tr></table>")


def test_a_label_rule_is_an_xpath_that_remembers_the_label():
    rule = field_rule("cliente", {"label": "Cliente:"}, "fields.cliente")
    assert (rule.kind, rule.label, rule.selector) == ("xpath", "Cliente:", label_xpath("Cliente"))
    assert rule.shown() == "label 'Cliente:'"


# ------------------------------------------------------------------ first_link
def test_first_link_resolves_a_relative_href_with_an_escaped_ampersand():
    html = '<a class="hist" href="../Hist/Lista.aspx?num=1&amp;pag=2">Histórico</a>'
    link = first_link(html, URL, "a.hist::attr(href)")
    assert link == "https://portal.test/Hist/Lista.aspx?num=1&pag=2"


def test_first_link_skips_blank_matches_and_keeps_an_absolute_url():
    html = '<a class="p" href="  "></a><a class="p" href="https://portal.test/p/3">3</a>'
    assert first_link(html, URL, "a.p::attr(href)") == "https://portal.test/p/3"


def test_first_link_reads_a_frame_src_with_an_xpath_selector():
    html = '<frameset><frame name="menu" src="m.htm"><frame name="principal" src="os.asp?n=1">'
    selector = "xpath://frame[@name='principal']/@src"
    assert first_link(html, URL, selector) == "https://portal.test/OS/os.asp?n=1"


def test_first_link_is_none_when_nothing_matches():
    assert first_link("<p>fim</p>", URL, "a.proxima::attr(href)") is None


# ------------------------------------------------------------------ next history page
LINK_PAGE = """<html><body><table class="historico"><tbody><tr><td>x</td></tr></tbody></table>
  <a class="proxima" href="historico.asp?num=123451&amp;pagina=2">Próxima</a></body></html>"""


def test_the_next_page_by_link_is_a_get_of_the_resolved_href():
    profile = profile_with(next_page_selector="a.proxima::attr(href)")
    request = next_history_request(LINK_PAGE, URL, profile)
    assert request is not None
    assert request.method == "GET" and request.fields is None
    assert request.url == "https://portal.test/OS/historico.asp?num=123451&pagina=2"


def test_there_is_no_next_page_by_link_on_the_last_page():
    profile = profile_with(next_page_selector="a.proxima::attr(href)")
    last = "<html><body><span class='proxima'>Próxima</span></body></html>"
    assert next_history_request(last, URL, profile) is None


def test_a_history_without_pagination_has_no_next_page():
    assert next_history_request(LINK_PAGE, URL, profile_with()) is None


def test_a_profile_without_history_has_no_next_page():
    raw = tomllib.loads(DEFAULT_PROFILE_PATH.read_text(encoding="utf-8"))
    raw.pop("history")
    assert next_history_request(LINK_PAGE, URL, parse_profile(raw)) is None


def pager(current: int, last: int) -> str:
    """An ASP.NET GridView pager: the current page a span, the others postback links."""
    cells = [
        f"<td><span>{n}</span></td>"
        if n == current
        else f"<td><a href=\"javascript:__doPostBack('ctl00$Main$gvHist','Page${n}')\">{n}</a></td>"
        for n in range(1, last + 1)
    ]
    return "".join(cells)


def gridview_page(current: int = 1, last: int = 3, form_id: str = "aspnetForm") -> str:
    return f"""<html><body>
<form name="aspnetForm" method="post" action="./Historico.aspx?num=123451&amp;aba=h" id="{form_id}">
  <input type="hidden" name="__EVENTTARGET" id="__EVENTTARGET" value="" />
  <input type="hidden" name="__EVENTARGUMENT" id="__EVENTARGUMENT" value="" />
  <input type="hidden" name="__VIEWSTATE" id="__VIEWSTATE" value="/wEPDwUJNzA0Mj==" />
  <input type="hidden" name="__EVENTVALIDATION" value="/wEdAAK" />
  <input type="text" name="ctl00$Main$txtFiltro" value="" />
  <input type="submit" name="ctl00$Main$btnFiltrar" value="Filtrar" />
  <table id="ctl00_Main_gvHist" class="grid">
    <tr><th>Data</th><th>Evento</th></tr>
    <tr><td>10/03/2024 14:30</td><td>Aberta</td></tr>
    <tr class="pager"><td colspan="2"><table><tr>{pager(current, last)}</tr></table></td></tr>
  </table>
</form></body></html>"""


POSTBACK_PAGE = gridview_page()
#: The link in the pager cell after the current page's.
PAGER = "xpath://tr[@class='pager']//td[span]/following-sibling::td[1]/a/@href"


def postback_profile(**keys: Any) -> PortalProfile:
    return profile_with(
        row_selector="table.grid tr:not(.pager):not(:first-child)",
        next_postback_selector=PAGER,
        **keys,
    )


def test_the_next_page_by_postback_posts_the_pages_form_with_the_event():
    # Given an ASP.NET GridView page whose pager calls __doPostBack
    profile = postback_profile(postback_form_selector="form#aspnetForm")
    # When the next history page is asked for
    request = next_history_request(POSTBACK_PAGE, URL, profile)
    # Then the form is posted to its action with the event in place of the empty hidden fields
    assert request is not None
    assert request.method == "POST"
    assert request.url == "https://portal.test/OS/Historico.aspx?num=123451&aba=h"
    assert request.fields == [
        ("__EVENTTARGET", "ctl00$Main$gvHist"),
        ("__EVENTARGUMENT", "Page$2"),
        ("__VIEWSTATE", "/wEPDwUJNzA0Mj=="),
        ("__EVENTVALIDATION", "/wEdAAK"),
        ("ctl00$Main$txtFiltro", ""),
    ]
    body = request.body("cp1252")
    assert parse_qsl(body.decode("ascii"), keep_blank_values=True) == request.fields


def test_the_postback_form_defaults_to_the_pages_first_form():
    request = next_history_request(POSTBACK_PAGE, URL, postback_profile())
    assert request is not None
    assert dict(request.fields)["__EVENTARGUMENT"] == "Page$2"


def test_a_postback_form_without_event_fields_gets_them_appended():
    page = POSTBACK_PAGE.replace('name="__EVENTTARGET"', 'name="x1"').replace(
        'name="__EVENTARGUMENT"', 'name="x2"'
    )
    request = next_history_request(page, URL, postback_profile())
    assert request is not None
    assert request.fields[-2:] == [
        ("__EVENTTARGET", "ctl00$Main$gvHist"),
        ("__EVENTARGUMENT", "Page$2"),
    ]


def test_a_postback_link_without_its_form_is_a_layout_change():
    profile = postback_profile(postback_form_selector="form#aspnetForm")
    page = gridview_page(form_id="outro")
    with pytest.raises(LayoutChangedError) as info:
        next_history_request(page, URL, profile)
    assert "postback_form_selector" in str(info.value)


def test_there_is_no_next_page_by_postback_on_the_last_page():
    # Given the pager of page 3 of 3: no link after the current page
    last = gridview_page(current=3, last=3)
    # Then there is no next page, while page 2 of 3 has one
    assert next_history_request(last, URL, postback_profile()) is None
    request = next_history_request(gridview_page(current=2), URL, postback_profile())
    assert request is not None and dict(request.fields)["__EVENTARGUMENT"] == "Page$3"


def test_a_matched_link_that_is_not_a_postback_is_no_next_page():
    page = POSTBACK_PAGE.replace(
        "javascript:__doPostBack('ctl00$Main$gvHist','Page$2')", "javascript:void(0)"
    ).replace("javascript:__doPostBack('ctl00$Main$gvHist','Page$3')", "#")
    assert next_history_request(page, URL, postback_profile()) is None


def test_a_postback_in_an_onclick_is_followed():
    page = """<form action="h.aspx"><input type="hidden" name="__VIEWSTATE" value="v" />
      <a id="prox" href="#" onclick="__doPostBack('lnkProxima','');return false;">Próxima</a>
    </form>"""
    profile = profile_with(next_postback_selector="a#prox::attr(onclick)")
    request = next_history_request(page, URL, profile)
    assert request is not None
    assert request.url == "https://portal.test/OS/h.aspx"
    assert request.fields == [
        ("__VIEWSTATE", "v"),
        ("__EVENTTARGET", "lnkProxima"),
        ("__EVENTARGUMENT", ""),
    ]


# ------------------------------------------------------------------ explain_fields
def test_explain_fields_tells_what_each_selector_matched_and_why_a_value_is_missing():
    # Given rules that find a value, find nothing, and find text that is not a date
    rules = (
        field_rule("cliente", {"label": "Cliente"}, "fields.cliente"),
        field_rule("tecnico", {"css": "dd#tecnico::text", "required": False}, "fields.tecnico"),
        field_rule("prazo", {"css": "dd#prazo::text", "clean": "date"}, "fields.prazo"),
    )
    page = Selector(
        text="<dl><dt>Cliente</dt><dd> ACME </dd><dt>Prazo</dt><dd id='prazo'>amanhã</dd></dl>"
    )
    # When they are explained
    cliente, tecnico, prazo = explain_fields(page, rules, "fields")
    # Then each says its key, its selector as written, its matches and its value or problem
    assert (cliente.key, cliente.shown, cliente.matches, cliente.value) == (
        "fields.cliente",
        "label 'Cliente'",
        1,
        "ACME",
    )
    assert cliente.problem == ""
    assert (tecnico.shown, tecnico.matches, tecnico.value, tecnico.required) == (
        "css 'dd#tecnico::text'",
        0,
        None,
        False,
    )
    assert tecnico.problem == "selector matched nothing"
    assert (prazo.matches, prazo.value, prazo.clean) == (1, None, "date")
    assert prazo.problem == "matched text does not read as the field's type"
