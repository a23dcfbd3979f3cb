"""``raspa profile check`` on saved pages: validation with the key and line, each
selector's matches, the record, and the first problem named by its key."""

from __future__ import annotations

from pathlib import Path

import pytest

from chalicelib.domain.profile import DEFAULT_PROFILE_PATH
from cli.__main__ import main

PAGES = Path(__file__).resolve().parents[1] / "fixtures" / "portals" / "demo"


@pytest.fixture
def profile(tmp_path: Path):
    """A copy of the demo profile, edited by ``replace(old, new)``."""
    path = tmp_path / "portal.toml"
    path.write_text(DEFAULT_PROFILE_PATH.read_text(encoding="utf-8"), encoding="utf-8")

    def replace(old: str = "", new: str = "") -> Path:
        text = path.read_text(encoding="utf-8")
        assert old in text
        path.write_text(text.replace(old, new, 1), encoding="utf-8")
        return path

    return replace


def check(capsys: pytest.CaptureFixture[str], *args: str | Path) -> tuple[int, str, str]:
    code = main(["profile", "check", *map(str, args)])
    out = capsys.readouterr()
    return code, out.out, out.err


def test_saved_pages_show_every_field_the_history_and_the_record(profile, capsys):
    # Given the demo profile and the three saved pages of one OS
    names = ("detail_default.html", "detail_page2.html", "detail_last_page.html")
    pages = [PAGES / n for n in names]
    # When it is checked on them
    code, out, _ = check(capsys, profile(), *[a for p in pages for a in ("--html", p)])
    # Then no problem is found, each field shows its selector, matches and value
    assert code == 0 and out.rstrip().endswith("no problem found")
    assert "fields.prazo" in out and "css 'dd#prazo::text'" in out and "1 match " in out
    # And the pages, their encoding (from the page's meta) and the history rows are shown
    assert "history: 3 page(s)" in out and "historico: 23 rows" in out
    assert "cp1252 (meta)" in out  # the pages declare ISO-8859-1, read as browsers do


def test_a_selector_that_matches_nothing_is_the_diagnosed_problem(profile, capsys):
    path = profile('css = "dd#prazo::text"', 'css = "dd#prazo-novo::text"')
    path = profile("required = false", "required = true")  # prazo's rule is now required
    code, out, _ = check(capsys, path, "--html", PAGES / "detail_default.html")
    assert code == 1
    assert "problem: fields.prazo: selector matched nothing" in out
    assert "detail_default.html" in out.splitlines()[-1]
    assert "✗ selector matched nothing" in out


def test_a_not_found_page_is_reported_as_such(profile, capsys):
    code, out, _ = check(capsys, profile(), "--html", PAGES / "not_found.html", "--numero", "42")
    assert code == 1 and "the portal says OS 42 does not exist" in out


def test_an_invalid_profile_names_the_file_line_and_key(profile, capsys):
    path = profile('clean = "join"', 'clean = "juntar"')
    code, out, err = check(capsys, path)
    line = next(n for n, text in enumerate(path.read_text().splitlines(), 1) if '"juntar"' in text)
    assert code == 2 and out == ""
    assert f"{path}:{line}: fields.descricao.clean: must be one of" in err


def test_a_typo_in_a_key_is_refused_with_the_closest_known_key(profile, capsys):
    code, _, err = check(capsys, profile("form_selector =", "form_selectr ="))
    assert code == 2 and "login.form_selectr: unknown key (did you mean form_selector?)" in err


def test_the_file_alone_is_validated_when_no_pages_are_given(profile, capsys):
    code, out, _ = check(capsys, profile())
    assert code == 0 and "valid (format version 1" in out


def test_a_live_check_needs_the_credentials_from_the_environment(profile, capsys, monkeypatch):
    monkeypatch.delenv("RASPA_PORTAL_USERNAME", raising=False)
    monkeypatch.setenv("RASPA_PORTAL_PASSWORD", "x")
    code, _, err = check(capsys, profile(), "--numero", "123456")
    assert code == 2 and "set RASPA_PORTAL_USERNAME" in err


def test_a_bad_number_is_refused_before_any_request(profile, capsys, monkeypatch):
    monkeypatch.setenv("RASPA_PORTAL_USERNAME", "u")
    monkeypatch.setenv("RASPA_PORTAL_PASSWORD", "p")
    code, _, err = check(capsys, profile(), "--numero", "12ab")
    assert code == 2 and "--numero '12ab': must match" in err
