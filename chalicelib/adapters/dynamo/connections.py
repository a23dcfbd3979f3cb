"""WebSocket connections: who is connected, each user's open connections
(``uconn#<user>``) and each task's subscribers (kept on the task item).

Both sets are bounded: a user keeps at most ``max_connections_per_user`` connections
(their set is one item), and a task at most ``max_subscribers`` (on the task item,
whose size DynamoDB limits to 400 KB).
"""

from __future__ import annotations

import time
from contextlib import contextmanager
from datetime import datetime
from typing import Callable, Iterator

from pynamodb.exceptions import PynamoDBException, UpdateError
from pynamodb.expressions.condition import size

from chalicelib.adapters.dynamo.models import Models, ttl, user_connections_key
from chalicelib.config import MAX_CONNECTION_ID_LENGTH
from chalicelib.domain.records import Subscription
from chalicelib.domain.tasks import ACTIVE
from chalicelib.errors import StorageError

__all__ = ["Registry", "Subscription"]


@contextmanager
def _storage(what: str) -> Iterator[None]:
    """PynamoDB's errors as ``StorageError`` ("``what`` failed: ...")."""
    try:
        yield
    except PynamoDBException as exc:
        raise StorageError(f"{what} failed: {exc.msg}") from exc


def _refused(exc: UpdateError) -> bool:
    return exc.cause_response_code == "ConditionalCheckFailedException"


class Registry:
    """Open connections and each task's subscribers."""

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
        return ttl(self.clock() + seconds)

    # ------------------------------------------------------------ connections
    def register(self, connection_id: str, user: str | None = None) -> bool:
        """Record an open connection; False (nothing recorded) if ``user`` has
        ``max_connections_per_user`` open already (closed ones are pruned first)."""
        if len(connection_id) > MAX_CONNECTION_ID_LENGTH:
            raise ValueError("connection id too long")
        if user and not self._add_user_connection(user, connection_id):
            self._prune(user)
            if not self._add_user_connection(user, connection_id):
                return False
        with _storage("recording a connection"):
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
            if not _refused(exc):
                raise StorageError(f"recording a connection failed: {exc.msg}") from exc
            return False
        return True

    def _prune(self, user: str) -> None:
        """Forget the user's connections that closed without a $disconnect."""
        for connection_id in sorted(self.user_connections(user)):
            if not self.is_open(connection_id):
                self.forget_user_connection(user, connection_id)

    def unregister(self, connection_id: str) -> None:
        user = self.owner(connection_id)
        with _storage("removing a connection"):
            self.m.Connection(connection_id).delete()
        if user:
            self.forget_user_connection(user, connection_id)

    def forget_user_connection(self, user: str, connection_id: str) -> None:
        mine = self.m.UserConnections
        with _storage("removing a connection"):
            mine(user_connections_key(user)).update(
                actions=[mine.connections.delete({connection_id})]
            )

    def user_connections(self, user: str) -> set[str]:
        """The connections ``user`` has open (for events about their batches)."""
        with _storage("reading connections"):
            try:
                item = self.m.UserConnections.get(user_connections_key(user))
            except self.m.UserConnections.DoesNotExist:
                return set()
        return set(item.connections or ())

    def owner(self, connection_id: str) -> str | None:
        """The user of an open connection, or None if it is closed or unknown."""
        with _storage("reading a connection"):
            try:
                item = self.m.Connection.get(connection_id)
            except self.m.Connection.DoesNotExist:
                return None
        if item.expires_at.timestamp() <= self.clock():
            return None
        return item.user or ""

    def is_open(self, connection_id: str) -> bool:
        return self.owner(connection_id) is not None

    # ------------------------------------------------------------ subscribers
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
            if not _refused(exc):
                raise StorageError(f"subscribing failed: {exc.msg}") from exc
            with _storage("subscribing"):
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
            if not _refused(exc):
                raise StorageError(f"unsubscribing failed: {exc.msg}") from exc

    def subscribers(self, task_id: str) -> set[str]:
        """The task's subscribers, read strongly consistent: read after the finishing
        write, it sees every connection added before it."""
        with _storage("reading subscribers"):
            try:
                item = self.m.Task.get(
                    task_id, attributes_to_get=["subscribers"], consistent_read=True
                )
            except self.m.Task.DoesNotExist:
                return set()
        return set(item.subscribers or ())
