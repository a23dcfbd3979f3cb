"""Where raspa's AWS clients point, as a value: region, an optional endpoint and credentials.

In Lambda the defaults hold (the region's endpoints, the function role's credentials); the
local sandbox points every client, boto3's and PynamoDB's alike, at its emulator by passing
an ``AwsClients`` with an endpoint, never by changing the process environment.
"""

from __future__ import annotations

import threading
from dataclasses import dataclass, field
from typing import Any

__all__ = ["AwsClients"]


@dataclass(frozen=True)
class AwsClients:
    """boto3 clients built once per service name, and PynamoDB's connection options."""

    region: str = "us-east-1"
    #: One endpoint for every service (an emulator); None: AWS's own.
    endpoint_url: str | None = None
    #: Explicit credentials (an emulator's); None: the default chain (the function's role).
    access_key_id: str | None = None
    secret_access_key: str | None = field(default=None, repr=False)
    _cache: dict[tuple[str, ...], Any] = field(
        default_factory=dict, init=False, repr=False, compare=False
    )
    _lock: threading.Lock = field(
        default_factory=threading.Lock, init=False, repr=False, compare=False
    )

    def client(self, service: str, *, signature_version: str = "", endpoint_url: str = "") -> Any:
        """The boto3 client of ``service`` (thread-safe; one per service, signature and
        endpoint). ``endpoint_url`` overrides the common one (API Gateway's @connections
        API has an endpoint of its own)."""
        key = (service, signature_version, endpoint_url)
        with self._lock:
            made = self._cache.get(key)
            if made is None:
                made = self._cache[key] = self.session().client(
                    service,
                    region_name=self.region,
                    endpoint_url=endpoint_url or self.endpoint_url,
                    config=_config(signature_version),
                )
            return made

    def session(self) -> Any:
        """The boto3 session every client of this set comes from."""
        made = self._cache.get(("", "session"))
        if made is None:
            import boto3

            made = self._cache[("", "session")] = boto3.session.Session(
                aws_access_key_id=self.access_key_id,
                aws_secret_access_key=self.secret_access_key,
                region_name=self.region,
            )
        return made

    @property
    def pynamodb(self) -> dict[str, Any]:
        """The ``Meta`` options PynamoDB models take to reach the same endpoint."""
        return {
            "region": self.region,
            "host": self.endpoint_url,
            "aws_access_key_id": self.access_key_id,
            "aws_secret_access_key": self.secret_access_key,
        }


def _config(signature_version: str) -> Any:
    if not signature_version:
        return None
    from botocore.config import Config

    return Config(signature_version=signature_version)
