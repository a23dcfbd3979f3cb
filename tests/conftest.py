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
