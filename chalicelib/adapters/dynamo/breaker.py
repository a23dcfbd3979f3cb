"""The portal-outage circuit breaker's item (``breaker#portal``), shared by every worker.

The state machine is ``chalicelib.domain.breaker``; this module stores it. Each write
sets the whole state and bumps ``version``, on condition that the version is still the
one read, so concurrent workers never lose each other's changes: exactly one of them
opens the breaker, and exactly one wins each probe. ``parked`` is the exception: it is
added to atomically (``park``), and taken only by a write conditioned on its value.

Reads are cached in-process for ``cache_seconds``, since the worker asks after every
scrape; every write refreshes the cache with the item as written.
"""

from __future__ import annotations

import time
from typing import Any, Callable

from pynamodb.exceptions import PynamoDBException, UpdateError

from chalicelib.adapters.dynamo.models import Models, breaker_key
from chalicelib.adapters.dynamo.retry import MAX_ROUNDS, pause
from chalicelib.domain.breaker import Breaker, BreakerPolicy, BreakerState
from chalicelib.errors import StorageError

__all__ = ["PortalBreaker"]


class PortalBreaker:
    """Reads the breaker and records what the portal did, exact under concurrency."""

    def __init__(
        self,
        models: Models,
        policy: BreakerPolicy,
        *,
        clock: Callable[[], float] = time.time,
        cache_seconds: float = 2.0,
        monotonic: Callable[[], float] = time.monotonic,
    ) -> None:
        self.m = models
        self.policy = policy
        self.clock = clock
        self.cache_seconds = cache_seconds
        self.monotonic = monotonic
        self._cached: tuple[float, Breaker] | None = None

    # ---------------------------------------------------------------- reads
    def read(self, *, fresh: bool = False) -> Breaker:
        """The stored state (no item: a closed ``Breaker()``), from the cache if it is
        younger than ``cache_seconds``; ``fresh`` reads the table, strongly consistent."""
        cached = self._cached
        if not fresh and cached and self.monotonic() - cached[0] < self.cache_seconds:
            return cached[1]
        try:
            item = self.m.Breaker.get(breaker_key(), consistent_read=fresh)
        except self.m.Breaker.DoesNotExist:
            return self._remember(Breaker())
        except PynamoDBException as exc:
            raise StorageError(f"reading the portal breaker failed: {exc.msg}") from exc
        return self._remember(_state(item))

    # --------------------------------------------------------------- writes
    def record_failure(self, *, probe: bool = False) -> tuple[Breaker, bool]:
        """A transient failure: the new state, and whether this call opened the breaker.
        Once it is open only the probe's failure counts (it pushes the next probe back);
        a scrape that was running when it opened changes nothing."""
        for round_ in range(MAX_ROUNDS):
            old = self.read(fresh=True)
            if old.is_open and not probe:
                return old, False
            written = self._write(old, old.after_failure(self.policy, self.clock()))
            if written is not None:
                return written, not old.is_open and written.is_open
            pause(round_)  # another worker recorded something meanwhile
        raise StorageError("could not record a portal failure: too much contention")

    def record_success(self) -> tuple[Breaker, int]:
        """The portal answered: the breaker closed, and how many parked wake-ups this call
        took (the caller sends that many messages again).

        Free when there is nothing to change: a closed breaker with no failures and nothing
        parked, as the cache saw it up to ``cache_seconds`` ago, is not written. A stale
        cache can miss failures recorded since; they stay counted (``record_failure``
        reads fresh), so at worst a success does not reset a count it did not see yet.
        """
        old = self.read()
        for round_ in range(MAX_ROUNDS):
            if not old.is_open and not old.failures and not old.parked:
                return old, 0
            written = self._write(old, old.after_success(), take_parked=True)
            if written is not None:
                return written, old.parked
            pause(round_)
            old = self.read(fresh=True)
        raise StorageError("could not record a portal success: too much contention")

    def take_probe(self, lease_seconds: float) -> bool:
        """Start a probe if the breaker is open and its time has come: True if this call
        won it (no other probe may start for ``lease_seconds``); False if closed, not yet
        time, or another worker took it first."""
        old = self.read(fresh=True)
        now = self.clock()
        if not old.may_probe(now):
            return False
        return self._write(old, old.leased(now, lease_seconds)) is not None

    def park(self, n: int = 1) -> None:
        """Count ``n`` wake-up messages dropped while the breaker is open (an atomic add),
        for ``record_success`` to hand back when it closes."""
        Item = self.m.Breaker
        item = Item(breaker_key())
        try:
            item.update(actions=[Item.parked.add(n), Item.kind.set("breaker")])
        except PynamoDBException as exc:
            raise StorageError(f"parking a wake-up failed: {exc.msg}") from exc
        self._remember(_state(item))

    # -------------------------------------------------------------- helpers
    def _write(self, old: Breaker, new: Breaker, *, take_parked: bool = False) -> Breaker | None:
        """Store ``new`` with the next version, on condition that the item is still at
        ``old``'s version (and, ``take_parked``, still holds ``old.parked``, set to 0).
        The state as written, or None if the condition failed."""
        Item = self.m.Breaker
        actions: list[Any] = [
            Item.kind.set("breaker"),
            Item.state.set(new.state.value),
            Item.failures.set(new.failures),
            Item.probes.set(new.probes),
            Item.version.set(old.version + 1),
            _set_or_remove(Item.opened_at, new.opened_at),
            _set_or_remove(Item.next_probe_at, new.next_probe_at),
        ]
        condition = _at(Item.version, old.version)
        if take_parked:
            actions.append(Item.parked.set(0))
            condition = condition & _at(Item.parked, old.parked)
        item = Item(breaker_key())
        try:
            item.update(actions=actions, condition=condition)
        except UpdateError as exc:
            if exc.cause_response_code == "ConditionalCheckFailedException":
                return None
            raise StorageError(f"writing the portal breaker failed: {exc.msg}") from exc
        except PynamoDBException as exc:
            raise StorageError(f"writing the portal breaker failed: {exc.msg}") from exc
        return self._remember(_state(item))

    def _remember(self, state: Breaker) -> Breaker:
        self._cached = (self.monotonic(), state)
        return state


def _state(item: Any) -> Breaker:
    """A breaker item as a state (attributes the item lacks read as their defaults)."""
    return Breaker(
        state=BreakerState(item.state or BreakerState.CLOSED),
        failures=int(item.failures or 0),
        opened_at=None if item.opened_at is None else float(item.opened_at),
        next_probe_at=None if item.next_probe_at is None else float(item.next_probe_at),
        probes=int(item.probes or 0),
        parked=int(item.parked or 0),
        version=int(item.version or 0),
    )


def _at(attribute: Any, value: int) -> Any:
    """The condition that a number attribute is ``value`` (absent counts as 0)."""
    if value:
        return attribute == value
    return attribute.does_not_exist() | (attribute == 0)


def _set_or_remove(attribute: Any, value: float | None) -> Any:
    return attribute.remove() if value is None else attribute.set(value)
