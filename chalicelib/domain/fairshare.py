"""The batch lane's fair order between owners: pure logic, no I/O.

Start-time fair queueing over *task units*: the lane has a virtual clock, the key of the
latest task released to the batch queue, and every owner the key of their latest task.
An owner's new tasks get the keys after the later of the two, one unit apart; tasks are
released lowest key first. So two owners with work waiting alternate one task each, and a
one-line batch uploaded behind another owner's 100,000 lines gets the key right after the
clock: it is released next and starts within the few scrapes already released.
"""

from __future__ import annotations

import math
import zlib
from dataclasses import dataclass

__all__ = ["KeyRange", "reserve"]

#: Keys of two owners at the same unit are ordered by a fraction below this, from a hash
#: of the owner (stable, so an owner's tasks never swap with each other).
_TIE_SPAN = 0.5


@dataclass(frozen=True)
class KeyRange:
    """``count`` keys for one owner, and the owner's last unit once they are taken."""

    first_unit: int
    count: int
    tie: float

    @property
    def last_unit(self) -> int:
        return self.first_unit + self.count - 1

    def key(self, i: int) -> float:
        """The i-th (0-based) key of the range."""
        if not 0 <= i < self.count:
            raise IndexError(i)
        return self.first_unit + i + self.tie


def tie_of(owner: str) -> float:
    return zlib.crc32(owner.encode("utf-8")) / 2**32 * _TIE_SPAN


def reserve(owner: str, owner_last: float, clock: float, count: int) -> KeyRange:
    """The next ``count`` keys of ``owner``, who last had unit ``owner_last``, when the
    lane's clock is at ``clock``."""
    if count < 0:
        raise ValueError("count must not be negative")
    start = max(math.floor(owner_last), math.floor(clock)) + 1
    return KeyRange(start, count, tie_of(owner))
