"""OS numbers of the demo portal chosen by how many pages they need."""

from __future__ import annotations

from local.portal.data import history_pages, record_for

__all__ = ["numbers_with_pages"]


def numbers_with_pages(pages: int, count: int, start: int = 100_000, skip: int = 0) -> list[str]:
    """``count`` OS numbers from ``start`` on whose detail + history span ``pages`` pages."""
    found: list[str] = []
    n = start
    while len(found) < count + skip:
        record = record_for(n)
        if record is not None and history_pages(record) == pages:
            found.append(str(n))
        n += 1
        if n > 899_999:
            raise ValueError(f"not enough OS with {pages} pages from {start}")
    return found[skip:]
