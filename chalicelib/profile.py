"""Portal profiles: a declarative description of a portal, so a new portal needs no new code.

A profile is a TOML file (format in ``docs/profile.md``) naming the login form, the
detail URL, the OS number pattern, one selector (CSS or XPath) and cleaning rule per
field, the "not found" marker, the "next page" link and the page encoding. It is
validated when loaded. This module does not import parsel unless selectors are checked.
"""

from __future__ import annotations

import re
import tomllib
from dataclasses import dataclass, field
from pathlib import Path
from types import MappingProxyType
from typing import Any, Mapping
from urllib.parse import quote, urljoin

from chalicelib.errors import InvalidOsNumberError, ProfileError

__all__ = [
    "DEFAULT_PROFILE_PATH",
    "FieldRule",
    "HistoryRule",
    "LoginRule",
    "PortalProfile",
    "load_profile",
]

DEFAULT_PROFILE_PATH = Path(__file__).resolve().parent / "profiles" / "demo.toml"
CLEANERS = ("strip", "join", "date", "datetime")


@dataclass(frozen=True)
class FieldRule:
    """Where a value is on the page and how to clean it."""

    name: str
    selector: str
    kind: str = "css"  # "css" or "xpath"
    clean: str = "strip"
    date_format: str | None = None
    required: bool = True


@dataclass(frozen=True)
class LoginRule:
    url: str
    form_selector: str
    username_field: str
    password_field: str
    failure_selector: str
    login_page_marker: str


@dataclass(frozen=True)
class HistoryRule:
    row_selector: str
    columns: tuple[FieldRule, ...]


@dataclass(frozen=True)
class PortalProfile:
    """A validated portal profile."""

    name: str
    base_url: str
    encoding: str
    number_pattern: str
    number_description: str
    number_max_length: int
    login: LoginRule
    detail_url_template: str
    not_found_selector: str
    next_page_selector: str
    fields: tuple[FieldRule, ...]
    history: HistoryRule | None
    _compiled: Any = field(default=None, repr=False, compare=False)

    def validate_number(self, raw: str) -> str:
        """The OS number, stripped, if it matches the pattern; else InvalidOsNumberError."""
        rule = f"must match {self.number_pattern} ({self.number_description})"
        if not isinstance(raw, str):
            raise InvalidOsNumberError(str(raw), rule)
        value = raw.strip()
        if not value or len(value) > self.number_max_length:
            raise InvalidOsNumberError(raw, f"{rule}; at most {self.number_max_length} characters")
        if not re.fullmatch(self.number_pattern, value):
            raise InvalidOsNumberError(raw, rule)
        return value

    def detail_url(self, numero: str) -> str:
        """The absolute detail URL, with the number URL-quoted (no path or query injection)."""
        path = self.detail_url_template.replace("{numero}", quote(numero, safe=""))
        return urljoin(self.base_url.rstrip("/") + "/", path.lstrip("/"))

    def login_url(self) -> str:
        return urljoin(self.base_url.rstrip("/") + "/", self.login.url.lstrip("/"))


def load_profile(
    path: str | Path, *, base_url: str | None = None, validate_selectors: bool = True
) -> PortalProfile:
    """Read and validate a profile file; ``base_url`` overrides the file's."""
    try:
        raw = tomllib.loads(Path(path).read_text(encoding="utf-8"))
    except FileNotFoundError:
        raise ProfileError(f"profile {path} not found") from None
    except (tomllib.TOMLDecodeError, UnicodeDecodeError) as exc:
        raise ProfileError(f"profile {path} is not valid TOML: {exc}") from None
    profile = parse_profile(raw, base_url=base_url, source=str(path))
    if validate_selectors:
        check_selectors(profile)
    return profile


def parse_profile(
    raw: Mapping[str, Any], *, base_url: str | None = None, source: str = "profile"
) -> PortalProfile:
    """Build a profile from parsed TOML, naming the key of the first problem found."""

    def need(table: Mapping[str, Any], key: str, where: str) -> Any:
        value = table.get(key)
        if value is None or value == "":
            raise ProfileError(f"{source}: missing {where}{key}")
        return value

    def table(key: str) -> Mapping[str, Any]:
        value = raw.get(key)
        if not isinstance(value, Mapping):
            raise ProfileError(f"{source}: missing table [{key}]")
        return value

    numero, login, detail = table("numero"), table("login"), table("detail")
    pattern = need(numero, "pattern", "numero.")
    try:
        re.compile(pattern)
    except re.error as exc:
        raise ProfileError(f"{source}: numero.pattern is not a valid regex: {exc}") from None
    template = need(detail, "url", "detail.")
    if "{numero}" not in template:
        raise ProfileError(f"{source}: detail.url must contain {{numero}}")
    encoding = raw.get("encoding", "utf-8")
    try:
        "".encode(encoding)
    except LookupError:
        raise ProfileError(f"{source}: unknown encoding {encoding!r}") from None
    fields_table = raw.get("fields")
    if not isinstance(fields_table, Mapping) or not fields_table:
        raise ProfileError(f"{source}: missing [fields.<name>] tables")
    history = None
    if "history" in raw:
        h = table("history")
        columns = h.get("columns")
        if not isinstance(columns, Mapping) or not columns:
            raise ProfileError(f"{source}: missing [history.columns.<name>] tables")
        history = HistoryRule(
            need(h, "row_selector", "history."),
            tuple(_field(n, c, f"{source}: history.columns.{n}") for n, c in columns.items()),
        )
    return PortalProfile(
        name=str(raw.get("name", "portal")),
        base_url=base_url or need(raw, "base_url", ""),
        encoding=encoding,
        number_pattern=pattern,
        number_description=str(numero.get("description", "")),
        number_max_length=int(numero.get("max_length", 64)),
        login=LoginRule(
            **{
                k: need(login, k, "login.")
                for k in (
                    "url",
                    "form_selector",
                    "username_field",
                    "password_field",
                    "failure_selector",
                    "login_page_marker",
                )
            }
        ),
        detail_url_template=template,
        not_found_selector=need(detail, "not_found_selector", "detail."),
        next_page_selector=str(detail.get("next_page_selector", "")),
        fields=tuple(_field(n, c, f"{source}: fields.{n}") for n, c in fields_table.items()),
        history=history,
    )


def _field(name: str, spec: Any, where: str) -> FieldRule:
    if not isinstance(spec, Mapping):
        raise ProfileError(f"{where} must be a table")
    if ("css" in spec) == ("xpath" in spec):
        raise ProfileError(f"{where} needs exactly one of css or xpath")
    kind = "css" if "css" in spec else "xpath"
    clean = spec.get("clean", "strip")
    if clean not in CLEANERS:
        raise ProfileError(f"{where}.clean must be one of {', '.join(CLEANERS)}")
    if clean in ("date", "datetime") and not spec.get("date_format"):
        raise ProfileError(f"{where}.date_format is required for clean = {clean!r}")
    unknown = set(spec) - {"css", "xpath", "clean", "date_format", "required"}
    if unknown:
        raise ProfileError(f"{where} has unknown keys: {', '.join(sorted(unknown))}")
    return FieldRule(
        name=name,
        selector=str(spec[kind]),
        kind=kind,
        clean=clean,
        date_format=spec.get("date_format"),
        required=bool(spec.get("required", True)),
    )


def check_selectors(profile: PortalProfile) -> None:
    """Compile every selector once (parsel), so a typo fails at load time, not mid-scrape."""
    from parsel import Selector

    probe = Selector(text="<html><body></body></html>")
    rules: list[tuple[str, str, str]] = [
        ("login.form_selector", "css", profile.login.form_selector),
        ("login.failure_selector", "css", profile.login.failure_selector),
        ("login.login_page_marker", "css", profile.login.login_page_marker),
        (
            "detail.not_found_selector",
            _kind_of(profile.not_found_selector),
            _strip_prefix(profile.not_found_selector),
        ),
    ]
    if profile.next_page_selector:
        rules.append(
            (
                "detail.next_page_selector",
                _kind_of(profile.next_page_selector),
                _strip_prefix(profile.next_page_selector),
            )
        )
    rules += [(f"fields.{f.name}", f.kind, f.selector) for f in profile.fields]
    if profile.history:
        rules.append(("history.row_selector", "css", profile.history.row_selector))
        rules += [
            (f"history.columns.{c.name}", c.kind, c.selector) for c in profile.history.columns
        ]
    for where, kind, selector in rules:
        try:
            probe.css(selector) if kind == "css" else probe.xpath(selector)
        except Exception as exc:  # noqa: BLE001 - cssselect and lxml raise several types
            raise ProfileError(f"{where}: invalid {kind} selector {selector!r}: {exc}") from None


def _kind_of(selector: str) -> str:
    return "xpath" if selector.startswith("xpath:") else "css"


def _strip_prefix(selector: str) -> str:
    return selector[len("xpath:") :] if selector.startswith("xpath:") else selector


#: Read-only view of the cleaning rules a field may use (for documentation and errors).
CLEANING = MappingProxyType(
    {
        "strip": "first match, whitespace collapsed",
        "join": "every text node, joined with single spaces",
        "date": "parsed with date_format, written as YYYY-MM-DD",
        "datetime": "parsed with date_format, written as YYYY-MM-DDTHH:MM",
    }
)
