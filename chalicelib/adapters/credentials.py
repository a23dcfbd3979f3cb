"""Portal credentials from AWS Secrets Manager (cached by Powertools Parameters)."""

from __future__ import annotations

from typing import Any

from chalicelib.config import Settings
from chalicelib.errors import ConfigurationError

__all__ = ["portal_credentials"]

#: Seconds a fetched secret is reused before Secrets Manager is asked again.
SECRET_MAX_AGE = 300


def portal_credentials(settings: Settings, provider: Any) -> Any:
    """The portal's username and password from the secret ``settings.portal_secret_name``.

    The secret is a JSON object ``{"username": "...", "password": "..."}``; ``provider`` is
    a Powertools ``SecretsProvider`` (its cache lives as long as the container's wiring).
    """
    from aws_lambda_powertools.utilities import parameters
    from botocore.exceptions import BotoCoreError, ClientError

    from chalicelib.adapters.scraper import Credentials

    name = settings.portal_secret_name
    if not name:
        raise ConfigurationError("RASPA_PORTAL_SECRET_NAME is not set")
    try:
        secret = provider.get(name, transform="json", max_age=SECRET_MAX_AGE)
    except (
        parameters.exceptions.GetParameterError,
        parameters.exceptions.TransformParameterError,
        ClientError,
        BotoCoreError,
    ) as exc:
        raise ConfigurationError(
            f"portal secret {name!r} could not be read: {type(exc).__name__}"
        ) from None
    if not isinstance(secret, dict) or not secret.get("username") or not secret.get("password"):
        raise ConfigurationError(f"portal secret {name!r} must hold username and password")
    return Credentials(username=str(secret["username"]), password=str(secret["password"]))
