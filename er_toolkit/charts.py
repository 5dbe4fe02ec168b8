"""Matplotlib charts: match weights, precision-recall curve, feature importance."""

from __future__ import annotations

import matplotlib.pyplot as plt
import polars as pl
from matplotlib.figure import Figure


def match_weights_chart(table: pl.DataFrame, *, prior_weight: float) -> Figure:
    """Plot each comparison level's match weight (log2 Bayes factor).

    Parameters
    ----------
    table
        :meth:`FellegiSunter.bayes_factor_table` output.
    prior_weight
        log2 prior odds, drawn as its own bar.

    Returns
    -------
    matplotlib.figure.Figure
        A horizontal bar chart, one bar per level, grouped by comparison.
    """
    labels = ["prior (λ)"] + [
        f"{c}: {lvl}"
        for c, lvl in zip(
            table.get_column("comparison"), table.get_column("level"), strict=True
        )
    ]
    weights = [prior_weight, *table.get_column("log2_bayes_factor").to_list()]
    fig, ax = plt.subplots(figsize=(8, 0.28 * len(labels) + 1.2))
    colours = ["#888888"] + ["#2a7ab0" if w >= 0 else "#c0392b" for w in weights[1:]]
    ax.barh(range(len(labels)), weights, color=colours)
    ax.set_yticks(range(len(labels)), labels, fontsize=8)
    ax.invert_yaxis()
    ax.axvline(0, color="black", linewidth=0.8)
    ax.set_xlabel("match weight (log2 Bayes factor)")
    ax.set_title("Match weights per comparison level")
    fig.tight_layout()
    return fig


def precision_recall_chart(
    curve: pl.DataFrame, *, threshold: float | None = None
) -> Figure:
    """Plot precision and recall against each other, marking the threshold used.

    Parameters
    ----------
    curve
        :func:`er_toolkit.evaluate.precision_recall_curve` output.
    threshold
        The match-probability threshold in use, marked on the curve.

    Returns
    -------
    matplotlib.figure.Figure
        The precision-recall curve.
    """
    fig, ax = plt.subplots(figsize=(5, 4.5))
    ax.plot(curve.get_column("recall"), curve.get_column("precision"), color="#2a7ab0")
    if threshold is not None and curve.height:
        at = curve.filter(pl.col("threshold") >= threshold).tail(1)
        if at.height:
            ax.scatter(
                at.get_column("recall"),
                at.get_column("precision"),
                color="#c0392b",
                zorder=3,
                label=f"threshold {threshold:g}",
            )
            ax.legend(loc="lower left")
    ax.set_xlabel("recall")
    ax.set_ylabel("precision")
    ax.set_xlim(0, 1.01)
    ax.set_ylim(0, 1.01)
    ax.grid(alpha=0.3)
    ax.set_title("Precision-recall over match probability")
    fig.tight_layout()
    return fig


def feature_importance_chart(table: pl.DataFrame, *, top: int = 30) -> Figure:
    """Plot a classifier's feature importances as horizontal bars.

    Parameters
    ----------
    table
        :meth:`ClassifierScorer.feature_importance_table` output
        (``feature``, ``importance``, ``std``).
    top
        How many of the most important features to show.

    Returns
    -------
    matplotlib.figure.Figure
        One bar per feature, most important at the top, with its spread
        over the permutation repeats.
    """
    shown = table.sort("importance", descending=True).head(top)
    fig, ax = plt.subplots(figsize=(7, 0.3 * shown.height + 1.2))
    values = shown.get_column("importance").to_list()
    ax.barh(
        range(shown.height),
        values,
        xerr=shown.get_column("std").to_list(),
        color=["#2a7ab0" if v >= 0 else "#c0392b" for v in values],
    )
    ax.set_yticks(
        range(shown.height), shown.get_column("feature").to_list(), fontsize=8
    )
    ax.invert_yaxis()
    ax.axvline(0, color="black", linewidth=0.8)
    ax.set_xlabel("drop in average precision when permuted")
    ax.set_title("Feature importance (permutation)")
    fig.tight_layout()
    return fig
