"""The seed's ``routes/desenvolvimento.py``: ``buscar_os_async`` and ``get_scraping_status``.

FastAPI's routing and ``get_current_user`` are left out (the benchmark calls the
functions); the logic is the seed's, line by line. ``PENDING_MEANS_QUEUED`` is the seed
as written; ``pending_means_unknown=True`` is the change one makes once one sees that
Celery reports PENDING for ids it has never heard of (measured beside it).
"""

from __future__ import annotations

import json
from typing import Any

from bench.peers.celery_redis.celery_config import app as celery_app
from bench.peers.celery_redis.celery_config import db, scrape_os_task


def get_queue_position(task_id: str) -> int:
    """Not shown by the seed: the length of Celery's default Redis queue."""
    return int(celery_app.connection().default_channel.client.llen("celery"))


def get_estimated_time() -> int:
    """Not shown by the seed: a constant (the seed has no measurement to base it on)."""
    return 20


def get_user_priority(user: str) -> int:
    return 0


def buscar_os_async(
    numero_os: str, current_user: str, *, pending_means_unknown: bool = False
) -> dict[str, Any]:
    """Inicia scraping assíncrono"""

    # 1. Verificar se OS já existe
    with db() as connection:
        os_existente = connection.execute(
            "SELECT data FROM ordem_servico WHERE os_numero = ?", (numero_os,)
        ).fetchone()

    if os_existente:
        return {"status": "found", "data": json.loads(os_existente[0])}

    # 2. Verificar se já está na fila
    task_id = f"scraping_{numero_os}"
    existing_task = celery_app.AsyncResult(task_id)

    if existing_task.state == "PENDING" and not pending_means_unknown:
        return {
            "status": "queued",
            "message": "OS já está sendo processada",
            "task_id": task_id,
            "position": get_queue_position(task_id),
        }
    if pending_means_unknown and existing_task.state in ("STARTED", "RETRY"):
        return {"status": "queued", "message": "OS já está sendo processada", "task_id": task_id}

    # 3. Adicionar à fila
    task = scrape_os_task.apply_async(
        args=[numero_os, current_user],
        task_id=task_id,
        priority=get_user_priority(current_user),
    )

    return {
        "status": "queued",
        "message": "OS adicionada à fila de processamento",
        "task_id": task.id,
        "estimated_time": get_estimated_time(),
    }


def get_scraping_status(task_id: str) -> dict[str, Any]:
    """Verifica status do scraping"""
    task = celery_app.AsyncResult(task_id)

    return {
        "status": task.state,
        "result": task.result,
        # As written: raises AttributeError while a task waits for a retry (info is the
        # exception then); kept, not exercised by the benchmark.
        "progress": task.info.get("progress", 0) if task.info else 0,
    }
