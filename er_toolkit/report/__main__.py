"""``python -m er_toolkit.report``: the HTML run report (the ``report`` verb of :mod:`er_toolkit.cli`)."""

import sys

from er_toolkit.cli.report import main

if __name__ == "__main__":
    sys.exit(main())
