"""Charts of the Fellegi-Sunter model: level weights with m and u, one pair's waterfall, TF."""

from __future__ import annotations

from collections.abc import Mapping
from typing import TYPE_CHECKING, Any

import numpy as np
import polars as pl

from er_toolkit import schema
from er_toolkit.charts._common import (
    NEGATIVE,
    NEUTRAL,
    POSITIVE,
    SECOND,
    THRESHOLD,
    WEIGHT_LABEL,
    empty_figure,
    format_probability,
    new_figure,
    probability_to_weight,
    require_columns,
)

if TYPE_CHECKING:
    from matplotlib.figure import Figure

_BF_COLUMNS = ("comparison", "level", "m", "u", "log2_bayes_factor")


def match_weights_chart(table: pl.DataFrame, *, prior_weight: float) -> Figure:
    """Plot each comparison level's match weight, with its m and u beside it.

    Parameters
    ----------
    table
        :meth:`FellegiSunter.bayes_factor_table` output (``comparison``,
        ``level``, ``m``, ``u``, ``log2_bayes_factor``).
    prior_weight
        log2 prior odds (λ), drawn as its own bar.

    Returns
    -------
    matplotlib.figure.Figure
        Left: one bar per level, grouped by comparison, blue for evidence
        for a match and red against, its weight written at the bar's end.
        Right: m (share of matches at the level) and u (share of non-matches)
        on a log scale; the gap between them is the weight.

    Examples
    --------
    >>> table = pl.DataFrame({"comparison": ["name", "name"], "gamma": [0, 1],
    ...     "level": ["else", "exact"], "m": [0.1, 0.9], "u": [0.99, 0.01],
    ...     "log2_bayes_factor": [-3.3, 6.5]})
    >>> fig = match_weights_chart(table, prior_weight=-10.0)
    >>> [ax.get_xlabel() for ax in fig.axes][:2]
    ['match weight (log2 Bayes factor, bits)', 'probability of the level (log scale)']
    """
    title = "Match weight of each comparison level"
    require_columns(table, _BF_COLUMNS, chart="match_weights_chart")
    if table.height == 0:
        return empty_figure(title, xlabel=WEIGHT_LABEL, ylabel="comparison level")
    comparisons = table.get_column("comparison").to_list()
    labels = ["prior odds (λ)"] + [
        f"{c}: {lvl}"
        for c, lvl in zip(comparisons, table.get_column("level"), strict=True)
    ]
    weights = np.array([prior_weight, *table.get_column("log2_bayes_factor")])
    m = table.get_column("m").to_numpy()
    u = table.get_column("u").to_numpy()
    n = len(labels)
    fig = new_figure(12, 0.27 * n + 1.6)
    ax, mu = fig.subplots(1, 2, sharey=True, width_ratios=(3, 2))
    y = np.arange(n)
    colours = [NEUTRAL] + [POSITIVE if w >= 0 else NEGATIVE for w in weights[1:]]
    # a weight that is not finite (λ or a level of a degenerate fit) gets no bar
    weights = np.where(np.isfinite(weights), weights, np.nan)
    shown = np.r_[weights[np.isfinite(weights)], 0.0]
    ax.barh(y, np.nan_to_num(weights), color=colours, height=0.7)
    span = float(np.ptp(shown)) or 1.0
    for yi, w in zip(y, weights, strict=True):
        if not np.isfinite(w):
            ax.text(0, yi, " not finite", va="center", ha="left", fontsize=7)
            continue
        ax.text(
            w + (0.01 * span if w >= 0 else -0.01 * span),
            yi,
            f"{w:+.2f}",
            va="center",
            ha="left" if w >= 0 else "right",
            fontsize=7,
        )
    low, high = float(shown.min()), float(shown.max())
    ax.set_xlim(low - 0.12 * span, high + 0.12 * span)
    ax.axvline(0, color="black", linewidth=0.8)
    ax.set_yticks(y, labels, fontsize=8)
    ax.set_xlabel(WEIGHT_LABEL)
    ax.grid(axis="x", alpha=0.3)
    # thin lines between comparisons
    for k in range(1, n - 1):
        if comparisons[k] != comparisons[k - 1]:
            for a in (ax, mu):
                a.axhline(k + 0.5, color="#cccccc", linewidth=0.6)
    if n > 1:
        for a in (ax, mu):
            a.axhline(0.5, color="#cccccc", linewidth=0.6)
    mu.hlines(y[1:], np.minimum(m, u), np.maximum(m, u), color="#bbbbbb", lw=1.5)
    mu.scatter(m, y[1:], color=POSITIVE, s=18, zorder=3, label="m = P(level | match)")
    mu.scatter(
        u,
        y[1:],
        color=SECOND,
        marker="s",
        s=18,
        zorder=3,
        label="u = P(level | non-match)",
    )
    mu.set_xscale("log")
    mu.set_xlabel("probability of the level (log scale)")
    mu.grid(axis="x", alpha=0.3)
    ax.set_ylim(n - 0.5, -0.5)
    fig.legend(loc="outside lower right", fontsize=8, ncols=2, frameon=False)
    mu.set_title("m and u", fontsize=10)
    ax.set_title("weight = log2(m / u)", fontsize=10)
    fig.suptitle(title)
    return fig


def _row(pair: pl.DataFrame | Mapping[str, Any]) -> dict[str, Any]:
    if isinstance(pair, pl.DataFrame):
        if pair.height != 1:
            from er_toolkit.exceptions import SchemaError

            raise SchemaError(
                f"waterfall_chart explains one pair; got a frame of {pair.height} rows. "
                "Select one, e.g. explained.row(0, named=True) or explained[0]."
            )
        return pair.row(0, named=True)
    return dict(pair)


def waterfall_chart(
    pair: pl.DataFrame | Mapping[str, Any],
    *,
    prior_weight: float,
    level_labels: Mapping[str, list[str]] | None = None,
    threshold: float | None = None,
    title: str | None = None,
) -> Figure:
    """Explain one pair's match weight step by step, from the prior to the total.

    Parameters
    ----------
    pair
        One row of ``Linker.predict(..., explain=True)`` (a one-row frame or
        a dict): its ``bf_<comparison>`` contributions and, where present,
        its ``gamma_<comparison>`` levels.
    prior_weight
        log2 prior odds, the first step.
    level_labels
        Each comparison's level labels by gamma value
        (``Comparison.level_labels``), to name the level each step is for.
    threshold
        The match-probability threshold, drawn as a line at its weight.
    title
        The chart's title (default: the pair's weight and probability).

    Returns
    -------
    matplotlib.figure.Figure
        One horizontal step per comparison (blue adds evidence, red takes it
        away; zero-width steps are null comparisons), then the total.

    Examples
    --------
    >>> fig = waterfall_chart({"bf_name": 6.5, "gamma_name": 1, "bf_dob": -2.0},
    ...     prior_weight=-10.0, level_labels={"name": ["else", "exact"]})
    >>> [t.get_text() for t in fig.axes[0].get_yticklabels()]
    ['prior odds (λ)   -10.00', 'name: exact   +6.50', 'dob   -2.00', 'total   -5.50']
    """
    row = _row(pair)
    names = [k[len(schema.BF_PREFIX) :] for k in row if k.startswith(schema.BF_PREFIX)]
    contributions = np.array(
        [float(row[schema.bf(n)] or 0.0) for n in names], dtype=np.float64
    )
    total = prior_weight + float(contributions.sum())
    heading = title or (
        f"Why this pair scores {total:+.2f} bits "
        f"(match probability {format_probability(total)})"
    )
    if not names:
        return empty_figure(
            heading,
            xlabel=WEIGHT_LABEL,
            ylabel="comparison",
            message="no bf_ contributions: predict with explain=True",
        )
    labels = ["prior odds (λ)"]
    for n in names:
        gamma = row.get(schema.gamma(n))
        # a classifier's features are floats, NaN where null
        gamma = int(gamma) if gamma is not None and not np.isnan(gamma) else None
        if gamma is None:
            labels.append(n)
        elif gamma == schema.NULL_LEVEL:
            labels.append(f"{n}: null")
        elif level_labels and n in level_labels and 0 <= gamma < len(level_labels[n]):
            labels.append(f"{n}: {level_labels[n][gamma]}")
        else:
            labels.append(f"{n}: level {gamma}")
    labels.append("total")
    steps = np.r_[prior_weight, contributions]
    ends = np.cumsum(steps)
    starts = ends - steps
    k = len(labels)
    fig = new_figure(9, 0.32 * k + 1.5)
    ax = fig.add_subplot()
    y = np.arange(k)
    colours = [NEUTRAL] + [POSITIVE if s >= 0 else NEGATIVE for s in contributions]
    ax.barh(y[:-1], steps, left=starts, color=colours, height=0.6)
    ax.barh(y[-1], total, left=0, color=THRESHOLD, height=0.6)
    for i in range(k - 2):  # connectors between steps
        ax.plot([ends[i], ends[i]], [i + 0.3, i + 0.7], color="#999999", lw=0.8)
    span = float(max(np.ptp(np.r_[starts, ends, total, 0.0]), 1.0))
    values = [*steps, total]
    labels = [
        f"{label}   {value:+.2f}" for label, value in zip(labels, values, strict=True)
    ]
    low = min(starts.min(), ends.min(), total, 0.0)
    high = max(starts.max(), ends.max(), total, 0.0)
    ax.set_xlim(low - 0.05 * span, high + 0.05 * span)
    ax.axvline(0, color="black", linewidth=0.8)
    if threshold is not None:
        w = float(probability_to_weight([threshold])[0])
        ax.axvline(
            w,
            color=THRESHOLD,
            linestyle="--",
            linewidth=1,
            label=f"threshold {threshold:g} ({w:+.2f} bits)",
        )
        fig.legend(loc="outside lower right", fontsize=8, frameon=False)
    ax.set_yticks(y, labels, fontsize=8)
    ax.invert_yaxis()
    ax.set_xlabel("cumulative " + WEIGHT_LABEL)
    ax.grid(axis="x", alpha=0.3)
    ax.set_title(heading, fontsize=10)
    return fig


def term_frequency_chart(table: pl.DataFrame) -> Figure:
    """Plot how term-frequency adjustment changes an exact agreement's weight.

    Parameters
    ----------
    table
        As made by :func:`er_toolkit.report.term_frequency_table`:
        ``comparison``; ``value`` (masked or not; null for a row that stands
        for every rarer value of one count); ``values`` (how many values the
        row stands for); ``count`` (records holding each of them); ``weight``
        (the adjusted weight of an exact agreement on such a value) and
        ``base_weight`` (the exact level's unadjusted weight).

    Returns
    -------
    matplotlib.figure.Figure
        One panel per comparison: the adjusted weight of the most common
        values, then of the rarer values by how many records hold them, the
        unadjusted weight dashed.

    Examples
    --------
    >>> table = pl.DataFrame({"comparison": ["name"] * 3, "value": ["a", "b", None],
    ...     "values": [1, 1, 40], "count": [50, 5, 1], "weight": [2.0, 5.3, 7.6],
    ...     "base_weight": [6.0] * 3})
    >>> fig = term_frequency_chart(table)
    >>> [t.get_text() for t in fig.axes[0].get_yticklabels()][-1]
    '40 other values, 1 record each'
    """
    title = "Term-frequency adjusted weight of an exact agreement"
    require_columns(
        table,
        ("comparison", "value", "values", "count", "weight", "base_weight"),
        chart="term_frequency_chart",
    )
    if table.height == 0:
        return empty_figure(
            title,
            xlabel=WEIGHT_LABEL,
            ylabel="value (records holding it)",
            message="no comparison has a term-frequency adjusted level",
        )
    groups = table.partition_by("comparison", maintain_order=True, as_dict=False)
    heights = [g.height + 1.2 for g in groups]
    fig = new_figure(8, 0.24 * sum(heights) + 1.4)
    axes = fig.subplots(len(groups), 1, height_ratios=heights, squeeze=False)[:, 0]
    for ax, group in zip(axes, groups, strict=True):
        base = float(group.item(0, "base_weight"))
        w = group.get_column("weight").to_numpy()
        labels = []
        for value, values, count in group.select(
            "value", "values", "count"
        ).iter_rows():
            records = f"{count:,} record{'s' if count != 1 else ''}"
            labels.append(
                f"{value} ({records})"
                if value is not None
                else f"{values:,} other value{'s' if values != 1 else ''}, {records} each"
            )
        y = np.arange(group.height)
        single = group.get_column("value").is_not_null().to_numpy()
        colours = [POSITIVE if one else SECOND for one in single]
        ax.barh(y, w, color=colours, height=0.7)
        ax.axvline(
            base,
            color=THRESHOLD,
            linestyle="--",
            linewidth=1,
            label=f"unadjusted exact level {base:+.2f} bits",
        )
        ax.axvline(0, color="black", linewidth=0.6)
        if single.any() and not single.all():
            ax.axhline(int(single.sum()) - 0.5, color="#999999", lw=0.8, ls=":")
        ax.set_yticks(y, labels, fontsize=7)
        ax.set_ylim(group.height - 0.5, -0.5)
        ax.set_title(str(group.item(0, "comparison")), fontsize=10)
        low = min(0.0, float(w.min()), base)
        high = max(float(w.max()), base, 0.0)
        ax.set_xlim(low - 0.5, high + 0.08 * (high - low) + 0.5)
        ax.grid(axis="x", alpha=0.3)
        ax.legend(loc="upper right", fontsize=7, framealpha=0.95)
    axes[-1].set_xlabel(WEIGHT_LABEL)
    fig.suptitle(
        title + "\n(blue: the most common values; green: rarer values, grouped)",
        fontsize=11,
    )
    return fig
