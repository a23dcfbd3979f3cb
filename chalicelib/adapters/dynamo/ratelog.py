"""Each user's rate log: the scrape starts of their rolling window (``rate#<user>``).

A start is added inside the transaction that creates (or promotes) the task, on a
condition that makes the limit exact under concurrency; the decision itself is
``chalicelib.domain.ratelimit.admit``.
"""

from __future__ import annotations

from typing import Any

from pynamodb.exceptions import PynamoDBException
from pynamodb.expressions.condition import size

from chalicelib.adapters.dynamo.models import Models, rate_key, ttl
from chalicelib.adapters.dynamo.transaction import Transaction
from chalicelib.domain.ratelimit import Admission, RatePolicy
from chalicelib.domain.records import RateState
from chalicelib.errors import StorageError

__all__ = ["RateLogStore", "rate_state"]


def rate_state(model: Any, item: Any) -> RateState:
    """A rate log item (a ``RateLog`` instance, or raw as DynamoDB returned it) as a state."""
    if not item:
        return RateState()
    if isinstance(item, dict):
        item = model.from_raw_data(item)
    return RateState(tuple(float(t) for t in item.starts or ()), int(item.version or 0))


class RateLogStore:
    """Reads users' rate logs and adds starts to them inside transactions."""

    def __init__(self, models: Models) -> None:
        self.m = models

    def state(self, user: str) -> RateState:
        """The user's rate log as it is now (strongly consistent)."""
        try:
            item = self.m.RateLog.get(rate_key(user), consistent_read=True)
        except self.m.RateLog.DoesNotExist:
            return RateState()
        except PynamoDBException as exc:
            raise StorageError(f"reading rate limits failed: {exc.msg}") from exc
        return rate_state(self.m.RateLog, item)

    def from_raw(self, raw: dict[str, Any] | None) -> RateState:
        """The state of a raw item (a cancellation's old item, a BatchGetItem answer)."""
        return rate_state(self.m.RateLog, raw)

    def add_start(
        self,
        tx: Transaction,
        rate: RatePolicy,
        read: RateState,
        admission: Admission,
        now: float,
    ) -> None:
        """Add a scrape start to the user's rate log inside ``tx`` (item ``"rate"``), exact
        under concurrency.

        Usually an append, on condition that the list holds fewer than the limit plus the
        starts already out of the window when read (only a rewrite removes entries, and it
        bumps ``version``): concurrent lookups of one user each append once, without
        conflicting until the window is full. A new log, or one holding as many old starts
        as the limit, is rewritten whole, on condition that nothing changed since the read.
        A failed condition returns the log as it is (``from_raw(cancelled.old_item("rate"))``).
        """
        RateLog = self.m.RateLog
        expires = ttl(now + rate.window_seconds)
        if read.version and admission.expired < rate.limit:
            tx.update(
                "rate",
                RateLog(rate_key(rate.user)),
                [
                    RateLog.starts.set(RateLog.starts.append([now])),
                    RateLog.expires_at.set(expires),
                ],
                condition=(RateLog.version == read.version)
                & (size(RateLog.starts) < rate.limit + admission.expired),
                old=True,
            )
            return
        tx.save(
            "rate",
            RateLog(
                rate_key(rate.user),
                starts=list(admission.starts or ()),
                version=read.version + 1,
                expires_at=expires,
            ),
            condition=RateLog.pk.does_not_exist()
            if not read.version
            else (RateLog.version == read.version) & (size(RateLog.starts) == len(read.starts)),
            old=True,
        )
