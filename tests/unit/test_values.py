"""Cleaning extracted texts into the record's documented types (chalicelib/domain/values.py)."""

from __future__ import annotations

from typing import Any

import pytest

from chalicelib.domain.fieldrules import FieldRule, field_rule
from chalicelib.domain.values import clean_value, parts_of

NBSP = "\u00a0"


def rule(**spec: Any) -> FieldRule:
    """A field rule as a profile would write it (a CSS selector and the given keys)."""
    return field_rule("valor", {"css": "td::text", **spec}, "fields.valor")


# ------------------------------------------------------------------ parts and nothing found
def test_parts_of_collapses_white_space_and_drops_empty_texts():
    assert parts_of(["  a \n\t b ", "", "   ", f"{NBSP}c{NBSP}"]) == ["a b", "c"]


@pytest.mark.parametrize("clean", ["text", "join", "date", "datetime", "integer", "decimal"])
@pytest.mark.parametrize("texts", [[], [""], ["  ", "\n\t"], [NBSP]])
def test_no_usable_text_is_none_whatever_the_cleaner(clean, texts):
    assert clean_value(rule(clean=clean), texts) is None


# ------------------------------------------------------------------ text and join
def test_text_is_the_first_text_with_white_space_collapsed():
    # Given texts with line breaks, tabs and non-breaking spaces around the words
    texts = ["\n  ", f"  Rua{NBSP}das   Flores,\n\t 12 ", "ignored"]
    # When cleaned as text, then the first non-empty text comes back collapsed
    assert clean_value(rule(), texts) == "Rua das Flores, 12"


def test_strip_is_the_old_name_of_text():
    assert rule(clean="strip").clean == "text"
    assert clean_value(rule(clean="strip"), ["  Aberta  "]) == "Aberta"


def test_join_joins_every_non_empty_text_with_a_space_by_default():
    texts = ["Troca de ", "\n", "  medidor   ", "em   curto"]
    assert clean_value(rule(clean="join"), texts) == "Troca de medidor em curto"


def test_join_uses_the_separator_the_profile_gives():
    assert clean_value(rule(clean="join", separator=" | "), ["a", " ", "b "]) == "a | b"


# ------------------------------------------------------------------ date
@pytest.mark.parametrize(
    "text,expected",
    [
        ("10/03/2024", "2024-03-10"),
        (" 01/12/2023 ", "2023-12-01"),
        ("29/02/2024", "2024-02-29"),
        ("10/03/24", "2024-03-10"),
    ],
)
def test_a_date_reads_as_iso_with_the_default_formats(text, expected):
    assert clean_value(rule(clean="date"), [text]) == expected


@pytest.mark.parametrize(
    "text,expected",
    [("01/01/69", "1969-01-01"), ("31/12/99", "1999-12-31"), ("01/01/68", "2068-01-01")],
)
def test_two_digit_years_69_to_99_are_19xx_and_00_to_68_are_20xx(text, expected):
    assert clean_value(rule(clean="date"), [text]) == expected


@pytest.mark.parametrize("text", ["31/02/2024", "29/02/2023", "32/01/2024", "10/13/2024", "ontem"])
def test_a_date_that_does_not_exist_or_does_not_read_is_none(text):
    assert clean_value(rule(clean="date"), [text]) is None


def test_a_date_reads_with_the_profiles_own_formats_only():
    # Given a profile that says dates are written year first
    iso = rule(clean="date", formats=["%Y-%m-%d"])
    # Then such a date reads, and the default dd/mm/yyyy no longer does
    assert clean_value(iso, ["2024-03-10"]) == "2024-03-10"
    assert clean_value(iso, ["10/03/2024"]) is None


def test_a_single_format_string_is_accepted_like_a_list():
    assert rule(clean="date", formats="%d.%m.%Y").formats == ("%d.%m.%Y",)
    assert clean_value(rule(clean="date", formats="%d.%m.%Y"), ["10.03.2024"]) == "2024-03-10"


def test_the_first_matching_format_wins():
    # 03/10/2024 is 3 October as dd/mm and 10 March as mm/dd: the order decides
    both = rule(clean="date", formats=["%m/%d/%Y", "%d/%m/%Y"])
    assert clean_value(both, ["03/10/2024"]) == "2024-03-10"


# ------------------------------------------------------------------ datetime
@pytest.mark.parametrize(
    "text,expected",
    [
        ("10/03/2024 14:30", "2024-03-10T14:30"),
        ("10/03/2024 14:30:59", "2024-03-10T14:30"),
        ("10/03/24 08:05", "2024-03-10T08:05"),
        ("10/03/69 08:05:01", "1969-03-10T08:05"),
    ],
)
def test_a_datetime_reads_as_iso_to_the_minute(text, expected):
    assert clean_value(rule(clean="datetime"), [text]) == expected


def test_a_date_and_a_time_in_two_texts_read_together_as_a_datetime():
    # Given <td>10/03/2024<br>14:30</td>: the date and the time are two texts
    texts = ["10/03/2024", "\n", " 14:30 "]
    # When cleaned as a datetime, then both are read together
    assert clean_value(rule(clean="datetime"), texts) == "2024-03-10T14:30"


@pytest.mark.parametrize("texts", [["10/03/2024"], ["31/02/2024 10:00"], ["10/03/2024 25:00"]])
def test_a_datetime_without_a_time_or_impossible_is_none(texts):
    assert clean_value(rule(clean="datetime"), texts) is None


# ------------------------------------------------------------------ integer
@pytest.mark.parametrize(
    "text,expected",
    [
        ("42", 42),
        (" 007 ", 7),
        ("1.250", 1250),
        ("1.234.567", 1234567),
        ("1 250", 1250),
        (f"1{NBSP}250", 1250),
        ("-3", -3),
        ("+3", 3),
        ("12,00", 12),
        ("0", 0),
    ],
)
def test_an_integer_reads_with_dots_or_spaces_grouping_thousands(text, expected):
    value = clean_value(rule(clean="integer"), [text])
    assert value == expected and type(value) is int


@pytest.mark.parametrize(
    "text",
    ["1,5", "1.23", "12.34.567", "1234.567", "1.2345", ".123", "12a", "--3", "1e3", "١٢٣", "-"],
)
def test_what_is_not_a_whole_number_is_none_as_an_integer(text):
    assert clean_value(rule(clean="integer"), [text]) is None


def test_an_integer_with_decimal_point_separator_reads_commas_as_thousands():
    dotted = rule(clean="integer", decimal_separator=".")
    assert clean_value(dotted, ["1,250"]) == 1250
    assert clean_value(dotted, ["1.5"]) is None


# ------------------------------------------------------------------ decimal
@pytest.mark.parametrize(
    "text,expected",
    [
        ("1.234,56", "1234.56"),
        ("R$ 1.234,56", "1234.56"),
        (f"R${NBSP}1.234,56", "1234.56"),
        ("R$1.234,56", "1234.56"),
        ("US$ 10,00", "10.00"),
        ("€ 3,5", "3.5"),
        ("-0,5", "-0.5"),
        ("- 2,5", "-2.5"),
        ("+2,5", "2.5"),
        ("R$ -1.234,56", "-1234.56"),
        ("0,05", "0.05"),
        ("1.000.000", "1000000"),
        (f"1{NBSP}234,5", "1234.5"),
        ("007,10", "7.10"),
        ("3", "3"),
    ],
)
def test_a_decimal_is_a_string_with_a_dot_and_no_thousands(text, expected):
    value = clean_value(rule(clean="decimal"), [text])
    assert value == expected and isinstance(value, str)


def test_a_decimal_is_exact_without_binary_rounding():
    assert clean_value(rule(clean="decimal"), ["0,1000000000000000055511"]) == (
        "0.1000000000000000055511"
    )


@pytest.mark.parametrize(
    "text", ["1.23", "1.23,4", "12,3,4", "1,2a", "abc", "R$ -", "1.2345,6", ",5"]
)
def test_what_does_not_read_as_a_decimal_is_none(text):
    assert clean_value(rule(clean="decimal"), [text]) is None


@pytest.mark.parametrize("clean", ["integer", "decimal"])
def test_a_currency_symbol_without_an_amount_is_none_not_an_error(clean):
    # Given a cell that shows only "R$" (the amount left blank by the portal)
    # When it is cleaned as a number, then there is no value (and no IndexError)
    assert clean_value(rule(clean=clean), ["R$"]) is None
    assert clean_value(rule(clean=clean), [f"US${NBSP}"]) is None


@pytest.mark.parametrize(
    "text,expected",
    [("1,234.56", "1234.56"), ("US$ 1,234,567.5", "1234567.5"), ("-0.5", "-0.5"), ("12", "12")],
)
def test_a_decimal_with_decimal_point_separator_reads_the_reverse_notation(text, expected):
    assert clean_value(rule(clean="decimal", decimal_separator="."), [text]) == expected


def test_a_comma_decimal_read_with_a_dot_separator_is_not_misread():
    # "1,5" in a dot-decimal portal would be a thousands grouping of 2 digits: not a number
    assert clean_value(rule(clean="decimal", decimal_separator="."), ["1,5"]) is None


def test_a_number_reads_only_the_first_text():
    assert clean_value(rule(clean="decimal"), ["1,5", "2,5"]) == "1.5"
    assert clean_value(rule(clean="integer"), ["abc", "10"]) is None
