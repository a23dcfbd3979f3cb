"""Loading and validating portal profiles."""

from __future__ import annotations

import dataclasses
import re
import subprocess
import sys
import tomllib
from pathlib import Path

import pytest

from chalicelib.domain.profile import DEFAULT_PROFILE_PATH, load_profile, parse_profile
from chalicelib.errors import InvalidOsNumberError, ProfileError

ROOT = Path(__file__).resolve().parents[2]


@pytest.fixture
def raw() -> dict:
    return tomllib.loads(DEFAULT_PROFILE_PATH.read_text(encoding="utf-8"))


def test_default_profile_loads_with_every_field_of_an_os():
    profile = load_profile(DEFAULT_PROFILE_PATH)
    assert profile.name == "demo" and profile.encoding == "auto" and profile.version == 1
    assert [f.name for f in profile.fields] == [
        "numero",
        "situacao",
        "tipo_servico",
        "cliente",
        "endereco",
        "data_abertura",
        "prazo",
        "tecnico",
        "descricao",
    ]
    assert [c.name for c in profile.history.columns] == ["data", "evento", "responsavel"]


def test_base_url_can_be_overridden():
    profile = load_profile(DEFAULT_PROFILE_PATH, base_url="http://127.0.0.1:9999")
    assert profile.detail_url("123456") == "http://127.0.0.1:9999/os/123456"


def test_detail_url_quotes_the_number_so_it_cannot_escape_the_path():
    profile = load_profile(DEFAULT_PROFILE_PATH)
    assert profile.detail_url("../admin?x=1#") == "http://127.0.0.1:8001/os/..%2Fadmin%3Fx%3D1%23"


@pytest.mark.parametrize("value", ["123456", " 42 ", "1"])
def test_valid_numbers_are_returned_stripped(value):
    assert load_profile(DEFAULT_PROFILE_PATH).validate_number(value) == value.strip()


@pytest.mark.parametrize(
    "value",
    ["", "abc", "12.3", "1234567890123", "١٢٣", "12/34", "-5", "../etc/passwd", "1" * 10_000],
)
def test_invalid_numbers_raise_an_error_naming_the_rule(value):
    with pytest.raises(InvalidOsNumberError) as info:
        load_profile(DEFAULT_PROFILE_PATH).validate_number(value)
    assert "^[0-9]{1,12}$" in info.value.rule


@pytest.mark.parametrize(
    "mutate,key",
    [
        (lambda r: r.pop("login"), "[login]"),
        (lambda r: r["numero"].pop("pattern"), "numero.pattern"),
        (lambda r: r["numero"].update(pattern="(["), "numero.pattern"),
        (lambda r: r["detail"].update(url="/os/"), "{numero}"),
        (lambda r: r["fields"]["cliente"].update(clean="upper"), "fields.cliente.clean"),
        (lambda r: r["fields"]["prazo"].update(formats=5), "fields.prazo.formats"),
        (lambda r: r["fields"]["cliente"].update(xpath="//dd"), "fields.cliente"),
        (lambda r: r.update(encoding="klingon"), "encoding"),
        (lambda r: r["login"].pop("password_field"), "login.password_field"),
        (lambda r: r["login"].update(form_selectr="form"), "login.form_selectr"),
        (lambda r: r.update(feilds={}), "feilds"),
        (lambda r: r["numero"].update(max_length="12"), "numero.max_length"),
        (lambda r: r["numero"].update(pattern=5), "numero.pattern"),
        (lambda r: r["fields"]["tecnico"].update(required="no"), "fields.tecnico.required"),
        (lambda r: r["fields"]["tecnico"].update(css=""), "fields.tecnico.css"),
        (lambda r: r["history"]["columns"]["data"].pop("css"), "history.columns.data"),
        (lambda r: r.pop("fields"), "fields"),
        (lambda r: r["detail"].pop("not_found_selector"), "detail.not_found_selector"),
    ],
)
def test_broken_profiles_are_rejected_naming_the_key(raw, mutate, key):
    mutate(raw)
    with pytest.raises(ProfileError, match=re.escape(key)):
        parse_profile(raw)


def test_an_invalid_selector_fails_at_load_time(tmp_path, raw):
    text = DEFAULT_PROFILE_PATH.read_text(encoding="utf-8").replace(
        'css = "dd#cliente::text"', 'css = "dd#cliente::::text"'
    )
    path = tmp_path / "p.toml"
    path.write_text(text, encoding="utf-8")
    with pytest.raises(ProfileError, match=r"fields\.cliente"):
        load_profile(path)


def test_an_invalid_xpath_in_detail_fails_at_load_time(tmp_path):
    text = DEFAULT_PROFILE_PATH.read_text(encoding="utf-8").replace(
        'not_found_selector = "p.aviso"', 'not_found_selector = "xpath://p[@class="'
    )
    path = tmp_path / "p.toml"
    path.write_text(text, encoding="utf-8")
    with pytest.raises(ProfileError, match=r"detail\.not_found_selector"):
        load_profile(path)


def test_the_number_is_stripped_before_the_length_rule(raw):
    raw["numero"]["max_length"] = 6
    profile = parse_profile(raw)
    assert profile.validate_number("  123456\n") == "123456"
    with pytest.raises(InvalidOsNumberError, match="at most 6"):
        profile.validate_number("1234567")


def test_importing_profile_does_not_import_parsel():
    # The API validates numbers with the profile; parsel stays out of its cold start.
    code = "import sys, chalicelib.domain.profile as p; p.load_profile(p.DEFAULT_PROFILE_PATH, "
    code += "validate_selectors=False); print('parsel' in sys.modules)"
    out = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, check=True, cwd=ROOT
    )
    assert out.stdout.strip() == "False"


def test_missing_or_malformed_files_are_profile_errors(tmp_path):
    with pytest.raises(ProfileError, match="not found"):
        load_profile(tmp_path / "nope.toml")
    bad = tmp_path / "bad.toml"
    bad.write_text("name = ", encoding="utf-8")
    with pytest.raises(ProfileError, match="not valid TOML"):
        load_profile(bad)


# ------------------------------------------------------------------ one origin
@pytest.mark.parametrize(
    "base_url",
    [
        "https://portal.example",
        "http://127.0.0.1:8001",
        "http://127.42.0.9",
        "http://localhost:8001",
        "http://[::1]:8001",
    ],
)
def test_https_or_loopback_http_base_urls_are_accepted(raw, base_url):
    raw["base_url"] = base_url
    assert parse_profile(raw).base_url == base_url


@pytest.mark.parametrize(
    "base_url",
    ["http://portal.example", "http://10.0.0.5:8080", "http://localhost.evil.test", "http://[::2]"],
)
def test_plain_http_outside_loopback_is_refused_naming_allow_insecure(raw, base_url):
    # Given a profile pointing at a remote portal over plain http
    raw["base_url"] = base_url
    # When it loads, then it is refused, naming the key that would allow it
    with pytest.raises(ProfileError, match="allow_insecure"):
        parse_profile(raw)
    # And the profile may say so explicitly
    raw["allow_insecure"] = True
    assert parse_profile(raw).allow_insecure is True


def test_the_base_url_override_goes_through_the_same_check():
    with pytest.raises(ProfileError, match="allow_insecure"):
        load_profile(DEFAULT_PROFILE_PATH, base_url="http://portal.example")
    assert load_profile(DEFAULT_PROFILE_PATH, base_url="https://portal.example").origin == (
        "https",
        "portal.example",
        443,
    )


def test_allow_insecure_in_the_file_also_covers_the_override(tmp_path):
    path = tmp_path / "p.toml"
    text = DEFAULT_PROFILE_PATH.read_text(encoding="utf-8")
    path.write_text("allow_insecure = true\n" + text, encoding="utf-8")
    profile = load_profile(path, base_url="http://portal.internal:8080")
    assert profile.origin == ("http", "portal.internal", 8080)


@pytest.mark.parametrize(
    "mutate,key",
    [
        (lambda r: r.update(allow_insecure="yes"), "allow_insecure"),
        (lambda r: r.update(base_url="portal.example"), "base_url"),
        (lambda r: r.update(base_url="ftp://portal.example"), "base_url"),
        (lambda r: r.update(base_url="https://"), "base_url"),
        (lambda r: r.update(base_url="https://portal.example:99999"), "base_url"),
        (lambda r: r.update(base_url="https://user:pw@portal.example"), "base_url"),
        (lambda r: r["login"].update(url="https://evil.test/login"), "login.url"),
        (lambda r: r["detail"].update(url="https://evil.test/os/{numero}"), "detail.url"),
    ],
)
def test_base_urls_and_paths_that_leave_the_origin_are_refused(raw, mutate, key):
    mutate(raw)
    with pytest.raises(ProfileError, match=re.escape(key)):
        parse_profile(raw)


@pytest.mark.parametrize(
    "url,same",
    [
        ("https://portal.example/os/1", True),
        ("https://PORTAL.example:443/x", True),
        ("http://portal.example/os/1", False),
        ("https://portal.example:8443/", False),
        ("https://www.portal.example/", False),
        ("/os/1", False),  # only absolute URLs are compared
        ("https://[bad", False),
    ],
)
def test_on_origin_compares_scheme_host_and_port(raw, url, same):
    raw["base_url"] = "https://portal.example"
    assert parse_profile(raw).on_origin(url) is same


def test_a_hand_built_profile_without_an_origin_matches_no_url(raw):
    # Built around parse_profile's checks, even a malformed URL must not "match" it
    profile = dataclasses.replace(parse_profile(raw), base_url="not a url")
    with pytest.raises(ProfileError, match="base_url"):
        profile.on_origin("also not a url")
