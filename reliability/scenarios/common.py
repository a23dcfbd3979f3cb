"""What several scenarios do: ask for OS numbers from many people at once, wait for the
pipeline to settle, and count what each requester's socket was told."""

from __future__ import annotations

import time
from collections import Counter
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field, fields
from typing import Any, Iterable, Sequence

from reliability.clients import Answer, Requester
from reliability.harness import Stack, wait_until

__all__ = [
    "ONCE",
    "PERMANENT_REASONS",
    "TOLD",
    "Notifications",
    "as_dict",
    "ask",
    "check_notifications",
    "followed_all",
    "notifications",
    "numbers",
    "settle",
]

#: Failure reasons that end a task at once (no retry can fix them).
PERMANENT_REASONS = {
    "layout_changed",
    "login_failed",
    "permanent",
    "not_found",
    "off_site",
    "too_large",
    "not_storable",
}
#: "Exactly one terminal notification per requester and task", as its two halves.
TOLD = "every requester got a terminal notification for each of its tasks (none lost)"
ONCE = "no requester got a second terminal notification for a task"


def as_dict(params: Any) -> dict[str, Any]:
    return {f.name: getattr(params, f.name) for f in fields(params)}


def numbers(first: int, count: int) -> list[str]:
    return [str(first + i) for i in range(count)]


def ask(
    people: Sequence[Requester], wanted: Sequence[str], *, threads: int = 32
) -> list[tuple[Requester, Answer]]:
    """Each number asked for by one requester (round robin), ``threads`` at a time."""
    jobs = [(people[i % len(people)], numero) for i, numero in enumerate(wanted)]
    with ThreadPoolExecutor(max_workers=max(1, min(threads, len(jobs)))) as pool:
        answers = list(pool.map(lambda job: job[0].lookup(job[1]), jobs))
    return [(who, answer) for (who, _), answer in zip(jobs, answers, strict=True)]


def settle(
    stack: Stack,
    task_ids: set[str],
    timeout: float,
    *,
    asked: Sequence[tuple[Requester, Answer]] = (),
    dead_letters: int | None = None,
    every: float = 3.0,
) -> bool:
    """Wait until every task is SUCCESS or FAILURE, the scrape queue is empty and (if
    given) the DLQ holds ``dead_letters``; False if ``timeout`` passes first.

    The tables are read every ``every`` seconds, or as soon as every requester in
    ``asked`` has been told its task's outcome (so the check costs the emulator little).
    """
    pairs = [(who, answer.task_id) for who, answer in asked if answer.task_id]
    deadline = time.monotonic() + timeout
    read_at = 0.0
    pending = set(task_ids)

    def told() -> bool:
        return bool(pairs) and all(who.terminal_counts()[task] >= 1 for who, task in pairs)

    while True:
        now = time.monotonic()
        if now - read_at >= every or told():
            read_at = now
            pending = stack.unfinished(pending)
            if (
                not pending
                and stack.queue_empty()
                and (dead_letters is None or stack.depth(stack.dlq_url) >= dead_letters)
            ):
                return True
        if now >= deadline:
            return False
        time.sleep(0.2)


@dataclass
class Notifications:
    """Terminal events per (requester, task), as each requester's socket received them."""

    pairs: int
    exactly_one: int
    none: int
    several: int
    #: For each pair without exactly one: who, which task, and what its socket got for it.
    odd: list[str] = field(default_factory=list)

    def text(self) -> str:
        return f"{self.exactly_one}/{self.pairs} exactly one ({self.none} none, {self.several} >1)"

    def plus(self, other: Notifications) -> Notifications:
        """Both counts together (requesters of two stacks)."""
        return Notifications(
            self.pairs + other.pairs,
            self.exactly_one + other.exactly_one,
            self.none + other.none,
            self.several + other.several,
            self.odd + other.odd,
        )


def _summary(message: Any) -> str:
    status = message.get("status")
    detail = message.get("task_status") or message.get("step") or message.get("reason") or ""
    return f"{status}({detail})" if detail else str(status)


def followed_all(people: Iterable[Requester], timeout: float = 180) -> bool:
    """Wait until every requester's socket has sent the subscriptions it was asked for."""
    sockets = {id(who.socket): who.socket for who in people if who.socket is not None}
    return wait_until(lambda: all(s.following() == 0 for s in sockets.values()), timeout, 0.2)


def check_notifications(row: Any, told: Notifications, expected: int) -> None:
    """The two criteria of "exactly one terminal notification per requester and task"."""
    row.check(TOLD, told.none == 0 and told.pairs == expected, told.text())
    row.check(ONCE, told.several == 0, told.text())
    row.notes.extend(told.odd[:10])


def notifications(
    asked: Iterable[tuple[Requester, Answer]], *, wait: float = 10.0
) -> Notifications:
    """Count terminal events per (requester, task) once every pair got one or ``wait``
    seconds passed, plus a short grace for a late duplicate."""
    pairs = {(who, answer.task_id) for who, answer in asked if answer.task_id}
    followed_all(who for who, _ in pairs)

    def everyone_told() -> bool:
        return all(who.terminal_counts()[task] >= 1 for who, task in pairs)

    wait_until(everyone_told, wait, interval=0.2)
    time.sleep(1.0)
    counts: Counter[int] = Counter()
    by_requester = {who.user: who.terminal_counts() for who, _ in pairs}
    odd = []
    for who, task in pairs:
        n = by_requester[who.user][task]
        counts[min(n, 2)] += 1
        if n != 1 and who.socket is not None:
            got = [_summary(m) for m in who.socket.received() if m.get("task_id") == task]
            odd.append(f"{who.user} task {task}: {n} terminal; its socket got {got}")
    return Notifications(len(pairs), counts[1], counts[0], counts[2], odd)
