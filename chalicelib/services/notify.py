"""WebSocket notifications: the messages (pure) and their delivery over API Gateway's
@connections API. A notification failure never fails a scrape: errors are logged.
"""

from __future__ import annotations

import enum
import json
import logging
import time
from datetime import UTC, datetime
from typing import Any, Callable, Iterable

from botocore.exceptions import BotoCoreError, ClientError
from pynamodb.exceptions import PynamoDBException, UpdateError
from pynamodb.expressions.condition import size

from chalicelib.adapters.dynamo.models import Models, user_connections_key
from chalicelib.config import MAX_CONNECTION_ID_LENGTH
from chalicelib.domain.tasks import ACTIVE
from chalicelib.observability import count

__all__ = [
    "MAX_MESSAGE_BYTES",
    "Notifier",
    "Registry",
    "Subscription",
    "encode",
    "task_message",
]

logger = logging.getLogger(__name__)

#: API Gateway WebSocket frames are limited to 128 KB.
MAX_MESSAGE_BYTES = 128 * 1024


def task_message(task_id: str, numero_os: str, kind: str, **data: Any) -> dict[str, Any]:
    """The message for a task event, in the shape the user's original client expects."""
    message: dict[str, Any] = {"task_id": task_id, "numero_os": numero_os}
    if kind == "success":
        message.update(status="success", progress=100, result=data.get("result"))
    elif kind == "error":
        message.update(status="error", message=data.get("message", ""), reason=data.get("reason"))
    elif kind == "retry":
        message.update(
            status="progress",
            step="retry",
            progress=data.get("progress", 0),
            message=data.get("message", ""),
            retry_in=data.get("delay"),
        )
    else:
        message.update(
            status="progress", step=data.get("step"), progress=int(data.get("progress", 0))
        )
        for key in ("position", "estimated_time", "task_status"):
            if key in data:
                message[key] = data[key]
    return message


def encode(message: dict[str, Any]) -> bytes:
    """JSON bytes within API Gateway's limit; a too-large result becomes a pointer to GET /os."""
    raw = json.dumps(message, ensure_ascii=False, separators=(",", ":")).encode()
    if len(raw) <= MAX_MESSAGE_BYTES:
        return raw
    slim = {k: v for k, v in message.items() if k != "result"}
    slim.update(result=None, result_url=f"/os/{message.get('numero_os', '')}", truncated=True)
    return json.dumps(slim, ensure_ascii=False, separators=(",", ":")).encode()


class Subscription(enum.StrEnum):
    """What ``Registry.subscribe`` did."""

    SUBSCRIBED = "subscribed"
    #: The task has ended (or expired): the caller tells the connection itself.
    ENDED = "ended"
    #: The task has ``max_subscribers`` already: the connection should poll the status.
    FULL = "full"


class Registry:
    """Open connections and each task's subscribers, in DynamoDB.

    Both sets are bounded: a user keeps at most ``max_connections_per_user`` connections
    (their set is one item), and a task at most ``max_subscribers`` (kept on the task item,
    whose size DynamoDB limits to 400 KB).
    """

    def __init__(
        self,
        models: Models,
        *,
        connection_ttl_seconds: int,
        max_connections_per_user: int = 20,
        max_subscribers: int = 500,
        clock: Callable[[], float] = time.time,
    ) -> None:
        self.m = models
        self.connection_ttl = connection_ttl_seconds
        self.max_connections = max_connections_per_user
        self.max_subscribers = max_subscribers
        self.clock = clock

    def _expiry(self, seconds: int) -> datetime:
        return datetime.fromtimestamp(self.clock() + seconds, tz=UTC)

    def register(self, connection_id: str, user: str | None = None) -> bool:
        """Record an open connection; False (nothing recorded) if ``user`` has
        ``max_connections_per_user`` open already (closed ones are pruned first)."""
        if len(connection_id) > MAX_CONNECTION_ID_LENGTH:
            raise ValueError("connection id too long")
        if user and not self._add_user_connection(user, connection_id):
            self._prune(user)
            if not self._add_user_connection(user, connection_id):
                return False
        self.m.Connection(
            connection_id,
            user=user,
            connected_at=self.clock(),
            expires_at=self._expiry(self.connection_ttl),
        ).save()
        return True

    def _add_user_connection(self, user: str, connection_id: str) -> bool:
        mine = self.m.UserConnections
        try:
            mine(user_connections_key(user)).update(
                actions=[
                    mine.connections.add({connection_id}),
                    mine.kind.set("user_connections"),
                    mine.expires_at.set(self._expiry(self.connection_ttl)),
                ],
                condition=mine.connections.does_not_exist()
                | (size(mine.connections) < self.max_connections),
            )
        except UpdateError as exc:
            if exc.cause_response_code != "ConditionalCheckFailedException":
                raise
            return False
        return True

    def _prune(self, user: str) -> None:
        """Forget the user's connections that closed without a $disconnect."""
        for connection_id in sorted(self.user_connections(user)):
            if not self.is_open(connection_id):
                self.forget_user_connection(user, connection_id)

    def unregister(self, connection_id: str) -> None:
        user = self.owner(connection_id)
        self.m.Connection(connection_id).delete()
        if user:
            self.forget_user_connection(user, connection_id)

    def forget_user_connection(self, user: str, connection_id: str) -> None:
        mine = self.m.UserConnections
        mine(user_connections_key(user)).update(actions=[mine.connections.delete({connection_id})])

    def user_connections(self, user: str) -> set[str]:
        """The connections ``user`` has open (for events about their batches)."""
        try:
            item = self.m.UserConnections.get(user_connections_key(user))
        except self.m.UserConnections.DoesNotExist:
            return set()
        return set(item.connections or ())

    def owner(self, connection_id: str) -> str | None:
        """The user of an open connection, or None if it is closed or unknown."""
        try:
            item = self.m.Connection.get(connection_id)
        except self.m.Connection.DoesNotExist:
            return None
        if item.expires_at.timestamp() <= self.clock():
            return None
        return item.user or ""

    def is_open(self, connection_id: str) -> bool:
        return self.owner(connection_id) is not None

    def subscribe(self, task_id: str, connection_id: str) -> Subscription:
        """Add a connection to the subscribers of an active task (kept on the task item).

        ENDED if the task has ended (or expired): the caller tells the connection itself;
        FULL if it has ``max_subscribers`` already. The condition makes this exact: a
        connection added while the task is active is on the item when the worker's
        finishing write lands, and the worker reads the subscribers after that write; one
        refused here was never on it.
        """
        Task = self.m.Task
        active = [status.value for status in ACTIVE]
        try:
            Task(task_id).update(
                actions=[Task.subscribers.add({connection_id})],
                condition=Task.pk.exists()
                & Task.status.is_in(*active)
                & (
                    Task.subscribers.does_not_exist()
                    | (size(Task.subscribers) < self.max_subscribers)
                    | Task.subscribers.contains(connection_id)
                ),
            )
        except UpdateError as exc:
            if exc.cause_response_code != "ConditionalCheckFailedException":
                raise
            try:
                task = self.m.Task.get(task_id, consistent_read=True)
            except self.m.Task.DoesNotExist:
                return Subscription.ENDED
            if task.status not in active:
                return Subscription.ENDED
            return Subscription.FULL
        return Subscription.SUBSCRIBED

    def unsubscribe(self, task_id: str, connection_id: str) -> None:
        Task = self.m.Task
        try:
            # Conditional: a task that expired is not recreated as a bare subscriber list.
            Task(task_id).update(
                actions=[Task.subscribers.delete({connection_id})], condition=Task.pk.exists()
            )
        except UpdateError as exc:
            if exc.cause_response_code != "ConditionalCheckFailedException":
                raise

    def subscribers(self, task_id: str) -> set[str]:
        try:
            # Strongly consistent: read after the finishing write, it must see every
            # connection added before it.
            item = self.m.Task.get(task_id, attributes_to_get=["subscribers"], consistent_read=True)
        except self.m.Task.DoesNotExist:
            return set()
        return set(item.subscribers or ())


class Notifier:
    """Pushes messages to connections; forgets connections API Gateway says are gone."""

    def __init__(self, registry: Registry, client: Callable[[], Any] | None) -> None:
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
            except PynamoDBException as exc:
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
        except PynamoDBException as exc:
            logger.warning("reading connections failed", extra={"error": str(exc)})
            return 0
        sent = 0
        for connection_id in sorted(connections):
            if self.send(connection_id, message):
                sent += 1
            elif not self._still_open(connection_id):
                try:
                    self.registry.forget_user_connection(user, connection_id)
                except PynamoDBException as exc:
                    logger.warning("removing a stale connection failed", extra={"error": str(exc)})
        return sent

    def task_event(
        self,
        task: Any,
        kind: str,
        connections: Iterable[str] | None = None,
        *,
        recheck: bool = False,
        **data: Any,
    ) -> None:
        """The worker's hook: one task event to its subscribers. Never raises.

        ``connections``: the subscribers a write of the worker has just returned (else
        they are read now); with ``recheck`` they get the message at once and the
        subscribers are read afterwards for any that joined since.
        """
        message = task_message(task.pk, task.numero_os, kind, **data)
        try:
            self.publish(task.pk, message, connections)
            if recheck and connections is not None and self._client is not None:
                known = set(connections)
                newcomers = self.registry.subscribers(task.pk) - known
                if newcomers:
                    self.publish(task.pk, message, newcomers)
        except Exception:
            logger.exception("notification failed", extra={"task_id": task.pk})

    def _still_open(self, connection_id: str) -> bool:
        try:
            return self.registry.is_open(connection_id)
        except PynamoDBException:
            return True

    def _forget(self, connection_id: str) -> None:
        try:
            self.registry.unregister(connection_id)
        except PynamoDBException as exc:
            logger.warning("removing a stale connection failed", extra={"error": str(exc)})

    def _drop(self, task_id: str, connection_id: str) -> None:
        try:
            self.registry.unsubscribe(task_id, connection_id)
        except PynamoDBException as exc:
            logger.warning("removing a stale subscriber failed", extra={"error": str(exc)})
