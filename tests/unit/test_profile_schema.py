"""The profile format, version 1: its schema, the rules between keys, and errors that name
the key and its line (chalicelib/domain/profileschema.py, profile.py, fieldrules.py)."""

from __future__ import annotations

import tomllib
from pathlib import Path
from typing import Any, Callable

import pytest

from chalicelib.domain.profile import DEFAULT_PROFILE_PATH, load_profile, parse_profile
from chalicelib.domain.profileschema import SCHEMA, VERSION, check, fail, locate
from chalicelib.errors import ProfileError

DEMO = DEFAULT_PROFILE_PATH.read_text(encoding="utf-8")


@pytest.fixture
def raw() -> dict[str, Any]:
    return tomllib.loads(DEMO)


def refused(raw: dict[str, Any]) -> ProfileError:
    with pytest.raises(ProfileError) as info:
        parse_profile(raw)
    return info.value


def line_of(text: str, needle: str) -> int:
    """The 1-based line of the first line of ``text`` containing ``needle``."""
    return next(n for n, line in enumerate(text.splitlines(), 1) if needle in line)


def test_the_demo_profile_is_valid_for_the_schema(raw):
    check(raw)
    assert parse_profile(raw).version == VERSION == 1


# ------------------------------------------------------------------ version
def test_a_profile_without_a_version_is_refused_naming_version(raw):
    raw.pop("version")
    error = refused(raw)
    assert error.key == "version"
    assert str(error).startswith("version: ")


@pytest.mark.parametrize("version", [2, 0, "1"])
def test_another_version_is_refused_saying_which_version_is_read(raw, version):
    raw["version"] = version
    error = refused(raw)
    assert error.key == "version"
    assert repr(version) in str(error) and "version = 1" in str(error)


def test_a_version_that_is_not_an_integer_is_refused(raw):
    raw["version"] = True
    error = refused(raw)
    assert (error.key, str(error)) == ("version", "version: must be an integer")


# ------------------------------------------------------------------ unknown keys
@pytest.mark.parametrize(
    "mutate,key,hint",
    [
        (lambda r: r.update(base_ulr="https://x.test"), "base_ulr", "base_url"),
        (lambda r: r.update(encodng="utf-8"), "encodng", "encoding"),
        (lambda r: r["login"].update(usernme_field="u"), "login.usernme_field", "username_field"),
        (
            lambda r: r["detail"].update(not_found_stats=[404]),
            "detail.not_found_stats",
            "not_found_status",
        ),
        (lambda r: r["fields"]["prazo"].update(requred=False), "fields.prazo.requred", "required"),
        (
            lambda r: r["history"]["columns"]["data"].update(fromats=["%d"]),
            "history.columns.data.fromats",
            "formats",
        ),
        (lambda r: r["history"].update(row_selectr="tr"), "history.row_selectr", "row_selector"),
    ],
)
def test_an_unknown_key_is_refused_with_the_closest_known_key(raw, mutate, key, hint):
    mutate(raw)
    error = refused(raw)
    assert error.key == key
    assert str(error).startswith(f"{key}: unknown key")
    assert f"(did you mean {hint}?)" in str(error)


def test_an_unknown_key_unlike_any_other_lists_the_known_ones(raw):
    raw["login"]["zzz"] = 1
    message = str(refused(raw))
    assert "did you mean" not in message
    assert "known here: url, form_selector, username_field" in message


# ------------------------------------------------------------------ types and missing keys
@pytest.mark.parametrize(
    "mutate,key,expected",
    [
        (lambda r: r["login"].update(expired_status="401"), "login.expired_status", "integers"),
        (
            lambda r: r["login"].update(expired_status=[401, "440"]),
            "login.expired_status",
            "integers",
        ),
        (lambda r: r["login"].update(expired_status=[True]), "login.expired_status", "integers"),
        (lambda r: r["detail"].update(not_found_status=404), "detail.not_found_status", "integers"),
        (lambda r: r["detail"].update(frames=[1]), "detail.frames", "a list of strings"),
        (lambda r: r["numero"].update(max_length="12"), "numero.max_length", "an integer"),
        (lambda r: r["numero"].update(max_length=1.5), "numero.max_length", "an integer"),
        (lambda r: r.update(allow_insecure="yes"), "allow_insecure", "true or false"),
        (lambda r: r.update(name=5), "name", "a string"),
        (lambda r: r.update(login="/login"), "login", "a table"),
        (lambda r: r.update(fields=["numero"]), "fields", "a table of named tables"),
        (lambda r: r["fields"].update(cliente="dd"), "fields.cliente", "a table"),
        (lambda r: r["fields"]["prazo"].update(formats=5), "fields.prazo.formats", "strings"),
        (lambda r: r["fields"]["prazo"].update(required="no"), "fields.prazo.required", "true"),
        (lambda r: r["fields"]["cliente"].update(css=["dd"]), "fields.cliente.css", "a string"),
    ],
)
def test_a_value_of_the_wrong_type_is_refused_saying_the_type(raw, mutate, key, expected):
    mutate(raw)
    error = refused(raw)
    assert error.key == key
    assert str(error).startswith(f"{key}: must be ") and expected in str(error)


@pytest.mark.parametrize(
    "mutate,key,expected",
    [
        (lambda r: r.pop("base_url"), "base_url", "base_url: missing"),
        (lambda r: r.pop("login"), "login", "login: missing [login] table"),
        (lambda r: r.pop("fields"), "fields", "fields: missing [fields.<name>] table"),
        (lambda r: r["login"].pop("failure_selector"), "login.failure_selector", "missing"),
        (lambda r: r["history"].pop("columns"), "history.columns", "missing"),
        (lambda r: r.update(fields={}), "fields", "needs at least one [fields.<name>] table"),
    ],
)
def test_a_missing_required_key_is_refused_naming_it(raw, mutate, key, expected):
    mutate(raw)
    error = refused(raw)
    assert error.key == key and expected in str(error)


def test_optional_keys_and_tables_may_be_left_out(raw):
    raw.pop("history")
    raw.pop("name")
    raw.pop("encoding")
    raw["login"].pop("login_page_marker")
    profile = parse_profile(raw)
    assert profile.history is None and profile.encoding == "auto"
    assert profile.login.login_page_marker == profile.login.form_selector
    assert profile.login.expired_status == (401, 440)


def test_a_single_string_is_accepted_where_a_list_of_strings_is(raw):
    raw["detail"]["frames"] = "frame[name=principal]::attr(src)"
    assert parse_profile(raw).detail.frames == ("frame[name=principal]::attr(src)",)


# ------------------------------------------------------------------ detail rules
def test_a_search_form_without_its_number_field_is_refused(raw):
    raw["detail"].update(url="/OS/Consulta.xhtml", form_selector="form#frmBusca")
    error = refused(raw)
    assert error.key == "detail.number_field"
    assert "required with detail.form_selector" in str(error)


@pytest.mark.parametrize("key", ["number_field", "submit"])
def test_search_form_keys_without_a_search_form_are_refused(raw, key):
    raw["detail"][key] = "frmBusca:numero"
    error = refused(raw)
    assert error.key == f"detail.{key}" and "only goes with detail.form_selector" in str(error)


def test_a_detail_url_without_numero_is_refused_unless_a_search_form_is_posted(raw):
    raw["detail"]["url"] = "/OS/Consulta.xhtml"
    error = refused(raw)
    assert error.key == "detail.url" and "{numero}" in str(error)
    # And with a search form, the number goes in the form instead
    raw["detail"].update(form_selector="form#frmBusca", number_field="frmBusca:numero")
    detail = parse_profile(raw).detail
    assert (detail.url, detail.form_selector, detail.number_field) == (
        "/OS/Consulta.xhtml",
        "form#frmBusca",
        "frmBusca:numero",
    )


def test_a_detail_without_any_not_found_key_is_refused_naming_all_three(raw):
    raw["detail"].pop("not_found_selector")
    error = refused(raw)
    assert error.key == "detail.not_found_selector"
    for key in ("not_found_selector", "not_found_redirect", "not_found_status"):
        assert key in str(error)


@pytest.mark.parametrize(
    "key,value", [("not_found_redirect", "/OS/Consulta.aspx"), ("not_found_status", [404])]
)
def test_any_one_not_found_key_is_enough(raw, key, value):
    raw["detail"].pop("not_found_selector")
    raw["detail"][key] = value
    assert getattr(parse_profile(raw).detail, key) in (value, tuple(value))


def test_a_not_found_redirect_must_be_a_path(raw):
    raw["detail"]["not_found_redirect"] = "OS/Consulta.aspx"
    assert refused(raw).key == "detail.not_found_redirect"


# ------------------------------------------------------------------ history rules
def test_a_history_url_and_link_selector_together_are_refused(raw):
    raw["history"].update(url="/hist?id={numero}", link_selector="a#hist::attr(href)")
    error = refused(raw)
    assert error.key == "history.link_selector" and "not both" in str(error)


def test_both_pagination_selectors_together_are_refused(raw):
    raw["history"]["next_postback_selector"] = "tr.pager a::attr(href)"
    error = refused(raw)
    assert error.key == "history.next_postback_selector" and "not both" in str(error)


def test_a_history_url_without_numero_is_refused(raw):
    raw["history"]["url"] = "/historico.php"
    error = refused(raw)
    assert (error.key, str(error)) == ("history.url", "history.url: must contain {numero}")


def test_a_history_on_its_own_page_or_behind_a_link_is_accepted(raw):
    raw["history"]["url"] = "/historico.php?id={numero}"
    assert parse_profile(raw).history_url("12") == "http://127.0.0.1:8001/historico.php?id=12"
    raw["history"].pop("url")
    raw["history"]["link_selector"] = "a#hist::attr(href)"
    history = parse_profile(raw).history
    assert history.link_selector == "a#hist::attr(href)" and history.url == ""


def test_a_label_in_a_history_column_is_refused(raw):
    raw["history"]["columns"]["evento"] = {"label": "Evento"}
    error = refused(raw)
    assert error.key == "history.columns.evento"
    assert "needs exactly one of css or xpath" in str(error)


def test_the_postback_form_defaults_to_the_first_form(raw):
    raw["history"].pop("next_page_selector")
    raw["history"]["next_postback_selector"] = "tr.pager a::attr(href)"
    assert parse_profile(raw).history.postback_form_selector == "form"


# ------------------------------------------------------------------ field rules
@pytest.mark.parametrize(
    "spec",
    [{}, {"css": "dd", "xpath": "//dd"}, {"css": "dd", "label": "Cliente"}, {"clean": "date"}],
)
def test_a_field_needs_exactly_one_of_css_xpath_or_label(raw, spec):
    raw["fields"]["cliente"] = spec
    error = refused(raw)
    assert error.key == "fields.cliente" and "needs exactly one of css, xpath or label" in str(
        error
    )


@pytest.mark.parametrize("kind", ["css", "xpath", "label"])
def test_an_empty_selector_or_label_is_refused(raw, kind):
    raw["fields"]["cliente"] = {kind: "  "}
    assert refused(raw).key == f"fields.cliente.{kind}"


def test_an_unknown_cleaner_is_refused_listing_the_cleaners(raw):
    raw["fields"]["cliente"]["clean"] = "upper"
    error = refused(raw)
    assert error.key == "fields.cliente.clean"
    assert "text, strip, join, date, datetime, integer, decimal" in str(error)


@pytest.mark.parametrize("clean", ["text", "join", "integer", "decimal"])
def test_formats_with_a_cleaner_that_is_not_a_date_are_refused(raw, clean):
    raw["fields"]["cliente"].update(clean=clean, formats=["%d/%m/%Y"])
    error = refused(raw)
    assert error.key == "fields.cliente.formats" and "date" in str(error)


@pytest.mark.parametrize("clean", ["text", "date", "decimal", "integer"])
def test_a_separator_without_join_is_refused(raw, clean):
    raw["fields"]["cliente"].update(clean=clean, separator=", ")
    error = refused(raw)
    assert error.key == "fields.cliente.separator" and "'join'" in str(error)


@pytest.mark.parametrize("clean", ["text", "join", "date"])
def test_a_decimal_separator_with_a_cleaner_that_is_not_a_number_is_refused(raw, clean):
    raw["fields"]["cliente"].update(clean=clean, decimal_separator=".")
    assert refused(raw).key == "fields.cliente.decimal_separator"


@pytest.mark.parametrize("separator", [";", "", " ", ",."])
def test_a_decimal_separator_other_than_comma_or_dot_is_refused(raw, separator):
    raw["fields"]["cliente"].update(clean="decimal", decimal_separator=separator)
    error = refused(raw)
    assert error.key == "fields.cliente.decimal_separator" and '"," or "."' in str(error)


def test_number_and_join_options_are_kept_on_the_rule(raw):
    raw["fields"]["valor"] = {"css": "td", "clean": "decimal", "decimal_separator": "."}
    raw["fields"]["quantidade"] = {"css": "td", "clean": "integer", "decimal_separator": "."}
    raw["fields"]["descricao"].update(separator=" / ")
    rules = {f.name: f for f in parse_profile(raw).fields}
    assert rules["valor"].decimal_separator == "." and rules["quantidade"].decimal_separator == "."
    assert rules["descricao"].separator == " / " and rules["cliente"].decimal_separator == ","


def test_date_cleaners_get_default_formats(raw):
    raw["fields"]["data_abertura"].pop("formats")
    raw["fields"]["quando"] = {"css": "td", "clean": "datetime"}
    rules = {f.name: f for f in parse_profile(raw).fields}
    assert rules["data_abertura"].formats == ("%d/%m/%Y", "%d/%m/%y")
    assert rules["quando"].formats[:2] == ("%d/%m/%Y %H:%M:%S", "%d/%m/%Y %H:%M")
    assert rules["cliente"].formats == ()


# ------------------------------------------------------------------ one origin
@pytest.mark.parametrize(
    "table,key,url",
    [
        ("login", "url", "https://evil.test/login"),
        ("detail", "url", "https://evil.test/os/{numero}"),
        ("detail", "url", "http://127.0.0.1:8002/os/{numero}"),
        ("history", "url", "https://evil.test/h?id={numero}"),
    ],
)
def test_an_absolute_url_on_another_origin_is_refused(raw, table, key, url):
    raw[table][key] = url
    error = refused(raw)
    assert error.key == f"{table}.{key}" and "leaves base_url's origin" in str(error)


def test_an_absolute_url_on_the_same_origin_is_accepted(raw):
    raw["detail"]["url"] = "http://127.0.0.1:8001/os/{numero}"
    assert parse_profile(raw).detail_url("7") == "http://127.0.0.1:8001/os/7"


def test_a_protocol_relative_url_stays_a_path_on_the_origin(raw):
    raw["login"]["url"] = "//evil.test/login"
    assert parse_profile(raw).login_url() == "http://127.0.0.1:8001/evil.test/login"


def test_an_unknown_encoding_is_refused_and_a_known_one_normalised(raw):
    raw["encoding"] = "klingon"
    assert refused(raw).key == "encoding"
    raw["encoding"] = "Latin-1"
    assert parse_profile(raw).encoding == "iso8859-1"


# ------------------------------------------------------------------ check and fail
def test_check_walks_a_custom_schema_naming_the_nested_key():
    with pytest.raises(ProfileError) as info:
        check({"login": {"url": 5}}, {"login": SCHEMA["login"]})
    assert info.value.key == "login.url"


def test_fail_names_the_key_or_the_whole_file():
    error = fail("fields.prazo.clean", "must be one of x")
    assert (str(error), error.key) == ("fields.prazo.clean: must be one of x", "fields.prazo.clean")
    whole = fail("", "empty profile")
    assert (str(whole), whole.key) == ("empty profile", "")


# ------------------------------------------------------------------ locate
LOCATED = """\
# a profile
version = 1
login.url = "/Login.aspx"

[ numero ]  # the OS number
pattern = "^[0-9]+$"

[fields]
cliente = { css = "td", clean = "text" }
numero.css = "dd#numero"

[fields.prazo]
css = "dd#prazo"
"clean" = "date"

[fields."data abertura"]
'css' = "dd#abertura"

[history.columns.data]
css = "td"
"""


@pytest.mark.parametrize(
    "key,line",
    [
        ("version", 2),
        ("login.url", 3),
        ("numero", 5),
        ("numero.pattern", 6),
        ("fields", 8),
        ("fields.cliente", 9),
        ("fields.numero.css", 10),
        ("fields.prazo", 12),
        ("fields.prazo.css", 13),
        ("fields.prazo.clean", 14),
        ("fields.data abertura", 16),
        ("fields.data abertura.css", 17),
        ("history.columns.data.css", 20),
    ],
)
def test_locate_finds_the_line_a_key_is_written_on(key, line):
    assert locate(LOCATED, key) == line


@pytest.mark.parametrize(
    "key,line",
    [
        ("fields.cliente.clean", 9),  # inside an inline table: the inline table's line
        ("fields.prazo.formats", 12),  # absent from its table: the table's header
        ("numero.max_length", 5),
        ("history.columns.data.formats", 19),
    ],
)
def test_locate_falls_back_to_the_nearest_parents_line(key, line):
    assert locate(LOCATED, key) == line


@pytest.mark.parametrize("key", ["", "detail", "detail.url", "name"])
def test_locate_is_none_for_a_key_not_written(key):
    assert locate(LOCATED, key) is None


def test_locate_tells_keys_of_the_same_name_in_different_tables_apart():
    assert locate(DEMO, "detail.url") == line_of(DEMO, 'url = "/os/{numero}"')
    assert locate(DEMO, "login.url") == line_of(DEMO, 'url = "/login"')
    assert locate(DEMO, "history.columns.evento.css") == line_of(DEMO, "td.evento")


# ------------------------------------------------------------------ load_profile messages
@pytest.fixture
def write(tmp_path: Path) -> Callable[[str], Path]:
    def write(text: str) -> Path:
        path = tmp_path / "portal.toml"
        path.write_text(text, encoding="utf-8")
        return path

    return write


def load_refused(path: Path) -> ProfileError:
    with pytest.raises(ProfileError) as info:
        load_profile(path)
    return info.value


def test_a_bad_value_in_a_file_is_reported_with_its_path_line_and_key(write):
    # Given the demo profile with a cleaner that does not exist for prazo
    text = DEMO.replace(
        'css = "dd#prazo::text"\nclean = "date"', 'css = "dd#prazo::text"\nclean = "upper"'
    )
    path = write(text)
    # When it loads, then the message points at the file, the line and the key
    error = load_refused(path)
    line = line_of(text, 'clean = "upper"')
    assert str(error).startswith(f"{path}:{line}: fields.prazo.clean: must be one of ")
    assert (error.key, error.line) == ("fields.prazo.clean", line)


def test_an_unknown_key_in_a_file_is_reported_at_its_line_with_a_hint(write):
    text = DEMO.replace('failure_selector = "div.erro"', 'failure_selectr = "div.erro"')
    path = write(text)
    error = load_refused(path)
    line = line_of(text, "failure_selectr")
    assert str(error).startswith(f"{path}:{line}: login.failure_selectr: unknown key")
    assert "(did you mean failure_selector?)" in str(error)
    assert (error.key, error.line) == ("login.failure_selectr", line)


def test_a_missing_key_in_a_file_is_reported_at_its_tables_header(write):
    text = DEMO.replace('password_field = "senha"\n', "")
    error = load_refused(write(text))
    assert (error.key, error.line) == ("login.password_field", line_of(text, "[login]"))
    assert f":{error.line}: login.password_field: missing" in str(error)


def test_a_wrong_version_in_a_file_is_reported_at_its_line(write):
    text = DEMO.replace("version = 1", "version = 2")
    path = write(text)
    error = load_refused(path)
    assert (error.key, error.line) == ("version", line_of(text, "version = 2"))
    assert str(error).startswith(f"{path}:{error.line}: version: profile format 2 ")


def test_a_missing_version_is_reported_without_a_line(write):
    path = write(DEMO.replace("version = 1\n", ""))
    error = load_refused(path)
    assert str(error) == f"{path}: version: missing"
    assert (error.key, error.line) == ("version", None)


def test_a_cross_key_error_in_a_file_is_reported_at_the_key_it_names(write):
    text = DEMO.replace(
        'next_page_selector = "a.proxima::attr(href)"',
        'next_page_selector = "a.proxima::attr(href)"\nnext_postback_selector = "a::attr(href)"',
    )
    error = load_refused(write(text))
    assert error.key == "history.next_postback_selector"
    assert error.line == line_of(text, "next_postback_selector")


def test_an_invalid_selector_in_a_file_is_reported_at_its_field(write):
    text = DEMO.replace('css = "dd#cliente::text"', 'css = "dd#cliente[::text"')
    path = write(text)
    error = load_refused(path)
    assert error.key == "fields.cliente"
    assert error.line == line_of(text, "[fields.cliente]")
    assert str(error).startswith(f"{path}:{error.line}: fields.cliente: invalid css selector")


def test_a_file_that_is_not_toml_is_reported_without_a_key(write):
    error = load_refused(write(DEMO + "\n[login]\n"))
    assert "is not valid TOML" in str(error)
    assert (error.key, error.line) == ("", None)
