"""Reliability fixtures: the local stack on loopback (``reliability.harness``, a sandbox
of ``local.sandbox``), one per module, stopped when the module ends."""

from __future__ import annotations

from typing import Iterator

import pytest

from reliability.harness import Harness


@pytest.fixture(scope="module")
def harness() -> Iterator[Harness]:
    with Harness(users=6, vip_users=2) as started:
        yield started
