"""Classifier feature importances, grouped by comparison, the stacked FS weight apart."""

from __future__ import annotations

from typing import TYPE_CHECKING, Final

import numpy as np
import polars as pl

from er_toolkit import schema
from er_toolkit.charts._common import (
    CEILING,
    NEGATIVE,
    NEUTRAL,
    POSITIVE,
    SECOND,
    empty_figure,
    new_figure,
    note,
    require_columns,
)

if TYPE_CHECKING:
    from matplotlib.axes import Axes
    from matplotlib.figure import Figure

_KINDS: Final = (
    (schema.GAMMA_PREFIX, "gamma level", POSITIVE),
    (schema.SIM_PREFIX, "raw similarity", SECOND),
    (schema.BF_PREFIX, "Fellegi-Sunter contribution (bf_)", "#8e44ad"),
)
_XLABEL: Final = "drop in average precision when permuted"


def _split(feature: str) -> tuple[str | None, str]:
    """Return (comparison, kind prefix) of a feature, or (None, name) for others."""
    for prefix, _, _ in _KINDS:
        if feature.startswith(prefix):
            return feature[len(prefix) :], prefix
    return None, feature


def _bars(
    ax: Axes, names: list[str], values: np.ndarray, std: np.ndarray, colour: str
) -> None:
    y = np.arange(len(names))
    ax.barh(
        y,
        values,
        xerr=std,
        color=[colour if v >= 0 else NEGATIVE for v in values],
        height=0.6,
        error_kw={"lw": 0.8},
    )
    ax.set_yticks(y, names, fontsize=8)


def feature_importance_chart(
    table: pl.DataFrame,
    *,
    by_comparison: pl.DataFrame | None = None,
    top: int = 30,
) -> Figure:
    """Plot a classifier's feature importances, grouped by comparison.

    Features of one comparison (its gamma level, raw similarity and, when
    stacked, its Fellegi-Sunter contribution) sit side by side; features of
    no comparison (the stacked ``fs_match_weight``) get their own panel and
    scale, so a dominant stacked weight does not flatten the fields.
    Permuting one feature at a time says little when the model reads the
    same evidence twice (a field's ``bf_`` and the stacked weight it sums
    into); ``by_comparison`` adds a panel where each comparison's features
    are permuted together and the stacked weight recomputed.

    Parameters
    ----------
    table
        :meth:`ClassifierScorer.feature_importance_table` output
        (``feature``, ``importance``, ``std``).
    by_comparison
        ``comparison``, ``importance``, ``std``, as made by
        :func:`er_toolkit.report.comparison_importance`.
    top
        How many comparisons to show, the most important first.

    Returns
    -------
    matplotlib.figure.Figure
        Horizontal bars with their spread over the permutation repeats.

    Examples
    --------
    >>> table = pl.DataFrame({"feature": ["gamma_name", "sim_name", "fs_match_weight"],
    ...     "importance": [0.02, 0.05, 0.4], "std": [0.01, 0.01, 0.02]})
    >>> fig = feature_importance_chart(table)
    >>> [ax.get_title() for ax in fig.axes]
    ['features of no one comparison', 'each feature of a comparison']
    """
    title = "Feature importance (permutation)"
    require_columns(
        table, ("feature", "importance", "std"), chart="feature_importance_chart"
    )
    if by_comparison is not None:
        require_columns(
            by_comparison,
            ("comparison", "importance", "std"),
            chart="feature_importance_chart",
        )
    if table.height == 0:
        return empty_figure(
            title, xlabel=_XLABEL, ylabel="feature", message="no features"
        )
    parts = [_split(f) for f in table.get_column("feature")]
    frame = table.with_columns(
        pl.Series("comparison", [c for c, _ in parts], dtype=pl.String),
        pl.Series("kind", [k for _, k in parts], dtype=pl.String),
        pl.col("std").fill_null(0.0),
    )
    grouped = frame.filter(pl.col("comparison").is_not_null())
    other = frame.filter(pl.col("comparison").is_null()).sort(
        "importance", descending=True
    )
    if by_comparison is not None and by_comparison.height:
        ranking = by_comparison.select("comparison", pl.col("importance").alias("best"))
    else:
        ranking = grouped.group_by("comparison").agg(
            pl.col("importance").max().alias("best")
        )
    order = (
        ranking.sort(["best", "comparison"], descending=[True, False])
        .head(top)
        .get_column("comparison")
        .to_list()
    )
    order += [
        c
        for c in grouped.get_column("comparison").unique(maintain_order=True)
        if c not in order
    ][: max(top - len(order), 0)]
    panels = []
    if other.height:
        panels.append(("other", 1.0))
    if order:
        panels.append(("features", 2.2))
    if order and by_comparison is not None and by_comparison.height:
        panels.append(("comparisons", 1.6))
    rows = max(len(order), other.height, 1)
    fig = new_figure(3 + 3.4 * len(panels), 0.42 * rows + 2.0)
    axes = fig.subplots(
        1, len(panels), squeeze=False, width_ratios=[w for _, w in panels]
    )[0]
    for ax, (kind, _) in zip(axes, panels, strict=True):
        ax.axvline(0, color="black", lw=0.8)
        ax.set_xlabel(_XLABEL, fontsize=8)
        ax.grid(axis="x", alpha=0.3)
        ax.set_ylim(rows - 0.5, -0.5)
        if kind == "other":
            _bars(
                ax,
                other.get_column("feature").to_list(),
                other.get_column("importance").to_numpy(),
                other.get_column("std").to_numpy(),
                NEUTRAL,
            )
            ax.set_title("features of no one comparison", fontsize=10)
        elif kind == "features":
            _grouped_bars(ax, grouped, order)
            ax.set_title("each feature of a comparison", fontsize=10)
            if not np.any(grouped.get_column("importance").to_numpy() != 0):
                note(
                    ax,
                    "every feature scores 0 alone: the model\nfinds the same evidence "
                    + (
                        "in the stacked weight" if other.height else "in other features"
                    ),
                )
        else:
            assert by_comparison is not None
            at = by_comparison.join(
                pl.DataFrame({"comparison": order}).with_row_index("__at"),
                on="comparison",
            ).sort("__at")
            y = at.get_column("__at").to_numpy()
            values = at.get_column("importance").to_numpy()
            ax.barh(
                y,
                values,
                xerr=at.get_column("std").fill_null(0.0).to_numpy(),
                color=[CEILING if v >= 0 else NEGATIVE for v in values],
                height=0.6,
                error_kw={"lw": 0.8},
            )
            ax.set_yticks(range(len(order)), order, fontsize=8)
            ax.set_title(
                "each comparison, all its features\n(stacked weight recomputed)",
                fontsize=10,
            )
    fig.suptitle(title)
    return fig


def _grouped_bars(ax: Axes, grouped: pl.DataFrame, order: list[str]) -> None:
    kinds = [k for k in _KINDS if grouped.filter(pl.col("kind") == k[0]).height]
    width = 0.8 / max(len(kinds), 1)
    at = {c: i for i, c in enumerate(order)}
    for j, (prefix, label, colour) in enumerate(kinds):
        rows = grouped.filter(
            pl.col("kind") == prefix, pl.col("comparison").is_in(order)
        )
        pos = np.array([at[c] for c in rows.get_column("comparison")], dtype=np.float64)
        ax.barh(
            pos - 0.4 + width * (j + 0.5),
            rows.get_column("importance").to_numpy(),
            xerr=rows.get_column("std").to_numpy(),
            height=width,
            color=colour,
            label=label,
            error_kw={"lw": 0.8},
        )
    ax.set_yticks(range(len(order)), order, fontsize=8)
    ax.legend(loc="lower right", fontsize=8, framealpha=0.95)
