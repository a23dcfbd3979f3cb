"""Batch files: decoding, delimiter and header detection, line validation, results files.

Pure functions, no I/O. Parsing is deterministic, so every invocation that works on a
batch (ingest chunks, a resumed ingest, the final results) reads the same numbers in
the same order from the same bytes, and an offset into ``ParsedFile.numbers`` is a
safe place to resume from.
"""

from __future__ import annotations

import csv
import io
import json
import re
import unicodedata
from dataclasses import dataclass, field
from itertools import islice
from typing import Any, Callable, Iterable, Mapping

__all__ = [
    "RESULTS_PREFIX",
    "UPLOAD_PREFIX",
    "UPLOAD_SUFFIX",
    "BatchFileError",
    "InvalidLine",
    "ParsedFile",
    "ResultLine",
    "decode",
    "parse_batch",
    "parse_key",
    "result_lines",
    "results_csv",
    "results_json",
    "safe_cell",
    "upload_key",
]

UPLOAD_PREFIX = "batches/"
UPLOAD_SUFFIX = ".csv"
RESULTS_PREFIX = "results/"
#: Header names of the OS number column, compared after ``_header_name``.
NUMBER_HEADERS = ("numero_os", "os", "numero")
DELIMITERS = (",", ";", "\t")
#: A cell starting with one of these is a formula to Excel (CSV injection).
FORMULA_STARTS = ("=", "+", "-", "@", "\t", "\r")
#: Line breaks of a physical line: CRLF, LF or a lone CR. Not ``str.splitlines``, which
#: also breaks at form feeds, U+0085 (byte 0x85 read as Latin-1), U+2028 and others.
_LINE_BREAK = re.compile(r"\r\n|\r|\n")
#: How many non-blank lines the delimiter is detected from.
SAMPLE_LINES = 20
_KEY = re.compile(r"batches/([A-Za-z0-9._@+-]{1,128})/([A-Za-z0-9_-]{1,64})\.csv")


class BatchFileError(ValueError):
    """The file as a whole cannot be read as a batch (the batch is rejected with this)."""


@dataclass(frozen=True)
class InvalidLine:
    line: int
    value: str
    reason: str


@dataclass(frozen=True)
class ParsedFile:
    """A batch file's content: every non-blank data line is in exactly one of
    ``numbers`` (first occurrence), ``duplicates`` or ``invalid``."""

    encoding: str
    delimiter: str | None
    header: bool
    #: Distinct valid numbers in file order, with the line of their first occurrence.
    numbers: tuple[tuple[str, int], ...]
    invalid: tuple[InvalidLine, ...]
    #: Later occurrences: (line, number, line of the first occurrence).
    duplicates: tuple[tuple[int, str, int], ...] = ()
    lines: int = 0
    extra: dict[str, Any] = field(default_factory=dict, compare=False)


def upload_key(user: str, batch_id: str) -> str:
    return f"{UPLOAD_PREFIX}{user}/{batch_id}{UPLOAD_SUFFIX}"


def parse_key(key: str) -> tuple[str, str] | None:
    """(user, batch_id) of an upload key, or None if it is not one."""
    match = _KEY.fullmatch(key)
    return (match.group(1), match.group(2)) if match else None


def decode(raw: bytes) -> tuple[str, str]:
    """The text and its encoding: UTF-8 (with or without BOM), else Windows-1252, else Latin-1."""
    if raw.startswith(b"\xef\xbb\xbf"):
        try:
            return raw[3:].decode("utf-8"), "utf-8-sig"
        except UnicodeDecodeError as exc:
            raise BatchFileError(
                f"the file starts with a UTF-8 BOM but is not UTF-8: {exc}"
            ) from None
    if raw.startswith((b"\xff\xfe", b"\xfe\xff")):
        raise BatchFileError("UTF-16 files are not supported; save the file as CSV UTF-8")
    try:
        return raw.decode("utf-8"), "utf-8"
    except UnicodeDecodeError:
        pass
    try:
        return raw.decode("cp1252"), "windows-1252"
    except UnicodeDecodeError:
        return raw.decode("latin-1"), "latin-1"


def _header_name(cell: str) -> str:
    """``" Número OS "`` → ``"numero_os"``: case, accents, spaces and hyphens ignored."""
    text = unicodedata.normalize("NFKD", cell.strip().strip('"').strip())
    text = "".join(c for c in text if not unicodedata.combining(c)).casefold()
    return re.sub(r"[\s\-]+", "_", text)


def _number_column(cells: list[str]) -> int | None:
    """Index of the OS number column in a header row, or None if the row is not a header."""
    names = [_header_name(cell) for cell in cells]
    for wanted in NUMBER_HEADERS:
        if wanted in names:
            return names.index(wanted)
    return None


def _detect_delimiter(lines: list[str]) -> str | None:
    """The delimiter among , ; tab that splits the first lines consistently, or None.

    A delimiter must split the first non-blank line, and either name the number column
    there (a header) or split most sampled lines into as many cells as the first; a
    header beats consistency, consistency beats more cells, earlier in DELIMITERS wins
    ties. So a one-number-per-line file whose first line is ``1,5`` stays one column.
    """
    sample = list(islice((line for line in lines if line.strip()), SAMPLE_LINES))
    best: tuple[tuple[bool, int, int], str] | None = None
    for delimiter in DELIMITERS:
        rows = [_cells(line, delimiter) for line in sample]
        counts = [len(row) - 1 for row in rows]
        if not counts or counts[0] == 0:
            continue
        named = _number_column(rows[0]) is not None
        consistent = sum(1 for c in counts if c == counts[0])
        if not named and consistent * 2 <= len(sample):
            continue
        score = (named, consistent, counts[0])
        if best is None or score > best[0]:
            best = (score, delimiter)
    return best[1] if best else None


def parse_batch(
    raw: bytes, validate: Callable[[str], str], *, max_lines: int | None = None
) -> ParsedFile:
    """Read a batch file: one number per line, or a CSV with a number column.

    ``validate`` returns the normalised number or raises ``ValueError`` with the
    reason (the portal profile's rule). Blank lines are ignored; every other line is
    a number, a duplicate or an invalid line with its reason. Raises ``BatchFileError``
    for a file that cannot be read at all, or has more than ``max_lines`` data lines.
    """
    text, encoding = decode(raw)
    if "\x00" in text:
        raise BatchFileError(
            "the file contains NUL bytes: it is not a text file "
            "(UTF-16 without BOM?); save the file as CSV UTF-8"
        )
    physical = _LINE_BREAK.split(text)
    delimiter = _detect_delimiter(physical)
    first = next((i for i, line in enumerate(physical) if not _blank(line, delimiter)), None)
    if first is None:
        raise BatchFileError("the file has no lines")
    head_cells = _cells(physical[first], delimiter)
    found = _number_column(head_cells)
    header = found is not None
    column = found or 0
    if not header and len(head_cells) > 1:
        raise BatchFileError(
            f"the file has {len(head_cells)} columns but none is named "
            f"{', '.join(NUMBER_HEADERS[:-1])} or {NUMBER_HEADERS[-1]}"
        )
    numbers: list[tuple[str, int]] = []
    seen: dict[str, int] = {}
    invalid: list[InvalidLine] = []
    duplicates: list[tuple[int, str, int]] = []
    lines = 0
    for index in range(first + (1 if header else 0), len(physical)):
        line_text = physical[index]
        if _blank(line_text, delimiter):
            continue
        lines += 1
        if max_lines is not None and lines > max_lines:
            raise BatchFileError(f"the file has more than {max_lines} data lines")
        line_no = index + 1
        cells = _cells(line_text, delimiter)
        if column >= len(cells):
            reason = f"no column {column + 1} ({head_cells[column].strip()})"
            invalid.append(InvalidLine(line_no, line_text[:80], reason))
            continue
        value = cells[column]
        try:
            number = validate(value)
        except ValueError as exc:
            reason = "empty value" if not value.strip() else str(exc)
            invalid.append(InvalidLine(line_no, value[:80], reason))
            continue
        if number in seen:
            duplicates.append((line_no, number, seen[number]))
            continue
        seen[number] = line_no
        numbers.append((number, line_no))
    return ParsedFile(
        encoding=encoding,
        delimiter=delimiter,
        header=header,
        numbers=tuple(numbers),
        invalid=tuple(invalid),
        duplicates=tuple(duplicates),
        lines=lines,
    )


def _blank(line: str, delimiter: str | None) -> bool:
    """Whitespace only, or only delimiters and whitespace (an empty spreadsheet row: ``;;``)."""
    return not (line.replace(delimiter, "") if delimiter else line).strip()


def _cells(line: str, delimiter: str | None) -> list[str]:
    """The line's cells; the whole line as one cell if the CSV reader refuses it (a
    field over its size limit, a stray NUL): validation then reports it invalid."""
    if delimiter is None:
        return [line.strip().strip('"')]
    try:
        return next(csv.reader([line], delimiter=delimiter))
    except (csv.Error, StopIteration):
        return [line]


# ------------------------------------------------------------------ results
def safe_cell(value: Any) -> str:
    """A cell Excel shows as text: formulas (``=HYPERLINK(...)``) get a leading quote."""
    if value is None:
        return ""
    if isinstance(value, (dict, list)):
        text = json.dumps(value, ensure_ascii=False, separators=(",", ":"))
    else:
        text = str(value)
    return "'" + text if is_formula(text) else text


def is_formula(text: str) -> bool:
    """Whether a spreadsheet may read ``text`` as a formula: it starts with ``=`` ``+`` ``-``
    ``@`` (or a tab or CR), also after spaces, line breaks or invisible characters (a BOM,
    a zero-width space) and in its full-width forms (``＝1+1``, folded by NFKC)."""
    if text.startswith(FORMULA_STARTS):
        return True
    folded = unicodedata.normalize("NFKC", text)
    start = 0
    while start < len(folded) and (
        folded[start].isspace() or unicodedata.category(folded[start]) in ("Cf", "Cc", "Zs")
    ):
        start += 1
    return folded[start:].startswith(FORMULA_STARTS)


@dataclass(frozen=True)
class ResultLine:
    """One data line of the file and what became of it."""

    line: int
    numero_os: str
    result: str  # found | not_found | failed | invalid | duplicate
    message: str = ""
    data: Mapping[str, Any] | None = None


def result_lines(
    parsed: ParsedFile, outcomes: Mapping[str, tuple[str, str, Mapping[str, Any] | None]]
) -> list[ResultLine]:
    """Every data line in file order; ``outcomes`` maps a number to (result, message, data)."""
    rows: list[ResultLine] = []
    for number, line in parsed.numbers:
        result, message, data = outcomes.get(number, ("failed", "no outcome recorded", None))
        rows.append(ResultLine(line, number, result, message, data))
    for bad in parsed.invalid:
        rows.append(ResultLine(bad.line, bad.value, "invalid", bad.reason))
    for line, number, first in parsed.duplicates:
        rows.append(ResultLine(line, number, "duplicate", f"same OS as line {first}"))
    rows.sort(key=lambda row: row.line)
    return rows


def _columns(rows: Iterable[ResultLine]) -> list[str]:
    columns: list[str] = []
    for row in rows:
        for key, value in (row.data or {}).items():
            if key not in columns and not isinstance(value, (dict, list)):
                columns.append(key)
    return columns


def results_csv(rows: list[ResultLine]) -> bytes:
    """The results as a ``;``-delimited CSV in UTF-8 with BOM, as Excel (pt-BR) opens it."""
    columns = _columns(rows)
    out = io.StringIO()
    writer = csv.writer(out, delimiter=";", lineterminator="\r\n")
    writer.writerow(["linha", "numero_os", "resultado", "mensagem", *map(safe_cell, columns)])
    for row in rows:
        data = row.data or {}
        writer.writerow(
            [row.line, safe_cell(row.numero_os), row.result, safe_cell(row.message)]
            + [safe_cell(data.get(c)) for c in columns]
        )
    return b"\xef\xbb\xbf" + out.getvalue().encode("utf-8")


def results_json(batch_id: str, counts: Mapping[str, int], rows: list[ResultLine]) -> bytes:
    """The results with every field of every OS, as JSON."""
    body = {
        "batch_id": batch_id,
        "counts": dict(counts),
        "lines": [
            {
                "line": row.line,
                "numero_os": row.numero_os,
                "result": row.result,
                "message": row.message,
                "data": dict(row.data) if row.data is not None else None,
            }
            for row in rows
        ],
    }
    return json.dumps(body, ensure_ascii=False, separators=(",", ":")).encode("utf-8")
