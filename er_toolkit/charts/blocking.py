"""Blocking: the pairs each rule produces and adds, and the running total."""

from __future__ import annotations

from typing import TYPE_CHECKING

import numpy as np
import polars as pl

from er_toolkit import schema
from er_toolkit.charts._common import (
    CEILING,
    NEUTRAL,
    POSITIVE,
    empty_figure,
    expit,
    format_count,
    logit,
    logit_axis,
    new_figure,
    require_columns,
)

if TYPE_CHECKING:
    from matplotlib.figure import Figure


def _short(v: float) -> str:
    """Write a count as 40k or 1.2M on an axis."""
    if v >= 1e6:
        return f"{v / 1e6:g}M"
    if v >= 1e3:
        return f"{v / 1e3:g}k"
    return f"{v:g}"


def blocking_chart(table: pl.DataFrame) -> Figure:
    """Plot the candidate pairs of each blocking rule, and their running total.

    Parameters
    ----------
    table
        One row per blocker in priority order: ``blocked_by`` and ``pairs``
        (the rule's own count, -1 where unknown), and where known
        ``new_pairs`` (the pairs no earlier rule produced),
        ``cumulative_pairs`` and ``cumulative_recall`` (share of true pairs
        found by this rule and the earlier ones), as made by
        :func:`er_toolkit.report.blocking_summary`; ``Linker.blocking_report(records)``
        alone gives the first panel.

    Returns
    -------
    matplotlib.figure.Figure
        Left: each rule's own pairs and the new pairs it adds (log scale).
        Right, with ``cumulative_pairs``: the running total of candidate
        pairs, and of recall where known.

    Examples
    --------
    >>> table = pl.DataFrame({"blocked_by": ["surname", "dob"], "pairs": [100, 80],
    ...     "new_pairs": [100, 60], "cumulative_pairs": [100, 160],
    ...     "cumulative_recall": [0.8, 0.95]})
    >>> fig = blocking_chart(table)
    >>> [ax.get_xlabel() for ax in fig.axes][:2]
    ['candidate pairs (log scale)', 'candidate pairs, cumulative']
    """
    from matplotlib.ticker import FuncFormatter, MaxNLocator

    title = "Candidate pairs per blocking rule"
    require_columns(table, (schema.BLOCKED_BY, "pairs"), chart="blocking_chart")
    if table.height == 0:
        return empty_figure(
            title,
            xlabel="candidate pairs",
            ylabel="blocking rule",
            message="no blockers",
        )
    names = table.get_column(schema.BLOCKED_BY).cast(pl.String).to_list()
    own = table.get_column("pairs").cast(pl.Float64).to_numpy()
    has_new = "new_pairs" in table.columns
    has_cum = "cumulative_pairs" in table.columns
    has_recall = "cumulative_recall" in table.columns
    n = len(names)
    ratios = [3.0] + ([2.0] if has_cum else []) + ([1.8] if has_recall else [])
    fig = new_figure(4.5 + 2.4 * len(ratios), 0.42 * n + 2.0)
    axes = fig.subplots(
        1, len(ratios), sharey=True, squeeze=False, width_ratios=ratios
    )[0]
    ax = axes[0]
    y = np.arange(n)
    height = 0.38 if has_new else 0.7
    known = own >= 0
    own_shown = np.where(known, own, np.nan)
    series = [("pairs the rule produces", own_shown, NEUTRAL)]
    if has_new:
        new = table.get_column("new_pairs").cast(pl.Float64).to_numpy()
        series.append(("pairs it adds (no earlier rule has them)", new, POSITIVE))
    offsets = (-height / 2, height / 2) if has_new else (0.0,)
    for (label, values, colour), offset in zip(series, offsets, strict=True):
        ax.barh(y + offset, values, height=height, color=colour, label=label)
        for yi, v in zip(y, values, strict=True):
            if not np.isnan(v):
                ax.text(
                    max(v, 1.0) * 1.15,
                    yi + offset,
                    format_count(v),
                    va="center",
                    fontsize=7,
                )
    for yi in y[~known]:
        ax.text(
            1.2,
            yi - offsets[0],
            "count unknown",
            va="center",
            fontsize=7,
            color="#555555",
        )
    top = float(np.nanmax(np.r_[own_shown, *(v for _, v, _ in series[1:]), 1.0]))
    ax.set_xscale("log")
    ax.set_xlim(0.8, top * 10)
    ax.set_yticks(y, names, fontsize=8)
    ax.set_ylim(n - 0.5, -0.5)
    ax.set_xlabel("candidate pairs (log scale)")
    ax.set_ylabel("blocking rule, in priority order")
    ax.grid(axis="x", alpha=0.3)
    ax.set_title("each rule", fontsize=10)
    fig.legend(loc="outside lower left", fontsize=8, ncols=2, frameon=False)
    k = 1
    if has_cum:
        cum_ax = axes[k]
        k += 1
        cumulative = table.get_column("cumulative_pairs").cast(pl.Float64).to_numpy()
        cum_ax.barh(y, cumulative, color=POSITIVE, height=0.6)
        for yi, v in zip(y, cumulative, strict=True):
            cum_ax.text(v, yi, " " + format_count(v), va="center", fontsize=7)
        cum_ax.set_xlim(0, max(float(cumulative.max()), 1.0) * 1.35)
        cum_ax.xaxis.set_major_locator(MaxNLocator(4, prune="upper"))
        cum_ax.xaxis.set_major_formatter(FuncFormatter(lambda v, _: _short(v)))
        cum_ax.set_xlabel("candidate pairs, cumulative")
        cum_ax.grid(axis="x", alpha=0.3)
        cum_ax.set_title("running total of pairs", fontsize=10)
    if has_recall:
        rec_ax = axes[k]
        recall = table.get_column("cumulative_recall").cast(pl.Float64).to_numpy()
        missed = 1 - recall[recall < 1]
        eps = float(np.clip(missed.min() / 4, 1e-7, 1e-3)) if missed.size else 1e-3
        shown = np.clip(recall, eps, 1 - eps)
        rec_ax.plot(shown, y, color=CEILING, marker="o", lw=1.4)
        for yi, r, x in zip(y, recall, shown, strict=True):
            rec_ax.annotate(
                f"{r:.4f}",
                (x, yi),
                xytext=(-6, 0),
                textcoords="offset points",
                ha="right",
                va="center",
                fontsize=7,
            )
        low = float(min(shown.min(), 0.5)) if shown.size else 0.5
        logit_axis(
            rec_ax, "x", max(expit(logit(low) - 2.5), eps / 3), 1 - eps / 3, eps=eps
        )
        rec_ax.set_xlabel("true pairs found (logit scale)")
        rec_ax.grid(alpha=0.3)
        rec_ax.set_title("running recall", fontsize=10)
    fig.suptitle(title)
    return fig
