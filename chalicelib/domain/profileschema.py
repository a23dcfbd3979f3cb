"""The profile file's schema, version 1: every key, its type and whether it is required.

Pure and light (no parsel): the API loads the profile to validate numbers. ``check``
walks a parsed TOML document against ``SCHEMA`` and raises ``ProfileError`` naming the
dotted key of the first problem (an unknown key suggests the closest known one);
``locate`` finds the line a key is written on, for messages such as
``profiles/x.toml:12: fields.prazo.clean: must be one of …``. ``docs/profile.md`` documents
every key here (a test keeps them in step).
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Any, Mapping

from chalicelib.errors import ProfileError

__all__ = ["SCHEMA", "VERSION", "Key", "check", "fail", "locate", "strings"]

#: The profile format this raspa reads.
VERSION = 1


@dataclass(frozen=True)
class Key:
    """One key of a table: its type (``str``, ``int``, ``bool``, ``strs`` (a string or a
    list of strings), ``ints`` (a list of integers), ``table`` or ``tables`` (a table of
    named tables)), whether it is required, and for tables the keys inside."""

    type: str
    required: bool = False
    keys: Mapping[str, Key] | None = None


_VALUE = {
    "css": Key("str"),
    "xpath": Key("str"),
    "label": Key("str"),
    "clean": Key("str"),
    "formats": Key("strs"),
    "separator": Key("str"),
    "decimal_separator": Key("str"),
    "required": Key("bool"),
}

SCHEMA: Mapping[str, Key] = {
    "version": Key("int", required=True),
    "name": Key("str"),
    "base_url": Key("str", required=True),
    "allow_insecure": Key("bool"),
    "encoding": Key("str"),
    "numero": Key(
        "table",
        required=True,
        keys={
            "pattern": Key("str", required=True),
            "description": Key("str"),
            "max_length": Key("int"),
        },
    ),
    "login": Key(
        "table",
        required=True,
        keys={
            "url": Key("str", required=True),
            "form_selector": Key("str", required=True),
            "username_field": Key("str", required=True),
            "password_field": Key("str", required=True),
            "submit": Key("str"),
            "failure_selector": Key("str", required=True),
            "login_page_marker": Key("str"),
            "expired_status": Key("ints"),
        },
    ),
    "detail": Key(
        "table",
        required=True,
        keys={
            "url": Key("str", required=True),
            "form_selector": Key("str"),
            "number_field": Key("str"),
            "submit": Key("str"),
            "frames": Key("strs"),
            "not_found_selector": Key("str"),
            "not_found_redirect": Key("str"),
            "not_found_status": Key("ints"),
        },
    ),
    "fields": Key("tables", required=True, keys=_VALUE),
    "history": Key(
        "table",
        keys={
            "row_selector": Key("str", required=True),
            "url": Key("str"),
            "link_selector": Key("str"),
            "next_page_selector": Key("str"),
            "next_postback_selector": Key("str"),
            "postback_form_selector": Key("str"),
            "columns": Key("tables", required=True, keys=_VALUE),
        },
    ),
}

_TYPES = {
    "str": "a string",
    "int": "an integer",
    "bool": "true or false",
    "strs": "a string or a list of strings",
    "ints": "a list of integers",
    "table": "a table",
    "tables": "a table of named tables",
}


def fail(key: str, message: str) -> ProfileError:
    """The error of ``key`` (dotted; "" for the whole file)."""
    error = ProfileError(f"{key}: {message}" if key else message)
    error.key = key
    return error


def check(raw: Mapping[str, Any], schema: Mapping[str, Key] = SCHEMA, where: str = "") -> None:
    """ProfileError naming the key of the first unknown key, missing key or wrong type."""
    for name in raw:
        if name not in schema:
            import difflib  # only on a typo: the API loads profiles on its cold start

            close = difflib.get_close_matches(name, list(schema), n=1)
            hint = f" (did you mean {close[0]}?)" if close else ""
            known = ", ".join(schema)
            raise fail(f"{where}{name}", f"unknown key{hint}; known here: {known}")
    for name, key in schema.items():
        path = f"{where}{name}"
        if name not in raw:
            if key.required:
                what = f"[{path}]" if key.type == "table" else f"[{path}.<name>]"
                raise fail(path, f"missing {what} table" if "table" in key.type else "missing")
            continue
        value = raw[name]
        if not _is(value, key.type):
            raise fail(path, f"must be {_TYPES[key.type]}")
        if key.type == "table" and key.keys is not None:
            check(value, key.keys, f"{path}.")
        elif key.type == "tables" and key.keys is not None:
            if not value:
                raise fail(path, f"needs at least one [{path}.<name>] table")
            for sub, spec in value.items():
                if not isinstance(spec, Mapping):
                    raise fail(f"{path}.{sub}", "must be a table")
                check(spec, key.keys, f"{path}.{sub}.")


def strings(value: str | list[str]) -> tuple[str, ...]:
    """A ``strs`` key's value (one string or a list of them) as a tuple."""
    return (value,) if isinstance(value, str) else tuple(value)


def _is(value: Any, kind: str) -> bool:
    if kind == "str":
        return isinstance(value, str)
    if kind == "int":
        return isinstance(value, int) and not isinstance(value, bool)
    if kind == "bool":
        return isinstance(value, bool)
    if kind == "strs":
        return isinstance(value, str) or (
            isinstance(value, list) and all(isinstance(v, str) for v in value)
        )
    if kind == "ints":
        return isinstance(value, list) and all(
            isinstance(v, int) and not isinstance(v, bool) for v in value
        )
    return isinstance(value, Mapping)


# ------------------------------------------------------------------ lines
_HEADER = re.compile(r"^\s*\[\[?\s*([^\]]+?)\s*\]\]?\s*(?:#.*)?$")
_PART = r"""(?:[A-Za-z0-9_-]+|"[^"]*"|'[^']*')"""
_ASSIGN = re.compile(rf"^\s*({_PART}(?:\s*\.\s*{_PART})*)\s*=")


def _dotted(text: str) -> list[str]:
    parts = re.findall(r"""[A-Za-z0-9_-]+|"[^"]*"|'[^']*'""", text)
    return [p[1:-1] if p[:1] in "\"'" else p for p in parts]


def locate(text: str, key: str) -> int | None:
    """The 1-based line where ``key`` (dotted) is written in the TOML ``text``: its own
    line, else its nearest parent's (a table header or an inline table); None if absent."""
    lines: dict[str, int] = {}
    table: list[str] = []
    for number, line in enumerate(text.splitlines(), start=1):
        header = _HEADER.match(line)
        if header:
            table = _dotted(header.group(1))
            path = table
        else:
            assign = _ASSIGN.match(line)
            if not assign:
                continue
            path = table + _dotted(assign.group(1))
        for end in range(len(table) + 1 if not header else 1, len(path) + 1):
            lines.setdefault(".".join(path[:end]), number)  # a dotted key's parents too
    parts = key.split(".") if key else []
    while parts:
        found = lines.get(".".join(parts))
        if found is not None:
            return found
        parts.pop()
    return None
