"""Parsing of portal pages with parsel, as a profile says: pure functions, no I/O."""

from __future__ import annotations

import logging
import re
from datetime import datetime
from typing import Any
from urllib.parse import urljoin

from parsel import Selector

from chalicelib.domain.profile import FieldRule, PortalProfile, split_selector
from chalicelib.errors import LayoutChangedError, OsNotFoundError

__all__ = [
    "clean_value",
    "is_not_found",
    "next_page_url",
    "parse_detail",
    "parse_history",
    "select",
]

logger = logging.getLogger(__name__)
_SPACES = re.compile(r"\s+")


def select(node: Selector, kind: str, selector: str) -> list[str]:
    """Every string the selector extracts under ``node``."""
    found = node.css(selector) if kind == "css" else node.xpath(selector)
    return found.getall()


def clean_value(rule: FieldRule, texts: list[str]) -> str | None:
    """Apply the rule's cleaning to the extracted strings; None when nothing is there."""
    parts = [_SPACES.sub(" ", t).strip() for t in texts]
    parts = [p for p in parts if p]
    if not parts:
        return None
    if rule.clean == "join":
        return " ".join(parts)
    value = parts[0]
    if rule.clean in ("date", "datetime"):
        try:
            parsed = datetime.strptime(value, rule.date_format or "")
        except ValueError:
            return None
        return parsed.strftime("%Y-%m-%d" if rule.clean == "date" else "%Y-%m-%dT%H:%M")
    return value


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
    return bool(select(page, *split_selector(profile.not_found_selector)))


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
    return [
        _fields(row, profile.history.columns, url) for row in page.css(profile.history.row_selector)
    ]


def next_page_url(html: str, url: str, profile: PortalProfile) -> str | None:
    """The absolute URL of the next history page, or None on the last one.

    Wherever it points: the scraper checks it is on the portal's origin. An href that
    does not parse as a URL is returned as found (and then refused)."""
    if not profile.next_page_selector:
        return None
    page = Selector(text=html)
    found = select(page, *split_selector(profile.next_page_selector))
    href = found[0].strip() if found else ""
    if not href:
        return None
    try:
        return urljoin(url, href)
    except ValueError:  # e.g. "http://[bad"
        return href
