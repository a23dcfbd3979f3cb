"""The local runtime's reserved-concurrency slots: a cap, and priority at hand-over."""

from __future__ import annotations

import threading
import time

from local.event_source import Slots


def _waiter(slots: Slots, stop: threading.Event, priority: bool, order: list[str]) -> None:
    if slots.acquire(rank=0 if priority else 1, stop=stop):
        order.append("vip" if priority else "standard")


def test_a_freed_slot_goes_to_a_waiting_priority_caller_before_an_earlier_standard_one():
    # Given one slot, taken, and a standard caller waiting before a priority caller
    slots, stop, order = Slots(1), threading.Event(), []
    assert slots.acquire(rank=1, stop=stop)
    standard = threading.Thread(target=_waiter, args=(slots, stop, False, order))
    standard.start()
    time.sleep(0.1)
    vip = threading.Thread(target=_waiter, args=(slots, stop, True, order))
    vip.start()
    time.sleep(0.1)

    # When the slot is released
    slots.release()
    vip.join(timeout=2)

    # Then the priority caller has it, and the standard one gets the next
    assert order == ["vip"]
    slots.release()
    standard.join(timeout=2)
    assert order == ["vip", "standard"]
    assert slots.peak == 1 and slots.throttled == 2


def test_a_waiting_caller_gives_up_when_the_runtime_stops():
    slots, stop = Slots(1), threading.Event()
    assert slots.acquire(rank=0, stop=stop)
    result: list[bool] = []
    waiter = threading.Thread(target=lambda: result.append(slots.acquire(rank=0, stop=stop)))
    waiter.start()
    stop.set()
    waiter.join(timeout=2)
    assert result == [False] and slots.running == 1
