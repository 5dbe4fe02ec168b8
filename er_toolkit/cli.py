"""Shared command-line plumbing: logging, one-line errors, exit codes."""

from __future__ import annotations

import logging
import os
import sys
from collections.abc import Callable

from er_toolkit.exceptions import ErToolkitError

EXIT_USER_ERROR = 2


def run_cli(main: Callable[[], int]) -> int:
    """Run ``main``; print an ``ErToolkitError`` as one line and return exit 2."""
    logging.basicConfig(
        level=os.environ.get("ER_TOOLKIT_LOG_LEVEL", "WARNING"),
        format="%(levelname)s %(name)s: %(message)s",
    )
    try:
        return main()
    except ErToolkitError as exc:
        message = " ".join(str(exc).split())
        print(f"error: {message}", file=sys.stderr)
        return EXIT_USER_ERROR


def set_tracking_uri(uri: str | None) -> None:
    """Point MLflow at ``uri`` when given (else its own default or MLFLOW_TRACKING_URI)."""
    if uri:
        import mlflow

        mlflow.set_tracking_uri(uri)
