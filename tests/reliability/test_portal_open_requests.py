"""The demo portal counts the requests a client still waits for (``open``), apart from
every request it is handling (``concurrent``), so a hang the client gave up on is seen."""

from __future__ import annotations

import threading
import time
from typing import Iterator

import pytest
import requests

from local.portal import PortalServer, control

pytestmark = pytest.mark.integration


@pytest.fixture
def portal() -> Iterator[PortalServer]:
    with PortalServer() as server:
        yield server


def wait(check, timeout: float = 5) -> bool:  # type: ignore[no-untyped-def]
    deadline = time.monotonic() + timeout
    while not check():
        if time.monotonic() > deadline:
            return False
        time.sleep(0.02)
    return True


def test_given_a_hang_the_client_gives_up_on_then_it_stops_counting_as_open_but_still_as_handled(
    portal: PortalServer,
) -> None:
    control.faults(portal.url, hang_rate=1.0, hang_ms=1500)
    with pytest.raises(requests.Timeout):
        requests.get(portal.url + "/login", timeout=0.3)
    assert wait(lambda: control.stats(portal.url)["abandoned"] == 1)
    during = control.stats(portal.url)
    assert (during["open"], during["concurrent"], during["peak_open"]) == (0, 1, 1)
    assert wait(lambda: control.stats(portal.url)["concurrent"] == 0)
    after = control.stats(portal.url)
    assert (after["open"], after["abandoned"], after["peak_concurrent"]) == (0, 1, 1)


def test_given_slow_requests_whose_clients_wait_then_open_counts_them_like_concurrent(
    portal: PortalServer,
) -> None:
    control.faults(portal.url, latency_ms=300)
    threads = [
        threading.Thread(target=requests.get, args=(portal.url + "/login",), kwargs={"timeout": 5})
        for _ in range(3)
    ]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    stats = control.stats(portal.url)
    assert stats["peak_open"] == stats["peak_concurrent"] == 3
    assert (stats["open"], stats["abandoned"]) == (0, 0)
