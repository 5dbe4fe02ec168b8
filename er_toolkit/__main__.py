"""``python -m er_toolkit <verb>``: every command line of er_toolkit."""

import sys

from er_toolkit.cli.main import main

if __name__ == "__main__":
    sys.exit(main())
