"""The batch lane (``lane.py``): fair keys, and held tasks released within a window."""

from __future__ import annotations

from typing import Any


class Queue:
    """The batch queue, as far as the lane sees it: messages sent."""

    def __init__(self) -> None:
        self.sent: list[tuple[str, str]] = []

    def send_many(self, messages: list[tuple[str, str]], *, lane: Any = None) -> Any:
        self.sent.extend(messages)


def test_each_owners_keys_follow_on_and_a_newcomer_starts_at_the_lanes_clock(stores):
    lane = stores.batch_lane(Queue())
    first = lane.reserve("ana", 3)
    second = lane.reserve("ana", 2)
    assert [first.key(i) for i in range(3)] + [second.key(i) for i in range(2)] == sorted(
        [first.key(i) for i in range(3)] + [second.key(i) for i in range(2)]
    )
    assert second.key(0) > first.key(2)
    assert lane.reserve("bruno", 1).key(0) < second.key(0)


def test_held_tasks_are_released_lowest_keys_first_up_to_the_window(stores, settings):
    queue = Queue()
    lane = stores.batch_lane(queue)
    numbers = [str(700000 + i) for i in range(settings.batch_release_window + 3)]
    created = stores.batch_tasks.create_tasks(
        "b" * 32, "ana", numbers, careful=False, reserve=lambda n: lane.reserve("ana", n)
    )
    # When the lane is topped up twice
    released = lane.release()
    assert lane.release() == 0  # the window is full
    # Then the window's worth went, first keys first, each marked released
    assert released == settings.batch_release_window
    assert [numero for _, numero in queue.sent] == numbers[:released]
    assert stores.queue_index.released() == released
    assert len(stores.queue_index.held(100)) == 3
    # And once one starts, the next one is released
    stores.runs.start(created.tasks[0][0])
    assert lane.release() == 1 and queue.sent[-1][1] == numbers[released]
