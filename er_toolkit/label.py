"""``python -m er_toolkit.label``: label candidate pairs by active learning (the ``label`` verb of :mod:`er_toolkit.cli`)."""

import sys

from er_toolkit.cli.label import *  # noqa: F403 - this module is the verb's old home
from er_toolkit.cli.label import main

if __name__ == "__main__":
    sys.exit(main())
