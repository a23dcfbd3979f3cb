"""Scrape statistics (``stats.py``): counted in the finishing transaction, read as a mean."""

from __future__ import annotations

from chalicelib.adapters.dynamo.transaction import transaction


def scrape(stores, seconds: float) -> None:
    now = stores.stats.clock()
    with transaction(stores.models) as tx:
        stores.stats.count(tx, seconds, now)


def test_given_no_scrape_then_the_mean_is_unmeasured(stores):
    assert stores.stats.mean_scrape_seconds() is None


def test_the_mean_covers_this_hour_and_the_previous_one_only(stores, clock):
    scrape(stores, 100.0)  # two hours before the others: left out
    clock.advance(2 * 3600)
    scrape(stores, 10.0)
    clock.advance(3600)
    scrape(stores, 20.0)
    scrape(stores, 30.0)
    assert stores.stats.mean_scrape_seconds() == 20.0
