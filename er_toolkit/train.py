"""``python -m er_toolkit.train``: train, evaluate, log and register a model (the ``train`` verb of :mod:`er_toolkit.cli`)."""

import sys

from er_toolkit.cli.train import *  # noqa: F403 - this module is the verb's old home
from er_toolkit.cli.train import main

if __name__ == "__main__":
    sys.exit(main())
