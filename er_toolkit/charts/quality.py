"""Data quality: completeness of each column in each source."""

from __future__ import annotations

from typing import TYPE_CHECKING

import numpy as np
import polars as pl

from er_toolkit.charts._common import empty_figure, new_figure, require_columns

if TYPE_CHECKING:
    from matplotlib.figure import Figure


def completeness_chart(profile: pl.DataFrame) -> Figure:
    """Plot the completeness of each column per source as a heat map.

    Parameters
    ----------
    profile
        :func:`er_toolkit.standardise.profile_frame` output (or
        :func:`~er_toolkit.standardise.profile_standardisation`'s, whose
        ``stage`` becomes part of each column heading).

    Returns
    -------
    matplotlib.figure.Figure
        One cell per column and source, its share of present values written
        in it.

    Examples
    --------
    >>> from er_toolkit.standardise import profile_frame
    >>> profile = profile_frame(pl.DataFrame({"source": ["a", "b"], "x": ["1", None]}))
    >>> fig = completeness_chart(profile)
    >>> [t.get_text() for t in fig.axes[0].get_xticklabels()]
    ['a', 'b']
    """
    title = "Completeness: share of rows with a value"
    require_columns(
        profile, ("source", "column", "completeness"), chart="completeness_chart"
    )
    if profile.height == 0:
        return empty_figure(
            title, xlabel="source", ylabel="column", message="no columns profiled"
        )
    heading = pl.col("source").cast(pl.String)
    if "stage" in profile.columns:
        heading = pl.concat_str([heading, pl.col("stage")], separator=" · ")
    frame = profile.select(
        heading.alias("heading"),
        pl.col("column"),
        pl.col("completeness").cast(pl.Float64),
    )
    headings = frame.get_column("heading").unique(maintain_order=True).to_list()
    columns = frame.get_column("column").unique(maintain_order=True).to_list()
    grid = np.full((len(columns), len(headings)), np.nan)
    col_at = {c: i for i, c in enumerate(columns)}
    head_at = {h: j for j, h in enumerate(headings)}
    for h, c, v in frame.iter_rows():
        grid[col_at[c], head_at[h]] = np.nan if v is None else v
    fig = new_figure(max(4.5, 1.1 * len(headings) + 3), 0.36 * len(columns) + 1.6)
    ax = fig.add_subplot()
    image = ax.imshow(grid, cmap="Blues", vmin=0, vmax=1, aspect="auto")
    for i in range(len(columns)):
        for j in range(len(headings)):
            v = grid[i, j]
            text = "n/a" if np.isnan(v) else f"{v:.1%}"
            ax.text(
                j,
                i,
                text,
                ha="center",
                va="center",
                fontsize=8,
                color="white" if not np.isnan(v) and v > 0.6 else "black",
            )
    ax.set_xticks(
        range(len(headings)),
        headings,
        fontsize=8,
        rotation=20 if len(headings) > 4 else 0,
    )
    ax.set_yticks(range(len(columns)), columns, fontsize=8)
    ax.set_xlabel("source")
    ax.set_ylabel("column")
    bar = fig.colorbar(image, ax=ax, fraction=0.05)
    bar.set_label("completeness (share of rows)", fontsize=8)
    ax.set_title(title, fontsize=10)
    return fig
