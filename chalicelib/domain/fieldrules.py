"""Field rules: where one value of the record is on a page and how it is cleaned
(``[fields.<name>]`` and ``[history.columns.<name>]`` of a profile). Pure, no parsel."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Mapping

from chalicelib.domain.profileschema import fail, strings

__all__ = ["CLEANERS", "DEFAULT_FORMATS", "LABEL_TAGS", "FieldRule", "field_rule", "label_xpath"]

#: ``strip`` is the old name of ``text``.
CLEANERS = ("text", "strip", "join", "date", "datetime", "integer", "decimal")
DEFAULT_FORMATS = {
    "date": ("%d/%m/%Y", "%d/%m/%y"),
    "datetime": ("%d/%m/%Y %H:%M:%S", "%d/%m/%Y %H:%M", "%d/%m/%y %H:%M:%S", "%d/%m/%y %H:%M"),
}
#: Elements a label may be written in; the value is in the next sibling element.
LABEL_TAGS = ("th", "td", "dt", "label", "span", "b", "strong")


@dataclass(frozen=True)
class FieldRule:
    """Where a value is on the page and how to clean it (``docs/profile.md``)."""

    name: str
    selector: str
    kind: str = "css"  # "css" or "xpath" (a label is an XPath built by label_xpath)
    clean: str = "text"
    formats: tuple[str, ...] = ()
    required: bool = True
    separator: str = " "
    decimal_separator: str = ","
    #: The label this rule was written with (its selector is then the derived XPath).
    label: str = ""

    def shown(self) -> str:
        """The selector as the profile wrote it."""
        return f"label {self.label!r}" if self.label else f"{self.kind} {self.selector!r}"


def field_rule(name: str, spec: Mapping[str, Any], where: str, *, labels: bool = True) -> FieldRule:
    kinds = [k for k in ("css", "xpath", "label") if k in spec]
    allowed = "css, xpath or label" if labels else "css or xpath"
    if len(kinds) != 1 or (kinds[0] == "label" and not labels):
        raise fail(where, f"needs exactly one of {allowed}")
    kind = kinds[0]
    if not spec[kind].strip():
        raise fail(f"{where}.{kind}", "must be a non-empty string")
    clean = spec.get("clean", "text")
    if clean not in CLEANERS:
        raise fail(f"{where}.clean", f"must be one of {', '.join(CLEANERS)}")
    clean = "text" if clean == "strip" else clean
    formats = strings(spec.get("formats", ()))
    if formats and clean not in DEFAULT_FORMATS:
        raise fail(f"{where}.formats", 'only goes with clean = "date" or "datetime"')
    for key, cleaners in (("separator", ("join",)), ("decimal_separator", ("decimal", "integer"))):
        if key in spec and clean not in cleaners:
            wanted = " or ".join(repr(c) for c in cleaners)
            raise fail(f"{where}.{key}", f"only goes with clean = {wanted}")
    decimal = spec.get("decimal_separator", ",")
    if decimal not in (",", "."):
        raise fail(f"{where}.decimal_separator", 'must be "," or "."')
    label = spec.get("label", "")
    return FieldRule(
        name=name,
        selector=label_xpath(label) if label else spec[kind],
        kind="xpath" if label else kind,
        clean=clean,
        formats=formats or DEFAULT_FORMATS.get(clean, ()),
        required=spec.get("required", True),
        separator=spec.get("separator", " "),
        decimal_separator=decimal,
        label=label,
    )


def _literal(text: str) -> str:
    """``text`` as an XPath 1.0 string literal."""
    if "'" not in text:
        return f"'{text}'"
    if '"' not in text:
        return f'"{text}"'
    return "concat(" + ', "\'", '.join(f"'{part}'" for part in text.split("'")) + ")"


def label_xpath(label: str) -> str:
    """The XPath of the text next to ``label``: the first element among ``LABEL_TAGS``
    whose text (white space collapsed) is the label, with or without a trailing ``:``;
    the value is every text under its next sibling element."""
    text = " ".join(label.split()).rstrip(":").rstrip()
    tags = " or ".join(f"self::{t}" for t in LABEL_TAGS)
    norm = "normalize-space(translate(., '\u00a0', ' '))"  # &nbsp; is white space too
    same = f"{norm}={_literal(text)} or {norm}={_literal(text + ':')}"
    return f"(//*[{tags}][{same}])[1]/following-sibling::*[1]//text()"
