"""The portal-outage circuit breaker: pure logic, no I/O.

Closed, it counts consecutive transient failures across all tasks; at the policy's
threshold it opens. Open, tasks wait and one probe scrape at a time checks the portal,
each failed probe doubling the wait for the next (up to a cap); a success closes it.
The functions here never touch ``version``: the storage adapter bumps it on each write.
"""

from __future__ import annotations

import enum
from dataclasses import dataclass, replace

__all__ = ["Breaker", "BreakerPolicy", "BreakerState"]


class BreakerState(enum.StrEnum):
    CLOSED = "closed"
    OPEN = "open"


@dataclass(frozen=True)
class BreakerPolicy:
    """When the breaker opens, and how long it waits between probes."""

    #: Consecutive transient failures (of any tasks) that open it.
    failures_to_open: int = 8
    #: The first probe may start this long after it opens.
    probe_delay_seconds: float = 30
    #: The longest wait between probes.
    probe_max_delay_seconds: float = 120

    def __post_init__(self) -> None:
        if self.failures_to_open < 1:
            raise ValueError("failures_to_open must be at least 1")
        if self.probe_delay_seconds <= 0:
            raise ValueError("probe_delay_seconds must be positive")
        if self.probe_max_delay_seconds < self.probe_delay_seconds:
            raise ValueError("probe_max_delay_seconds must not be below probe_delay_seconds")

    def delay(self, failed_probes: int) -> float:
        """Seconds until the next probe after ``failed_probes`` failed ones: base * 2**n,
        capped at the maximum."""
        if failed_probes < 0:
            raise ValueError("failed_probes must not be negative")
        if failed_probes >= 64:  # 2**64 * base is past any cap
            return float(self.probe_max_delay_seconds)
        return float(min(self.probe_delay_seconds * 2**failed_probes, self.probe_max_delay_seconds))


@dataclass(frozen=True)
class Breaker:
    """The breaker's state as stored (``version`` is the adapter's, for conditional writes)."""

    state: BreakerState = BreakerState.CLOSED
    #: Consecutive transient failures while closed.
    failures: int = 0
    opened_at: float | None = None
    #: When the next probe may start (open only).
    next_probe_at: float | None = None
    #: Failed probes since it opened.
    probes: int = 0
    #: Wake-up messages dropped while open, to send again when it closes.
    parked: int = 0
    version: int = 0

    @property
    def is_open(self) -> bool:
        return self.state is BreakerState.OPEN

    def after_failure(self, policy: BreakerPolicy, now: float) -> Breaker:
        """A transient failure: counted while closed (opening it at the threshold); while
        open, a failed probe, which pushes the next one further back."""
        if self.is_open:
            probes = self.probes + 1
            return replace(self, probes=probes, next_probe_at=now + policy.delay(probes))
        failures = self.failures + 1
        if failures < policy.failures_to_open:
            return replace(self, failures=failures)
        return replace(
            self,
            state=BreakerState.OPEN,
            failures=failures,
            opened_at=now,
            next_probe_at=now + policy.delay(0),
            probes=0,
        )

    def after_success(self) -> Breaker:
        """The portal answered: closed, counts reset (``parked`` is left to the adapter)."""
        return replace(
            self,
            state=BreakerState.CLOSED,
            failures=0,
            probes=0,
            opened_at=None,
            next_probe_at=None,
        )

    def may_probe(self, now: float) -> bool:
        """Whether a probe may start at ``now`` (open, and its time has come)."""
        return self.is_open and self.next_probe_at is not None and now >= self.next_probe_at

    def leased(self, now: float, lease_seconds: float) -> Breaker:
        """A probe started at ``now``: no other may start for ``lease_seconds``."""
        return replace(self, next_probe_at=now + lease_seconds)
