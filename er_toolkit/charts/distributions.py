"""Distributions: match weights of pairs, cluster sizes, records that cannot link."""

from __future__ import annotations

from typing import TYPE_CHECKING

import numpy as np
import polars as pl

from er_toolkit import schema
from er_toolkit.charts._common import (
    NEGATIVE,
    NEUTRAL,
    POSITIVE,
    THRESHOLD,
    WEIGHT_LABEL,
    empty_figure,
    format_count,
    new_figure,
    probability_to_weight,
    require_columns,
)

if TYPE_CHECKING:
    from matplotlib.figure import Figure


def match_weight_histogram(
    scored: pl.DataFrame,
    *,
    threshold: float | None = None,
    bin_width: float = 1.0,
) -> Figure:
    """Plot how many candidate pairs score each match weight.

    Parameters
    ----------
    scored
        Scored pairs with ``match_weight``; with an ``is_match`` column
        (bool, from the labels) the bars are split into true matches and
        non-matches.
    threshold
        The match-probability threshold, drawn at its weight.
    bin_width
        Width of a bar in bits.

    Returns
    -------
    matplotlib.figure.Figure
        A histogram on a log count axis.

    Examples
    --------
    >>> scored = pl.DataFrame({"match_weight": [-20.0, -18.5, 12.0, 15.0],
    ...                        "is_match": [False, False, True, True]})
    >>> fig = match_weight_histogram(scored, threshold=0.5)
    >>> fig.axes[0].get_ylabel()
    'candidate pairs (log scale)'
    """
    title = "Match weight of the candidate pairs"
    require_columns(scored, (schema.MATCH_WEIGHT,), chart="match_weight_histogram")
    weights = scored.get_column(schema.MATCH_WEIGHT).cast(pl.Float64)
    ok = weights.is_not_null() & weights.is_not_nan()
    frame = scored.filter(ok)
    if frame.height == 0:
        return empty_figure(
            title,
            xlabel=WEIGHT_LABEL,
            ylabel="candidate pairs",
            message="no scored pairs",
        )
    w = frame.get_column(schema.MATCH_WEIGHT).cast(pl.Float64).to_numpy()
    low = np.floor(w.min() / bin_width) * bin_width
    high = np.ceil(w.max() / bin_width) * bin_width + bin_width
    bins = np.arange(low, high + bin_width / 2, bin_width)
    fig = new_figure(9, 4.2)
    ax = fig.add_subplot()
    if schema.IS_MATCH in frame.columns:
        truth = (
            frame.get_column(schema.IS_MATCH)
            .cast(pl.Boolean)
            .fill_null(False)
            .to_numpy()
        )
        ax.hist(
            [w[~truth], w[truth]],
            bins=bins.tolist(),
            stacked=True,
            color=[NEUTRAL, POSITIVE],
            label=[
                f"not a match ({format_count((~truth).sum())})",
                f"true match ({format_count(truth.sum())})",
            ],
        )
    else:
        ax.hist(
            w,
            bins=bins.tolist(),
            color=POSITIVE,
            label=f"pairs ({format_count(w.size)})",
        )
    ax.set_yscale("log")
    tallest = int(np.histogram(w, bins=bins)[0].max())
    ax.set_ylim(0.7, tallest * 40)  # headroom for the legend
    if threshold is not None:
        tw = float(probability_to_weight([threshold])[0])
        above = int((w >= tw).sum())
        ax.axvline(
            tw,
            color=THRESHOLD,
            linestyle="--",
            lw=1.2,
            label=f"threshold {threshold:g} ({tw:+.2f} bits): {format_count(above)} pairs above",
        )
    ax.set_xlabel(WEIGHT_LABEL)
    ax.set_ylabel("candidate pairs (log scale)")
    ax.grid(axis="y", alpha=0.3)
    ax.legend(loc="upper center", fontsize=8, framealpha=0.95)
    ax.set_title(title + f" ({bin_width:g}-bit bins)", fontsize=10)
    return fig


def cluster_size_chart(clusters: pl.DataFrame) -> Figure:
    """Plot how many clusters there are of each size.

    Parameters
    ----------
    clusters
        :meth:`Linker.cluster` output: one row per record with ``cluster_id``.

    Returns
    -------
    matplotlib.figure.Figure
        Clusters per size (log count axis), with the share of records in
        clusters of that size written above each bar.

    Examples
    --------
    >>> clusters = pl.DataFrame({"cluster_id": ["a", "a", "b", "c", "c", "c"]})
    >>> fig = cluster_size_chart(clusters)
    >>> fig.axes[0].get_xlabel()
    'cluster size (records)'
    """
    title = "Cluster sizes"
    xlabel = "cluster size (records)"
    require_columns(clusters, (schema.CLUSTER_ID,), chart="cluster_size_chart")
    if clusters.height == 0:
        return empty_figure(
            title, xlabel=xlabel, ylabel="clusters", message="no records"
        )
    sizes = (
        clusters.group_by(schema.CLUSTER_ID)
        .len("size")
        .group_by("size")
        .len("clusters")
        .sort("size")
    )
    size = sizes.get_column("size").to_numpy()
    count = sizes.get_column("clusters").to_numpy()
    records = clusters.height
    fig = new_figure(8, 4.2)
    ax = fig.add_subplot()
    many = size.size > 30
    if many:
        # log-spaced bins for long tails
        edges = np.unique(np.round(np.geomspace(1, size.max() + 1, 30)))
        hist, edges = np.histogram(size, bins=edges, weights=count)
        ax.bar(
            edges[:-1],
            hist,
            width=np.diff(edges),
            align="edge",
            color=POSITIVE,
            edgecolor="white",
        )
        ax.set_xscale("log")
    else:
        ax.bar(size, count, color=POSITIVE, width=0.8)
        ax.set_xticks(size, [str(s) for s in size], fontsize=8 if size.size < 20 else 6)
        for s, c in zip(size, count, strict=True):
            ax.text(
                s,
                c * 1.08,
                f"{format_count(c)}\n{s * c / records:.0%} of records",
                ha="center",
                va="bottom",
                fontsize=7,
            )
    ax.set_yscale("log")
    ax.set_ylim(0.8, count.max() * 6)
    ax.set_xlabel(xlabel)
    ax.set_ylabel("clusters (log scale)")
    ax.grid(axis="y", alpha=0.3)
    singletons = int(count[size == 1].sum()) if (size == 1).any() else 0
    ax.set_title(
        f"{title}: {format_count(count.sum())} clusters of {format_count(records)} records, "
        f"{format_count(singletons)} singletons, largest {int(size.max())}",
        fontsize=10,
    )
    return fig


def unlinkable_chart(
    self_scores: pl.DataFrame, *, threshold: float | None = None
) -> Figure:
    """Plot the share of records that could not be linked even to a copy of themselves.

    A record whose comparison with itself scores below the threshold cannot
    be linked to anything: it has too few fields, or only common values.

    Parameters
    ----------
    self_scores
        One row per record with the ``match_weight`` of the record compared
        with itself (:func:`er_toolkit.report.self_match_scores`).
    threshold
        The match-probability threshold, marked with the share below it.

    Returns
    -------
    matplotlib.figure.Figure
        The cumulative share of records whose self-match weight is below
        each weight.

    Examples
    --------
    >>> fig = unlinkable_chart(pl.DataFrame({"match_weight": [-2.0, 10.0, 30.0]}),
    ...                        threshold=0.5)
    >>> fig.axes[0].get_ylabel()
    'records scoring below (%)'
    """
    title = "Unlinkable records: each record compared with itself"
    require_columns(self_scores, (schema.MATCH_WEIGHT,), chart="unlinkable_chart")
    w = (
        self_scores.get_column(schema.MATCH_WEIGHT)
        .cast(pl.Float64)
        .drop_nulls()
        .to_numpy()
    )
    w = w[~np.isnan(w)]
    if w.size == 0:
        return empty_figure(
            title, xlabel="self-" + WEIGHT_LABEL, ylabel="records scoring below (%)"
        )
    ordered = np.sort(w)
    share = np.arange(1, ordered.size + 1) / ordered.size * 100
    fig = new_figure(8, 4.2)
    ax = fig.add_subplot()
    ax.step(ordered, share, where="post", color=POSITIVE, lw=1.6, label="records")
    if threshold is not None:
        tw = float(probability_to_weight([threshold])[0])
        below = int((w < tw).sum())
        ax.axvline(
            tw,
            color=THRESHOLD,
            linestyle="--",
            lw=1.2,
            label=(
                f"threshold {threshold:g} ({tw:+.2f} bits): {format_count(below)} records "
                f"({below / w.size:.2%}) below"
            ),
        )
        if below:
            ax.axvspan(ordered[0], tw, color=NEGATIVE, alpha=0.08)
    ax.set_ylim(0, 101)
    ax.set_xlabel("self-" + WEIGHT_LABEL)
    ax.set_ylabel("records scoring below (%)")
    ax.grid(alpha=0.3)
    ax.legend(loc="upper left", fontsize=8, framealpha=0.95)
    ax.set_title(title + f" ({format_count(w.size)} records)", fontsize=10)
    return fig
