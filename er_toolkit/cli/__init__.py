"""The command lines (``er-toolkit <verb>``) and their shared plumbing.

One module per verb (:mod:`er_toolkit.cli.train`, ``score``, ``label``,
``profile``, ``report``, ...), dispatched by :mod:`er_toolkit.cli.main`; this
package holds what they share: one-line errors, exit codes, warnings, and
keeping MLflow's own chatter out of a normal run's output.
"""

from __future__ import annotations

import argparse
import logging
import os
import sys
import warnings
from collections.abc import Callable
from pathlib import Path
from typing import NoReturn

from er_toolkit.exceptions import DataQualityWarning, ErToolkitError

EXIT_USER_ERROR = 2
EXIT_INTERNAL_ERROR = 1
EXIT_INTERRUPTED = 130
DEBUG_ENV = "ER_TOOLKIT_DEBUG"
"""Set to 1 to get the traceback of an unexpected error instead of one line."""


class ArgumentParser(argparse.ArgumentParser):
    """``argparse`` with usage errors as one ``error:`` line and exit code 2."""

    def error(self, message: str) -> NoReturn:
        """Print one line (the usage is in ``--help``) and exit 2."""
        line = " ".join(message.split())
        self.exit(EXIT_USER_ERROR, f"error: {line} (see {self.prog} --help)\n")


def one_line(text: str) -> str:
    """Return ``text`` with every run of whitespace (newlines too) as one space."""
    return " ".join(str(text).split())


def run_cli(main: Callable[[], int]) -> int:
    """Run ``main``: every failure becomes one line on stderr and an exit code.

    An :class:`~er_toolkit.exceptions.ErToolkitError` (bad input, config or
    model) and an ``OSError`` (disk full, permission denied) exit 2; any
    other exception is a bug and exits 1 with one line that names its type
    but not its message (library messages can quote record values); set
    ``ER_TOOLKIT_DEBUG=1`` for the traceback. Warnings that the output may be
    poor (:class:`~er_toolkit.exceptions.DataQualityWarning`, and other
    ``UserWarning`` raised by er_toolkit itself) are printed after a
    successful run as ``warning:`` lines.
    """
    logging.basicConfig(
        level=os.environ.get("ER_TOOLKIT_LOG_LEVEL", "WARNING"),
        format="%(levelname)s %(name)s: %(message)s",
    )
    quiet_mlflow()
    debug = os.environ.get(DEBUG_ENV, "") not in ("", "0")
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always", DataQualityWarning)
        warnings.simplefilter("always", UserWarning)
        try:
            code = main()
        except ErToolkitError as exc:
            print(f"error: {one_line(str(exc))}", file=sys.stderr)
            return EXIT_USER_ERROR
        except OSError as exc:
            where = f" ({exc.filename})" if exc.filename else ""
            what = exc.strerror or type(exc).__name__
            print(f"error: {one_line(what)}{where}.", file=sys.stderr)
            return EXIT_USER_ERROR
        except KeyboardInterrupt:
            print("error: interrupted.", file=sys.stderr)
            return EXIT_INTERRUPTED
        except Exception as exc:
            if debug:
                raise
            print(
                f"error: unexpected {type(exc).__name__}; this is a bug in er_toolkit. "
                f"Rerun with {DEBUG_ENV}=1 for the traceback and report it.",
                file=sys.stderr,
            )
            return EXIT_INTERNAL_ERROR
    package = str(Path(__file__).resolve().parents[1])
    for message in dict.fromkeys(
        one_line(str(w.message))
        for w in caught
        if issubclass(w.category, DataQualityWarning)
        or (
            issubclass(w.category, UserWarning)
            and str(Path(w.filename).resolve()).startswith(package)
        )
    ):
        print(f"warning: {message}", file=sys.stderr)
    return code


def quiet_mlflow() -> None:
    """Keep MLflow's INFO lines, progress bars and notices out of a CLI run's output.

    Set before MLflow is imported (it reads them then); a user's own
    ``MLFLOW_LOGGING_LEVEL`` or progress-bar setting wins.
    """
    os.environ.setdefault("MLFLOW_LOGGING_LEVEL", "WARNING")
    os.environ.setdefault("MLFLOW_ENABLE_ARTIFACTS_PROGRESS_BAR", "false")
    for name in ("mlflow", "alembic"):
        logging.getLogger(name).setLevel(logging.WARNING)


def set_tracking_uri(uri: str | None) -> None:
    """Point MLflow at ``uri`` when given (else its own default or MLFLOW_TRACKING_URI).

    The URI (given, or from ``MLFLOW_TRACKING_URI``) is checked first: an
    unsupported scheme is a :class:`~er_toolkit.exceptions.ConfigError`.
    """
    from er_toolkit.config import validate_tracking_uri

    env = os.environ.get("MLFLOW_TRACKING_URI")
    if uri:
        validate_tracking_uri(uri)
        import mlflow

        mlflow.set_tracking_uri(uri)
    elif env:
        validate_tracking_uri(env)
