"""``python -m er_toolkit.score``: batch-score records (the ``score`` verb of :mod:`er_toolkit.cli`)."""

import sys

from er_toolkit.cli.score import main

if __name__ == "__main__":
    sys.exit(main())
