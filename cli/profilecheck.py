"""``raspa profile check``: what a profile finds on a portal, for the person writing it.

Given a profile, it validates the file (the key and line of a problem), then, against a
live portal (``--numero``; credentials from ``RASPA_PORTAL_USERNAME`` and
``RASPA_PORTAL_PASSWORD``, never printed) or saved pages (``--html``, the detail page
first, then history pages in order), prints the pages followed with their status and
encoding, each field's selector with what it matched (0, 1 or many) and the value it
gives, the history, the parsed record, and the first problem found, named by its key
(``fields.prazo: selector matched nothing on /OS/Detalhe.aspx?num=…``).
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Callable
from urllib.parse import urlsplit

from chalicelib.adapters.scraper import DETAIL_STEPS, HISTORY_STEPS
from chalicelib.domain.profile import PortalProfile, split_selector
from chalicelib.errors import (
    LayoutChangedError,
    LoginFailedError,
    OffSiteError,
    OsNotFoundError,
    ScrapeError,
    TooLargeError,
)

__all__ = ["Check", "check_live", "check_saved", "report"]

Out = Callable[[str], None]


@dataclass
class Check:
    """What was seen: the pages, the detail page, the record, the first problem."""

    profile: PortalProfile
    pages: list[Any] = field(default_factory=list)
    detail: Any = None
    history_pages: list[Any] = field(default_factory=list)
    record: dict[str, Any] | None = None
    problem: str = ""
    notes: list[str] = field(default_factory=list)


@dataclass(frozen=True)
class SavedPage:
    """A saved page, decoded as the scraper would decode it."""

    url: str
    text: str
    encoding: str
    encoding_source: str
    size: int
    method: str = "FILE"
    status: int = 200
    what: str = "saved page"


def _path(url: str) -> str:
    parts = urlsplit(url)
    return parts.path + (f"?{parts.query}" if parts.query else "") if parts.scheme else url


# ------------------------------------------------------------------ checking
def check_live(
    profile: PortalProfile, numero: str, username: str, password: str, *, timeout: float = 30
) -> Check:
    """Log in and scrape ``numero`` as the worker would, keeping every page."""
    from chalicelib.adapters.scraper import Credentials, PortalScraper, ScrapeLimits
    from chalicelib.adapters.transport import build_session

    check = Check(profile)
    session = build_session(
        connect_timeout=min(10.0, timeout), read_timeout=timeout, origin=profile.base_url
    )
    scraper = PortalScraper(
        session,
        profile,
        Credentials(username, password),
        limits=ScrapeLimits(request_timeout_seconds=timeout),
        on_page=check.pages.append,
    )
    try:
        check.record = scraper.scrape(numero)
    except ScrapeError as exc:
        check.problem = _diagnose(exc, check, numero)
    detail = [p for p in check.pages if p.what in DETAIL_STEPS]
    check.detail = detail[-1] if detail else None
    check.history_pages = _history_pages(check)
    return check


def check_saved(profile: PortalProfile, files: list[Path], numero: str = "") -> Check:
    """Parse saved pages: the first is the detail page, the others history pages."""
    from chalicelib.domain.charset import decode_page
    from chalicelib.domain.parse import parse_detail, parse_history

    check = Check(profile)
    for path in files:
        body = path.read_bytes()
        decoded = decode_page(body, None, profile.encoding)
        check.pages.append(
            SavedPage(str(path), decoded.text, decoded.encoding, decoded.source, len(body))
        )
    check.detail = check.pages[0]
    check.history_pages = check.pages[1:] if _history_elsewhere(profile) else check.pages
    try:
        record = parse_detail(check.detail.text, check.detail.url, profile, numero)
        rows: list[dict[str, Any]] = []
        for page in check.history_pages:
            rows += parse_history(page.text, profile, page.url)
        check.record = {**record, "historico": rows, "pages": len(check.history_pages)}
    except ScrapeError as exc:
        check.problem = _diagnose(exc, check, numero)
    return check


def _history_elsewhere(profile: PortalProfile) -> bool:
    history = profile.history
    return history is not None and bool(history.url or history.link_selector)


def _history_pages(check: Check) -> list[Any]:
    if check.profile.history is None:
        return []
    pages = [p for p in check.pages if p.what in HISTORY_STEPS]
    if _history_elsewhere(check.profile):
        return pages
    return ([check.detail] if check.detail else []) + pages


def _diagnose(exc: ScrapeError, check: Check, numero: str) -> str:
    """The first problem, named by the profile key to look at."""
    last = check.pages[-1] if check.pages else None
    where = _path(last.url) if last else "the portal"
    if isinstance(exc, LoginFailedError):
        return (
            f"login: the portal refused the login (login.failure_selector matched, or the "
            f"answer was the login page again, on {where}); check the credentials, "
            "login.username_field, login.password_field and login.submit"
        )
    if isinstance(exc, OffSiteError):
        return f"{exc.field}: points off the portal's origin ({exc.url}); nothing was sent"
    if isinstance(exc, LayoutChangedError):
        if "." in exc.field:  # a profile key (detail.frames, login.submit, …)
            return f"{exc.field}: matched nothing on {_path(exc.url)}"
        key = next(
            (f"{k}.{exc.field}" for k, rules in _rule_sets(check.profile) if exc.field in rules),
            exc.field,
        )
        return f"{key}: selector matched nothing (or not a value of its type) on {_path(exc.url)}"
    if isinstance(exc, OsNotFoundError):
        return (
            f"detail: the portal says OS {numero or '?'} does not exist (a not_found_* rule "
            f"matched on {where}); try a number that exists, or check the not_found_* keys"
        )
    if isinstance(exc, TooLargeError):
        return f"history: {exc}"
    if "no login form" in str(exc):
        return f"login.form_selector: matched nothing on {where}"
    return f"portal: {exc} (last page: {where})"


def _rule_sets(profile: PortalProfile) -> list[tuple[str, set[str]]]:
    sets = [("fields", {f.name for f in profile.fields})]
    if profile.history:
        sets.append(("history.columns", {c.name for c in profile.history.columns}))
    return sets


# ------------------------------------------------------------------ printing
def report(check: Check, out: Out = print) -> None:
    """Print the check for a person."""
    from parsel import Selector

    from chalicelib.domain.parse import explain_fields, select

    profile = check.profile
    out("\npages followed:")
    for n, page in enumerate(check.pages, start=1):
        out(
            f"  {n:>2}. {page.method:<4} {_path(page.url):<48} {page.status}  "
            f"{page.encoding} ({page.encoding_source})  {page.size:,} B  {page.what}"
        )
    if check.detail is not None:
        detail = Selector(text=check.detail.text)
        out(f"\nfields on {_path(check.detail.url)}:")
        _print_matches(explain_fields(detail, profile.fields, "fields"), out)
        for key, selector in _detail_selectors(profile):
            found = select(detail, *split_selector(selector))
            out(f"  {key:<34} {_count(len(found))}")
    history = profile.history
    if history is not None and check.history_pages:
        out(f"\nhistory: {len(check.history_pages)} page(s)")
        rows = []
        for page in check.history_pages:
            found = Selector(text=page.text).css(history.row_selector)
            out(f"  {_path(page.url)}: history.row_selector {_count(len(found))}")
            rows += found
        if rows:
            first = rows[0]
            out("  columns on the first row:")
            _print_matches(explain_fields(first, history.columns, "history.columns"), out)
    if check.record is not None:
        record = dict(check.record)
        rows = record.pop("historico", [])
        out("\nrecord:")
        out(json.dumps(record, ensure_ascii=False, indent=2))
        out(f"historico: {len(rows)} rows")
        for row in rows:
            out("  " + json.dumps(row, ensure_ascii=False))
    out("")
    out(f"problem: {check.problem}" if check.problem else "no problem found")


def _detail_selectors(profile: PortalProfile) -> list[tuple[str, str]]:
    found = []
    if profile.detail.not_found_selector:
        found.append(("detail.not_found_selector", profile.detail.not_found_selector))
    history = profile.history
    if history is not None:
        for key in ("link_selector", "next_page_selector", "next_postback_selector"):
            if getattr(history, key):
                found.append((f"history.{key}", getattr(history, key)))
    return found


def _count(n: int) -> str:
    return f"{n} match" if n == 1 else f"{n} matches"


def _print_matches(matches: list[Any], out: Out) -> None:
    for m in matches:
        value = "—" if m.value is None else json.dumps(m.value, ensure_ascii=False)
        flag = f"  ✗ {m.problem}" if m.problem and m.required else ""
        flag = flag or (f"  (optional: {m.problem})" if m.problem else "")
        many = "  (the first is used)" if m.matches > 1 and m.clean != "join" else ""
        out(f"  {m.key:<34} {m.shown:<44} {_count(m.matches):<11} {value}{many}{flag}")
