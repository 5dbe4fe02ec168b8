"""Shared pieces of the charts: figures, colours, empty-input notes, weight scales."""

from __future__ import annotations

import io
from collections.abc import Iterable, Sequence
from typing import TYPE_CHECKING, Final, Literal

import numpy as np
import polars as pl
from matplotlib.figure import Figure

from er_toolkit.exceptions import SchemaError

if TYPE_CHECKING:
    from matplotlib.axes import Axes
    from matplotlib.axis import Axis

POSITIVE: Final = "#2a7ab0"
"""Evidence for a match, a match, the measure shown."""
NEGATIVE: Final = "#c0392b"
"""Evidence against a match, a non-match."""
NEUTRAL: Final = "#8c8c8c"
"""The prior, totals, context."""
THRESHOLD: Final = "#222222"
"""The chosen threshold."""
CEILING: Final = "#e67e22"
"""A bound set by blocking."""
SECOND: Final = "#27ae60"
"""A second measure beside the first (u beside m, F1 beside P and R)."""

WEIGHT_LABEL: Final = "match weight (log2 Bayes factor, bits)"
MAX_WEIGHT: Final = 60.0
"""The weight drawn for a probability of exactly 1 (and minus it for 0).

A float64 probability rounds to 1 from about 53 bits up."""


class ChartFigure(Figure):
    """A matplotlib Figure that shows itself as a PNG in Jupyter.

    Figures made without pyplot are not displayed by the inline backend
    unless pyplot was imported; ``_repr_png_`` lets IPython show one that
    is the value of a cell either way.
    """

    def _repr_png_(self) -> bytes:
        buffer = io.BytesIO()
        self.savefig(buffer, format="png", dpi=100)
        return buffer.getvalue()


def new_figure(width: float, height: float) -> ChartFigure:
    """Return a constrained-layout figure not attached to pyplot's global state."""
    from matplotlib.layout_engine import ConstrainedLayoutEngine

    # room between panels, so tick labels at their edges do not meet
    layout = ConstrainedLayoutEngine(w_pad=0.08, wspace=0.03)
    return ChartFigure(figsize=(width, height), layout=layout)


def note(ax: Axes, text: str) -> None:
    """Write ``text`` in the middle of ``ax`` (an empty input, a degenerate case)."""
    ax.text(
        0.5,
        0.5,
        text,
        transform=ax.transAxes,
        ha="center",
        va="center",
        fontsize=10,
        color="#555555",
        wrap=True,
    )


def empty_figure(
    title: str, *, xlabel: str, ylabel: str, message: str = "no data"
) -> Figure:
    """Return a figure with a title and axis labels that says it has nothing to show."""
    fig = new_figure(6, 3)
    ax = fig.add_subplot()
    ax.set_title(title)
    ax.set_xlabel(xlabel)
    ax.set_ylabel(ylabel)
    ax.set_xticks([])
    ax.set_yticks([])
    note(ax, message)
    return fig


def require_columns(frame: pl.DataFrame, columns: Iterable[str], *, chart: str) -> None:
    """Raise :class:`SchemaError` naming the columns ``chart`` needs and lacks."""
    missing = [c for c in columns if c not in frame.columns]
    if missing:
        raise SchemaError(
            f"{chart} needs column(s) {missing}; the frame has {frame.columns}."
        )


def probability_to_weight(p: Sequence[float] | np.ndarray) -> np.ndarray:
    """Return log2 odds of probabilities; 0 and 1 become ∓:data:`MAX_WEIGHT` bits.

    Examples
    --------
    >>> probability_to_weight([0.5, 0.8, 1.0, 0.0]).round(3).tolist()
    [0.0, 2.0, 60.0, -60.0]
    """
    prob = np.asarray(p, dtype=np.float64)
    with np.errstate(divide="ignore", invalid="ignore"):
        weight = np.log2(prob) - np.log2(1.0 - prob)
    return np.where(np.isinf(weight), np.sign(weight) * MAX_WEIGHT, weight)


def weight_to_probability(w: Sequence[float] | np.ndarray) -> np.ndarray:
    """Return the probability of log2 odds ``w`` (the inverse of the above)."""
    return 1.0 / (1.0 + np.exp2(-np.asarray(w, dtype=np.float64)))


def format_probability(weight: float) -> str:
    """Write the match probability of a weight, near 1 as ``1 - 1.4e-14``.

    Examples
    --------
    >>> [format_probability(w) for w in (-30.0, 0.0, 3.0, 46.2)]
    ['9.3e-10', '0.5', '0.8889', '1 - 1.2e-14']
    """
    if weight > 13:  # p > 0.9999: say how far from 1, computed without cancelling
        return f"1 - {1.0 / (1.0 + 2.0**weight):.2g}"
    p = float(weight_to_probability([weight])[0])
    return f"{p:.2g}" if weight < -13 else f"{p:.4g}"


def format_count(n: float) -> str:
    """Return ``n`` with thousands separators, or in k / M when large.

    Examples
    --------
    >>> [format_count(n) for n in (7, 12_345, 3_400_000)]
    ['7', '12,345', '3.4M']
    """
    if abs(n) >= 1_000_000:
        return f"{n / 1_000_000:.3g}M"
    return f"{round(n):,}"


def logit_axis(
    ax: Axes, axis: Literal["x", "y"], low: float, high: float, *, eps: float
) -> None:
    """Put ``axis`` on a logit scale from ``low`` to ``high``, ticks at 0.9, 0.99, ...

    Values of exactly 0 and 1 are drawn at ``eps`` and ``1 - eps``, and the
    ticks there read 0 and 1.
    """
    from matplotlib.ticker import FixedLocator, FuncFormatter, NullLocator

    target: Axis
    if axis == "x":
        ax.set_xscale("logit")
        ax.set_xlim(low, high)
        target = ax.xaxis
    else:
        ax.set_yscale("logit")
        ax.set_ylim(low, high)
        target = ax.yaxis
    nines = [1 - 10.0**-k for k in range(1, 8)]
    ticks = [10.0**-k for k in range(7, 0, -1)] + [0.5] + nines
    # keep ticks well inside the clipped ends, then mark the ends themselves
    ticks = [t for t in ticks if low <= t <= high and eps * 3 < t < 1 - eps * 3]
    ticks += [t for t in (eps, 1 - eps) if low <= t <= high]

    def label(value: float, _: object) -> str:
        if value == 1 - eps:
            return "1"
        if value == eps:
            return "0"
        return f"{value:.10g}"

    target.set_major_locator(FixedLocator(sorted(ticks)))
    target.set_major_formatter(FuncFormatter(label))
    target.set_minor_locator(NullLocator())


def logit(p: float) -> float:
    """Return the natural log odds of ``p``."""
    return float(np.log(p) - np.log1p(-p))


def expit(x: float) -> float:
    """Return the probability of natural log odds ``x``."""
    return float(1.0 / (1.0 + np.exp(-x)))
