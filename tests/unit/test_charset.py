"""How a page's bytes become text (chalicelib/domain/charset.py), as a browser reads them."""

from __future__ import annotations

import codecs

import pytest

from chalicelib.domain.charset import declared_charset, decode_page

#: Windows-1252's curly quotes, which Latin-1 maps to C1 control characters.
QUOTED_1252 = b"\x93Aten\xe7\xe3o\x94"
QUOTED_TEXT = "\u201cAtenção\u201d"


def html(head: str = "", body: str = "") -> bytes:
    return f"<html><head>{head}</head><body>{body}</body></html>".encode("ascii")


# ------------------------------------------------------------------ Latin-1 read as Windows-1252
@pytest.mark.parametrize(
    "label", ["iso-8859-1", "ISO-8859-1", "latin-1", "latin1", "l1", "us-ascii", "ascii"]
)
def test_a_latin1_or_ascii_header_is_read_as_windows_1252(label):
    # Given a page that declares Latin-1 but sends Windows-1252's curly quotes
    body = b"<p>" + QUOTED_1252 + b"</p>"
    # When it is decoded, then the quotes are quotes, as a browser shows them
    decoded = decode_page(body, f"text/html; charset={label}")
    assert decoded.text == f"<p>{QUOTED_TEXT}</p>"
    assert (decoded.encoding, decoded.source) == ("cp1252", "header")


def test_a_latin1_meta_is_read_as_windows_1252():
    body = html('<meta charset="iso-8859-1">') + QUOTED_1252
    decoded = decode_page(body, "text/html")
    assert decoded.text.endswith(QUOTED_TEXT)
    assert (decoded.encoding, decoded.source) == ("cp1252", "meta")


def test_a_latin1_page_without_a_charset_is_read_as_windows_1252():
    # Given bytes that are not UTF-8 and no charset anywhere
    body = b"<p>Situa\xe7\xe3o: " + QUOTED_1252 + b"</p>"
    # When decoded, then Windows-1252 is the fallback
    decoded = decode_page(body, "text/html")
    assert decoded.text == f"<p>Situação: {QUOTED_TEXT}</p>"
    assert (decoded.encoding, decoded.source) == ("cp1252", "fallback")


def test_utf8_without_a_declaration_is_detected():
    body = "<p>Situação: “Aberta” — 10 €</p>".encode()
    decoded = decode_page(body, None)
    assert decoded.text == "<p>Situação: “Aberta” — 10 €</p>"
    assert (decoded.encoding, decoded.source) == ("utf-8", "utf-8 detected")


def test_plain_ascii_without_a_declaration_reads_as_windows_1252_a_browsers_default():
    # ASCII proves nothing; a form on such a page is posted in the browser's default
    decoded = decode_page(b"<p>ok</p>", "")
    assert (decoded.text, decoded.encoding, decoded.source) == (
        "<p>ok</p>",
        "cp1252",
        "fallback",
    )


# ------------------------------------------------------------------ precedence
def test_the_header_charset_wins_over_the_meta():
    # Given a UTF-8 page whose meta (copied from an old template) says Latin-1
    body = html('<meta charset="iso-8859-1">') + "Ação".encode()
    # When the header says UTF-8, then the header is believed
    decoded = decode_page(body, "text/html; charset=utf-8")
    assert "Ação" in decoded.text
    assert (decoded.encoding, decoded.source) == ("utf-8", "header")


def test_the_meta_charset_wins_over_utf8_detection():
    # Given bytes C3 A7 that are valid UTF-8 ("ç") but the page says Windows-1252
    body = html('<meta charset="windows-1252">') + b"\xc3\xa7"
    # When decoded, then the meta is believed: two characters, not one
    decoded = decode_page(body, "text/html")
    assert decoded.text.endswith("Ã§")
    assert (decoded.encoding, decoded.source) == ("cp1252", "meta")


def test_a_meta_http_equiv_content_type_declares_the_charset():
    head = '<META HTTP-EQUIV="Content-Type" CONTENT="text/html; charset=ISO-8859-1">'
    decoded = decode_page(html(head) + b"\xe7", None)
    assert decoded.text.endswith("ç")
    assert (decoded.encoding, decoded.source) == ("cp1252", "meta")


def test_a_meta_after_the_first_2kb_is_not_read():
    # Given a meta charset beyond the first 2048 bytes
    body = b"<!--" + b" " * 2100 + b'--><meta charset="windows-1252">' + b"\xc3\xa7"
    # Then it is ignored and the (valid UTF-8) bytes are detected as UTF-8
    decoded = decode_page(body, None)
    assert decoded.text.endswith("ç") and decoded.source == "utf-8 detected"


def test_a_byte_order_mark_wins_over_the_meta_and_is_dropped():
    body = codecs.BOM_UTF8 + html('<meta charset="iso-8859-1">') + "ção".encode()
    decoded = decode_page(body, "text/html")
    assert decoded.text.startswith("<html>") and decoded.text.endswith("ção")
    assert (decoded.encoding, decoded.source) == ("utf-8", "bom")


@pytest.mark.parametrize(
    "bom,codec", [(codecs.BOM_UTF16_LE, "utf-16-le"), (codecs.BOM_UTF16_BE, "utf-16-be")]
)
def test_a_utf16_byte_order_mark_is_read_as_utf16(bom, codec):
    decoded = decode_page(bom + "<p>Ação</p>".encode(codec), None)
    assert decoded.text == "<p>Ação</p>"
    assert decoded.source == "bom"


def test_a_forced_profile_encoding_wins_over_every_declaration():
    # Given a page whose header and meta both say Latin-1, but the profile knows better
    body = html('<meta charset="iso-8859-1">') + "ção".encode()
    decoded = decode_page(body, "text/html; charset=iso-8859-1", encoding="utf-8")
    assert decoded.text.endswith("ção")
    assert (decoded.encoding, decoded.source) == ("utf-8", "profile")


def test_a_forced_profile_encoding_replaces_bytes_it_cannot_read():
    decoded = decode_page(b"a\xffb", "text/html; charset=utf-8", encoding="utf-8")
    assert decoded.text == "a\ufffdb"


# ------------------------------------------------------------------ unknown labels, bad bytes
def test_an_unknown_header_charset_is_ignored_in_favour_of_the_meta():
    body = html('<meta charset="windows-1252">') + b"\xc3\xa7"
    decoded = decode_page(body, "text/html; charset=klingon")
    assert (decoded.encoding, decoded.source) == ("cp1252", "meta")


def test_unknown_header_and_meta_charsets_fall_through_to_detection():
    body = html('<meta charset="x-unheard-of">') + "ção".encode()
    decoded = decode_page(body, "text/html; charset=klingon")
    assert decoded.text.endswith("ção")
    assert (decoded.encoding, decoded.source) == ("utf-8", "utf-8 detected")


@pytest.mark.parametrize(
    "content_type",
    ['text/html; charset="UTF-8"', "text/html;charset='utf-8'", "text/html; Charset = utf8"],
)
def test_header_charsets_are_read_quoted_spaced_or_in_any_case(content_type):
    assert declared_charset(content_type, b"") == ("utf-8", "header")


def test_bytes_that_do_not_decode_as_the_declared_charset_become_replacement_characters():
    decoded = decode_page(b"ok \xff\xfe!", "text/html; charset=utf-8")
    assert decoded.text == "ok \ufffd\ufffd!"
    assert decoded.source == "header"


def test_nothing_declared_is_no_declared_charset():
    assert declared_charset(None, b"<html><head></head></html>") is None
    assert declared_charset("text/html", b"") is None
