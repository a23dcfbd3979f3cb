"""Run the demo portal in the foreground: ``python -m local.portal --port 8001``."""

from __future__ import annotations

import argparse

from local.portal.data import FIRST, LAST
from local.portal.server import PortalServer


def main() -> None:
    parser = argparse.ArgumentParser(description="raspa's demo OS portal (dev only)")
    parser.add_argument("--host", default="127.0.0.1")
    parser.add_argument("--port", type=int, default=8001)
    args = parser.parse_args()
    portal = PortalServer(args.host, args.port)
    print(
        f"demo portal on http://{args.host}:{args.port}  (user demo / demo-password; "
        f"OS {FIRST}–{LAST} exist)",
        flush=True,
    )
    try:
        portal.serve_forever()
    except KeyboardInterrupt:
        print("\nstopped")


if __name__ == "__main__":
    main()
