"""HTTP transport for the scraper: a requests Session with default timeouts and no retries.

Retries are the queue's job (SQS redelivery with back-off), not urllib3's.
"""

from __future__ import annotations

from typing import Any

import requests
from requests.adapters import HTTPAdapter

__all__ = ["TimeoutHTTPAdapter", "build_session"]


class TimeoutHTTPAdapter(HTTPAdapter):
    """An adapter that applies a default ``(connect, read)`` timeout to every request."""

    def __init__(self, timeout: tuple[float, float], **kwargs: Any) -> None:
        self.timeout = timeout
        super().__init__(**kwargs)

    def send(self, request: requests.PreparedRequest, **kwargs: Any) -> requests.Response:
        if kwargs.get("timeout") is None:
            kwargs["timeout"] = self.timeout
        return super().send(request, **kwargs)


def build_session(
    *,
    connect_timeout: float,
    read_timeout: float,
    pool_size: int = 4,
    user_agent: str = "raspa/1.0",
) -> requests.Session:
    """A Session whose every request times out and is never retried by urllib3."""
    session = requests.Session()
    adapter = TimeoutHTTPAdapter(
        (connect_timeout, read_timeout),
        max_retries=0,
        pool_connections=pool_size,
        pool_maxsize=pool_size,
    )
    session.mount("http://", adapter)
    session.mount("https://", adapter)
    session.headers["User-Agent"] = user_agent
    return session
