"""Download names of results files: any file name survives the Latin-1 HTTP header."""

from __future__ import annotations

from urllib.parse import unquote

import pytest

from chalicelib.adapters.bucket import attachment


@pytest.mark.parametrize("name", ["lista.csv", "relatório.csv", "報告.csv", 'a"b\\c.csv'])
def test_the_disposition_is_latin1_safe_and_carries_the_exact_utf8_name(name):
    header = attachment(name)
    header.encode("latin-1")  # raises if a header could not carry it
    ascii_part, utf8_part = header.split("; filename*=UTF-8''")
    assert ascii_part.startswith('attachment; filename="') and ascii_part.count('"') == 2
    assert unquote(utf8_part) == name


def test_a_plain_name_is_kept_as_is_in_the_fallback():
    assert attachment("lista-resultados.csv").startswith(
        'attachment; filename="lista-resultados.csv"'
    )
