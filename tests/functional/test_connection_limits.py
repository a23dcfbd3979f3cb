"""WebSocket connections per user are bounded, with the reason given to the client; closed
connections do not count against the bound."""

from __future__ import annotations

import json
from datetime import UTC, datetime

import app as raspa_app
from local.event_source import LambdaContext
from tests.support.batchkit import ws_connect, ws_disconnect, ws_event


def token_of(client) -> str:
    return client._http_client._headers["Authorization"].split()[1]


def test_given_one_user_opening_200_connections_then_only_the_limit_is_accepted_and_the_rest_hear_why(  # noqa: E501
    client, api_gw
):
    # Given the default limit, when ana opens 200 connections in a row
    limit = raspa_app.services().settings.max_connections_per_user
    token = token_of(client)
    answers = [connect(f"ana-{i}", token) for i in range(200)]
    accepted = [a for a in answers if a["statusCode"] == 200]
    refused = [a for a in answers if a["statusCode"] != 200]
    # Then exactly the limit is accepted; each refusal is a 429 naming the problem
    assert len(accepted) == limit and len(refused) == 200 - limit
    assert {r["statusCode"] for r in refused} == {429}
    body = json.loads(refused[0]["body"])
    assert body["error"] == "too_many_connections" and body["limit"] == limit
    # And the user's connection set stays at the limit
    assert len(raspa_app.services().notifier.registry.user_connections("ana")) == limit


def connect(connection_id: str, token: str) -> dict:
    """The $connect handler's answer, whatever it is."""
    event = ws_event("ws_connect", connection_id, token)
    return raspa_app.ws_connect(event, LambdaContext("ws", 30))


def test_a_closed_connection_frees_its_place_and_one_that_vanished_is_pruned(client, aws, api_gw):
    # Given a limit of 3, reached
    aws.reconfigure(max_connections_per_user=3)
    token = token_of(client)
    for name in ("c1", "c2", "c3"):
        ws_connect(name, token)
    ws_connect("c4", token, expect=429)
    # When one disconnects, another may connect
    ws_disconnect("c1")
    ws_connect("c4", token)
    # And when one vanished without a $disconnect (its record expired), it is pruned
    models = raspa_app.services().models
    models.Connection.get("c2").update(
        actions=[models.Connection.expires_at.set(datetime.fromtimestamp(0, tz=UTC))]
    )
    ws_connect("c5", token)
    assert raspa_app.services().notifier.registry.user_connections("ana") == {"c3", "c4", "c5"}
