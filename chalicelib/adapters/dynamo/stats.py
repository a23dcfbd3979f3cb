"""Scrape statistics: hourly counters of finished scrapes and their seconds
(``stats#<yyyymmddhh>``), for the time estimates lookups give."""

from __future__ import annotations

import time
from typing import Callable

from pynamodb.exceptions import PynamoDBException

from chalicelib.adapters.dynamo.models import Models, stats_key, ttl
from chalicelib.adapters.dynamo.transaction import Transaction
from chalicelib.errors import StorageError

__all__ = ["ScrapeStats"]

#: How long an hour's counters are kept.
KEEP_SECONDS = 2 * 86_400


def _hour(epoch: float) -> str:
    return time.strftime("%Y%m%d%H", time.gmtime(epoch))


class ScrapeStats:
    """Counts scrapes inside their finishing transaction; reads the recent mean."""

    def __init__(self, models: Models, *, clock: Callable[[], float] = time.time) -> None:
        self.m = models
        self.clock = clock

    def count(self, tx: Transaction, duration_seconds: float, now: float) -> None:
        """Add one scrape of ``duration_seconds`` to this hour's counters inside ``tx``
        (item ``"stats"``)."""
        Stats = self.m.Stats
        tx.update(
            "stats",
            Stats(stats_key(_hour(now))),
            [
                Stats.scrapes.add(1),
                Stats.seconds.add(round(duration_seconds, 3)),
                Stats.kind.set("stats"),
                Stats.expires_at.set(ttl(now + KEEP_SECONDS)),
            ],
        )

    def mean_scrape_seconds(self) -> float | None:
        """Mean scrape duration over this hour and the previous one, or None if unmeasured."""
        now = self.clock()
        keys = [stats_key(_hour(now)), stats_key(_hour(now - 3600))]
        try:
            items = list(self.m.Stats.batch_get(keys))
        except PynamoDBException as exc:
            raise StorageError(f"reading scrape statistics failed: {exc.msg}") from exc
        scrapes = sum(int(i.scrapes or 0) for i in items)
        seconds = sum(float(i.seconds or 0) for i in items)
        return seconds / scrapes if scrapes else None
