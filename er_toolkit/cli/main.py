"""``er-toolkit <verb>`` (and ``python -m er_toolkit <verb>``): one entry, many verbs."""

from __future__ import annotations

import importlib
import sys
from collections.abc import Sequence
from typing import Final

from er_toolkit import __version__
from er_toolkit.cli import EXIT_USER_ERROR

__all__ = ["VERBS", "main"]

VERBS: Final[dict[str, tuple[str, str]]] = {
    "train": ("er_toolkit.cli.train", "train, evaluate, log and register a model"),
    "score": (
        "er_toolkit.cli.score",
        "batch-score records with a saved or registered model",
    ),
    "label": ("er_toolkit.cli.label", "label candidate pairs by active learning"),
    "profile": ("er_toolkit.cli.profile", "profile a file's data quality"),
    "report": ("er_toolkit.cli.report", "write the HTML run report of a model"),
    "advise-blocking": (
        "er_toolkit.cli.blocking",
        "propose blocking rules reaching a target recall within a pair budget",
    ),
    "store": (
        "er_toolkit.cli.store",
        "the master store: init|apply|lookup|decide|erase|history|golden|export|drift",
    ),
    "import-splink": (
        "er_toolkit.cli.import_splink",
        "read a trained Splink 5 model into an er_toolkit model (and MLflow)",
    ),
    "export-splink": (
        "er_toolkit.cli.export_splink",
        "write a Fellegi-Sunter model as Splink 5 settings",
    ),
}
"""Verb -> (module with ``main(argv) -> int``, one-line description).

Adding a verb is a module with ``main`` and one line here.
"""


def _usage() -> str:
    width = max(len(v) for v in VERBS)
    lines = [
        "usage: er-toolkit <verb> [options]   (er-toolkit <verb> --help for a verb's)",
        "",
        "verbs:",
        *(f"  {verb:<{width}}  {about}" for verb, (_, about) in VERBS.items()),
        "",
        "options: --help, --version",
    ]
    return "\n".join(lines)


def main(argv: Sequence[str] | None = None) -> int:
    """Run ``er-toolkit <verb> ...``; return the exit code.

    Examples
    --------
    >>> main(["--version"])  # doctest: +ELLIPSIS
    er-toolkit ...
    0
    """
    args = list(sys.argv[1:] if argv is None else argv)
    if not args:
        print(
            f"error: give a verb, one of {sorted(VERBS)} (see er-toolkit --help)",
            file=sys.stderr,
        )
        return EXIT_USER_ERROR
    if args[0] in ("-h", "--help", "help"):
        print(_usage())
        return 0
    if args[0] in ("-V", "--version", "version"):
        print(f"er-toolkit {__version__}")
        return 0
    verb, rest = args[0], args[1:]
    if verb not in VERBS:
        print(
            f"error: unknown verb {verb!r}; expected one of {sorted(VERBS)} "
            "(see er-toolkit --help)",
            file=sys.stderr,
        )
        return EXIT_USER_ERROR
    module = importlib.import_module(VERBS[verb][0])
    try:
        code: int = module.main(rest)
    except SystemExit as exc:  # argparse's --help and usage errors
        return exc.code if isinstance(exc.code, int) else EXIT_USER_ERROR
    return code
