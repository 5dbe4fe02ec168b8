"""``python -m er_toolkit.master <action>``: the ``store`` verb of :mod:`er_toolkit.cli`."""

import sys

from er_toolkit.cli.store import main

if __name__ == "__main__":
    sys.exit(main())
