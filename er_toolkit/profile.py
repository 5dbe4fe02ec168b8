"""``python -m er_toolkit.profile``: profile a file's data quality (the ``profile`` verb of :mod:`er_toolkit.cli`)."""

import sys

from er_toolkit.cli.profile import *  # noqa: F403 - this module is the verb's old home
from er_toolkit.cli.profile import main

if __name__ == "__main__":
    sys.exit(main())
