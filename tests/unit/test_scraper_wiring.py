"""``Services.portal_scraper`` builds the scraper's limits and its one-origin session from the
settings (no network: the secret comes from a stand-in provider)."""

from __future__ import annotations

from typing import Any

import pytest

from chalicelib.adapters.scraper import ScrapeLimits
from chalicelib.adapters.transport import OffOriginError
from chalicelib.composition import Services
from chalicelib.config import Settings


class Secrets:
    def get(self, name: str, **kwargs: Any) -> dict[str, str]:
        return {"username": "demo", "password": "pw"}


@pytest.fixture
def services() -> Services:
    settings = Settings(
        portal_base_url="https://portal.example",
        portal_request_timeout_seconds=7.5,
        max_page_bytes=12345,
        max_history_rows=42,
    )
    return Services.build(settings, secrets=Secrets())


def test_the_portal_scraper_takes_its_limits_from_the_settings(services):
    scraper = services.portal_scraper
    assert scraper.limits == ScrapeLimits(
        request_timeout_seconds=7.5, max_page_bytes=12345, max_history_rows=42
    )


def test_the_portal_scrapers_session_refuses_any_origin_but_the_portals(services):
    session = services.portal_scraper.session
    assert session.get_adapter("https://portal.example").origin == ("https", "portal.example", 443)
    # Refused at the adapter: a connection attempt would fail this test (no network here)
    with pytest.raises(OffOriginError):
        session.get("https://evil.test/")
