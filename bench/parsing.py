"""Parse cost: the scraper's own work per page (parsel), without the network."""

from __future__ import annotations

import statistics
import time
from dataclasses import dataclass
from typing import Any

import requests

from bench.pages import numbers_with_pages
from local.portal.data import history_pages, record_for
from local.portal.templates import detail_page

__all__ = ["ParseCost", "measure_parse"]

BASE = "https://portal.invalid"


class CannedSession(requests.Session):
    """Answers the detail and history URLs with the demo portal's pages, in memory."""

    def __init__(self, pages: dict[str, str]) -> None:
        super().__init__()
        self.pages = pages

    def request(self, method: str, url: str, *args: Any, **kwargs: Any) -> requests.Response:
        response = requests.Response()
        response.status_code = 200
        response.url = url
        response._content = self.pages[url].encode("iso-8859-1", "xmlcharrefreplace")
        response.encoding = "iso-8859-1"
        return response


@dataclass(frozen=True)
class ParseCost:
    #: median seconds of the scraper's work per page (detail and history pages alike)
    per_page: float
    pages: int
    repeats: int


def measure_parse(*, pages: int = 2, repeats: int = 200) -> ParseCost:
    """Time ``PortalScraper.scrape`` of ``pages``-page OS over canned pages: every
    parse it makes (login check, fields, history rows, next link) and nothing else."""
    from chalicelib.adapters.scraper import Credentials, PortalScraper
    from chalicelib.domain.profile import DEFAULT_PROFILE_PATH, load_profile

    profile = load_profile(DEFAULT_PROFILE_PATH, base_url=BASE)
    numbers = numbers_with_pages(pages, 10, start=700_000)
    canned: dict[str, str] = {}
    for numero in numbers:
        record = record_for(numero)
        assert record is not None and history_pages(record) == pages
        url = profile.detail_url(numero)
        canned[url] = detail_page(record, 1)
        for page in range(2, pages + 1):
            canned[f"{url}?pagina={page}"] = detail_page(record, page)
    scraper = PortalScraper(CannedSession(canned), profile, Credentials("demo", "x"))
    scraper._logged_in = True  # the session is warm: no login page in the loop
    times = []
    for i in range(repeats):
        numero = numbers[i % len(numbers)]
        started = time.perf_counter()
        record = scraper.scrape(numero)
        times.append((time.perf_counter() - started) / pages)
        assert record["pages"] == pages
    return ParseCost(statistics.median(times), pages, repeats)
