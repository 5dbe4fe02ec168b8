"""``python -m er_toolkit.score``: batch-score records with a saved model."""

import sys

from er_toolkit.score_cli import main

sys.exit(main())
