"""Integration fixtures: the demo portal on loopback (one per session, reset before every
test) and a moto server as the AWS endpoint (one per module)."""

from __future__ import annotations

from typing import Iterator

import pytest

from local.awsserver import AwsServer
from local.portal import PortalServer, control


@pytest.fixture(scope="session")
def portal_server() -> Iterator[PortalServer]:
    with PortalServer() as server:
        yield server


@pytest.fixture
def portal(portal_server: PortalServer) -> PortalServer:
    """The shared demo portal with no faults, no sessions and zeroed statistics."""
    control.reset(portal_server.url)
    return portal_server


@pytest.fixture(scope="module")
def aws_server() -> Iterator[AwsServer]:
    with AwsServer() as server:
        yield server
