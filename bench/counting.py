"""Deterministic AWS call counts: a botocore ``before-call`` hook on every client.

``install()`` wraps botocore's ``Session.create_client`` so every client created
afterwards (boto3's, PynamoDB's per-model connections, Powertools') registers a
``before-call`` handler. Retries happen below ``before-call``, so one count is one API
call as the code made it, whatever the network did.
"""

from __future__ import annotations

import threading
from collections import Counter
from contextlib import contextmanager
from typing import Any, Iterator

import botocore.session

__all__ = ["CallCounter", "counter", "install"]


class CallCounter:
    """Counts ``service.Operation`` calls while ``recording`` (optionally one thread only)."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._calls: Counter[str] = Counter()
        self._recording = 0
        self._ignored: set[int] = set()

    def on_call(self, client_id: int, event_name: str) -> None:
        if not self._recording or client_id in self._ignored:
            return
        # before-call.<service>.<Operation>
        _, service, operation = event_name.split(".", 2)
        with self._lock:
            self._calls[f"{service}.{operation}"] += 1

    def ignore(self, client: Any) -> Any:
        """Leave out the calls of ``client`` (the benchmark's own)."""
        self._ignored.add(id(client))
        return client

    @contextmanager
    def record(self) -> Iterator[Counter[str]]:
        """Count the calls made inside the block; yields the counter, filled on exit."""
        result: Counter[str] = Counter()
        with self._lock:
            self._calls.clear()
            self._recording += 1
        try:
            yield result
        finally:
            with self._lock:
                self._recording -= 1
                result.update(self._calls)
                self._calls.clear()


counter = CallCounter()
_installed = False


def install() -> CallCounter:
    """Hook every botocore client created from now on (idempotent)."""
    global _installed
    if _installed:
        return counter
    original = botocore.session.Session.create_client

    def create_client(self: Any, *args: Any, **kwargs: Any) -> Any:
        client = original(self, *args, **kwargs)
        client_id = id(client)

        def before_call(event_name: str, **_: Any) -> None:
            counter.on_call(client_id, event_name)

        client.meta.events.register("before-call.*.*", before_call)
        client._bench_before_call = before_call  # keeps the handler alive (weak refs)
        return client

    botocore.session.Session.create_client = create_client  # type: ignore[method-assign]
    _installed = True
    return counter
