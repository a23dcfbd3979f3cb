"""The scrape lanes (VIP, standard, batch): their order and their settings. Pure, no I/O.

A lane is one SQS queue of the scrape worker with its own event source cap
(``MaximumConcurrency``). The worker takes VIP work first, then standard, then batch:
that order is each lane's ``rank``, which the queue index (``queueorder``), the local
runtime and ops all follow. A lane's value is what raspa stores and sends: the task
item's ``queue``/``lane`` attributes and the ``lane`` of a scrape message.

Settings keep their historical names, so the ``RASPA_*`` variables stay valid. This is
the only place that maps lanes to them (the VIP lane was once called *priority*)::

    lane       queue name (RASPA_...)   queue URL (RASPA_...)   event source cap (RASPA_...)
    vip        PRIORITY_QUEUE_NAME      PRIORITY_QUEUE_URL      PRIORITY_MAX_CONCURRENCY
    standard   QUEUE_NAME               QUEUE_URL               STANDARD_MAX_CONCURRENCY
    batch      BATCH_QUEUE_NAME         BATCH_QUEUE_URL         BATCH_MAX_CONCURRENCY

The URL fields' names are also the keys of the queue URLs in ``.raspa/local.json``.
"""

from __future__ import annotations

import enum
from dataclasses import dataclass
from typing import Mapping, NamedTuple

__all__ = ["ALIASES", "SETTINGS", "Lane", "LaneConfig", "LaneSettings", "lane_configs"]


class Lane(enum.StrEnum):
    """A scrape lane, declared in the order the worker serves them (VIP first)."""

    VIP = "vip"
    STANDARD = "standard"
    BATCH = "batch"

    @property
    def rank(self) -> int:
        """0 for the lane served first; a freed slot goes to the lowest rank waiting."""
        return _RANKS[self]

    @property
    def interactive(self) -> bool:
        """Whether people wait for this lane's scrapes (VIP and standard lookups)."""
        return self is not Lane.BATCH

    @classmethod
    def parse(cls, text: str) -> Lane:
        """The lane ``text`` names, case and spaces ignored (``priority`` is ``vip``).

        Raises ValueError naming the accepted names.
        """
        key = str(text).strip().lower()
        if key not in ALIASES:
            raise ValueError(f"unknown lane {text!r}; use one of {', '.join(ALIASES)}")
        return ALIASES[key]


_RANKS = {lane: rank for rank, lane in enumerate(Lane)}
#: The names a person may type for each lane.
ALIASES: Mapping[str, Lane] = {
    Lane.VIP.value: Lane.VIP,
    "priority": Lane.VIP,
    Lane.STANDARD.value: Lane.STANDARD,
    Lane.BATCH.value: Lane.BATCH,
}


class LaneSettings(NamedTuple):
    """The ``Settings`` fields of one lane (``RASPA_`` + the upper-cased name)."""

    queue_name: str
    queue_url: str
    max_concurrency: str


SETTINGS: Mapping[Lane, LaneSettings] = {
    Lane.VIP: LaneSettings("priority_queue_name", "priority_queue_url", "priority_max_concurrency"),
    Lane.STANDARD: LaneSettings("queue_name", "queue_url", "standard_max_concurrency"),
    Lane.BATCH: LaneSettings("batch_queue_name", "batch_queue_url", "batch_max_concurrency"),
}


@dataclass(frozen=True)
class LaneConfig:
    """One lane as ``Settings`` configure it."""

    lane: Lane
    queue_name: str
    #: Empty: the queue is looked up by ``queue_name``.
    queue_url: str
    #: The event source's ``MaximumConcurrency`` (at least 2, AWS's minimum).
    max_concurrency: int

    @property
    def rank(self) -> int:
        return self.lane.rank

    @classmethod
    def of(cls, settings: object, lane: Lane | str) -> LaneConfig:
        """``lane``'s queue and cap in ``settings`` (a ``chalicelib.config.Settings``, read by
        field name: the domain does not import the configuration)."""
        lane = Lane(lane)
        names = SETTINGS[lane]
        return cls(
            lane,
            queue_name=getattr(settings, names.queue_name),
            queue_url=getattr(settings, names.queue_url),
            max_concurrency=int(getattr(settings, names.max_concurrency)),
        )


def lane_configs(settings: object) -> tuple[LaneConfig, ...]:
    """Every lane's configuration, in rank order (VIP first)."""
    return tuple(LaneConfig.of(settings, lane) for lane in Lane)
