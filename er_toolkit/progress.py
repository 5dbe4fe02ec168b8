"""Progress bars for long stages: on in terminals and notebooks, off in CI and when asked.

Stages report progress through :func:`progress_bar`, one bar per stage
(never per pair or per record): blocking advances once per blocker,
comparing and scoring once per chunk of pairs, EM once per session. Only
the outermost bar shows, so a stage that calls another (fitting compares
pairs) draws one bar, not a stack of them.

Whether bars show is decided once per bar, in this order:

1. inside :func:`progress_context`, or a :class:`~er_toolkit.Linker` made
   with ``progress=``, what it says;
2. the ``ER_TOOLKIT_PROGRESS`` environment variable (``1``/``true``/``on`` or
   ``0``/``false``/``off``);
3. off in CI (``CI``, ``GITHUB_ACTIONS``, ``GITLAB_CI`` and the like set);
4. on in a Jupyter kernel, or when standard error is a terminal; else off.

Examples
--------
>>> with progress_context(False):
...     with progress_bar(total=3, desc="block", unit="rule") as bar:
...         for _ in range(3):
...             bar.update()
...     bar.n
3
"""

from __future__ import annotations

import importlib.util
import os
import sys
from collections.abc import Iterator
from contextlib import contextmanager
from contextvars import ContextVar
from typing import Any, Final, TextIO

__all__ = [
    "CI_VARIABLES",
    "ENV_VARIABLE",
    "Bar",
    "progress_bar",
    "progress_context",
    "progress_enabled",
]

ENV_VARIABLE: Final = "ER_TOOLKIT_PROGRESS"
"""Environment variable that turns bars on (``1``) or off (``0``) everywhere."""

CI_VARIABLES: Final = (
    "CI",
    "CONTINUOUS_INTEGRATION",
    "GITHUB_ACTIONS",
    "GITLAB_CI",
    "BUILDKITE",
    "CIRCLECI",
    "TF_BUILD",
    "JENKINS_URL",
    "TEAMCITY_VERSION",
)
"""Set by the common CI services; any of them set (and not "false") means CI."""

_ON: Final = frozenset({"1", "true", "yes", "on"})
_OFF: Final = frozenset({"0", "false", "no", "off", ""})

_CHOICE: ContextVar[bool | None] = ContextVar("er_toolkit_progress", default=None)
_ACTIVE: ContextVar[bool] = ContextVar("er_toolkit_progress_active", default=False)


@contextmanager
def progress_context(enabled: bool | None) -> Iterator[None]:
    """Show (True), hide (False) or auto-decide (None) bars inside the block.

    Examples
    --------
    >>> with progress_context(True):
    ...     progress_enabled()
    True
    """
    token = _CHOICE.set(enabled)
    try:
        yield
    finally:
        _CHOICE.reset(token)


def _in_ci() -> bool:
    return any(
        os.environ.get(name, "false").strip().lower() not in _OFF
        for name in CI_VARIABLES
    )


def _in_jupyter() -> bool:
    """Whether this runs in a Jupyter kernel (without importing IPython)."""
    if "ipykernel" not in sys.modules or "IPython" not in sys.modules:
        return False
    shell = sys.modules["IPython"].get_ipython()
    return shell is not None and type(shell).__name__ == "ZMQInteractiveShell"


def _is_terminal(stream: TextIO | None) -> bool:
    try:
        return stream is not None and stream.isatty()
    except (AttributeError, ValueError):  # closed or replaced streams
        return False


def progress_enabled(progress: bool | None = None) -> bool:
    """Decide whether a progress bar shows (see the module docstring for the order).

    Parameters
    ----------
    progress
        An explicit choice, which wins; ``None`` decides as described.

    Examples
    --------
    >>> progress_enabled(False)
    False
    """
    if progress is not None:
        return bool(progress)
    chosen = _CHOICE.get()
    if chosen is not None:
        return chosen
    env = os.environ.get(ENV_VARIABLE)
    if env is not None and env.strip().lower() in _ON:
        return True
    if env is not None and env.strip().lower() in _OFF:
        return False
    if _in_ci():
        return False
    return _in_jupyter() or _is_terminal(sys.stderr)


class Bar:
    """A progress bar's counter; draws through tqdm when shown, else only counts.

    Attributes
    ----------
    n
        Steps done so far.
    total
        Steps expected (None when unknown).
    """

    def __init__(self, total: int | None, bar: Any = None) -> None:
        self.n = 0
        self.total = total
        self._bar = bar

    @property
    def shown(self) -> bool:
        """Whether this bar draws."""
        return self._bar is not None

    def update(self, n: int = 1) -> None:
        """Advance by ``n`` steps."""
        self.n += n
        if self._bar is not None:
            self._bar.update(n)

    def describe(self, text: str) -> None:
        """Show ``text`` beside the bar (what the current step is)."""
        if self._bar is not None:
            self._bar.set_postfix_str(text, refresh=True)


def _tqdm_class() -> Any:
    if _in_jupyter() and importlib.util.find_spec("ipywidgets") is not None:
        from tqdm.notebook import tqdm as notebook_tqdm

        return notebook_tqdm
    from tqdm.std import tqdm as std_tqdm

    return std_tqdm


@contextmanager
def progress_bar(
    *,
    total: int | None,
    desc: str,
    unit: str = "step",
    progress: bool | None = None,
) -> Iterator[Bar]:
    """Open a progress bar for one stage; a silent counter when bars are off.

    Parameters
    ----------
    total
        Steps the stage will take (blockers, pairs, sessions), None if unknown.
    desc
        The stage's name, shown at the left.
    unit
        What a step is.
    progress
        An explicit choice for this bar (see :func:`progress_enabled`).

    Yields
    ------
    Bar
        Call ``update(n)`` as steps finish.
    """
    if _ACTIVE.get() or not progress_enabled(progress):
        yield Bar(total)
        return
    tqdm = _tqdm_class()
    kwargs: dict[str, Any] = {
        "total": total,
        "desc": desc,
        "unit": unit,
        "leave": _in_jupyter(),  # a notebook keeps the finished bars as a record
        "dynamic_ncols": True,
    }
    if tqdm.__module__ == "tqdm.std":
        kwargs["file"] = sys.stderr
        kwargs["unit_scale"] = unit == "pair"
        kwargs["mininterval"] = 0.2
    token = _ACTIVE.set(True)
    drawn = tqdm(**kwargs)
    try:
        yield Bar(total, drawn)
    finally:
        drawn.close()
        _ACTIVE.reset(token)
