"""Each portal family, scraped with its documented profile alone (docs/profiles/), gives
exact records: accents in each encoding, every history page, "não encontrada", one login
for many lookups, and a new login after the session expires."""

from __future__ import annotations

import dataclasses
import re
from pathlib import Path
from typing import Any, Iterator

import pytest

from chalicelib.adapters.scraper import Credentials, PortalScraper
from chalicelib.adapters.transport import build_session
from chalicelib.domain.profile import PortalProfile, load_profile
from chalicelib.errors import LoginFailedError, OsNotFoundError
from cli.profilecheck import check_saved
from local.families import FAMILIES, FamilyPortal, expected_record

ROOT = Path(__file__).resolve().parents[2]
PROFILES = ROOT / "docs" / "profiles"
FIXTURES = ROOT / "tests" / "fixtures" / "portals"
#: Outside ASCII, and outside Latin-1 too where the portal's encoding has “quotes”.
PASSWORDS = {"aspnet": "señha-ção “2”", "jsf": "señha-ção “2” ✓", "php": "señha-ção"}
#: 3 history pages, 4 pages, no history, and a few more.
NUMBERS = ("123465", "123461", "123440", "100000", "345678", "899999")
#: (family, portal options, profile changes): the ASP.NET pager by postback and by link.
VARIANTS = [
    ("aspnet", {}, {}),
    (
        "aspnet",
        {"pager": "link"},
        {
            "next_postback_selector": None,
            "next_page_selector": "xpath://tr[@class='pager']//td[span]"
            "/following-sibling::td[1]/a/@href",
        },
    ),
    ("jsf", {}, {}),
    ("php", {}, {}),
]
IDS = ["aspnet-postback", "aspnet-link", "jsf", "php"]


def profile_for(family: str, url: str, history: dict[str, Any] | None = None) -> PortalProfile:
    profile = load_profile(PROFILES / f"{family}.toml", base_url=url)
    if history:
        rule = profile.history
        changes = {k: v or "" for k, v in history.items()}
        profile = dataclasses.replace(profile, history=dataclasses.replace(rule, **changes))
    return profile


@pytest.fixture(scope="module", params=VARIANTS, ids=IDS)
def portal(request: pytest.FixtureRequest) -> Iterator[tuple[FamilyPortal, PortalProfile]]:
    family, options, history = request.param
    with FamilyPortal(family, password=PASSWORDS[family], **options) as running:
        yield running, profile_for(family, running.url, history)


def scraper(profile: PortalProfile, password: str = "") -> PortalScraper:
    session = build_session(connect_timeout=5, read_timeout=10, origin=profile.base_url)
    password = password or PASSWORDS[profile.name.removeprefix("sisos-")]
    return PortalScraper(session, profile, Credentials("demo", password))


def without_scrape_fields(record: dict[str, Any]) -> dict[str, Any]:
    return {k: v for k, v in record.items() if k not in ("source_url", "pages")}


def test_every_record_is_exact_with_all_its_history_pages_and_one_login(portal):
    running, profile = portal
    running.reset()
    s = scraper(profile)
    # When several OS are looked up through one scraper (one warm worker)
    records = {n: s.scrape(n) for n in NUMBERS}
    # Then each record is exactly the portal's, accents, numbers and dates normalised
    for numero, record in records.items():
        assert without_scrape_fields(record) == expected_record(running.family, numero), numero
    # And every history page was read (10 rows a page on the paginated families)
    assert len(records["123461"]["historico"]) > 30
    # And one login served them all
    assert s.logins == 1 and running.stats()["logins"] == 1


def test_an_unknown_os_is_not_found(portal):
    _, profile = portal
    with pytest.raises(OsNotFoundError):
        scraper(profile).scrape("950000")


def test_an_expired_session_logs_in_again_and_the_record_is_still_exact(portal):
    running, profile = portal
    s = scraper(profile)
    s.scrape("123465")
    # Given the portal drops every session
    running.expire_sessions()
    # When the next OS is looked up, then the scraper logs in again, once
    record = s.scrape("123461")
    assert without_scrape_fields(record) == expected_record(running.family, "123461")
    assert s.logins == 2


def test_a_wrong_password_is_a_login_failure(portal):
    _, profile = portal
    with pytest.raises(LoginFailedError):
        scraper(profile, "errada").scrape("123465")


# ------------------------------------------------------------------ saved pages
SAVED = {
    "aspnet": ["detail.html", "page2.html"],
    "jsf": ["detail.html"],
    "php": ["detail.html", "history.html", "history2.html"],
}


@pytest.mark.parametrize("family", FAMILIES)
def test_the_saved_pages_of_each_family_parse_to_the_portals_record(family):
    # Given the pages saved from the family's portal (in their own encoding, no header)
    files = [FIXTURES / family / name for name in SAVED[family]]
    profile = load_profile(PROFILES / f"{family}.toml")
    # When the profile is checked on them
    check = check_saved(profile, files, "123465")
    # Then the fields and the rows of those pages are the portal's record's
    expected = expected_record(family, "123465")
    assert check.problem == ""
    record = dict(check.record)
    rows = record.pop("historico")
    assert {k: record[k] for k in expected if k != "historico"} == {
        k: v for k, v in expected.items() if k != "historico"
    }
    assert rows == expected["historico"][: len(rows)] and len(rows) >= 10


# ------------------------------------------------------------------ the documentation
@pytest.mark.parametrize("family", [*FAMILIES, "demo"])
def test_the_documented_example_of_each_family_is_its_profile_file(family):
    doc = (ROOT / "docs" / "profile.md").read_text(encoding="utf-8")
    path = PROFILES / f"{family}.toml" if family != "demo" else None
    text = (path or ROOT / "chalicelib" / "profiles" / "demo.toml").read_text(encoding="utf-8")
    blocks = re.findall(r"```toml\n(.*?)```", doc, flags=re.S)
    assert text in blocks
