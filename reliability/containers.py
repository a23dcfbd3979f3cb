"""What the reliability harness plays besides AWS: Lambda containers in threads, quiet
logs while a scenario runs, and waiting for a condition."""

from __future__ import annotations

import contextlib
import logging
import socket
import threading
import time
from typing import Any, Callable, Iterator

__all__ = ["Containers", "free_port", "quiet_logs", "wait_until"]


def wait_until(check: Callable[[], bool], timeout: float, interval: float = 0.1) -> bool:
    """Poll ``check`` until it holds (True) or ``timeout`` seconds pass (False)."""
    deadline = time.monotonic() + timeout
    while True:
        if check():
            return True
        if time.monotonic() >= deadline:
            return False
        time.sleep(interval)


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


@contextlib.contextmanager
def quiet_logs() -> Iterator[None]:
    """raspa's JSON log lines and the local runtime's warnings off while a scenario runs
    (thousands of retries and failures are the point); errors of the local runtime stay."""
    manager = logging.root.manager
    names = [
        n for n in list(manager.loggerDict) if n == "raspa" or n.startswith(("chalicelib", "local"))
    ]
    levels = {"raspa": logging.CRITICAL, "chalicelib": logging.CRITICAL, "local": logging.ERROR}
    saved = {}
    for name in {*names, *levels}:
        logger = logging.getLogger(name)
        saved[name] = logger.level
        top = name.split(".", 1)[0]
        logger.setLevel(levels.get(top, logging.CRITICAL))
    try:
        yield
    finally:
        for name, level in saved.items():
            logging.getLogger(name).setLevel(level)


class Containers:
    """A scraper factory in which each worker thread is its own Lambda container: it
    builds its own portal scraper (``build``) on its first invocation and keeps it."""

    def __init__(self, build: Callable[[], Any]) -> None:
        self.build = build
        self.created = 0
        self._local = threading.local()
        self._lock = threading.Lock()

    def __call__(self) -> Any:
        scraper = getattr(self._local, "scraper", None)
        if scraper is None:
            scraper = self._local.scraper = self.build()
            with self._lock:
                self.created += 1
        return scraper
