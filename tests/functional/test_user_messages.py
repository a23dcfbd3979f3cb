"""What users are told of a failure: a clear message and a reason code, never a portal URL
or the portal's service account (those go to the logs and to ops only)."""

from __future__ import annotations

import json

import pytest

import app as raspa_app
from chalicelib.errors import (
    LayoutChangedError,
    LoginFailedError,
    PermanentScrapeError,
    TransientScrapeError,
)
from tests.support.batchkit import ws_connect

SECRET_BITS = ("http", "portal.example", "svc-raspa")


@pytest.mark.parametrize(
    ("error", "reason"),
    [
        (
            LoginFailedError(
                "the portal refused the login of user 'svc-raspa' at https://portal.example/login"
            ),
            "login_failed",
        ),
        (LayoutChangedError("https://portal.example/os/650001?s=1", "cliente"), "layout_changed"),
        (
            PermanentScrapeError("portal answered 403 at https://portal.example/os/650001"),
            "permanent",
        ),
        (
            TransientScrapeError("portal answered 500 at https://portal.example/os/650001"),
            "transient",
        ),
    ],
)
def test_a_failed_scrape_tells_the_user_a_reason_and_a_message_without_portal_urls_or_account(
    client, aws, api_gw, driver, scripted, error, reason
):
    # Given a follower on the WebSocket and a scrape failing with the portal's own words
    ws_connect("follower", client._http_client._headers["Authorization"].split()[1])
    scripted(error)
    aws.reconfigure(retry_base_delay_seconds=0)
    response = client.http.post(
        "/buscar-os-async/650001",
        headers={**client._http_client._headers, "X-Connection-Id": "follower"},
    )
    task_id = json.loads(response.body)["task_id"]
    # When it has run to its end
    driver.drain(20)
    # Then the status and every WebSocket message carry the reason and a plain message
    body = json.loads(client.http.get(f"/scraping-status/{task_id}").body)
    assert body["status"] == "FAILURE" and body["error"]["reason"] == reason
    told = json.dumps([body, api_gw.sent["follower"]], ensure_ascii=False)
    assert body["result"] and not any(bit in told for bit in SECRET_BITS), told
    # And operators keep the whole story on the task
    detail = raspa_app.services().store.tasks.get_task(task_id).error_detail
    assert "portal.example" in detail
