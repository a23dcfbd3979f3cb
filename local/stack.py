"""raspa's whole local stack in one process: ``python -m local.stack`` (``make run``).

The sandbox (``local.sandbox``) on loopback: a moto server as the AWS endpoint, every
resource created from ``infra.spec`` (the definitions the infrastructure code uses), the
demo portal, the Chalice app behind Chalice's local server, the scrape worker driven like
Lambda's SQS event source (at most 3 at once), the batch ingest fed by the bucket's S3
notifications (moto sends them to the ingest queue, as S3 does), and a WebSocket gateway
with the @connections API. Settings come from the ``RASPA_*`` variables, as in Lambda.
URLs go to ``.raspa/local.json``. Ports come from ``RASPA_*_PORT`` variables.

The portal is the demo one unless ``RASPA_PORTAL_BASE_URL`` or ``RASPA_PROFILE_PATH``
names another (``portal_choice``): then no demo portal starts, and the portal's account,
from ``RASPA_PORTAL_USERNAME`` and ``RASPA_PORTAL_PASSWORD``, goes into the deployment's
portal secret only (never printed, logged, nor written to local.json).
"""

from __future__ import annotations

import contextlib
import fcntl
import json
import os
import signal
import sys
import threading
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Mapping

from chalicelib.config import Settings
from chalicelib.errors import ConfigurationError, ProfileError
from local.sandbox import DEMO_CREDENTIALS, REGION, Ports, Sandbox

ROOT = Path(__file__).resolve().parents[1]
STATE_DIR = Path(os.environ.get("RASPA_STATE_DIR") or ROOT / ".raspa")


def ports_from_env() -> Ports:
    """The servers' ports from ``RASPA_*_PORT`` variables (defaults 8000 to 8003 and 4566)."""

    def port(name: str, default: int) -> int:
        raw = os.environ.get(f"RASPA_{name}_PORT", "")
        try:
            return int(raw) if raw else default
        except ValueError:
            sys.exit(f"RASPA_{name}_PORT={raw!r} is not a port number")

    return Ports(
        api=port("API", 8000),
        portal=port("PORTAL", 8001),
        ws=port("WS", 8002),
        ws_management=port("WS_MANAGEMENT", 8003),
        aws=port("AWS", 4566),
    )


USERNAME_VAR = "RASPA_PORTAL_USERNAME"
PASSWORD_VAR = "RASPA_PORTAL_PASSWORD"


@dataclass(frozen=True)
class PortalChoice:
    """The portal the stack scrapes: the demo portal it starts (``demo``), or another one
    at ``base_url``, described by ``profile_path``, signed in to with this account."""

    demo: bool = True
    base_url: str = ""
    profile_path: str = ""
    username: str = ""
    password: str = field(default="", repr=False)
    #: Credential variables set while no portal is named (the demo account is used).
    ignored: tuple[str, ...] = ()

    @property
    def credentials(self) -> dict[str, str]:
        """What the deployment's portal secret holds."""
        if self.demo:
            return dict(DEMO_CREDENTIALS)
        return {"username": self.username, "password": self.password}


def portal_choice(env: Mapping[str, str], settings: Settings | None = None) -> PortalChoice:
    """The portal ``env`` names: the demo portal unless ``RASPA_PORTAL_BASE_URL`` or
    ``RASPA_PROFILE_PATH`` is set (read through ``settings``, by default
    ``Settings.from_env(env)``); another portal needs ``RASPA_PORTAL_USERNAME`` and
    ``RASPA_PORTAL_PASSWORD``, and its profile must load (its ``base_url`` unless the base
    URL is set). ConfigurationError (ProfileError for the profile) says what is wrong,
    never the password."""
    from chalicelib.domain.profile import DEFAULT_PROFILE_PATH, load_profile

    settings = settings or Settings.from_env(env, validate=False)
    username, password = env.get(USERNAME_VAR, ""), env.get(PASSWORD_VAR, "")
    if not (settings.profile_path or settings.portal_base_url):
        return PortalChoice(ignored=tuple(n for n in (USERNAME_VAR, PASSWORD_VAR) if env.get(n)))
    missing = [
        name for name, value in ((USERNAME_VAR, username), (PASSWORD_VAR, password)) if not value
    ]
    if missing:
        named = "RASPA_PORTAL_BASE_URL" if settings.portal_base_url else "RASPA_PROFILE_PATH"
        verb = "is" if len(missing) == 1 else "are"
        raise ConfigurationError(
            f"{' and '.join(missing)} {verb} not set: {named} names a portal other than the "
            f"demo one; set its account in {USERNAME_VAR} and {PASSWORD_VAR}"
        )
    profile = load_profile(
        settings.profile_path or DEFAULT_PROFILE_PATH, base_url=settings.portal_base_url or None
    )
    return PortalChoice(
        demo=False,
        base_url=profile.base_url,
        profile_path=settings.profile_path or _shown(DEFAULT_PROFILE_PATH),
        username=username,
        password=password,
    )


def _shown(path: Path) -> str:
    """``path`` relative to the project when it is inside it (shorter to read)."""
    try:
        return str(path.relative_to(ROOT))
    except ValueError:
        return str(path)


class LocalStack:
    """The sandbox with every server, one deployment with the default resource names and
    the ``RASPA_*`` settings of ``env`` (the process environment by default), scraping the
    portal ``portal_choice(env)`` names, and its event sources running."""

    def __init__(
        self,
        ports: Ports,
        *,
        env: Mapping[str, str] | None = None,
        settings: Settings | None = None,
    ) -> None:
        environ = os.environ if env is None else env
        self.ports = ports
        self.base = settings or Settings.from_env(environ)
        self.choice = portal_choice(environ, self.base)
        self.urls: dict[str, Any] = {}
        self.box = Sandbox(ports=ports, api=True, portal=self.choice.demo)

    def start(self) -> LocalStack:
        box = self.box.start()
        try:
            self.deployment = deployment = box.deploy(
                box.settings(base=self.base), credentials=self.choice.credentials
            )
            settings = deployment.settings
            self.worker = deployment.worker().start()
            self.ingest = deployment.ingest(wait_seconds=1).start()
        except BaseException:
            self.stop()
            raise
        self.settings = settings
        self.portal = box.portal
        self.gateway = box.gateway
        queues = deployment.queue_urls
        self.urls = {
            "api_url": box.api_url,
            "ws_url": box.gateway.url,
            "portal_url": box.portal_url if self.choice.demo else self.choice.base_url,
            "aws_endpoint_url": box.aws_url,
            "region": REGION,
            "queue_url": queues["scrape"],
            "dlq_url": queues["dlq"],
            "ingest_queue_url": queues["ingest"],
            "batch_bucket": settings.batch_bucket,
            "os_table": settings.os_table,
            "tasks_table": settings.tasks_table,
            "connections_table": settings.connections_table,
            "user_pool_id": box.pool.user_pool_id,
            "user_pool_client_id": box.pool.user_pool_client_id,
            "cognito_endpoint": box.aws_url + "/",
            "users": box.users,
        }
        return self

    def stop(self) -> None:
        for source in (getattr(self, "ingest", None), getattr(self, "worker", None)):
            if source is not None:
                try:
                    source.stop()
                except Exception as exc:  # noqa: BLE001 - stop the rest regardless
                    print(f"stopping {type(source).__name__} failed: {exc}", file=sys.stderr)
        self.box.stop()

    def __enter__(self) -> LocalStack:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()


def _single_instance() -> Any:
    """Hold ``.raspa/run.lock`` for as long as the stack runs; exit if another one holds it."""
    STATE_DIR.mkdir(parents=True, exist_ok=True)
    handle = (STATE_DIR / "run.lock").open("w")
    try:
        fcntl.flock(handle, fcntl.LOCK_EX | fcntl.LOCK_NB)
    except OSError:
        info = STATE_DIR / "local.json"
        where = json.loads(info.read_text())["api_url"] if info.exists() else "see .raspa/"
        sys.exit(
            f"raspa's local stack is already running ({where}); stop it with Ctrl-C "
            "in its terminal first."
        )
    return handle


def banner(urls: dict[str, Any], choice: PortalChoice) -> list[str]:
    """What ``make run`` prints once the stack is up (the portal's password never)."""
    lines = ["", "raspa is running:"]
    lines.append(f"  page and API   {urls['api_url']}/")
    lines.append(f"  WebSocket      {urls['ws_url']}")
    if choice.demo:
        demo = DEMO_CREDENTIALS
        lines.append(
            f"  demo portal    {urls['portal_url']}  ({demo['username']} / {demo['password']})"
        )
    else:
        lines.append(
            f"  portal         {urls['portal_url']}  (user {choice.username}, password not shown)"
        )
        lines.append(f"  profile        {choice.profile_path}")
    lines.append(f"  AWS (moto)     {urls['aws_endpoint_url']}")
    for user in urls["users"]:
        kind = "VIP" if user["vip"] else "standard"
        lines.append(f"  user {user['username']:<9} password {user['password']}  ({kind})")
    lines.append("  a token for curl: make token AS=ana")
    lines.append("  written to     .raspa/local.json — Ctrl-C stops everything")
    lines.append("")
    return lines


def _one_line(message: str) -> str:
    return " ".join(message.split())


def main() -> None:
    lock = _single_instance()
    ports = ports_from_env()
    try:
        stack = LocalStack(ports)
    except ProfileError as exc:
        sys.exit(_one_line(f"the portal profile cannot be used: {exc} (see docs/profile.md)"))
    except ConfigurationError as exc:  # a bad setting, a portal without its account
        sys.exit(_one_line(str(exc)))
    if stack.choice.ignored:
        print(
            f"{' and '.join(stack.choice.ignored)} ignored: no portal is named (set "
            "RASPA_PORTAL_BASE_URL or RASPA_PROFILE_PATH); the demo portal is used",
            file=sys.stderr,
        )
    try:
        stack.start()
    except OSError as exc:
        sys.exit(
            f"could not start the local stack: {exc}. A port may be taken; set "
            "RASPA_API_PORT, RASPA_PORTAL_PORT, RASPA_WS_PORT, RASPA_WS_MANAGEMENT_PORT "
            "or RASPA_AWS_PORT."
        )
    (STATE_DIR / "local.json").write_text(json.dumps(stack.urls, indent=2) + "\n")
    print("\n".join(banner(stack.urls, stack.choice)), flush=True)
    stopped = threading.Event()
    signal.signal(signal.SIGTERM, lambda *a: stopped.set())
    with contextlib.suppress(KeyboardInterrupt):
        stopped.wait()
    print("\nstopping…", flush=True)
    stack.stop()
    (STATE_DIR / "local.json").unlink(missing_ok=True)
    lock.close()


if __name__ == "__main__":
    main()
