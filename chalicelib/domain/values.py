"""Cleaning of extracted texts into the record's documented types: pure functions.

``text`` (white space collapsed), ``join`` (every text, joined by the separator), ``date``
("YYYY-MM-DD"), ``datetime`` ("YYYY-MM-DDTHH:MM"), ``integer`` (an int: "1.250" → 1250)
and ``decimal`` (a string with "." as the decimal point and no thousands separator:
"R$ 1.234,56" → "1234.56", exact, no binary rounding). A value that does not read as its
type is None (for a required field: the layout changed).
"""

from __future__ import annotations

import re
from datetime import datetime
from typing import Any

from chalicelib.domain.profile import FieldRule

__all__ = ["clean_value", "parts_of"]

_SPACES = re.compile(r"\s+")
_CURRENCY = re.compile(r"^(?:R\$|US\$|\$|€)\s*")


def parts_of(texts: list[str]) -> list[str]:
    """The non-empty texts, white space collapsed."""
    parts = [_SPACES.sub(" ", t).strip() for t in texts]
    return [p for p in parts if p]


def clean_value(rule: FieldRule, texts: list[str]) -> Any:
    """Apply the rule's cleaning to the extracted strings; None when nothing usable is there."""
    parts = parts_of(texts)
    if not parts:
        return None
    if rule.clean == "join":
        return rule.separator.join(parts)
    if rule.clean in ("date", "datetime"):
        # The first text, or every text together (a date and a time in two elements).
        for candidate in dict.fromkeys((parts[0], " ".join(parts))):
            for fmt in rule.formats:
                try:
                    parsed = datetime.strptime(candidate, fmt)
                except ValueError:
                    continue
                return parsed.strftime("%Y-%m-%d" if rule.clean == "date" else "%Y-%m-%dT%H:%M")
        return None
    if rule.clean in ("integer", "decimal"):
        return _number(parts[0], rule.clean, rule.decimal_separator)
    return parts[0]


def _number(text: str, kind: str, decimal: str) -> int | str | None:
    """``text`` as a number written with ``decimal`` as its decimal separator and the
    other one ('.' or ',') or spaces grouping thousands; None when it is not one."""
    thousands = "." if decimal == "," else ","
    value = _CURRENCY.sub("", text.replace("\u00a0", " ").strip())
    sign = ""
    if value[:1] in ("+", "-"):
        sign, value = ("-" if value[0] == "-" else ""), value[1:].strip()
    whole, _, fraction = value.partition(decimal)
    groups = re.split(rf"[{re.escape(thousands)} ]", whole)
    grouped = len(groups) > 1
    if not all(g.isascii() and g.isdigit() for g in groups) or not groups[0]:
        return None
    if grouped and (len(groups[0]) > 3 or any(len(g) != 3 for g in groups[1:])):
        return None  # "1.23" is not a thousands grouping
    if fraction and not (fraction.isascii() and fraction.isdigit()):
        return None
    digits = "".join(groups)
    if kind == "integer":
        if fraction.strip("0"):
            return None
        return int(sign + digits)
    return f"{sign}{int(digits)}" + (f".{fraction}" if fraction else "")
