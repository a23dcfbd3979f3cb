"""Save pages rendered by the demo portal as test fixtures (bytes as served, Latin-1).

Run: ``python -m local.portal.save_fixtures`` (writes tests/fixtures/portals/demo/*.html).
"""

from __future__ import annotations

from pathlib import Path

from local.portal import templates
from local.portal.data import record_for
from local.portal.server import ENCODING

OUT = Path(__file__).resolve().parents[2] / "tests" / "fixtures" / "portals" / "demo"
#: An OS whose history spans three pages (23 entries).
MULTI_PAGE = "123451"


def pages() -> dict[str, str]:
    record = record_for(MULTI_PAGE)
    assert record is not None
    return {
        "detail_default.html": templates.detail_page(record, 1),
        "detail_page2.html": templates.detail_page(record, 2),
        "detail_last_page.html": templates.detail_page(record, 3),
        "detail_drifted.html": templates.detail_page(record, 1, "drifted"),
        "not_found.html": templates.not_found_page("950000"),
        "login.html": templates.login_page("fixture-token", "/os/123451"),
        "login_failed.html": templates.login_page(
            "fixture-token", "/", "Usuário ou senha inválidos"
        ),
    }


def main() -> None:
    OUT.mkdir(parents=True, exist_ok=True)
    for name, html in pages().items():
        (OUT / name).write_bytes(html.encode(ENCODING, errors="xmlcharrefreplace"))
        print(OUT / name)


if __name__ == "__main__":
    main()
