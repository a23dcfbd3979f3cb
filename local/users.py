"""Cognito user pool with demo users (moto locally): two standard users and one VIP."""

from __future__ import annotations

import gzip
import json
import secrets
from dataclasses import dataclass
from importlib import resources
from typing import Any

import jwt

__all__ = ["DEMO_USERS", "Pool", "StaticJwks", "create_pool", "moto_jwks", "sign_in"]

#: (username, vip)
DEMO_USERS = (("ana", False), ("bruno", False), ("carla", True))


@dataclass(frozen=True)
class Pool:
    user_pool_id: str
    user_pool_client_id: str
    region: str

    @property
    def issuer(self) -> str:
        return f"https://cognito-idp.{self.region}.amazonaws.com/{self.user_pool_id}"


def create_pool(
    cognito: Any,
    *,
    region: str,
    vip_group: str = "vip",
    users: tuple[tuple[str, bool], ...] = DEMO_USERS,
) -> tuple[Pool, list[dict]]:
    """A pool, an app client for password sign-in, the VIP group, and users with fresh
    random passwords (returned, never stored in code)."""
    pool_id = cognito.create_user_pool(PoolName="raspa-users")["UserPool"]["Id"]
    client_id = cognito.create_user_pool_client(
        UserPoolId=pool_id,
        ClientName="raspa-web",
        GenerateSecret=False,
        ExplicitAuthFlows=["ALLOW_USER_PASSWORD_AUTH", "ALLOW_REFRESH_TOKEN_AUTH"],
    )["UserPoolClient"]["ClientId"]
    cognito.create_group(UserPoolId=pool_id, GroupName=vip_group)
    created = []
    for username, vip in users:
        password = f"Rp-{secrets.token_urlsafe(12)}9a"  # upper, lower, digit, symbol
        cognito.admin_create_user(UserPoolId=pool_id, Username=username, MessageAction="SUPPRESS")
        cognito.admin_set_user_password(
            UserPoolId=pool_id, Username=username, Password=password, Permanent=True
        )
        if vip:
            cognito.admin_add_user_to_group(
                UserPoolId=pool_id, Username=username, GroupName=vip_group
            )
        created.append({"username": username, "password": password, "vip": vip})
    return Pool(pool_id, client_id, region), created


def sign_in(cognito: Any, pool: Pool, username: str, password: str) -> str:
    """An ID token for the user (USER_PASSWORD_AUTH, as the page does)."""
    result = cognito.initiate_auth(
        ClientId=pool.user_pool_client_id,
        AuthFlow="USER_PASSWORD_AUTH",
        AuthParameters={"USERNAME": username, "PASSWORD": password},
    )
    return result["AuthenticationResult"]["IdToken"]


def moto_jwks() -> dict:
    """The JWKS moto's Cognito signs tokens with (what it serves at .well-known/jwks.json)."""
    package = resources.files("moto.cognitoidp") / "resources"
    for name in ("jwks-public.json", "jwks-public.json.gz"):
        path = package / name
        if path.is_file():
            raw = path.read_bytes()
            return json.loads(gzip.decompress(raw) if name.endswith(".gz") else raw)
    raise FileNotFoundError("moto's Cognito JWKS not found")


class StaticJwks:
    """The part of PyJWKClient the verifier uses, over a fixed key set."""

    def __init__(self, jwks: dict) -> None:
        self.keys = jwt.PyJWKSet.from_dict(jwks)

    def get_signing_key_from_jwt(self, token: str) -> jwt.PyJWK:
        kid = jwt.get_unverified_header(token).get("kid")
        for key in self.keys.keys:
            if key.key_id == kid:
                return key
        raise jwt.PyJWKClientError(f"no key {kid!r}")
