"""Parsing of portal pages with parsel, as a profile says: pure functions, no I/O."""

from __future__ import annotations

import logging
from dataclasses import dataclass
from typing import Any
from urllib.parse import urljoin

from parsel import Selector

from chalicelib.domain.forms import FormRequest, build_request, parse_postback
from chalicelib.domain.profile import FieldRule, PortalProfile, split_selector
from chalicelib.domain.values import clean_value, parts_of
from chalicelib.errors import LayoutChangedError, OsNotFoundError

__all__ = [
    "FieldMatch",
    "clean_value",
    "explain_fields",
    "first_link",
    "is_not_found",
    "next_history_request",
    "next_page_url",
    "parse_detail",
    "parse_history",
    "select",
]

logger = logging.getLogger(__name__)


def select(node: Selector, kind: str, selector: str) -> list[str]:
    """Every string the selector extracts under ``node``."""
    found = node.css(selector) if kind == "css" else node.xpath(selector)
    return found.getall()


def _fields(node: Selector, rules: tuple[FieldRule, ...], url: str) -> dict[str, Any]:
    values: dict[str, Any] = {}
    for rule in rules:
        value = clean_value(rule, select(node, rule.kind, rule.selector))
        if value is None and rule.required:
            logger.warning(
                "required field missing: the portal's layout changed",
                extra={"field": rule.name, "url": url},
            )
            raise LayoutChangedError(url, rule.name)
        values[rule.name] = value
    return values


def is_not_found(page: Selector, profile: PortalProfile) -> bool:
    selector = profile.detail.not_found_selector
    return bool(selector) and bool(select(page, *split_selector(selector)))


def parse_detail(html: str, url: str, profile: PortalProfile, numero: str = "") -> dict[str, Any]:
    """The OS fields of a detail page; OsNotFoundError or LayoutChangedError otherwise."""
    page = Selector(text=html)
    if is_not_found(page, profile):
        raise OsNotFoundError(numero or url)
    return _fields(page, profile.fields, url)


def parse_history(html: str, profile: PortalProfile, url: str = "") -> list[dict[str, Any]]:
    """The history rows on one page (an empty list when the profile has no history)."""
    if profile.history is None:
        return []
    page = Selector(text=html)
    columns = profile.history.columns
    return [_fields(row, columns, url) for row in page.css(profile.history.row_selector)]


def first_link(html: str, url: str, selector: str) -> str | None:
    """The absolute URL of the first href/src the selector extracts, or None. An href
    that does not parse as a URL is returned as found (and then refused by the origin
    check)."""
    found = [t.strip() for t in select(Selector(text=html), *split_selector(selector))]
    href = next((t for t in found if t), "")
    if not href:
        return None
    try:
        return urljoin(url, href)
    except ValueError:  # e.g. "http://[bad"
        return href


def next_page_url(html: str, url: str, profile: PortalProfile) -> str | None:
    """The absolute URL of the next history page by link, or None on the last one."""
    if profile.history is None or not profile.history.next_page_selector:
        return None
    return first_link(html, url, profile.history.next_page_selector)


def next_history_request(html: str, url: str, profile: PortalProfile) -> FormRequest | None:
    """The request of the next history page, by link (a GET) or by postback (the page's
    form posted with ``__EVENTTARGET``/``__EVENTARGUMENT``); None on the last page.
    LayoutChangedError when a postback link is there but its form is not."""
    history = profile.history
    if history is None:
        return None
    if history.next_page_selector:
        link = next_page_url(html, url, profile)
        return FormRequest("GET", link) if link else None
    if not history.next_postback_selector:
        return None
    page = Selector(text=html)
    found = select(page, *split_selector(history.next_postback_selector))
    postback = next((p for p in map(parse_postback, found) if p), None)
    if postback is None:
        return None
    form = page.css(history.postback_form_selector)
    if not form:
        raise LayoutChangedError(url, "history.postback_form_selector")
    target, argument = postback
    event = {"__EVENTTARGET": target, "__EVENTARGUMENT": argument}
    return build_request(form[0], url, submit=None, values=event)  # no button is pressed


@dataclass(frozen=True)
class FieldMatch:
    """What one field's selector matched on a page: for ``profile check``."""

    key: str
    shown: str
    matches: int
    value: Any
    required: bool
    clean: str = "text"

    @property
    def problem(self) -> str:
        """Why the value is missing; empty when there is one."""
        if self.value is not None:
            return ""
        if not self.matches:
            return "selector matched nothing"
        return "matched text does not read as the field's type"


def explain_fields(node: Selector, rules: tuple[FieldRule, ...], where: str) -> list[FieldMatch]:
    """Each rule's matches and cleaned value under ``node`` (nothing raised)."""
    out = []
    for rule in rules:
        texts = select(node, rule.kind, rule.selector)
        out.append(
            FieldMatch(
                f"{where}.{rule.name}",
                rule.shown(),
                len(parts_of(texts)),
                clean_value(rule, texts),
                rule.required,
                rule.clean,
            )
        )
    return out
