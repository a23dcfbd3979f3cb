"""What the commands print: where to (``Console``), tables, times, short texts."""

from __future__ import annotations

import json
import time
from dataclasses import dataclass
from typing import Any, Callable, Mapping, Sequence, TextIO

__all__ = ["Console", "counts", "short", "table", "when"]


@dataclass
class Console:
    """Where a command writes and how it asks (tests pass their own)."""

    out: TextIO
    err: TextIO
    confirm: Callable[[str], str] = input

    def say(self, *values: Any, end: str = "\n") -> None:
        print(*values, end=end, file=self.out)

    def json(self, value: Any) -> None:
        self.say(json.dumps(value, indent=2, default=str, ensure_ascii=False))


def when(epoch: float | None) -> str:
    if epoch is None:
        return "-"
    return time.strftime("%Y-%m-%d %H:%M:%SZ", time.gmtime(epoch))


def short(text: str | None, width: int) -> str:
    text = " ".join((text or "").split())
    return text if len(text) <= width else text[: width - 1] + "…"


def counts(counter: Mapping[str, int]) -> str:
    return ", ".join(f"{k} {v}" for k, v in sorted(counter.items()))


def table(
    headers: Sequence[str], rows: Sequence[Sequence[Any]], *, indent: int = 0, header: bool = True
) -> str:
    """Columns padded to their widest cell; numbers aligned right."""
    body = [list(row) for row in rows]
    cells = [[str(c) for c in row] for row in ([list(headers)] if header else []) + body]
    widths = [max(len(row[i]) for row in cells) for i in range(len(headers))]
    numeric = [
        any(isinstance(r[i], int) for r in body)
        and all(isinstance(r[i], int) or r[i] in ("", "-") for r in body)
        for i in range(len(widths))
    ]
    pad = " " * indent
    return "\n".join(
        pad
        + "  ".join(
            c.rjust(w) if right else c.ljust(w)
            for c, w, right in zip(row, widths, numeric, strict=True)
        ).rstrip()
        for row in cells
    )
