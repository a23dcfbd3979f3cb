"""The browser client: one static page, with the runtime settings it needs injected."""

from __future__ import annotations

import json
from pathlib import Path

__all__ = ["render_page"]

PAGE = Path(__file__).resolve().parent / "static" / "index.html"


def render_page(*, ws_url: str, cognito_endpoint: str = "", client_id: str = "") -> str:
    """The page with its configuration embedded as JSON: the WebSocket URL and where to
    sign in (Cognito's endpoint and the app client id; both public values)."""
    config = json.dumps(
        {"wsUrl": ws_url, "cognitoEndpoint": cognito_endpoint, "clientId": client_id}
    ).replace("<", "\\u003c")
    return PAGE.read_text(encoding="utf-8").replace("__RASPA_CONFIG__", config)
