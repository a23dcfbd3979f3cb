"""Portal profiles: a declarative description of a portal, so a new portal needs no new code.

A profile is a TOML file (format version 1, every key in ``profileschema.SCHEMA``, full
reference and one example per portal family in ``docs/profile.md``): how to log in
(``[login]``: a form, hidden fields carried), where an OS is (``[detail]``: a URL, or a
search form posted with the number, then frames followed), how "não encontrada" looks
(a message, a redirect, a status), where each value sits (``[fields.<name>]``: CSS,
XPath or the label next to it, then cleaned to a documented type), and the history
(``[history]``: rows, on the detail page or a page of its own, pages followed by link or
by ASP.NET postback).

Unknown keys, missing keys, bad types, a bad regex or selector raise ``ProfileError``
naming the key and, read from a file, its line. ``base_url`` (the file's or the override)
must be ``https://``, or ``http://`` on loopback or with ``allow_insecure = true``; its
origin (scheme, host, port: ``origin_of``) is the only one the scraper talks to.

Importing this module does not import parsel; selectors are compiled (lazily importing
parsel) only by ``check_selectors``, which ``load_profile`` calls by default.
"""

from __future__ import annotations

import codecs
import ipaddress
import re
import tomllib
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Mapping
from urllib.parse import quote, urljoin, urlsplit

from chalicelib.domain import profileschema
from chalicelib.domain.fieldrules import FieldRule, field_rule, label_xpath
from chalicelib.domain.profileschema import fail
from chalicelib.errors import InvalidOsNumberError, ProfileError

__all__ = [
    "DEFAULT_PROFILE_PATH",
    "DetailRule",
    "FieldRule",
    "HistoryRule",
    "LoginRule",
    "PortalProfile",
    "check_selectors",
    "label_xpath",
    "load_profile",
    "origin_of",
    "parse_profile",
    "split_selector",
]

DEFAULT_PROFILE_PATH = Path(__file__).resolve().parents[1] / "profiles" / "demo.toml"
XPATH_PREFIX = "xpath:"
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
class LoginRule:
    url: str
    form_selector: str
    username_field: str
    password_field: str
    failure_selector: str
    login_page_marker: str
    #: Name of the button pressed ("": the form's first named submit button, if any).
    submit: str = ""
    #: Statuses that mean the session expired.
    expired_status: tuple[int, ...] = (401, 440)


@dataclass(frozen=True)
class DetailRule:
    #: Path template with ``{numero}``; with ``form_selector``, the search form's page.
    url: str
    form_selector: str = ""
    number_field: str = ""
    submit: str = ""
    #: Selectors of the URLs followed, one after the other, to reach the detail page.
    frames: tuple[str, ...] = ()
    not_found_selector: str = ""
    not_found_redirect: str = ""
    not_found_status: tuple[int, ...] = ()


@dataclass(frozen=True)
class HistoryRule:
    row_selector: str
    columns: tuple[FieldRule, ...]
    #: Path template of the history's own page ("": the rows are on the detail page).
    url: str = ""
    #: Selector of the link to the history's page on the detail page.
    link_selector: str = ""
    next_page_selector: str = ""
    next_postback_selector: str = ""
    postback_form_selector: str = "form"


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
    detail: DetailRule
    fields: tuple[FieldRule, ...]
    history: HistoryRule | None
    allow_insecure: bool = False
    version: int = profileschema.VERSION

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

    def _absolute(self, template: str, numero: str) -> str:
        path = template.replace("{numero}", quote(numero, safe=""))
        return urljoin(self.base_url.rstrip("/") + "/", path.lstrip("/"))

    def detail_url(self, numero: str) -> str:
        """The absolute detail URL, with the number URL-quoted (no path or query injection)."""
        return self._absolute(self.detail.url, numero)

    def history_url(self, numero: str) -> str:
        """The absolute URL of the history's own page ("" when it has none)."""
        if self.history is None or not self.history.url:
            return ""
        return self._absolute(self.history.url, numero)

    def login_url(self) -> str:
        return self._absolute(self.login.url, "")


def load_profile(
    path: str | Path, *, base_url: str | None = None, validate_selectors: bool = True
) -> PortalProfile:
    """Read and validate a profile file; ``base_url`` overrides the file's. A
    ``ProfileError`` names the file, the line (when found) and the key."""
    try:
        text = Path(path).read_text(encoding="utf-8")
        raw = tomllib.loads(text)
    except FileNotFoundError:
        raise ProfileError(f"profile {path} not found") from None
    except (tomllib.TOMLDecodeError, UnicodeDecodeError) as exc:
        raise ProfileError(f"profile {path} is not valid TOML: {exc}") from None
    try:
        profile = parse_profile(raw, base_url=base_url)
        if validate_selectors:
            check_selectors(profile)
    except ProfileError as exc:
        line = profileschema.locate(text, exc.key) if exc.key else None
        where = f"{path}:{line}" if line else str(path)
        error = ProfileError(f"{where}: {exc}")
        error.key, error.line = exc.key, line
        raise error from None
    return profile


def parse_profile(raw: Mapping[str, Any], *, base_url: str | None = None) -> PortalProfile:
    """Build a profile from parsed TOML, naming the key of the first problem found."""
    if "version" in raw and raw["version"] != profileschema.VERSION:
        raise fail(
            "version",
            f"profile format {raw['version']!r} is not one this raspa reads "
            f"(it reads version = {profileschema.VERSION})",
        )
    profileschema.check(raw)
    allow_insecure = raw.get("allow_insecure", False)
    base = _base_url(base_url or raw["base_url"], allow_insecure)
    numero, login, detail = raw["numero"], raw["login"], raw["detail"]
    max_length = numero.get("max_length", 64)
    if max_length < 1:
        raise fail("numero.max_length", "must be a positive integer")
    pattern = _nonempty(numero, "pattern", "numero.")
    try:
        re.compile(pattern)
    except re.error as exc:
        raise fail("numero.pattern", f"not a valid regex: {exc}") from None
    encoding = raw.get("encoding", "auto")
    if encoding != "auto":
        try:
            encoding = codecs.lookup(encoding).name
        except LookupError:
            raise fail("encoding", f'unknown encoding {encoding!r} (or "auto")') from None
    profile = PortalProfile(
        name=str(raw.get("name", "portal")),
        base_url=base,
        encoding=encoding,
        number_pattern=pattern,
        number_description=str(numero.get("description", "")),
        number_max_length=max_length,
        login=_login(login),
        detail=_detail(detail),
        fields=tuple(field_rule(n, c, f"fields.{n}") for n, c in raw["fields"].items()),
        history=_history(raw["history"]) if "history" in raw else None,
        allow_insecure=allow_insecure,
    )
    # Paths only: an absolute URL elsewhere would take the credentials along.
    urls = [("login.url", profile.login_url()), ("detail.url", profile.detail_url("1"))]
    if profile.history and profile.history.url:
        urls.append(("history.url", profile.history_url("1")))
    for key, url in urls:
        if not profile.on_origin(url):
            raise fail(key, f"leaves base_url's origin ({url}); write a path")
    return profile


def _nonempty(table: Mapping[str, Any], key: str, where: str) -> str:
    value = table.get(key, "")
    if not value.strip():
        raise fail(f"{where}{key}", "must not be empty")
    return value


def _login(login: Mapping[str, Any]) -> LoginRule:
    form = _nonempty(login, "form_selector", "login.")
    return LoginRule(
        url=_nonempty(login, "url", "login."),
        form_selector=form,
        username_field=_nonempty(login, "username_field", "login."),
        password_field=_nonempty(login, "password_field", "login."),
        failure_selector=_nonempty(login, "failure_selector", "login."),
        login_page_marker=login.get("login_page_marker") or form,
        submit=login.get("submit", ""),
        expired_status=tuple(login.get("expired_status", (401, 440))),
    )


def _detail(detail: Mapping[str, Any]) -> DetailRule:
    url = _nonempty(detail, "url", "detail.")
    form = detail.get("form_selector", "")
    if form and not detail.get("number_field"):
        raise fail("detail.number_field", "is required with detail.form_selector")
    if not form:
        for key in ("number_field", "submit"):
            if key in detail:
                raise fail(f"detail.{key}", "only goes with detail.form_selector")
        if "{numero}" not in url:
            raise fail("detail.url", "must contain {numero} (or set detail.form_selector)")
    if not any(k.startswith("not_found_") for k in detail):
        raise fail(
            "detail.not_found_selector",
            "missing: say how the portal shows an unknown OS (not_found_selector, "
            "not_found_redirect or not_found_status)",
        )
    redirect = detail.get("not_found_redirect", "")
    if redirect and not redirect.startswith("/"):
        raise fail("detail.not_found_redirect", "must be a path starting with /")
    return DetailRule(
        url=url,
        form_selector=form,
        number_field=detail.get("number_field", ""),
        submit=detail.get("submit", ""),
        frames=profileschema.strings(detail.get("frames", [])),
        not_found_selector=detail.get("not_found_selector", ""),
        not_found_redirect=redirect,
        not_found_status=tuple(detail.get("not_found_status", ())),
    )


def _history(h: Mapping[str, Any]) -> HistoryRule:
    if h.get("url") and h.get("link_selector"):
        raise fail("history.link_selector", "give history.url or history.link_selector, not both")
    if h.get("next_page_selector") and h.get("next_postback_selector"):
        raise fail(
            "history.next_postback_selector",
            "give next_page_selector or next_postback_selector, not both",
        )
    if h.get("url") and "{numero}" not in h["url"]:
        raise fail("history.url", "must contain {numero}")
    columns = tuple(
        field_rule(n, c, f"history.columns.{n}", labels=False) for n, c in h["columns"].items()
    )
    return HistoryRule(
        row_selector=_nonempty(h, "row_selector", "history."),
        columns=columns,
        url=h.get("url", ""),
        link_selector=h.get("link_selector", ""),
        next_page_selector=h.get("next_page_selector", ""),
        next_postback_selector=h.get("next_postback_selector", ""),
        postback_form_selector=h.get("postback_form_selector") or "form",
    )


def _base_url(url: str, allow_insecure: bool) -> str:
    """``url`` if it is an http(s) origin the scraper may talk to; else ProfileError."""
    found = origin_of(url)
    if found is None:
        raise fail("base_url", f"{url!r} must be an absolute http(s) URL")
    if urlsplit(url).username is not None:
        raise fail("base_url", "must not carry credentials")
    scheme, host, _ = found
    if scheme == "http" and not _is_loopback(host) and not allow_insecure:
        raise fail(
            "base_url",
            f"{url!r} is plain http outside loopback: the portal's password would cross "
            "the network in clear; use https or set allow_insecure = true",
        )
    return url


def check_selectors(profile: PortalProfile) -> None:
    """Compile every selector once (parsel), so a typo fails at load time, not mid-scrape."""
    from parsel import Selector

    probe = Selector(text="<html><body></body></html>")
    login, detail = profile.login, profile.detail
    rules: list[tuple[str, str, str]] = [
        ("login.form_selector", "css", login.form_selector),
        ("login.failure_selector", "css", login.failure_selector),
        ("login.login_page_marker", "css", login.login_page_marker),
    ]
    if detail.form_selector:
        rules.append(("detail.form_selector", "css", detail.form_selector))
    if detail.not_found_selector:
        rules.append(("detail.not_found_selector", *split_selector(detail.not_found_selector)))
    rules += [("detail.frames", *split_selector(f)) for f in detail.frames]
    rules += [(f"fields.{f.name}", f.kind, f.selector) for f in profile.fields]
    history = profile.history
    if history:
        rules.append(("history.row_selector", "css", history.row_selector))
        rules.append(("history.postback_form_selector", "css", history.postback_form_selector))
        for key in ("link_selector", "next_page_selector", "next_postback_selector"):
            if getattr(history, key):
                rules.append((f"history.{key}", *split_selector(getattr(history, key))))
        rules += [(f"history.columns.{c.name}", c.kind, c.selector) for c in history.columns]
    for where, kind, selector in rules:
        try:
            probe.css(selector) if kind == "css" else probe.xpath(selector)
        except Exception as exc:  # noqa: BLE001 - cssselect and lxml raise several types
            raise fail(where, f"invalid {kind} selector {selector!r}: {exc}") from None


def split_selector(selector: str) -> tuple[str, str]:
    """``("xpath", expr)`` for an ``xpath:``-prefixed selector, else ``("css", selector)``."""
    if selector.startswith(XPATH_PREFIX):
        return "xpath", selector[len(XPATH_PREFIX) :].strip()
    return "css", selector
