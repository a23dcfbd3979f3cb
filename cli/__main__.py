"""``./raspa`` (``python -m cli``): ``raspa profile check PROFILE [--numero N | --html FILE…]``.

Exit status: 0 when no problem was found, 1 when the portal or the pages showed one,
2 when the profile file itself is invalid or the command is misused.
"""

from __future__ import annotations

import argparse
import os
import sys
from pathlib import Path

USAGE = """examples:
  ./raspa profile check meu-portal.toml                        validate the file only
  ./raspa profile check meu-portal.toml --numero 123456        log in and fetch an OS
      (credentials from RASPA_PORTAL_USERNAME and RASPA_PORTAL_PASSWORD)
  ./raspa profile check meu-portal.toml --html detalhe.html --html pagina2.html
      (saved pages: the detail page first, then history pages in order)
"""


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="raspa", description="raspa's command line")
    commands = parser.add_subparsers(dest="command", required=True)
    profile = commands.add_parser("profile", help="work with portal profiles")
    actions = profile.add_subparsers(dest="action", required=True)
    check = actions.add_parser(
        "check",
        help="validate a profile and show what it finds on a portal or saved pages",
        epilog=USAGE,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    check.add_argument("profile", type=Path, help="the profile file (TOML)")
    check.add_argument("--numero", default="", help="the OS number to fetch (live) or expect")
    check.add_argument(
        "--html", type=Path, action="append", default=[], help="a saved page (repeatable)"
    )
    check.add_argument(
        "--base-url",
        default=os.environ.get("RASPA_PORTAL_BASE_URL", ""),
        help="the portal's address, instead of the profile's (default: RASPA_PORTAL_BASE_URL)",
    )
    check.add_argument("--timeout", type=float, default=30.0, help="seconds per request")
    return parser


def main(argv: list[str] | None = None) -> int:
    args = _parser().parse_args(argv)
    from chalicelib.domain.profile import load_profile
    from chalicelib.errors import InvalidOsNumberError, ProfileError

    try:
        profile = load_profile(args.profile, base_url=args.base_url or None)
    except ProfileError as exc:
        print(f"profile invalid: {exc}", file=sys.stderr)
        return 2
    version = f"format version {profile.version}, name {profile.name!r}"
    print(f"profile  {args.profile}: valid ({version})")
    print(f"portal   {profile.base_url}   encoding {profile.encoding}")
    from cli.profilecheck import check_live, check_saved, report

    if args.html:
        missing = [str(p) for p in args.html if not p.is_file()]
        if missing:
            print(f"no such file: {', '.join(missing)}", file=sys.stderr)
            return 2
        check = check_saved(profile, args.html, args.numero)
    elif args.numero:
        try:
            number = profile.validate_number(args.numero)
        except InvalidOsNumberError as exc:
            print(f"--numero {args.numero!r}: {exc.rule}", file=sys.stderr)
            return 2
        username = os.environ.get("RASPA_PORTAL_USERNAME", "")
        password = os.environ.get("RASPA_PORTAL_PASSWORD", "")
        given = {"RASPA_PORTAL_USERNAME": username, "RASPA_PORTAL_PASSWORD": password}
        unset = [name for name, value in given.items() if not value]
        if unset:
            print(f"set {' and '.join(unset)} to log in to the portal", file=sys.stderr)
            return 2
        print(f"user     {username} (password from RASPA_PORTAL_PASSWORD)")
        check = check_live(profile, number, username, password, timeout=args.timeout)
    else:
        print("no problem found in the file; add --numero N or --html FILE to try it on pages")
        return 0
    report(check)
    return 1 if check.problem else 0


if __name__ == "__main__":
    sys.exit(main())
