"""Settings every test shares: fake AWS credentials and fast retry settings, set before imports."""

from __future__ import annotations

import os

TEST_ENV = {
    "AWS_ACCESS_KEY_ID": "testing",
    "AWS_SECRET_ACCESS_KEY": "testing",
    "AWS_SECURITY_TOKEN": "testing",
    "AWS_SESSION_TOKEN": "testing",
    "AWS_DEFAULT_REGION": "us-east-1",
    "AWS_REGION": "us-east-1",
    "POWERTOOLS_SERVICE_NAME": "raspa",
    "POWERTOOLS_METRICS_NAMESPACE": "Raspa",
    "POWERTOOLS_DEV": "false",
    "RASPA_RETRY_BASE_DELAY_SECONDS": "60",
    "RASPA_CONNECT_TIMEOUT_SECONDS": "1",
    "RASPA_READ_TIMEOUT_SECONDS": "2",
}
for _key in ("AWS_ENDPOINT_URL", "AWS_PROFILE"):
    os.environ.pop(_key, None)
os.environ.update(TEST_ENV)

# moto's DynamoDB transactions copy whole tables; batches make those tables large.
from local.moto_fixes import install as _install_moto_fixes  # noqa: E402

_install_moto_fixes()


import gc  # noqa: E402
from pathlib import Path  # noqa: E402

import pytest  # noqa: E402

#: Suites whose tests run servers (portal, worker, API) inside this process on real clocks.
_LIVE_SUITES = ("integration", "reliability", "e2e")


@pytest.fixture(autouse=True, scope="module")
def _frozen_heap(request: pytest.FixtureRequest) -> None:
    """Before a module that runs live servers in this process, collect and freeze the heap
    the earlier suites left: a full collection of it pauses every thread for about a
    second (measured up to 0.8 s after the functional suite), long enough, on a loaded
    machine, to make the in-process portal miss a 2 s read timeout."""
    if Path(str(request.fspath)).parent.name in _LIVE_SUITES:
        gc.collect()
        gc.freeze()


def _share_botocore_data() -> None:
    """Every botocore session loads its data (the endpoints file, each service's model)
    through a loader of its own, and PynamoDB opens a session per model class and thread:
    each test's fresh clients would parse the same large JSON files again (about 85 ms
    for the endpoints alone, each time). One loader per data path serves the process; the
    data is read-only once loaded."""
    import functools

    import botocore.session

    botocore.session.create_loader = functools.lru_cache(maxsize=None)(
        botocore.session.create_loader
    )


_share_botocore_data()
