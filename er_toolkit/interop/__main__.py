"""``python -m er_toolkit.interop import-splink|export-splink``."""

import sys

from er_toolkit.interop.cli import main

sys.exit(main())
