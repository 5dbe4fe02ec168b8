"""Precision-recall and precision/recall/F1-against-threshold curves, readable near 1."""

from __future__ import annotations

from typing import TYPE_CHECKING, Literal

import numpy as np
import polars as pl

from er_toolkit.charts._common import (
    CEILING,
    NEGATIVE,
    POSITIVE,
    SECOND,
    THRESHOLD,
    empty_figure,
    expit,
    logit,
    logit_axis,
    new_figure,
    note,
    probability_to_weight,
    require_columns,
    weight_to_probability,
)
from er_toolkit.exceptions import ConfigError

if TYPE_CHECKING:
    from matplotlib.figure import Figure

Scale = Literal["auto", "linear", "logit"]
_CURVE = ("threshold", "precision", "recall", "f1")
_SCALES = ("auto", "linear", "logit")


def _check_scale(scale: str) -> None:
    if scale not in _SCALES:
        raise ConfigError(f"scale must be one of {list(_SCALES)}; got {scale!r}.")


def _use_logit(curve: pl.DataFrame, scale: Scale) -> bool:
    """Logit axes when the curve lives in the corner: best F1 of 0.9 or more."""
    if scale != "auto":
        return scale == "logit"
    return bool(curve.height) and float(curve.get_column("f1").max() or 0.0) >= 0.9  # type: ignore[arg-type]


def _epsilon(curve: pl.DataFrame) -> float:
    """Where a logit axis draws 0 and 1: a quarter of the curve's smallest recall step."""
    recall = np.unique(curve.get_column("recall").to_numpy())
    steps = np.diff(recall)
    steps = steps[steps > 0]
    smallest = float(steps.min()) if steps.size else 1e-3
    return float(np.clip(smallest / 4, 1e-7, 1e-3))


def _operating_point(curve: pl.DataFrame, threshold: float) -> dict[str, float] | None:
    """Return the curve's row for predicting pairs scoring at or above ``threshold``."""
    at = curve.filter(pl.col("threshold") >= threshold).tail(1)
    return at.row(0, named=True) if at.height else None


def precision_recall_chart(
    curve: pl.DataFrame,
    *,
    threshold: float | None = None,
    blocking_recall: float | None = None,
    scale: Scale = "auto",
) -> Figure:
    """Plot precision against recall, marking the threshold and the blocking ceiling.

    Parameters
    ----------
    curve
        :func:`er_toolkit.evaluate.precision_recall_curve` output
        (``threshold``, ``precision``, ``recall``, ``f1``).
    threshold
        The match-probability threshold in use, marked on the curve.
    blocking_recall
        The share of true pairs blocking found: no threshold can reach more
        recall; drawn as a vertical line.
    scale
        ``"logit"`` stretches the axes near 0 and 1 (ticks at 0.9, 0.99,
        0.999, ...) so a curve in the top-right corner can be read;
        ``"linear"`` draws [0, 1]; ``"auto"`` takes logit when the best F1 is
        0.9 or more. On logit axes a precision of exactly 1 is drawn at the
        top edge.

    Returns
    -------
    matplotlib.figure.Figure
        The precision-recall curve.

    Examples
    --------
    >>> curve = pl.DataFrame({"threshold": [0.9, 0.5, 0.1],
    ...     "precision": [1.0, 0.95, 0.5], "recall": [0.5, 0.9, 0.95],
    ...     "f1": [0.667, 0.924, 0.655]})
    >>> fig = precision_recall_chart(curve, threshold=0.5, blocking_recall=0.95)
    >>> ax = fig.axes[0]
    >>> ax.get_xlabel(), ax.get_ylabel(), ax.get_xscale()
    ('recall (logit scale)', 'precision (logit scale)', 'logit')
    """
    _check_scale(scale)
    title = "Precision-recall over match probability thresholds"
    require_columns(curve, _CURVE, chart="precision_recall_chart")
    if curve.height == 0:
        return empty_figure(
            title, xlabel="recall", ylabel="precision", message="no scored pairs"
        )
    zoom = _use_logit(curve, scale)
    fig = new_figure(6.4, 5.2)
    ax = fig.add_subplot()
    recall = curve.get_column("recall").to_numpy()
    precision = curve.get_column("precision").to_numpy()
    eps = _epsilon(curve)
    if zoom:
        recall = np.clip(recall, eps, 1 - eps)
        precision = np.clip(precision, eps, 1 - eps)
        best = curve.get_column("f1").arg_max() or 0
        x_low = 0.5 if recall[best] >= 0.6 else 0.01
        right = float(max(recall.max(), blocking_recall or 0.0))
        x_high = min(expit(logit(min(right, 1 - eps)) + 1.0), 1 - eps / 3)
        shown = precision[recall >= x_low]
        y_low = min(0.5, float(shown.min()) * 0.8) if shown.size else 0.5
        logit_axis(ax, "x", x_low, x_high, eps=eps)
        logit_axis(ax, "y", max(y_low, eps / 3), 1 - eps / 3, eps=eps)
    else:
        ax.set_xlim(0, 1.01)
        ax.set_ylim(0, 1.01)
    ax.step(recall, precision, where="post", color=POSITIVE, lw=1.6, label="curve")
    if blocking_recall is not None:
        ax.axvline(
            blocking_recall,
            color=CEILING,
            linestyle="--",
            lw=1.2,
            label=f"blocking recall ceiling {blocking_recall:.4f}",
        )
    if threshold is not None:
        point = _operating_point(curve, threshold)
        if point is not None:
            px, py = point["recall"], point["precision"]
            if zoom:
                px, py = np.clip([px, py], eps, 1 - eps)
            ax.scatter(
                [px],
                [py],
                color=THRESHOLD,
                zorder=4,
                s=36,
                label=(
                    f"threshold {threshold:g}: precision {point['precision']:.4f}, "
                    f"recall {point['recall']:.4f}"
                ),
            )
    ax.set_xlabel("recall" + (" (logit scale)" if zoom else ""))
    ax.set_ylabel("precision" + (" (logit scale)" if zoom else ""))
    ax.grid(alpha=0.3)
    ax.legend(loc="lower left", fontsize=8, framealpha=0.95)
    ax.set_title(
        title
        + (
            "\nlogit axes: 0.9, 0.99, 0.999 equally spaced; 1 drawn at the edge"
            if zoom
            else ""
        ),
        fontsize=10,
    )
    return fig


def threshold_chart(
    curve: pl.DataFrame,
    *,
    threshold: float | None = None,
    blocking_recall: float | None = None,
    scale: Scale = "auto",
) -> Figure:
    """Plot precision, recall and F1 against the match threshold.

    The threshold axis is the match weight (log2 odds of the match
    probability, bits), with probabilities marked along the top, so that
    thresholds crowded near 0 and 1 are spread out.

    Parameters
    ----------
    curve
        :func:`er_toolkit.evaluate.precision_recall_curve` output.
    threshold
        The chosen match-probability threshold, drawn as a vertical line.
    blocking_recall
        The blocking recall ceiling, drawn as a horizontal line.
    scale
        The y axis: ``"logit"``, ``"linear"`` or ``"auto"``, as for
        :func:`precision_recall_chart`.

    Returns
    -------
    matplotlib.figure.Figure
        Three curves over thresholds, the chosen one marked.

    Examples
    --------
    >>> curve = pl.DataFrame({"threshold": [0.9, 0.5, 0.1],
    ...     "precision": [1.0, 0.95, 0.5], "recall": [0.5, 0.9, 0.95],
    ...     "f1": [0.667, 0.924, 0.655]})
    >>> fig = threshold_chart(curve, threshold=0.5, scale="linear")
    >>> fig.axes[0].get_xlabel()
    'threshold as match weight (bits)'
    """
    _check_scale(scale)
    title = "Precision, recall and F1 against the threshold"
    xlabel = "threshold as match weight (bits)"
    require_columns(curve, _CURVE, chart="threshold_chart")
    if curve.height == 0:
        return empty_figure(
            title,
            xlabel=xlabel,
            ylabel="precision / recall / F1",
            message="no scored pairs",
        )
    thresholds = curve.get_column("threshold").to_numpy()
    is_probability = bool(((thresholds >= 0) & (thresholds <= 1)).all())
    x = probability_to_weight(thresholds) if is_probability else thresholds
    zoom = _use_logit(curve, scale)
    eps = _epsilon(curve)
    fig = new_figure(8, 5.4)
    ax = fig.add_subplot()
    for column, colour, style in (
        ("precision", POSITIVE, "-"),
        ("recall", SECOND, "-"),
        ("f1", NEGATIVE, "--"),
    ):
        values = curve.get_column(column).to_numpy()
        if zoom:
            values = np.clip(values, eps, 1 - eps)
        ax.step(x, values, where="post", color=colour, ls=style, lw=1.5, label=column)
    if zoom:
        logit_axis(ax, "y", 0.5, 1 - eps / 3, eps=eps)
    else:
        ax.set_ylim(0, 1.02)
    if blocking_recall is not None:
        ax.axhline(
            float(np.clip(blocking_recall, eps, 1 - eps)) if zoom else blocking_recall,
            color=CEILING,
            linestyle=":",
            lw=1.4,
            label=f"blocking recall ceiling {blocking_recall:.4f}",
        )
    if threshold is not None:
        w = (
            float(probability_to_weight([threshold])[0])
            if is_probability
            else threshold
        )
        point = _operating_point(curve, threshold)
        detail = (
            f": precision {point['precision']:.4f}, recall {point['recall']:.4f}, "
            f"F1 {point['f1']:.4f}"
            if point
            else ""
        )
        ax.axvline(w, color=THRESHOLD, lw=1.2, label=f"threshold {threshold:g}{detail}")
    ax.set_xlabel(xlabel if is_probability else "threshold")
    ax.set_ylabel("precision / recall / F1" + (" (logit scale)" if zoom else ""))
    ax.grid(alpha=0.3)
    fig.legend(loc="outside lower center", fontsize=8, ncols=3, frameon=False)
    if is_probability:
        lo, hi = ax.get_xlim()
        top = ax.secondary_xaxis(
            "top",
            functions=(
                lambda w: weight_to_probability(w),  # type: ignore[arg-type]
                lambda p: probability_to_weight(np.clip(p, 0.0, 1.0)),
            ),
        )
        marks = (1e-12, 1e-6, 1e-3, 0.5, 1 - 1e-3, 1 - 1e-6, 1 - 1e-12)
        ticks = [p for p in marks if lo <= probability_to_weight([p])[0] <= hi]
        top.set_ticks(ticks, [_probability_label(p) for p in ticks], fontsize=7)
        top.set_xlabel("match probability", fontsize=8)
    ax.set_title(
        title
        + (
            "\nabove 0.5 on a logit scale: 0.9, 0.99, 0.999 equally spaced"
            if zoom
            else ""
        ),
        fontsize=10,
    )
    if curve.height == 1:
        note(ax, "one threshold only")
    return fig


def _probability_label(p: float) -> str:
    """Write probabilities near 1 as 1 - 1e-06 rather than a row of nines.

    Examples
    --------
    >>> [_probability_label(p) for p in (1e-6, 0.5, 0.999, 1 - 1e-6)]
    ['1e-06', '0.5', '1 - 0.001', '1 - 1e-06']
    """
    if p <= 0.5:
        return f"{p:.3g}"
    return f"1 - {1 - p:.1g}"
