"""Portal profiles: a declarative description of a portal, so a new portal needs no new code.

A profile is a TOML file, validated when loaded (full reference: ``docs/profile.md``)::

    name = "demo"                      # label for logs
    base_url = "http://127.0.0.1:8001" # overridable with load_profile(..., base_url=)
    allow_insecure = false             # http:// outside loopback (default false)
    encoding = "iso-8859-1"            # how pages are decoded (default utf-8)

    [numero]    pattern (regex, re.fullmatch), description (pt-BR), max_length (64)
    [login]     url, form_selector, username_field, password_field,
                failure_selector, login_page_marker            (selectors: CSS)
    [detail]    url ("/os/{numero}", number URL-quoted), not_found_selector,
                next_page_selector                             (CSS, or "xpath:..." prefix)
    [fields.<name>]           css = "..." | xpath = "..."; clean = "strip" | "join" |
                              "date" | "datetime"; date_format; required (true)
    [history]                 row_selector (CSS)
    [history.columns.<name>]  like a field, selector relative to the row

Unknown keys, missing keys, bad types, a bad regex or selector raise ``ProfileError``
naming the key. ``base_url`` (the file's or the override) must be ``https://``, or
``http://`` on loopback or with ``allow_insecure = true``; its origin (scheme, host, port:
``origin_of``) is the only one the scraper talks to.

Importing this module does not import parsel; selectors are compiled (lazily importing
parsel) only by ``check_selectors``, which ``load_profile`` calls by default.
"""

from __future__ import annotations

import ipaddress
import re
import tomllib
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Mapping
from urllib.parse import quote, urljoin, urlsplit

from chalicelib.errors import InvalidOsNumberError, ProfileError

__all__ = [
    "DEFAULT_PROFILE_PATH",
    "FieldRule",
    "HistoryRule",
    "LoginRule",
    "PortalProfile",
    "check_selectors",
    "load_profile",
    "origin_of",
    "parse_profile",
    "split_selector",
]

DEFAULT_PROFILE_PATH = Path(__file__).resolve().parents[1] / "profiles" / "demo.toml"
CLEANERS = ("strip", "join", "date", "datetime")
XPATH_PREFIX = "xpath:"
_KEYS = {
    "": {
        "name",
        "base_url",
        "allow_insecure",
        "encoding",
        "numero",
        "login",
        "detail",
        "fields",
        "history",
    },
    "numero.": {"pattern", "description", "max_length"},
    "login.": {
        "url",
        "form_selector",
        "username_field",
        "password_field",
        "failure_selector",
        "login_page_marker",
    },
    "detail.": {"url", "not_found_selector", "next_page_selector"},
    "history.": {"row_selector", "columns"},
}
_DEFAULT_PORTS = {"http": 80, "https": 443}
Origin = tuple[str, str, int]


def origin_of(url: str) -> Origin | None:
    """``(scheme, host, port)`` of an absolute http(s) URL, default ports filled in; None
    for anything else (a relative or malformed URL, another scheme, no host)."""
    try:
        parts = urlsplit(url)
        port = parts.port
    except ValueError:  # a bad port or IPv6 literal
        return None
    scheme, host = parts.scheme.lower(), parts.hostname
    if scheme not in _DEFAULT_PORTS or not host:
        return None
    return scheme, host, port if port is not None else _DEFAULT_PORTS[scheme]


def _is_loopback(host: str) -> bool:
    """127.0.0.0/8, ::1 or ``localhost``."""
    if host == "localhost":
        return True
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False


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
    allow_insecure: bool = False

    @property
    def origin(self) -> Origin:
        """The portal's origin: every request the scraper makes must stay on it."""
        found = origin_of(self.base_url)
        if found is None:  # parse_profile refuses such a base_url; a hand-built one may not
            raise ProfileError(f"base_url {self.base_url!r} is not an http(s) origin")
        return found

    def on_origin(self, url: str) -> bool:
        """Whether ``url`` is on the portal's origin (same scheme, host and port)."""
        return origin_of(url) == self.origin

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

    def need(table: Mapping[str, Any], key: str, where: str) -> str:
        value = table.get(key)
        if value is None or value == "":
            raise ProfileError(f"{source}: missing {where}{key}")
        if not isinstance(value, str):
            raise ProfileError(f"{source}: {where}{key} must be a string")
        return value

    def known(table: Mapping[str, Any], where: str) -> None:
        unknown = set(table) - _KEYS[where]
        if unknown:
            raise ProfileError(f"{source}: unknown key {where}{sorted(unknown)[0]}")

    def table(key: str) -> Mapping[str, Any]:
        value = raw.get(key)
        if not isinstance(value, Mapping):
            raise ProfileError(f"{source}: missing table [{key}]")
        return value

    known(raw, "")
    allow_insecure = raw.get("allow_insecure", False)
    if not isinstance(allow_insecure, bool):
        raise ProfileError(f"{source}: allow_insecure must be true or false")
    base = _base_url(base_url or need(raw, "base_url", ""), allow_insecure, source)
    numero, login, detail = table("numero"), table("login"), table("detail")
    known(numero, "numero.")
    known(login, "login.")
    known(detail, "detail.")
    max_length = numero.get("max_length", 64)
    if not isinstance(max_length, int) or isinstance(max_length, bool) or max_length < 1:
        raise ProfileError(f"{source}: numero.max_length must be a positive integer")
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
    except (LookupError, TypeError):
        raise ProfileError(f"{source}: unknown encoding {encoding!r}") from None
    fields_table = raw.get("fields")
    if not isinstance(fields_table, Mapping) or not fields_table:
        raise ProfileError(f"{source}: missing [fields.<name>] tables")
    history = None
    if "history" in raw:
        h = table("history")
        known(h, "history.")
        columns = h.get("columns")
        if not isinstance(columns, Mapping) or not columns:
            raise ProfileError(f"{source}: missing [history.columns.<name>] tables")
        history = HistoryRule(
            need(h, "row_selector", "history."),
            tuple(_field(n, c, f"{source}: history.columns.{n}") for n, c in columns.items()),
        )
    profile = PortalProfile(
        name=str(raw.get("name", "portal")),
        base_url=base,
        encoding=encoding,
        number_pattern=pattern,
        number_description=str(numero.get("description", "")),
        number_max_length=max_length,
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
        next_page_selector=str(detail.get("next_page_selector") or ""),
        fields=tuple(_field(n, c, f"{source}: fields.{n}") for n, c in fields_table.items()),
        history=history,
        allow_insecure=allow_insecure,
    )
    # Paths only: an absolute login or detail URL elsewhere would take the credentials along.
    for key, url in (("login.url", profile.login_url()), ("detail.url", profile.detail_url("1"))):
        if not profile.on_origin(url):
            raise ProfileError(f"{source}: {key} leaves base_url's origin ({url})")
    return profile


def _base_url(url: str, allow_insecure: bool, source: str) -> str:
    """``url`` if it is an http(s) origin the scraper may talk to; else ProfileError."""
    found = origin_of(url)
    if found is None:
        raise ProfileError(f"{source}: base_url {url!r} must be an absolute http(s) URL")
    if urlsplit(url).username is not None:
        raise ProfileError(f"{source}: base_url must not carry credentials")
    scheme, host, _ = found
    if scheme == "http" and not _is_loopback(host) and not allow_insecure:
        raise ProfileError(
            f"{source}: base_url {url!r} is plain http outside loopback: the portal's "
            "password would cross the network in clear; use https or set allow_insecure = true"
        )
    return url


def _field(name: str, spec: Any, where: str) -> FieldRule:
    if not isinstance(spec, Mapping):
        raise ProfileError(f"{where} must be a table")
    if ("css" in spec) == ("xpath" in spec):
        raise ProfileError(f"{where} needs exactly one of css or xpath")
    kind = "css" if "css" in spec else "xpath"
    if not isinstance(spec[kind], str) or not spec[kind].strip():
        raise ProfileError(f"{where}.{kind} must be a non-empty string")
    clean = spec.get("clean", "strip")
    if clean not in CLEANERS:
        raise ProfileError(f"{where}.clean must be one of {', '.join(CLEANERS)}")
    if clean in ("date", "datetime") and not isinstance(spec.get("date_format"), str):
        raise ProfileError(f"{where}.date_format is required for clean = {clean!r}")
    if not isinstance(spec.get("required", True), bool):
        raise ProfileError(f"{where}.required must be true or false")
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
        ("detail.not_found_selector", *split_selector(profile.not_found_selector)),
    ]
    if profile.next_page_selector:
        rules.append(("detail.next_page_selector", *split_selector(profile.next_page_selector)))
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


def split_selector(selector: str) -> tuple[str, str]:
    """``("xpath", expr)`` for an ``xpath:``-prefixed selector, else ``("css", selector)``."""
    if selector.startswith(XPATH_PREFIX):
        return "xpath", selector[len(XPATH_PREFIX) :].strip()
    return "css", selector
