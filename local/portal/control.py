"""A tiny client of the demo portal's control endpoints (``/_faults``, ``/_stats``, ``/_reset``)."""

from __future__ import annotations

import json
import urllib.request
from typing import Any

__all__ = ["faults", "reset", "stats"]


def call(portal_url: str, path: str, payload: Any = None, *, method: str | None = None) -> Any:
    """Call a control endpoint; a JSON ``payload`` makes it a POST. HTTPError on 4xx/5xx."""
    data = None if payload is None else json.dumps(payload).encode()
    request = urllib.request.Request(
        portal_url + path,
        data=data,
        method=method or ("POST" if data is not None else "GET"),
        headers={"Content-Type": "application/json"},
    )
    with urllib.request.urlopen(request, timeout=10) as response:
        body = response.read()
    return json.loads(body) if body else None


def faults(portal_url: str, **values: Any) -> dict[str, Any]:
    """Replace the portal's fault configuration; returns it."""
    return call(portal_url, "/_faults", values)


def stats(portal_url: str) -> dict[str, Any]:
    return call(portal_url, "/_stats")


def reset(portal_url: str) -> None:
    call(portal_url, "/_reset", method="POST")
