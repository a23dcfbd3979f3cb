"""Parsing pages saved from the demo portal (tests/fixtures/portals/demo, Latin-1 as served)."""

from __future__ import annotations

import tomllib
from pathlib import Path

import pytest

from chalicelib.domain.parse import clean_value, next_page_url, parse_detail, parse_history
from chalicelib.domain.profile import DEFAULT_PROFILE_PATH, FieldRule, load_profile, parse_profile
from chalicelib.errors import LayoutChangedError, OsNotFoundError
from local.portal.data import record_for

PAGES = Path(__file__).resolve().parents[1] / "fixtures" / "portals" / "demo"
URL = "http://127.0.0.1:8001/os/123451"


@pytest.fixture(scope="module")
def profile():
    return load_profile(DEFAULT_PROFILE_PATH)


def page(name: str) -> str:
    return (PAGES / name).read_bytes().decode("iso-8859-1")


def test_detail_page_yields_every_field_cleaned(profile):
    fields = parse_detail(page("detail_default.html"), URL, profile)
    expected = record_for("123451")
    assert fields["numero"] == "123451"
    assert fields["cliente"] == expected["cliente"]
    assert fields["situacao"] == expected["situacao"]
    assert fields["data_abertura"].count("-") == 2  # ISO date
    assert fields["descricao"] == " ".join(expected["descricao"])
    assert "—" in fields["endereco"] or "&#" not in fields["endereco"]


def test_history_rows_come_from_every_page_in_order(profile):
    rows = []
    for name in ("detail_default.html", "detail_page2.html", "detail_last_page.html"):
        rows += parse_history(page(name), profile)
    expected = record_for("123451")["historico"]
    assert len(rows) == len(expected) == 23
    assert [r["evento"] for r in rows] == [e["evento"] for e in expected]
    assert rows[0]["data"].startswith("20") and "T" in rows[0]["data"]


def test_next_page_link_is_absolute_and_absent_on_the_last_page(profile):
    assert next_page_url(page("detail_default.html"), URL, profile) == URL + "?pagina=2"
    assert next_page_url(page("detail_last_page.html"), URL, profile) is None


def test_not_found_marker_raises_not_found(profile):
    with pytest.raises(OsNotFoundError):
        parse_detail(page("not_found.html"), URL, profile, "950000")


def test_drifted_layout_raises_layout_changed_naming_field_and_url(profile):
    with pytest.raises(LayoutChangedError) as info:
        parse_detail(page("detail_drifted.html"), URL, profile)
    assert info.value.field == "numero" and info.value.url == URL


def test_optional_field_missing_is_none_not_an_error(profile):
    html = page("detail_default.html").replace('id="tecnico"', 'id="outro"')
    assert parse_detail(html, URL, profile)["tecnico"] is None


def test_xpath_selectors_work_like_css_ones():
    # Given a profile using XPath for a field, a history column and the detail markers
    raw = tomllib.loads(DEFAULT_PROFILE_PATH.read_text(encoding="utf-8"))
    raw["fields"]["cliente"] = {"xpath": "//dd[@id='cliente']/text()"}
    raw["history"]["columns"]["evento"] = {"xpath": "./td[2]/text()"}
    raw["detail"]["not_found_selector"] = "xpath://p[contains(@class, 'aviso')]"
    raw["history"]["next_page_selector"] = "xpath://a[@class='proxima']/@href"
    profile = parse_profile(raw)
    # When the saved pages are parsed, then the results are the same as with CSS
    css = load_profile(DEFAULT_PROFILE_PATH)
    html = page("detail_default.html")
    assert parse_detail(html, URL, profile) == parse_detail(html, URL, css)
    assert parse_history(html, profile) == parse_history(html, css)
    assert next_page_url(html, URL, profile) == URL + "?pagina=2"
    with pytest.raises(OsNotFoundError):
        parse_detail(page("not_found.html"), URL, profile)


def test_a_page_without_history_rows_has_an_empty_history(profile):
    html = page("detail_default.html")
    start, end = html.index("<tbody>"), html.index("</tbody>")
    assert parse_history(html[:start] + "<tbody>" + html[end:], profile) == []


def test_a_required_date_that_does_not_parse_is_a_layout_change(profile):
    html = page("detail_default.html")
    start = html.index('<dd id="data_abertura">') + len('<dd id="data_abertura">')
    html = html[:start] + "ontem" + html[html.index("</dd>", start) :]
    with pytest.raises(LayoutChangedError) as info:
        parse_detail(html, URL, profile)
    assert info.value.field == "data_abertura"


def test_cleaning_rules():
    assert clean_value(FieldRule("x", "s"), ["  a \n b  "]) == "a b"
    assert clean_value(FieldRule("x", "s", clean="join"), ["a", "  ", "b\n"]) == "a b"
    assert (
        clean_value(FieldRule("x", "s", clean="date", formats=("%d/%m/%Y",)), ["05/03/2024"])
        == "2024-03-05"
    )
    assert (
        clean_value(
            FieldRule("x", "s", clean="datetime", formats=("%d/%m/%Y %H:%M",)),
            ["05/03/2024 07:09"],
        )
        == "2024-03-05T07:09"
    )
    assert clean_value(FieldRule("x", "s", clean="date", formats=("%d/%m/%Y",)), ["ontem"]) is None
    assert clean_value(FieldRule("x", "s"), []) is None
