"""The WebSocket API's use cases: connect, subscribe to a task, disconnect."""

from __future__ import annotations

import json
from typing import Any

from chalicelib.config import MAX_CONNECTION_ID_LENGTH
from chalicelib.domain.outcome import TaskOutcome
from chalicelib.domain.records import Subscription
from chalicelib.domain.tasks import is_task_id
from chalicelib.errors import TaskNotFoundError
from chalicelib.services.ports import MessageSender, TaskStatuses
from chalicelib.services.stores import SubscriptionRegistry
from chalicelib.services.wsviews import snapshot

__all__ = ["WebSocketService"]

MAX_BODY_BYTES = 4096


class WebSocketService:
    """Registers connections and answers ``{"action": "subscribe", "task_id": ...}``."""

    def __init__(
        self, registry: SubscriptionRegistry, notifier: MessageSender, lookup: TaskStatuses
    ) -> None:
        self.registry = registry
        self.notifier = notifier
        self.lookup = lookup

    def connect(self, connection_id: str, user: str | None = None) -> bool:
        """Register a connection; False if its user has too many open already."""
        return self.registry.register(connection_id, user)

    def disconnect(self, connection_id: str) -> None:
        self.registry.unregister(connection_id)

    def message(self, connection_id: str, body: str) -> None:
        """Handle one client message; a bad one gets an error message back, never a crash."""
        request, problem = parse_request(body)
        if problem:
            self.notifier.send(
                connection_id, {"status": "error", "error": "invalid_message", "message": problem}
            )
            return
        if request["action"] == "ping":
            self.notifier.send(connection_id, {"status": "pong"})
            return
        if request["action"] == "hello":
            # API Gateway never tells a client its id; it needs it for X-Connection-Id.
            self.notifier.send(connection_id, {"status": "hello", "connection_id": connection_id})
            return
        self.subscribe(connection_id, request["task_id"], self.registry.owner(connection_id))

    def follow(self, task_id: str, connection_id: str, user: str) -> None:
        """Subscribe the caller's own connection named in ``X-Connection-Id``, if open."""
        if len(connection_id) > MAX_CONNECTION_ID_LENGTH:
            return
        if self.registry.owner(connection_id) != user:
            return
        outcome = self.registry.subscribe(task_id, connection_id)
        if outcome is Subscription.ENDED:
            self._send_state(connection_id, task_id, user)  # it ended already
        elif outcome is Subscription.FULL:
            self._too_many(connection_id, task_id)

    def subscribe(self, connection_id: str, task_id: str, user: str | None) -> None:
        """Send the task's current state, then subscribe while it is active.

        Only a user who asked for the task may follow it; others hear "task_not_found".
        The state goes out first so it never arrives after the worker's final event; a
        task that ends before the subscription lands is announced here instead (exactly
        once: ``Registry.subscribe`` refuses a connection once the task has ended).
        """
        outcome = self._send_state(connection_id, task_id, user)
        if outcome is None or outcome.terminal:
            return
        outcome = self.registry.subscribe(task_id, connection_id)
        if outcome is Subscription.ENDED:
            self._send_state(connection_id, task_id, user)
        elif outcome is Subscription.FULL:
            self._too_many(connection_id, task_id)

    def _too_many(self, connection_id: str, task_id: str) -> None:
        self.notifier.send(
            connection_id,
            {
                "status": "error",
                "error": "too_many_subscribers",
                "task_id": task_id,
                "message": f"this task has {self.registry.max_subscribers} followers already; "
                f"follow it with GET /scraping-status/{task_id}",
            },
        )

    def _send_state(self, connection_id: str, task_id: str, user: str | None) -> TaskOutcome | None:
        """Send the task's state (or "task_not_found") to the connection; returns it."""
        try:
            outcome = self.lookup.status(task_id, user)
        except TaskNotFoundError:
            self.notifier.send(
                connection_id,
                {
                    "status": "error",
                    "error": "task_not_found",
                    "task_id": task_id,
                    "message": "no such task",
                },
            )
            return None
        self.notifier.send(connection_id, snapshot(outcome))
        return outcome


def parse_request(body: str) -> tuple[dict[str, Any], str | None]:
    """Validate a client message: returns (request, None) or ({}, problem)."""
    if len(body.encode("utf-8", "surrogatepass")) > MAX_BODY_BYTES:
        return {}, f"message larger than {MAX_BODY_BYTES} bytes"
    try:
        request = json.loads(body)
    except (ValueError, RecursionError):
        return {}, "message must be JSON"
    if not isinstance(request, dict):
        return {}, "message must be a JSON object"
    action = request.get("action")
    if action in ("ping", "hello"):
        return {"action": action}, None
    if action != "subscribe":
        return {}, "action must be 'subscribe', 'hello' or 'ping'"
    task_id = request.get("task_id")
    if not is_task_id(task_id):
        return {}, "task_id must be a task id returned by POST /buscar-os-async"
    return {"action": "subscribe", "task_id": task_id}, None
