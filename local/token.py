"""Print an ID token for a demo user of the running local stack: ``python -m local.token ana``.

Use it with curl: ``curl -H "Authorization: Bearer $(make -s token AS=ana)" ...``.
"""

from __future__ import annotations

import json
import sys

import boto3

from local.stack import STATE_DIR
from local.users import Pool, sign_in


def main() -> None:
    info_path = STATE_DIR / "local.json"
    if not info_path.exists():
        sys.exit("the local stack is not running: start it with `make run`")
    info = json.loads(info_path.read_text())
    wanted = sys.argv[1] if len(sys.argv) > 1 else info["users"][0]["username"]
    user = next((u for u in info["users"] if u["username"] == wanted), None)
    if user is None:
        names = ", ".join(u["username"] for u in info["users"])
        sys.exit(f"no demo user {wanted!r}; the users are: {names}")
    cognito = boto3.client(
        "cognito-idp",
        endpoint_url=info["aws_endpoint_url"],
        region_name=info["region"],
        aws_access_key_id="local",
        aws_secret_access_key="local",
    )
    pool = Pool(info["user_pool_id"], info["user_pool_client_id"], info["region"])
    print(sign_in(cognito, pool, user["username"], user["password"]))


if __name__ == "__main__":
    main()
