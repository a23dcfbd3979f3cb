"""The portal breaker end to end (moto, the Chalice test client, the worker driven message
by message): a portal down for everyone costs no attempts, users are told when it is
tried again, one probe checks it, and the backlog drains by itself when it answers."""

from __future__ import annotations

import json
import re
import time

import pytest

import app as raspa_app
from chalicelib.domain.breaker import BreakerState
from chalicelib.errors import TransientScrapeError

RECORD = {"situacao": "Aberta", "cliente": "Ana"}
NUMBERS = [f"{880000 + i}" for i in range(6)]


def enqueue(client, numero: str) -> str:
    response = client.http.post(f"/buscar-os-async/{numero}")
    assert response.status_code == 202
    return json.loads(response.body)["task_id"]


def status(client, task_id: str) -> dict:
    return json.loads(client.http.get(f"/scraping-status/{task_id}").body)


@pytest.fixture
def outage(aws, client, driver, scripted, request):
    """Six lookups while the portal refuses every connection, with a breaker that opens at
    the first failure and probes after ``probe`` seconds (a test's ``probe`` mark; 30 s
    unless it says otherwise)."""
    mark = request.node.get_closest_marker("probe")
    probe = mark.args[0] if mark else 30.0
    aws.reconfigure(
        breaker_failures=1, breaker_probe_seconds=probe, breaker_probe_max_seconds=2 * probe
    )
    scraper = scripted(TransientScrapeError("connection refused"))
    ids = [enqueue(client, numero) for numero in NUMBERS]
    outcomes = driver.drain(20)
    return ids, outcomes, scraper


def test_given_the_portal_down_for_everyone_when_the_breaker_opens_then_no_attempt_is_spent(
    outage, client, aws
):
    ids, outcomes, scraper = outage
    # Then one scrape reached the portal; the other wake-ups were parked, none failed
    assert scraper.calls == [NUMBERS[0]]
    assert outcomes == ["ok"] * 6
    breaker = raspa_app.services().store.breaker.read(fresh=True)
    assert breaker.state is BreakerState.OPEN and breaker.parked == 6
    # And every task waits for the portal with its attempts intact, users told when it is
    # tried again (local time, HH:MM), nothing in the DLQ
    for task_id in ids:
        body = status(client, task_id)
        assert body["status"] == "WAITING_PORTAL" and body["attempts"] == 0, body
        assert body["error"]["reason"] == "portal_down"
        assert re.fullmatch(r"portal fora do ar; nova tentativa às \d\d:\d\d", body["result"])
        assert body["retry_at"].endswith("Z") and body["position"] >= 0
    assert aws.queue_depth(aws.dlq_url) == 0


@pytest.mark.probe(1.0)
def test_given_an_open_breaker_when_the_portal_answers_the_probe_then_the_backlog_drains(
    outage, client, aws, driver, scripted
):
    ids, _, _ = outage
    # Given the portal back
    scraper = scripted(RECORD)
    # When the probe's wake-up arrives (sent when the breaker opened, 1 s delay)
    time.sleep(1.3)
    outcomes = driver.drain(20)
    # Then the probe scraped one task, closed the breaker, and the six parked wake-ups
    # scraped the rest: every task answered once, none in the DLQ
    assert sorted(scraper.calls) == sorted(NUMBERS)
    assert "error" not in outcomes
    for task_id in ids:
        body = status(client, task_id)
        assert body["status"] == "SUCCESS" and body["attempts"] == 1, body
    breaker = raspa_app.services().store.breaker.read(fresh=True)
    assert breaker.state is BreakerState.CLOSED and breaker.parked == 0
    assert aws.queue_depth(aws.dlq_url) == 0


@pytest.mark.probe(1.0)
def test_given_an_open_breaker_when_the_probe_fails_then_the_next_waits_longer_and_no_attempt_is_spent(  # noqa: E501
    outage, client, driver
):
    ids, _, scraper = outage
    store = raspa_app.services().store
    first = store.breaker.read(fresh=True)
    # When the probe's wake-up arrives and the portal still refuses
    time.sleep(1.3)
    driver.drain(20)
    # Then each probe was one scrape, the probes back off, and no task spent an attempt
    later = store.breaker.read(fresh=True)
    assert later.is_open and later.probes >= first.probes + 1
    assert len(scraper.calls) == 1 + later.probes
    assert later.next_probe_at > first.next_probe_at
    assert {status(client, t)["attempts"] for t in ids} == {0}


def test_given_a_subscriber_when_the_portal_goes_down_then_the_websocket_says_when_it_is_tried_again(  # noqa: E501
    aws, client, driver, scripted, api_gw
):
    from tests.functional.test_websocket import TOKENS, connect, send

    TOKENS.update(aws.tokens)
    aws.reconfigure(breaker_failures=1, breaker_probe_seconds=30, breaker_probe_max_seconds=60)
    scripted(TransientScrapeError("connection refused"))
    # Given a browser following a task
    connect("c1")
    task_id = enqueue(client, NUMBERS[0])
    send("c1", {"action": "subscribe", "task_id": task_id})
    # When its scrape finds the portal down and the breaker opens
    assert driver.drain(5) == ["ok"]
    # Then the browser is told the task waits for the portal, and until when
    told = [m for m in api_gw.sent["c1"] if m.get("step") == "waiting_portal"]
    assert told and told[-1]["task_id"] == task_id and told[-1]["reason"] == "portal_down"
    assert told[-1]["message"].startswith("portal fora do ar; nova tentativa às ")
    assert told[-1]["retry_at"] > time.time() + 20
    # And a browser that subscribes now gets the same in its snapshot
    connect("c2")
    send("c2", {"action": "subscribe", "task_id": task_id})
    snapshot = api_gw.sent["c2"][-1]
    assert snapshot["task_status"] == "WAITING_PORTAL" and snapshot["step"] == "waiting_portal"


def test_given_an_open_breaker_then_ops_status_shows_it(outage, aws, operator_shell):
    import io

    import ops

    out, err = io.StringIO(), io.StringIO()
    assert ops.main(["status", "--json"], out=out, err=err) == 0, err.getvalue()
    breaker = json.loads(out.getvalue())["breaker"]
    assert breaker["state"] == "open" and breaker["parked"] == 6
    assert breaker["next_probe_at"] > breaker["opened_at"]
    out = io.StringIO()
    assert ops.main(["status"], out=out, err=err) == 0
    assert "portal breaker: OPEN since" in out.getvalue()


def test_given_an_open_breaker_when_a_scrape_that_was_running_fails_then_the_next_probe_stays(
    outage,
):
    # Given the breaker just opened (its probe's wake-up is on its way)
    store = raspa_app.services().store
    opened = store.breaker.read(fresh=True)
    # When a scrape that was already running fails too (not the probe)
    state, opened_now = store.breaker.record_failure()
    # Then nothing moves: the wake-up sent for the probe still finds it due
    assert not opened_now and state.next_probe_at == opened.next_probe_at
    assert state.probes == opened.probes and state.version == opened.version
    # While a failed probe pushes the next one back
    probed, _ = store.breaker.record_failure(probe=True)
    assert probed.probes == opened.probes + 1 and probed.next_probe_at > opened.next_probe_at
