"""``app.get_scraper`` builds the scraper's limits and its one-origin session from the
settings (no network: the secret comes from a stand-in provider)."""

from __future__ import annotations

from typing import Any, Iterator

import pytest

from chalicelib.adapters.scraper import ScrapeLimits
from chalicelib.adapters.transport import OffOriginError


class Secrets:
    def get(self, name: str, **kwargs: Any) -> dict[str, str]:
        return {"username": "demo", "password": "pw"}


@pytest.fixture
def app(monkeypatch: pytest.MonkeyPatch) -> Iterator[Any]:
    import app as raspa_app

    for key, value in {
        "RASPA_PORTAL_BASE_URL": "https://portal.example",
        "RASPA_PORTAL_REQUEST_TIMEOUT_SECONDS": "7.5",
        "RASPA_MAX_PAGE_BYTES": "12345",
        "RASPA_MAX_HISTORY_ROWS": "42",
    }.items():
        monkeypatch.setenv(key, value)
    raspa_app.reset_wiring()
    monkeypatch.setattr(raspa_app, "get_secrets", lambda: Secrets())
    yield raspa_app
    monkeypatch.undo()
    raspa_app.reset_wiring()


def test_get_scraper_takes_its_limits_from_the_settings(app):
    scraper = app.get_scraper()
    assert scraper.limits == ScrapeLimits(
        request_timeout_seconds=7.5, max_page_bytes=12345, max_history_rows=42
    )


def test_get_scrapers_session_refuses_any_origin_but_the_portals(app):
    session = app.get_scraper().session
    assert session.get_adapter("https://portal.example").origin == ("https", "portal.example", 443)
    # Refused at the adapter: a connection attempt would fail this test (no network here)
    with pytest.raises(OffOriginError):
        session.get("https://evil.test/")
