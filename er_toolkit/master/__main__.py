"""``python -m er_toolkit.master <verb>``: the store verbs (see :mod:`er_toolkit.master.cli`)."""

from er_toolkit.master.cli import main

raise SystemExit(main())
