"""Integration fixtures: one sandbox per session (a moto server and the demo portal on
loopback, ``local.sandbox``), the portal reset before every test, and a stack of fresh
resources per test."""

from __future__ import annotations

from typing import Any, Iterator

import pytest

from local.portal import PortalServer, control
from local.sandbox import Sandbox
from tests.support.stack import Stack, build_stack


@pytest.fixture(scope="session")
def sandbox() -> Iterator[Sandbox]:
    with Sandbox(aws="server", gateway=False) as box:
        yield box


@pytest.fixture
def portal(sandbox: Sandbox) -> PortalServer:
    """The shared demo portal with no faults, no sessions and zeroed statistics."""
    control.reset(sandbox.portal_url)
    return sandbox.portal


@pytest.fixture
def make_stack(sandbox: Sandbox, portal: PortalServer) -> Any:
    """``make_stack(**setting_changes)``: a stack of fresh resources, the app serving it."""

    def make(**changes: Any) -> Stack:
        return build_stack(sandbox, **changes)

    return make


@pytest.fixture
def stack(make_stack: Any) -> Stack:
    return make_stack()
