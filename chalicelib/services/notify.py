"""WebSocket notifications: the messages (pure) and their delivery over API Gateway's
@connections API. A notification failure never fails a scrape: errors are logged.

Who is connected and who follows which task is ``chalicelib.adapters.dynamo.connections``.
"""

from __future__ import annotations

import json
import logging
from typing import Any, Callable, Iterable

from botocore.exceptions import BotoCoreError, ClientError

from chalicelib.domain.outcome import TaskOutcome
from chalicelib.domain.records import Subscription
from chalicelib.errors import StorageError
from chalicelib.observability import count
from chalicelib.services.ports import ManagementApi
from chalicelib.services.stores import ConnectionRegistry
from chalicelib.services.wsviews import event

__all__ = ["MAX_MESSAGE_BYTES", "Notifier", "Subscription", "encode"]

logger = logging.getLogger(__name__)

#: API Gateway WebSocket frames are limited to 128 KB.
MAX_MESSAGE_BYTES = 128 * 1024


def encode(message: dict[str, Any]) -> bytes:
    """JSON bytes within API Gateway's limit; a too-large result becomes a pointer to GET /os."""
    raw = json.dumps(message, ensure_ascii=False, separators=(",", ":")).encode()
    if len(raw) <= MAX_MESSAGE_BYTES:
        return raw
    slim = {k: v for k, v in message.items() if k != "result"}
    slim.update(result=None, result_url=f"/os/{message.get('numero_os', '')}", truncated=True)
    return json.dumps(slim, ensure_ascii=False, separators=(",", ":")).encode()


class Notifier:
    """Pushes messages to connections; forgets connections API Gateway says are gone."""

    def __init__(
        self, registry: ConnectionRegistry, client: Callable[[], ManagementApi] | None
    ) -> None:
        self.registry = registry
        self._client = client  # None: notifications are off (no WebSocket endpoint configured)

    def send(self, connection_id: str, message: dict[str, Any]) -> bool:
        """Send one message; False if the connection is gone or the send failed."""
        if self._client is None:
            return False
        try:
            self._client().post_to_connection(ConnectionId=connection_id, Data=encode(message))
        except ClientError as exc:
            if exc.response.get("Error", {}).get("Code") == "GoneException":
                self._forget(connection_id)
            else:
                count("NotificationsFailed")
                logger.warning(
                    "notification failed", extra={"connection_id": connection_id, "error": str(exc)}
                )
            return False
        except BotoCoreError as exc:
            count("NotificationsFailed")
            logger.warning(
                "notification failed", extra={"connection_id": connection_id, "error": str(exc)}
            )
            return False
        count("NotificationsSent")
        return True

    def publish(
        self, task_id: str, message: dict[str, Any], connections: Iterable[str] | None = None
    ) -> int:
        """Send ``message`` to every subscriber of ``task_id`` (read from the task unless
        the caller knows them: ``connections``); returns how many got it."""
        if self._client is None:
            return 0
        if connections is None:
            try:
                connections = self.registry.subscribers(task_id)
            except StorageError as exc:
                logger.warning(
                    "reading subscribers failed", extra={"task_id": task_id, "error": str(exc)}
                )
                return 0
        sent = 0
        for connection_id in sorted(connections):
            if self.send(connection_id, message):
                sent += 1
            elif not self._still_open(connection_id):
                self._drop(task_id, connection_id)
        return sent

    def publish_to_user(self, user: str, message: dict[str, Any]) -> int:
        """Send ``message`` to every open connection of ``user``; returns how many got it."""
        if self._client is None:
            return 0
        try:
            connections = self.registry.user_connections(user)
        except StorageError as exc:
            logger.warning("reading connections failed", extra={"error": str(exc)})
            return 0
        sent = 0
        for connection_id in sorted(connections):
            if self.send(connection_id, message):
                sent += 1
            elif not self._still_open(connection_id):
                try:
                    self.registry.forget_user_connection(user, connection_id)
                except StorageError as exc:
                    logger.warning("removing a stale connection failed", extra={"error": str(exc)})
        return sent

    def task_event(
        self,
        outcome: TaskOutcome,
        connections: Iterable[str] | None = None,
        *,
        recheck: bool = False,
    ) -> None:
        """The worker's hook: one task event (``wsviews.event``) to its subscribers. Never
        raises.

        ``connections``: the subscribers a write of the worker has just returned (else
        they are read now); with ``recheck`` they get the message at once and the
        subscribers are read afterwards for any that joined since.
        """
        task_id = outcome.task_id
        message = event(outcome)
        try:
            self.publish(task_id, message, connections)
            if recheck and connections is not None and self._client is not None:
                known = set(connections)
                newcomers = self.registry.subscribers(task_id) - known
                if newcomers:
                    self.publish(task_id, message, newcomers)
        except Exception:
            logger.exception("notification failed", extra={"task_id": task_id})

    def _still_open(self, connection_id: str) -> bool:
        try:
            return self.registry.is_open(connection_id)
        except StorageError:
            return True

    def _forget(self, connection_id: str) -> None:
        try:
            self.registry.unregister(connection_id)
        except StorageError as exc:
            logger.warning("removing a stale connection failed", extra={"error": str(exc)})

    def _drop(self, task_id: str, connection_id: str) -> None:
        try:
            self.registry.unsubscribe(task_id, connection_id)
        except StorageError as exc:
            logger.warning("removing a stale subscriber failed", extra={"error": str(exc)})
