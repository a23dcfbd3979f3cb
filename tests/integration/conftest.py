"""Integration fixtures: the demo portal on loopback, reset before every test."""

from __future__ import annotations

from typing import Iterator

import pytest

from local.portal import PortalServer
from tests.support.stack import portal_call


@pytest.fixture(scope="session")
def portal_server() -> Iterator[PortalServer]:
    with PortalServer() as server:
        yield server


@pytest.fixture
def portal(portal_server: PortalServer) -> PortalServer:
    portal_call(portal_server.url, "/_reset")
    return portal_server
