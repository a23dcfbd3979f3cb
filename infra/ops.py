"""``python -m infra.ops``: the former name of ``python -m ops`` (the package ``ops``)."""

import sys

from ops import *  # noqa: F403 - the same names as before
from ops import main

if __name__ == "__main__":
    sys.exit(main())
