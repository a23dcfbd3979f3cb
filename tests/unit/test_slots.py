"""The local runtime's reserved-concurrency slots: a cap, a wait, and a stop."""

from __future__ import annotations

import threading
import time

from local.event_source import Slots


def test_a_caller_waits_for_a_freed_slot_and_the_cap_holds():
    # Given one slot, taken, and a caller waiting for it
    slots, stop, got = Slots(1), threading.Event(), []
    assert slots.acquire(stop=stop)
    waiter = threading.Thread(target=lambda: got.append(slots.acquire(stop=stop)))
    waiter.start()
    time.sleep(0.1)
    assert got == [] and slots.throttled == 1
    # When the slot is released, Then the waiting caller has it, never two at once
    slots.release()
    waiter.join(timeout=2)
    assert got == [True] and slots.running == 1 and slots.peak == 1


def test_a_waiting_caller_gives_up_when_the_runtime_stops():
    slots, stop = Slots(1), threading.Event()
    assert slots.acquire(stop=stop)
    result: list[bool] = []
    waiter = threading.Thread(target=lambda: result.append(slots.acquire(stop=stop)))
    waiter.start()
    stop.set()
    waiter.join(timeout=2)
    assert result == [False] and slots.running == 1
