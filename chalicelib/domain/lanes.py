"""The scrape lanes (VIP, standard, batch) and their order. Pure, no I/O.

A lane is data, not a queue: every scrape message only wakes the worker up, and the
worker claims the best waiting task itself (``chalicelib.domain.schedule``). The lanes'
``rank`` orders the queue index (``queueorder``) and breaks ties between turns. A lane's
value is what raspa stores and sends: the task item's ``queue``/``lane`` attributes and
the ``lane`` of a scrape message. ``priority`` is still accepted for the VIP lane.
"""

from __future__ import annotations

import enum
from typing import Mapping

__all__ = ["ALIASES", "Lane"]


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
