"""Who may call what: tokens, ownership of tasks, the per-user rate limit and the VIP lane."""

from __future__ import annotations

import base64
import hashlib
import hmac
import json
import time

import jwt
import pytest
from cryptography.hazmat.primitives import serialization

import app as raspa_app
from chalicelib.domain.lanes import Lane
from tests.support.auth import moto_private_key


def post(client, numero: str, user_headers: dict | None = None):
    response = client.http.post(f"/buscar-os-async/{numero}", headers=user_headers)
    return response.status_code, json.loads(response.body), response.headers


def forge(aws, **overrides) -> str:
    """A token signed with the issuer's real key, with claims changed as asked."""
    now = int(time.time())
    claims = {
        "iss": aws.settings_issuer,
        "aud": aws.client_id,
        "token_use": "id",
        "cognito:username": "mallory",
        "exp": now + 600,
        "iat": now,
    }
    claims.update(overrides)
    key = moto_private_key()
    return jwt.encode(claims, key.key, algorithm="RS256", headers={"kid": key.key_id})


@pytest.fixture
def issuer(aws):
    aws.settings_issuer = raspa_app.services().settings.auth_issuer
    aws.client_id = raspa_app.services().settings.auth_client_id
    return aws


@pytest.mark.parametrize(
    "path,method",
    [("/buscar-os-async/123456", "POST"), ("/scraping-status/abc", "GET"), ("/os/123456", "GET")],
)
def test_every_data_route_needs_a_token(client, path, method):
    response = client.http.request(method, path, headers={})
    assert response.status_code == 401


def test_health_and_the_page_need_no_token(client):
    assert client.http.request("GET", "/health", headers={}).status_code == 200
    page = client.http.request("GET", "/", headers={})
    assert page.status_code == 200 and b'<form id="signin"' in page.body


def bearer(token: str) -> dict:
    return {"Authorization": f"Bearer {token}"}


def test_a_valid_forged_shape_signed_by_the_issuer_is_accepted(client, issuer):
    status, _, _ = post(client, "123456", bearer(forge(issuer)))
    assert status == 202


@pytest.mark.parametrize(
    "claims",
    [
        {"exp": 1000},  # expired
        {"iss": "https://evil.example/pool"},  # another issuer
        {"aud": "another-client"},  # another app client
        {"token_use": "refresh"},  # not an id/access token
        {"token_use": "access", "client_id": "other"},  # access token for another client
    ],
)
def test_tokens_with_wrong_claims_are_refused(client, issuer, claims):
    status, _, _ = post(client, "123456", bearer(forge(issuer, **claims)))
    assert status == 403


def test_alg_none_and_hmac_with_the_public_key_are_refused(client, issuer):
    claims = {
        "iss": issuer.settings_issuer,
        "aud": issuer.client_id,
        "token_use": "id",
        "cognito:username": "mallory",
        "exp": int(time.time()) + 600,
    }
    header = base64.urlsafe_b64encode(b'{"alg":"none","typ":"JWT","kid":"dummy"}').rstrip(b"=")
    body = base64.urlsafe_b64encode(json.dumps(claims).encode()).rstrip(b"=")
    unsigned = (header + b"." + body + b".").decode()
    assert post(client, "123456", bearer(unsigned))[0] == 403
    # HS256 "signed" with the issuer's public key as the secret (the RS/HS confusion attack).
    public_der = (
        moto_private_key()
        .key.public_key()
        .public_bytes(serialization.Encoding.DER, serialization.PublicFormat.SubjectPublicKeyInfo)
    )
    signing_input = (
        base64.urlsafe_b64encode(b'{"alg":"HS256","typ":"JWT","kid":"dummy"}').rstrip(b"=")
        + b"."
        + body
    )
    signature = base64.urlsafe_b64encode(
        hmac.new(public_der, signing_input, hashlib.sha256).digest()
    ).rstrip(b"=")
    assert post(client, "123456", bearer((signing_input + b"." + signature).decode()))[0] == 403
    assert post(client, "123456", bearer("garbage.garbage.garbage"))[0] == 403


def test_a_user_never_sees_a_task_they_did_not_ask_for(client, aws):
    _, queued, _ = post(client, "123456")  # ana
    task = queued["task_id"]
    other = client.http.get(f"/scraping-status/{task}", headers=aws.headers("bruno"))
    assert other.status_code == 404
    assert json.loads(other.body)["error"] == "task_not_found"
    status, joined, _ = post(client, "123456", aws.headers("bruno"))
    assert status == 202 and joined["task_id"] == task
    assert (
        client.http.get(f"/scraping-status/{task}", headers=aws.headers("bruno")).status_code == 200
    )


def test_any_signed_in_user_may_read_stored_os_data(client, aws, driver, scripted):
    scripted({"cliente": "Ana"})
    post(client, "123456")
    driver.deliver_once()
    response = client.http.get("/os/123456", headers=aws.headers("bruno"))
    assert response.status_code == 200


def test_the_eleventh_new_scrape_in_an_hour_is_429_with_retry_after(client, aws):
    for n in range(10):
        assert post(client, str(300000 + n))[0] == 202
    status, body, headers = post(client, "300010")
    assert status == 429
    assert body["error"] == "rate_limited" and body["limit"] == 10
    assert 3590 <= body["retry_after"] <= 3600
    assert headers["Retry-After"] == str(body["retry_after"]) and body["next_allowed_at"]
    assert aws.queue_depth() == 10


def test_joins_and_cache_hits_do_not_count_against_the_limit(client, aws, driver, scripted):
    scripted({"cliente": "Ana"})
    for n in range(10):
        assert post(client, str(300000 + n), aws.headers("bruno"))[0] == 202
    assert post(client, "300000")[0] == 202  # ana joins bruno's task: free
    status, _body, _ = post(client, "300000", aws.headers("bruno"))
    assert status == 202  # bruno joins his own task: free
    assert post(client, "300011", aws.headers("bruno"))[0] == 429


def test_vip_users_have_their_own_limit_and_lane(client, aws):
    for n in range(12):
        assert post(client, str(400000 + n), aws.headers("carla"))[0] == 202
    assert aws.queue_depth() == 12
    store = raspa_app.services().store
    waiting = store.queue_index.waiting
    assert waiting(Lane.VIP) == 12 and waiting(Lane.STANDARD) == 0


def test_a_vip_task_waits_only_behind_vip_tasks_and_standard_ones_behind_both(client, aws):
    first_standard = post(client, "500001")[1]
    vip = post(client, "500002", aws.headers("carla"))[1]
    second_standard = post(client, "500003")[1]
    assert first_standard["position"] == 0
    assert vip["position"] == 0
    assert second_standard["position"] == 2  # behind the first standard one and the VIP one


@pytest.mark.parametrize(("leeway", "status"), [(None, 403), ("30", 202)])
def test_a_token_expired_a_few_seconds_ago_is_refused_unless_the_leeway_setting_allows_it(
    client, issuer, leeway, status
):
    # Given the default leeway (5 s) or RASPA_AUTH_LEEWAY_SECONDS=30
    if leeway is not None:
        issuer.reconfigure(auth_leeway_seconds=int(leeway))
    # When a token that expired 12 s ago (or is not valid for 12 s yet) is used
    expired = forge(issuer, exp=int(time.time()) - 12)
    early = forge(issuer, nbf=int(time.time()) + 12)
    # Then the leeway decides
    assert post(client, "123456", bearer(expired))[0] == status
    assert post(client, "123457", bearer(early))[0] == status
