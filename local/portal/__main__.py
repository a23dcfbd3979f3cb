"""Run the demo portal in the foreground: ``python -m local.portal --port 8001``."""

from __future__ import annotations

import argparse
import threading

from local.portal.data import FIRST, LAST
from local.portal.server import PortalServer


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description="raspa's demo OS portal (dev only)")
    parser.add_argument("--host", default="127.0.0.1")
    parser.add_argument("--port", type=int, default=8001, help="0 picks a free port")
    parser.add_argument("--username", default="demo")
    parser.add_argument("--password", default="demo-password")
    args = parser.parse_args(argv)
    with PortalServer(args.host, args.port, args.username, args.password) as portal:
        print(
            f"demo portal on {portal.url}  (user {args.username}; OS {FIRST}–{LAST} exist; "
            "Ctrl-C stops)",
            flush=True,
        )
        try:
            threading.Event().wait()
        except KeyboardInterrupt:
            print("\nstopped", flush=True)


if __name__ == "__main__":
    main()
