"""Forms submitted as a browser submits them, and ASP.NET postbacks (chalicelib/domain/forms.py)."""

from __future__ import annotations

from urllib.parse import parse_qsl, urlsplit

import pytest
from parsel import Selector

from chalicelib.domain.forms import (
    FormError,
    FormRequest,
    build_request,
    form_fields,
    parse_postback,
)

PAGE = "https://portal.test/OS/Consulta.aspx?modo=1"


def form(inner: str, attrs: str = "") -> Selector:
    """The first form of a page holding ``<form {attrs}>{inner}</form>``."""
    page = Selector(text=f"<html><body><p>x</p><form {attrs}>{inner}</form></body></html>")
    return page.css("form")[0]


ASPNET_LOGIN = """
  <input type="hidden" name="__EVENTTARGET" id="__EVENTTARGET" value="" />
  <input type="hidden" name="__EVENTARGUMENT" value="" />
  <input type="hidden" name="__VIEWSTATE" value="/wEPDwUKMTY1NDU2MTA1Mg==" />
  <input type="hidden" name="__VIEWSTATEGENERATOR" value="C2EE9ABB" />
  <input type="hidden" name="__EVENTVALIDATION" value="/wEWBALr7q+TBwK" />
  <input type="text" name="ctl00$Main$txtUsuario" value="" />
  <input type="password" name="ctl00$Main$txtSenha" />
  <input type="submit" name="ctl00$Main$btnEntrar" value="Entrar" />
  <input type="submit" name="ctl00$Main$btnEsqueci" value="Esqueci a senha" />
"""


# ------------------------------------------------------------------ hidden fields and buttons
def test_hidden_fields_are_kept_in_page_order_with_the_first_submit_pressed():
    # Given an ASP.NET login form with its hidden state and two submit buttons
    # When it is submitted without naming a button
    fields = form_fields(form(ASPNET_LOGIN))
    # Then every field goes back in order, and only the first submit button is pressed
    assert fields == [
        ("__EVENTTARGET", ""),
        ("__EVENTARGUMENT", ""),
        ("__VIEWSTATE", "/wEPDwUKMTY1NDU2MTA1Mg=="),
        ("__VIEWSTATEGENERATOR", "C2EE9ABB"),
        ("__EVENTVALIDATION", "/wEWBALr7q+TBwK"),
        ("ctl00$Main$txtUsuario", ""),
        ("ctl00$Main$txtSenha", ""),
        ("ctl00$Main$btnEntrar", "Entrar"),
    ]


def test_only_the_pressed_one_of_two_submit_buttons_is_sent():
    fields = dict(form_fields(form(ASPNET_LOGIN), submit="ctl00$Main$btnEsqueci"))
    assert fields["ctl00$Main$btnEsqueci"] == "Esqueci a senha"
    assert "ctl00$Main$btnEntrar" not in fields
    assert fields["__VIEWSTATE"] == "/wEPDwUKMTY1NDU2MTA1Mg=="


def test_no_button_is_pressed_on_a_postback():
    fields = form_fields(form(ASPNET_LOGIN), submit=None)
    assert [n for n, _ in fields if "btn" in n] == []
    assert len(fields) == 7


def test_a_jsf_view_state_is_carried():
    # Given a JSF form: its id as a field, and the view state with a dotted name
    jsf = """
      <input type="hidden" name="frmBusca" value="frmBusca" />
      <input type="text" name="frmBusca:numero" />
      <button name="frmBusca:buscar" type="submit">Buscar</button>
      <input type="hidden" name="javax.faces.ViewState" value="-123:456" autocomplete="off" />
    """
    request = build_request(form(jsf), PAGE, values={"frmBusca:numero": "123451"})
    assert request.fields == [
        ("frmBusca", "frmBusca"),
        ("frmBusca:numero", "123451"),
        ("frmBusca:buscar", ""),
        ("javax.faces.ViewState", "-123:456"),
    ]


def test_a_named_submit_missing_from_the_form_is_a_form_error():
    with pytest.raises(FormError, match="btnBuscar"):
        form_fields(form(ASPNET_LOGIN), submit="btnBuscar")


def test_a_disabled_submit_cannot_be_pressed():
    buttons = '<input type="submit" name="ok" value="OK" disabled>'
    with pytest.raises(FormError, match="ok"):
        form_fields(form(buttons), submit="ok")


def test_the_default_press_skips_unnamed_and_disabled_buttons():
    buttons = """
      <input type="submit" value="sem nome">
      <input type="submit" name="off" value="Off" disabled="disabled">
      <button type="button" name="js">JS</button>
      <input type="reset" name="limpar" value="Limpar">
      <button name="enviar" value="1">Enviar</button>
      <input type="submit" name="outro" value="Outro">
    """
    assert form_fields(form(buttons)) == [("enviar", "1")]


def test_a_form_without_any_submit_button_sends_only_its_fields():
    assert form_fields(form('<input name="q" value="x">')) == [("q", "x")]


@pytest.mark.parametrize("kind", ["button", "reset", "file"])
def test_buttons_that_do_not_submit_and_file_inputs_are_never_sent(kind):
    controls = f'<input type="{kind}" name="c" value="v"><input name="q" value="x">'
    assert form_fields(form(controls)) == [("q", "x")]


def test_an_image_button_sends_its_click_coordinates():
    buttons = '<input type="image" name="btnBuscar" src="lupa.gif"><input name="q" value="1">'
    assert form_fields(form(buttons)) == [("btnBuscar.x", "0"), ("btnBuscar.y", "0"), ("q", "1")]
    assert form_fields(form(buttons), submit="btnBuscar")[:2] == [
        ("btnBuscar.x", "0"),
        ("btnBuscar.y", "0"),
    ]


def test_input_types_are_read_in_any_case():
    controls = """
      <INPUT TYPE="HIDDEN" NAME="h" VALUE="1">
      <input type="CheckBox" name="c">
      <input type="SUBMIT" name="s" value="S">
    """
    assert form_fields(form(controls)) == [("h", "1"), ("s", "S")]


# ------------------------------------------------------------------ checkboxes, selects, textareas
def test_a_checkbox_is_sent_only_when_checked_and_on_by_default():
    boxes = """
      <input type="checkbox" name="lembrar">
      <input type="checkbox" name="aceito" checked>
      <input type="checkbox" name="tipo" value="urgente" checked="checked">
    """
    assert form_fields(form(boxes)) == [("aceito", "on"), ("tipo", "urgente")]


def test_only_the_checked_radio_of_a_group_is_sent():
    radios = """
      <input type="radio" name="busca" value="numero">
      <input type="radio" name="busca" value="cliente" checked>
    """
    assert form_fields(form(radios)) == [("busca", "cliente")]


def test_a_select_sends_its_selected_option_else_its_first():
    selects = """
      <select name="situacao">
        <option value="">Todas</option><option value="A" selected>Aberta</option>
      </select>
      <select name="ordem"><option value="data">Data</option><option value="n">Nº</option></select>
      <select name="vazio"></select>
    """
    assert form_fields(form(selects)) == [("situacao", "A"), ("ordem", "data")]


def test_an_option_without_a_value_sends_its_text_as_a_browser_does():
    # HTML: an option's value defaults to its text, white space stripped and collapsed
    selects = '<select name="uf"><option>\n   Rio   de Janeiro \n</option></select>'
    assert form_fields(form(selects)) == [("uf", "Rio de Janeiro")]


def test_a_multiple_select_sends_every_selected_option():
    selects = """
      <select name="tipos" multiple>
        <option value="1" selected>Um</option><option value="2">Dois</option>
        <option value="3" selected>Três</option>
      </select>
    """
    assert form_fields(form(selects)) == [("tipos", "1"), ("tipos", "3")]


def test_a_textarea_sends_its_text():
    assert form_fields(form('<textarea name="obs">Linha 1\nLinha 2</textarea>')) == [
        ("obs", "Linha 1\nLinha 2")
    ]
    assert form_fields(form('<textarea name="obs"></textarea>')) == [("obs", "")]


def test_disabled_controls_are_skipped():
    controls = """
      <input name="a" value="1" disabled>
      <select name="b" disabled><option value="x">X</option></select>
      <textarea name="c" disabled>t</textarea>
      <input type="checkbox" name="d" checked disabled>
      <input name="e" value="5">
    """
    assert form_fields(form(controls)) == [("e", "5")]


def test_an_input_without_a_value_or_type_is_an_empty_text():
    assert form_fields(form('<input name="q"><input name="r" value="">')) == [("q", ""), ("r", "")]


def test_controls_without_a_name_are_not_sent():
    controls = '<input value="anon"><select><option>x</option></select><input name="ok" value="1">'
    assert form_fields(form(controls)) == [("ok", "1")]


# ------------------------------------------------------------------ the request
def test_values_replace_existing_fields_in_place_and_new_ones_are_appended():
    request = build_request(
        form(ASPNET_LOGIN),
        PAGE,
        values={"ctl00$Main$txtSenha": "s3nha", "ctl00$Main$txtUsuario": "demo", "extra": "1"},
    )
    names = [n for n, _ in request.fields]
    assert names.index("ctl00$Main$txtUsuario") == 5
    assert dict(request.fields)["ctl00$Main$txtUsuario"] == "demo"
    assert dict(request.fields)["ctl00$Main$txtSenha"] == "s3nha"
    assert request.fields[-1] == ("extra", "1")


def test_a_relative_action_with_an_escaped_ampersand_is_resolved_against_the_page():
    request = build_request(form("", 'action="./Detalhe.aspx?id=7&amp;aba=2" method="post"'), PAGE)
    assert request.method == "POST"
    assert request.url == "https://portal.test/OS/Detalhe.aspx?id=7&aba=2"


def test_an_absolute_path_action_keeps_the_pages_origin():
    request = build_request(form("", 'action="/Login.aspx?ReturnUrl=%2fOS"'), PAGE)
    assert request.url == "https://portal.test/Login.aspx?ReturnUrl=%2fOS"


@pytest.mark.parametrize("attrs", ["", 'action=""', 'action="  "'])
def test_a_form_without_an_action_posts_to_the_page_url(attrs):
    assert build_request(form('<input name="q" value="1">', attrs), PAGE).url == PAGE


def test_the_fragment_of_the_action_is_not_requested():
    assert build_request(form("", 'action="Busca.aspx#topo"'), PAGE).url == (
        "https://portal.test/OS/Busca.aspx"
    )


def test_a_post_form_sends_its_fields_urlencoded_in_the_body():
    request = build_request(form(ASPNET_LOGIN), PAGE, values={"ctl00$Main$txtUsuario": "a b&c"})
    body = request.body("utf-8")
    assert parse_qsl(body.decode("ascii"), keep_blank_values=True) == request.fields
    assert b"ctl00%24Main%24txtUsuario=a+b%26c" in body
    assert request.target("utf-8") == PAGE


def test_a_get_form_puts_its_fields_in_the_query_replacing_the_actions():
    # Given a search form sent by GET to an action that has its own query
    search = '<input name="num" value=""><input type="submit" name="ir" value="Ir">'
    request = build_request(
        form(search, 'method="GET" action="/busca.php?velho=1#x"'), PAGE, values={"num": "12 3"}
    )
    # Then nothing is posted and the fields are the query
    assert request.method == "GET"
    assert request.body("utf-8") is None
    target = request.target("utf-8")
    assert urlsplit(target)._replace(query="").geturl() == "https://portal.test/busca.php"
    assert parse_qsl(urlsplit(target).query) == [("num", "12 3"), ("ir", "Ir")]


def test_the_body_is_encoded_in_the_pages_encoding():
    request = build_request(form('<input name="obs">'), PAGE, values={"obs": "Situação"})
    assert request.body("cp1252") == b"obs=Situa%E7%E3o"
    assert request.body("utf-8") == b"obs=Situa%C3%A7%C3%A3o"


def test_characters_the_page_encoding_lacks_are_sent_as_numeric_references():
    # Ω (U+03A9) is not in Windows-1252: a browser sends "&#937;"
    request = build_request(form('<input name="obs">'), PAGE, values={"obs": "Ω€"})
    assert request.body("cp1252") == b"obs=%26%23937%3B%80"
    get = FormRequest("GET", "https://portal.test/b", [("q", "Ωç")])
    assert get.target("cp1252") == "https://portal.test/b?q=%26%23937%3B%E7"


def test_a_link_request_has_no_body_and_targets_its_url():
    link = FormRequest("GET", "https://portal.test/h?p=2")
    assert link.body("utf-8") is None
    assert link.target("utf-8") == "https://portal.test/h?p=2"
    assert FormRequest("POST", "https://portal.test/x").body("utf-8") is None


# ------------------------------------------------------------------ postbacks
@pytest.mark.parametrize(
    "text,expected",
    [
        ("javascript:__doPostBack('ctl00$Main$gvHist','Page$2')", ("ctl00$Main$gvHist", "Page$2")),
        ('javascript:__doPostBack("gv","Page$Next")', ("gv", "Page$Next")),
        ("javascript:__doPostBack(&#39;gv&#39;,&#39;Page$3&#39;)", ("gv", "Page$3")),
        ("__doPostBack(&quot;gv&quot;,&quot;&quot;)", ("gv", "")),
        ("javascript:__doPostBack( 'gv' , 'Page$4' )", ("gv", "Page$4")),
        (
            "javascript:__doPostBack(%27ctl00%24gv%27%2C%27Page%245%27)",
            ("ctl00$gv", "Page$5"),
        ),
        ("javascript:__doPostBack('lnkProx','')", ("lnkProx", "")),
        ("__doPostBack('ctl00$gv','Page$6');return false;", ("ctl00$gv", "Page$6")),
        (
            "if (confirm('ok?')) { __doPostBack('a$b','Sort$data'); } return false;",
            ("a$b", "Sort$data"),
        ),
    ],
)
def test_a_postback_call_is_read_from_an_href_or_an_onclick(text, expected):
    assert parse_postback(text) == expected


@pytest.mark.parametrize(
    "text", ["", "javascript:void(0)", "/OS/Historico.aspx?p=2", "#", "__doPostBack()"]
)
def test_text_without_a_postback_call_is_none(text):
    assert parse_postback(text) is None
