"""Who is calling: the user a verified token names, and whether they are VIP. Pure."""

from __future__ import annotations

from dataclasses import dataclass

__all__ = ["Identity"]


@dataclass(frozen=True)
class Identity:
    """Who is calling."""

    user: str
    vip: bool = False
