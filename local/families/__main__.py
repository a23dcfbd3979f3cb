"""Run one family portal in the foreground: ``python -m local.families aspnet --port 8101``."""

from __future__ import annotations

import argparse
import threading

from local.families.data import FAMILIES
from local.families.portal import HANDLERS, FamilyPortal
from local.portal.data import FIRST, LAST


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description="raspa's demo legacy portal families (dev only)")
    parser.add_argument("family", choices=FAMILIES)
    parser.add_argument("--host", default="127.0.0.1")
    parser.add_argument("--port", type=int, default=8101, help="0 picks a free port")
    parser.add_argument("--username", default="demo")
    parser.add_argument("--password", default="demo-password")
    parser.add_argument("--pager", choices=HANDLERS["aspnet"].OPTIONS["pager"], help="aspnet only")
    args = parser.parse_args(argv)
    options = {"pager": args.pager} if args.pager else {}
    if options and args.family != "aspnet":
        parser.error("--pager is an aspnet option")
    portal = FamilyPortal(
        args.family, args.host, args.port, args.username, args.password, **options
    )
    with portal:
        print(
            f"{args.family} demo portal on {portal.url}  (login page {portal.login_path}; user "
            f"{args.username}; OS {FIRST}–{LAST} exist; Ctrl-C stops)",
            flush=True,
        )
        try:
            threading.Event().wait()
        except KeyboardInterrupt:
            print("\nstopped", flush=True)


if __name__ == "__main__":
    main()
