"""``celery_settings`` of the seed (``app.config_from_object('celery_settings')``): the
seed does not show it, so only what its code needs: a Redis broker and result backend
(its status endpoint reads ``AsyncResult``). Everything else is Celery's default."""

from __future__ import annotations

import os

_redis = os.environ.get("PEER_REDIS_URL", "redis://127.0.0.1:6379")
broker_url = f"{_redis}/0"
result_backend = f"{_redis}/1"
broker_connection_retry_on_startup = True
worker_hijack_root_logger = False
