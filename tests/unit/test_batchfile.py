"""Batch files (chalicelib/domain/batchfile.py): decoding, delimiter and header detection,
line validation and the results files, against the demo profile's OS number rule."""

from __future__ import annotations

import codecs
import csv
import io
import itertools
import json
from typing import Any

import pytest

from chalicelib.domain.batchfile import (
    BatchFileError,
    InvalidLine,
    ParsedFile,
    ResultLine,
    decode,
    parse_batch,
    parse_key,
    result_lines,
    results_csv,
    results_json,
    safe_cell,
    upload_key,
)
from chalicelib.domain.profile import DEFAULT_PROFILE_PATH, load_profile
from chalicelib.errors import InvalidOsNumberError

PROFILE = load_profile(DEFAULT_PROFILE_PATH, validate_selectors=False)
RULE = "must match ^[0-9]{1,12}$"
BOM = codecs.BOM_UTF8


def validate(value: str) -> str:
    """The demo profile's rule, raising ValueError as BatchService's validator does."""
    try:
        return PROFILE.validate_number(value)
    except InvalidOsNumberError as exc:
        raise ValueError(f"invalid OS number: {exc.rule}") from None


def parse(raw: bytes, *, max_lines: int | None = None) -> ParsedFile:
    return parse_batch(raw, validate, max_lines=max_lines)


def invalid_map(parsed: ParsedFile) -> dict[int, tuple[str, str]]:
    """Invalid lines as {line: (value, reason)}, with a check that no line is listed twice."""
    result = {bad.line: (bad.value, bad.reason) for bad in parsed.invalid}
    assert len(result) == len(parsed.invalid)
    return result


def assert_every_line_once(parsed: ParsedFile) -> None:
    """Every data line is in exactly one of numbers, invalid or duplicates."""
    seen = (
        [line for _, line in parsed.numbers]
        + [bad.line for bad in parsed.invalid]
        + [line for line, _, _ in parsed.duplicates]
    )
    assert len(seen) == len(set(seen)) == parsed.lines


# --------------------------------------------------------------------- format matrix
#: The matrix file, line by line as it is with a header (None: a blank line). Cells are
#: (cliente, numero, cidade); a one-column file keeps only the number.
HEADER = ("Cliente", "Número OS", "Cidade")
BODY: tuple[tuple[str, str, str] | None, ...] = (
    ("Ana", "1001", "São Paulo"),  # 2: valid
    None,  # 3: blank
    ("Bruno", "Conceição", "Campinas"),  # 4: letters
    ("Carla", "1234567890123", "Campinas"),  # 5: 13 digits, too long
    ("Davi", "", "Santos"),  # 6: empty cell
    None,  # 7: blank (spaces)
    ("Elisa", "12 34", "Osasco"),  # 8: a space inside the number
    ("Fábio", "  1002 ", "São Paulo"),  # 9: valid, surrounding spaces
    ("Gil", "1001", "Conceição"),  # 10: duplicate of line 2
    ("Hugo", "1003", "Jundiaí"),  # 11: valid
    ("Íris", "1002", "Santos"),  # 12: duplicate of line 9
    None,  # 13: blank, the file's last line
)
#: Expectations with the header as line 1; without a header every line is one less.
NUMBERS = (("1001", 2), ("1002", 9), ("1003", 11))
INVALID = {4: ("Conceição", RULE), 5: ("1234567890123", RULE), 6: ("", "empty value")}
INVALID_SPACES = {8: ("12 34", RULE)}
DUPLICATES = ((10, "1001", 2), (12, "1002", 9))
DATA_LINES = 9

DELIMITER_CASES = {"comma": ",", "semicolon": ";", "tab": "\t", "onecolumn": None}
ENCODING_CASES = {
    "utf8": ("utf-8", "utf-8"),
    "utf8bom": ("utf-8-sig", "utf-8-sig"),
    "cp1252": ("cp1252", "windows-1252"),
    "latin1": ("latin-1", "windows-1252"),
}
NEWLINE_CASES = {"crlf": "\r\n", "lf": "\n"}


def matrix_file(delimiter: str | None, encoding: str, newline: str, header: bool) -> bytes:
    """The matrix file in one format; blank lines alternate between empty and spaces."""
    lines: list[str] = []
    rows = ((HEADER,) if header else ()) + BODY
    for index, row in enumerate(rows):
        if row is None:
            lines.append("   " if index % 2 else "")
        elif delimiter is None:
            lines.append(row[1] if row[1] else '""')
        else:
            lines.append(delimiter.join(row))
    return newline.join(lines).encode(encoding)


MATRIX = [
    pytest.param(delimiter, codec, detected, newline, header, id=f"{d}-{e}-{n}-{h}")
    for (d, delimiter), (e, (codec, detected)), (n, newline), (h, header) in itertools.product(
        DELIMITER_CASES.items(),
        ENCODING_CASES.items(),
        NEWLINE_CASES.items(),
        {"header": True, "noheader": False}.items(),
    )
]


@pytest.mark.parametrize(("delimiter", "codec", "detected", "newline", "header"), MATRIX)
def test_given_a_file_in_any_supported_format_when_parsed_then_every_line_is_accounted_for(
    delimiter: str | None, codec: str, detected: str, newline: str, header: bool
) -> None:
    """Delimiter × encoding × line ending × header: same numbers, lines and reasons."""
    raw = matrix_file(delimiter, codec, newline, header)
    if delimiter is not None and not header:
        with pytest.raises(BatchFileError) as caught:
            parse(raw)
        message = str(caught.value)
        assert "3 columns" in message
        assert all(name in message for name in ("numero_os", "os", "numero"))
        return

    parsed = parse(raw)

    shift = 0 if header else 1
    assert parsed.encoding == detected
    assert parsed.delimiter == delimiter
    assert parsed.header is header
    assert parsed.numbers == tuple((number, line - shift) for number, line in NUMBERS)
    expected_invalid = {**INVALID, **INVALID_SPACES}
    got = invalid_map(parsed)
    assert sorted(got) == [line - shift for line in sorted(expected_invalid)]
    for line, (value, reason) in expected_invalid.items():
        got_value, got_reason = got[line - shift]
        assert got_value == value
        assert reason in got_reason
    assert parsed.duplicates == tuple(
        (line - shift, number, first - shift) for line, number, first in DUPLICATES
    )
    assert parsed.lines == DATA_LINES
    assert_every_line_once(parsed)


def test_given_the_same_bytes_when_parsed_twice_then_the_results_are_equal() -> None:
    """Resuming an ingest relies on offsets into ``numbers`` meaning the same thing."""
    raw = matrix_file(";", "cp1252", "\r\n", header=True)
    assert parse(raw) == parse(raw)


# --------------------------------------------------------------------- headers and cells
@pytest.mark.parametrize(
    ("head", "column"),
    [
        pytest.param("cliente;numero_os;cidade", 1, id="numero_os-middle"),
        pytest.param("cliente;cidade;NUMERO_OS", 2, id="NUMERO_OS-last"),
        pytest.param("Cliente;OS;Cidade", 1, id="OS"),
        pytest.param("cliente;Numero;cidade", 1, id="Numero"),
        pytest.param('"Cliente";" Número-OS ";"Cidade"', 1, id="quoted-accented-hyphen"),
        pytest.param("numero;cliente;os", 2, id="os-beats-numero"),
    ],
)
def test_given_a_header_naming_the_number_column_when_parsed_then_that_column_is_read(
    head: str, column: int
) -> None:
    rows = [["Silva", "Centro", "Campinas"], ["Souza", "Sul", "Santos"]]
    rows[0][column], rows[1][column] = "501", "502"
    raw = "\n".join([head] + [";".join(row) for row in rows]).encode()

    parsed = parse(raw)

    assert parsed.header is True and parsed.delimiter == ";"
    assert parsed.numbers == (("501", 2), ("502", 3))
    assert parsed.invalid == () and parsed.lines == 2


def test_given_a_data_line_shorter_than_the_header_when_parsed_then_it_is_invalid() -> None:
    raw = b"cliente;cidade;numero_os\nSilva;Campinas;700\nSouza;Santos\n"

    parsed = parse(raw)

    assert parsed.numbers == (("700", 2),)
    assert parsed.invalid == (InvalidLine(3, "Souza;Santos", "no column 3 (numero_os)"),)


@pytest.mark.parametrize("delimiter", [",", ";", "\t"], ids=["comma", "semicolon", "tab"])
def test_given_quoted_cells_containing_the_delimiter_when_parsed_then_columns_stay_aligned(
    delimiter: str,
) -> None:
    d = delimiter
    lines = [
        f"cliente{d}endereco{d}numero_os",
        f'"Silva{d} João"{d}"Rua A{d} 10"{d}801',
        f'"Souza{d}{d}"{d}"""Sítio""{d} km 2"{d}"802"',
    ]
    parsed = parse("\r\n".join(lines).encode())

    assert parsed.delimiter == delimiter
    assert parsed.numbers == (("801", 2), ("802", 3))
    assert parsed.invalid == ()


@pytest.mark.parametrize(
    "raw",
    [
        pytest.param(b"  901  \n\t902\n903 \n", id="onecolumn-spaces-tabs"),
        pytest.param("numero_os\n\u00a0901\u00a0\n902\n903\n".encode(), id="nbsp"),
        pytest.param(b'numero_os;x\n" 901 ";a\n 902;b\n903 ;c\n', id="csv-cells"),
    ],
)
def test_given_numbers_with_surrounding_spaces_when_parsed_then_they_are_stripped(
    raw: bytes,
) -> None:
    parsed = parse(raw)

    assert [number for number, _ in parsed.numbers] == ["901", "902", "903"]
    assert parsed.invalid == ()


def test_given_spaced_copies_of_a_number_when_parsed_then_they_are_duplicates() -> None:
    parsed = parse(b"123\n 123\n123  \n0123\n")

    assert parsed.numbers == (("123", 1), ("0123", 4))
    assert parsed.duplicates == ((2, "123", 1), (3, "123", 1))


def test_given_a_repeated_invalid_value_when_parsed_then_each_occurrence_is_invalid() -> None:
    parsed = parse(b"abc\nabc\n1\n")

    assert [(bad.line, bad.value) for bad in parsed.invalid] == [(1, "abc"), (2, "abc")]
    assert parsed.duplicates == ()


def test_given_an_unrecognised_header_word_when_parsed_then_it_is_an_invalid_line() -> None:
    """A one-column header with another name is not dropped: it is reported as line 1."""
    parsed = parse("Número da OS\n11\n".encode())

    assert parsed.header is False
    assert parsed.numbers == (("11", 2),)
    assert [(bad.line, bad.value) for bad in parsed.invalid] == [(1, "Número da OS")]


def test_given_a_header_only_file_when_parsed_then_it_has_no_data_lines() -> None:
    parsed = parse(b"numero_os\r\n\r\n")

    assert parsed.header is True
    assert (parsed.numbers, parsed.invalid, parsed.lines) == ((), (), 0)


# --------------------------------------------------------------------- delimiter detection
def test_given_one_number_per_line_with_a_comma_on_line_1_when_parsed_then_only_it_is_invalid() -> (
    None
):
    """Regression: the first line alone used to make the file a 2-column CSV and reject it."""
    parsed = parse(b"1,5\n123\n456\n")

    assert parsed.delimiter is None
    assert parsed.numbers == (("123", 2), ("456", 3))
    assert [(bad.line, bad.value) for bad in parsed.invalid] == [(1, "1,5")]


def test_given_a_tab_file_with_a_comma_in_its_header_when_parsed_then_tab_is_the_delimiter() -> (
    None
):
    """Regression: a header splitting under two delimiters made the tie go to the comma."""
    parsed = parse(b"valor, R$\tnumero_os\n1,50\t123\n2,50\t456\n")

    assert parsed.delimiter == "\t" and parsed.header is True
    assert parsed.numbers == (("123", 2), ("456", 3))


def test_given_many_blank_lines_before_the_header_when_parsed_then_the_header_is_found() -> None:
    """Regression: only the first 50 physical lines were sampled for the delimiter."""
    parsed = parse(b"\r\n" * 60 + b"cliente;numero_os\r\nSilva;123\r\n")

    assert parsed.delimiter == ";" and parsed.header is True
    assert parsed.numbers == (("123", 62),)
    assert parsed.invalid == ()


def test_given_a_header_and_ragged_data_when_parsed_then_the_header_decides_the_delimiter() -> None:
    parsed = parse(b"cliente;numero_os\nSouza\n")

    assert parsed.delimiter == ";"
    assert parsed.invalid == (InvalidLine(2, "Souza", "no column 2 (numero_os)"),)


@pytest.mark.parametrize(
    ("raw", "delimiter"),
    [
        pytest.param(
            b"cliente;numero_os;cidade\nSilva;7;x\n;;\n ; ; \nSouza;8;y\n", ";", id="semi"
        ),
        pytest.param(b"cliente,numero_os\nSilva,7\n,\nSouza,8\n", ",", id="comma"),
        pytest.param(b"cliente\tnumero_os\nSilva\t7\n\t\nSouza\t8\n", "\t", id="tab"),
    ],
)
def test_given_empty_spreadsheet_rows_when_parsed_then_they_count_as_blank_lines(
    raw: bytes, delimiter: str
) -> None:
    """Regression: ``;;`` rows (Excel's empty rows) were invalid lines, ``\\t\\t`` ones blank."""
    parsed = parse(raw)

    assert parsed.delimiter == delimiter
    assert [number for number, _ in parsed.numbers] == ["7", "8"]
    assert parsed.invalid == ()
    assert parsed.lines == 2


def test_given_quoted_empty_cells_when_parsed_then_the_row_is_an_empty_value() -> None:
    parsed = parse(b'cliente;numero_os\n"";""\nSilva;9\n')

    assert parsed.invalid == (InvalidLine(2, "", "empty value"),)
    assert parsed.numbers == (("9", 3),)


# --------------------------------------------------------------------- physical lines
@pytest.mark.parametrize(
    "separator",
    [
        pytest.param("\x0c", id="form-feed"),
        pytest.param("\x0b", id="vertical-tab"),
        pytest.param("\x1c", id="file-separator"),
        pytest.param("\u2028", id="line-separator"),
        pytest.param("\u0085", id="next-line"),
    ],
)
def test_given_a_unicode_line_break_inside_a_line_when_parsed_then_line_numbers_stay_physical(
    separator: str,
) -> None:
    """Regression: str.splitlines split inside a line, turning ``12<FF>34`` into 2 numbers."""
    raw = f"12{separator}34\nabc\n56\n".encode()

    parsed = parse(raw)

    assert parsed.numbers == (("56", 3),)
    assert [(bad.line, bad.value) for bad in parsed.invalid] == [
        (1, f"12{separator}34"),
        (2, "abc"),
    ]
    assert parsed.lines == 3


def test_given_a_latin1_byte_0x85_when_parsed_then_it_does_not_split_the_line() -> None:
    """Byte 0x81 forces the Latin-1 fallback, where byte 0x85 is U+0085 (NEL)."""
    parsed = parse(b"\x81\r\n123\x85456\r\n789\r\n")

    assert parsed.encoding == "latin-1"
    assert parsed.numbers == (("789", 3),)
    assert [bad.line for bad in parsed.invalid] == [1, 2]


def test_given_old_mac_line_endings_when_parsed_then_a_lone_cr_ends_a_line() -> None:
    parsed = parse(b"numero_os\r11\r\r12\r")

    assert parsed.numbers == (("11", 2), ("12", 4))


# --------------------------------------------------------------------- encodings
def test_given_latin1_bytes_invalid_as_utf8_when_parsed_then_windows_1252_is_used() -> None:
    raw = "Cliente;Número OS\nConceição;1\nSão Paulo;ação\n".encode("latin-1")
    with pytest.raises(UnicodeDecodeError):
        raw.decode("utf-8")

    parsed = parse(raw)

    assert parsed.encoding == "windows-1252"
    assert parsed.header is True
    assert parsed.numbers == (("1", 2),)
    assert parsed.invalid[0].value == "ação"


@pytest.mark.parametrize(
    ("raw", "text", "encoding"),
    [
        pytest.param(b"abc", "abc", "utf-8", id="ascii"),
        pytest.param("São".encode(), "São", "utf-8", id="utf8"),
        pytest.param(BOM + "São".encode(), "São", "utf-8-sig", id="utf8-bom"),
        pytest.param("São €".encode("cp1252"), "São €", "windows-1252", id="cp1252-euro"),
        pytest.param(b"S\xe3o \x81", "São \x81", "latin-1", id="latin1-undefined-cp1252"),
    ],
)
def test_given_bytes_when_decoded_then_the_text_and_its_encoding_are_returned(
    raw: bytes, text: str, encoding: str
) -> None:
    assert decode(raw) == (text, encoding)


def test_given_a_utf8_bom_and_invalid_utf8_when_parsed_then_the_file_is_rejected() -> None:
    with pytest.raises(BatchFileError, match="BOM"):
        parse(BOM + "Conceição\n".encode("latin-1"))


@pytest.mark.parametrize("codec", ["utf-16", "utf-16-le", "utf-16-be", "utf-32"])
def test_given_a_utf16_or_utf32_file_when_parsed_then_a_clear_error_says_save_as_utf8(
    codec: str,
) -> None:
    """Excel's "Unicode text" is UTF-16 with BOM; without BOM it shows up as NUL bytes."""
    raw = "numero_os\r\n123\r\n".encode(codec)
    if codec in ("utf-16-le", "utf-16-be"):
        raw = (codecs.BOM_UTF16_LE if codec.endswith("le") else codecs.BOM_UTF16_BE) + raw

    with pytest.raises(BatchFileError, match=r"UTF-16.*UTF-8"):
        parse(raw)


@pytest.mark.parametrize(
    "raw",
    [
        pytest.param("numero_os\n123\n".encode("utf-16-le"), id="utf16-no-bom"),
        pytest.param(b"123\n4\x005\n", id="nul-in-a-line"),
    ],
)
def test_given_nul_bytes_when_parsed_then_the_file_is_rejected(raw: bytes) -> None:
    with pytest.raises(BatchFileError, match="NUL"):
        parse(raw)


# --------------------------------------------------------------------- rejected files
@pytest.mark.parametrize(
    "raw",
    [
        pytest.param(b"", id="empty"),
        pytest.param(b"\n\n\n", id="lf"),
        pytest.param(b"\r\n  \r\n\t\r\n", id="crlf-spaces-tabs"),
        pytest.param(BOM + b"\r\n\r\n", id="bom"),
        pytest.param(b";;\n;;\n", id="empty-rows"),
    ],
)
def test_given_only_blank_lines_when_parsed_then_the_file_is_rejected(raw: bytes) -> None:
    with pytest.raises(BatchFileError, match="no lines"):
        parse(raw)


@pytest.mark.parametrize(
    ("raw", "columns"),
    [
        pytest.param(b"cliente;cidade\nSilva;Santos\n", 2, id="semicolon"),
        pytest.param(b"123,Silva,Santos\n456,Souza,Campinas\n", 3, id="comma-data"),
        pytest.param("Nº OS\tcidade\n1\tx\n".encode(), 2, id="tab-unknown-name"),
    ],
)
def test_given_several_columns_and_no_recognised_header_when_parsed_then_the_error_names_them(
    raw: bytes, columns: int
) -> None:
    with pytest.raises(BatchFileError) as caught:
        parse(raw)

    assert str(caught.value) == (
        f"the file has {columns} columns but none is named numero_os, os or numero"
    )


# --------------------------------------------------------------------- size limits
def numbers_file(count: int, *, header: bool = True) -> bytes:
    """``count`` distinct numbers, a blank line every 10 lines (not counted)."""
    lines = ["numero_os"] if header else []
    for n in range(count):
        lines.append(str(100000 + n))
        if n % 10 == 9:
            lines.append("")
    return "\r\n".join(lines).encode()


def test_given_exactly_max_lines_data_lines_when_parsed_then_the_file_passes() -> None:
    """The header and blank lines do not count towards the limit."""
    parsed = parse(numbers_file(50), max_lines=50)

    assert parsed.lines == 50 and len(parsed.numbers) == 50


def test_given_one_line_over_max_lines_when_parsed_then_a_clear_error_names_the_limit() -> None:
    with pytest.raises(BatchFileError, match=r"^the file has more than 50 data lines$"):
        parse(numbers_file(51), max_lines=50)


def test_given_invalid_and_duplicate_lines_when_limited_then_they_count_towards_the_limit() -> None:
    raw = b"1\n1\nabc\n"
    assert parse(raw, max_lines=3).lines == 3
    with pytest.raises(BatchFileError, match="more than 2"):
        parse(raw, max_lines=2)


def test_given_100000_lines_when_parsed_then_every_one_is_counted() -> None:
    """Counts only: the parse time is measured by the benchmarks, not asserted here."""
    count = 100_000
    lines = ["cliente;numero_os;cidade"]
    for n in range(count):
        number = "x" if n % 1000 == 999 else str(n % 90_000)
        lines.append(f"Cliente {n};{number};São Paulo")
    raw = "\r\n".join(lines).encode("utf-8-sig")

    parsed = parse(raw, max_lines=count)

    assert parsed.lines == count
    assert len(parsed.invalid) == 100
    # Distinct: 0..89999 but the 90 numbers ≡ 999 (mod 1000), which are only ever "x".
    assert len(parsed.numbers) == 89_910
    assert len(parsed.duplicates) == 9_990
    assert parsed.numbers[-1] == ("89998", 89_998 + 2)


# --------------------------------------------------------------------- results files
FORMULAS = [
    pytest.param('=HYPERLINK("http://x","y")', id="hyperlink"),
    pytest.param("+1", id="plus"),
    pytest.param("-1", id="minus"),
    pytest.param("@SUM(A1:A2)", id="at"),
    pytest.param("\t=1+1", id="tab"),
    pytest.param("\r=1+1", id="cr"),
    pytest.param(" =1+1", id="leading-space"),
]
#: Formulas that fit on one line of an uploaded file (CR would end the line).
UPLOADED_FORMULAS = [param for param in FORMULAS if param.id != "cr"]


def read_csv(data: bytes) -> list[list[str]]:
    """A results CSV as Excel would split it: BOM stripped, ``;`` cells, quoted newlines."""
    return list(csv.reader(io.StringIO(data.decode("utf-8-sig"), newline=""), delimiter=";"))


@pytest.mark.parametrize("formula", [*FORMULAS, pytest.param("\n-2+3", id="leading-newline")])
def test_given_a_formula_cell_when_made_safe_then_it_starts_with_a_quote(formula: str) -> None:
    assert safe_cell(formula) == "'" + formula


@pytest.mark.parametrize(
    "formula",
    [
        pytest.param("＝1+1", id="full-width-equals"),
        pytest.param("＋cmd|' /C calc'!A0", id="full-width-plus"),
        pytest.param("－2+3", id="full-width-minus"),
        pytest.param("＠SUM(A1)", id="full-width-at"),
        pytest.param("\u200b=1+1", id="after-zero-width-space"),
        pytest.param("\ufeff=1+1", id="after-bom"),
        pytest.param('\u2060\u200d=HYPERLINK("http://x")', id="after-joiners"),
        pytest.param("\u00a0\u3000=1+1", id="after-nbsp-and-ideographic-space"),
    ],
)
def test_given_a_disguised_formula_when_made_safe_then_it_starts_with_a_quote(
    formula: str,
) -> None:
    # Given a formula behind invisible characters or in full-width forms, which spreadsheets
    # still evaluate; when made safe, then it is text
    assert safe_cell(formula) == "'" + formula


def test_given_text_that_only_contains_a_full_width_sign_then_it_is_unchanged() -> None:
    assert safe_cell("Rua ＝ 1") == "Rua ＝ 1"
    assert safe_cell("\u200bRua A") == "\u200bRua A"


@pytest.mark.parametrize(
    ("value", "expected"),
    [
        pytest.param("123", "123", id="number"),
        pytest.param("a=b", "a=b", id="equals-inside"),
        pytest.param(None, "", id="none"),
        pytest.param(7, "7", id="int"),
        pytest.param(-7, "'-7", id="negative-int"),
        pytest.param({"a": "ç"}, '{"a":"ç"}', id="dict-json"),
    ],
)
def test_given_an_ordinary_value_when_made_safe_then_it_is_text_unchanged(
    value: Any, expected: str
) -> None:
    assert safe_cell(value) == expected


@pytest.mark.parametrize("formula", UPLOADED_FORMULAS)
def test_given_a_formula_in_the_uploaded_file_when_results_are_written_then_no_cell_is_a_formula(
    formula: str,
) -> None:
    """The hostile value reaches the CSV as an invalid line, quoted: text, not a formula."""
    cell = '"' + formula.replace('"', '""') + '"'
    raw = f"cliente;numero_os\r\nSilva;1\r\nHacker;{cell}\r\n".encode()
    parsed = parse(raw)
    assert [bad.line for bad in parsed.invalid] == [3]

    table = read_csv(results_csv(result_lines(parsed, {"1": ("found", "", None)})))

    assert table[2][:3] == ["3", "'" + formula, "invalid"]
    for row in table:
        for value in row:
            assert not value.startswith(("=", "+", "-", "@", "\t", "\r"))
            assert not value.lstrip().startswith(("=", "+", "-", "@"))


def test_given_formulas_in_scraped_data_when_results_are_written_then_they_are_neutralised() -> (
    None
):
    rows = [
        ResultLine(2, "1", "found", "=cmd|' /C calc'!A0", {"cliente": "+55 11", "=col": "x"}),
    ]

    table = read_csv(results_csv(rows))

    assert table[0] == ["linha", "numero_os", "resultado", "mensagem", "cliente", "'=col"]
    assert table[1] == ["2", "1", "found", "'=cmd|' /C calc'!A0", "'+55 11", "x"]


def parsed_matrix() -> ParsedFile:
    return parse(matrix_file(";", "utf-8", "\r\n", header=True))


OUTCOMES: dict[str, tuple[str, str, dict[str, Any] | None]] = {
    "1001": (
        "found",
        "",
        {
            "cliente": 'Silva; "Zé"\nda Conceição',
            "situacao": "Aberta",
            "historico": [{"evento": "criada"}],
        },
    ),
    "1002": ("not_found", "OS não encontrada", None),
    "1003": ("failed", "portal fora do ar;\r\ntente depois", {"situacao": None}),
}


def test_given_parsed_lines_and_outcomes_when_result_lines_then_each_line_is_once_in_order() -> (
    None
):
    parsed = parsed_matrix()

    rows = result_lines(parsed, OUTCOMES)

    assert [row.line for row in rows] == [2, 4, 5, 6, 8, 9, 10, 11, 12]
    assert [row.result for row in rows] == [
        "found",
        "invalid",
        "invalid",
        "invalid",
        "invalid",
        "not_found",
        "duplicate",
        "failed",
        "duplicate",
    ]
    assert rows[6].message == "same OS as line 2"
    assert rows[8].message == "same OS as line 9"


def test_given_a_number_without_an_outcome_when_result_lines_then_it_is_failed() -> None:
    rows = result_lines(parse(b"5\n6\n"), {"5": ("found", "", None)})

    assert [(row.numero_os, row.result, row.message) for row in rows] == [
        ("5", "found", ""),
        ("6", "failed", "no outcome recorded"),
    ]


def test_given_results_when_written_as_csv_then_excel_ptbr_reads_every_line_back() -> None:
    """BOM, ``;``, CRLF; ``;``, quotes and newlines in cells survive csv.reader."""
    rows = result_lines(parsed_matrix(), OUTCOMES)

    data = results_csv(rows)

    assert data.startswith(BOM) and not data[3:].startswith(BOM)
    assert data.endswith(b"\r\n")
    table = read_csv(data)
    assert table[0] == ["linha", "numero_os", "resultado", "mensagem", "cliente", "situacao"]
    body = table[1:]
    assert [row[0] for row in body] == ["2", "4", "5", "6", "8", "9", "10", "11", "12"]
    assert all(len(row) == len(table[0]) for row in body)
    assert body[0] == ["2", "1001", "found", "", 'Silva; "Zé"\nda Conceição', "Aberta"]
    assert body[1][1:3] == ["Conceição", "invalid"] and RULE in body[1][3]
    assert body[3][1:4] == ["", "invalid", "empty value"]
    assert body[5] == ["9", "1002", "not_found", "OS não encontrada", "", ""]
    assert body[6] == ["10", "1001", "duplicate", "same OS as line 2", "", ""]
    assert body[7] == ["11", "1003", "failed", "portal fora do ar;\r\ntente depois", "", ""]


def test_given_results_when_written_as_json_then_every_field_of_every_line_is_kept() -> None:
    rows = result_lines(parsed_matrix(), OUTCOMES)
    counts = {"lines": 9, "valid": 3, "invalid": 4, "duplicates": 2}

    data = results_json("b-1", counts, rows)

    body = json.loads(data.decode("utf-8"))
    assert "Conceição".encode() in data  # UTF-8, not \u escapes
    assert body["batch_id"] == "b-1" and body["counts"] == counts
    assert [line["line"] for line in body["lines"]] == [2, 4, 5, 6, 8, 9, 10, 11, 12]
    assert body["lines"][0] == {
        "line": 2,
        "numero_os": "1001",
        "result": "found",
        "message": "",
        "data": OUTCOMES["1001"][2],
    }
    assert body["lines"][1]["data"] is None
    assert body["lines"][6]["result"] == "duplicate"


def test_given_a_formula_when_written_as_json_then_it_is_kept_verbatim() -> None:
    """Only the CSV is for spreadsheets; the JSON keeps the value as uploaded."""
    rows = [ResultLine(3, '=HYPERLINK("http://x","y")', "invalid", RULE)]

    body = json.loads(results_json("b", {}, rows))

    assert body["lines"][0]["numero_os"] == '=HYPERLINK("http://x","y")'


# --------------------------------------------------------------------- upload keys
@pytest.mark.parametrize(
    ("user", "batch_id"),
    [pytest.param("ana@example.com", "0a1b-2c", id="email"), pytest.param("u.1+x", "B_9", id="id")],
)
def test_given_an_upload_key_when_parsed_then_user_and_batch_come_back(
    user: str, batch_id: str
) -> None:
    assert parse_key(upload_key(user, batch_id)) == (user, batch_id)


@pytest.mark.parametrize(
    "key",
    [
        "batches/ana/b1.txt",
        "batches/ana/x/b1.csv",
        "results/ana/b1.csv",
        "batches//b1.csv",
        "batches/ana/b 1.csv",
    ],
)
def test_given_a_key_that_is_not_an_upload_when_parsed_then_it_is_none(key: str) -> None:
    assert parse_key(key) is None


def test_given_the_demo_rule_when_validating_then_numbers_are_stripped_or_refused() -> None:
    """The validator these tests use: the demo profile's rule, as BatchService wraps it."""
    assert validate(" 12 ") == "12"
    with pytest.raises(ValueError, match=r"\^\[0-9\]\{1,12\}\$"):
        validate("1234567890123")


@pytest.mark.parametrize("delimiter", ["", ";"], ids=["one-per-line", "csv"])
def test_given_a_line_longer_than_the_csv_field_limit_then_it_is_reported_invalid_with_its_number(
    delimiter: str,
) -> None:
    # Given a file whose second data line holds 131,073 digits (over csv's field limit)
    header = f"numero_os{delimiter}obs\n" if delimiter else ""
    tail = f"{delimiter}x" if delimiter else ""
    raw = f"{header}123456{tail}\n{'9' * 131_073}{tail}\n654321{tail}\n".encode()
    offset = 1 if delimiter else 0
    # When it is parsed
    parsed = parse_batch(raw, validate)
    # Then the long line is an invalid line with its number; the others are read
    assert [n for n, _ in parsed.numbers] == ["123456", "654321"]
    assert [bad.line for bad in parsed.invalid] == [2 + offset]
    assert "at most 64 characters" in parsed.invalid[0].reason
    assert len(parsed.invalid[0].value) <= 80
