"""Data-quality profiles per source and column, as a frame, a chart and in MLflow."""

from __future__ import annotations

import re
import tempfile
from collections.abc import Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Final

import polars as pl

from er_toolkit import schema
from er_toolkit.exceptions import SchemaError
from er_toolkit.standardise.base import BLANK, Steps, apply_standardisers

if TYPE_CHECKING:
    from matplotlib.figure import Figure

ALL_SOURCES: Final = "all"
"""The source name given to every row when a frame has no source column."""

PROFILE_SCHEMA: Final = {
    "source": pl.String,
    "column": pl.String,
    "rows": pl.UInt32,
    "missing": pl.UInt32,
    "completeness": pl.Float64,
    "distinct": pl.UInt32,
    "uniqueness": pl.Float64,
    "invalid": pl.UInt32,
    "validity": pl.Float64,
    "invalid_reasons": pl.String,
    "length_min": pl.UInt32,
    "length_mean": pl.Float64,
    "length_max": pl.UInt32,
    "top_values": pl.String,
    "top_patterns": pl.String,
}
"""Columns of a profile; :func:`profile_standardisation` adds ``stage`` first."""

_SRC: Final = "__profile_source"
_NESTED: Final = (pl.List, pl.Array, pl.Struct, pl.Object)


def _reason(column: str) -> str:
    return f"__profile_reason_{column}"


def value_pattern(values: pl.Expr) -> pl.Expr:
    """Return the shape of each value: upper-case letters → A, others → a, digits → 9.

    Examples
    --------
    >>> pl.select(value_pattern(pl.lit("Flat 3b, SW1A 1AA"))).item()
    'Aaaa 9a, AA9A 9AA'
    """
    return (
        values.str.replace_all(r"[\p{Ll}\p{Lt}\p{Lm}\p{Lo}]", "a")
        .str.replace_all(r"\p{Lu}", "A")
        .str.replace_all(r"\p{N}", "9")
    )


def _top(frame: pl.LazyFrame, key: pl.Expr, top_n: int, name: str) -> pl.LazyFrame:
    counted = (
        frame.select(_SRC, key.alias("key"))
        .drop_nulls("key")
        .group_by(_SRC, "key")
        .agg(pl.len().alias("n"))
        .sort([_SRC, "n", "key"], descending=[False, True, False])
    )
    label = pl.format("{} ({})", pl.col("key"), pl.col("n"))
    return (
        counted.group_by(_SRC, maintain_order=True)
        .head(top_n)
        .group_by(_SRC, maintain_order=True)
        .agg(label.str.join("; ").alias(name))
    )


def _profile_column(frame: pl.LazyFrame, column: str, top_n: int) -> pl.LazyFrame:
    text = pl.col(column).cast(pl.String)
    present = text.is_not_null() & (text.str.strip_chars() != "")
    kept = text.filter(present)
    stats = frame.group_by(_SRC).agg(
        pl.len().cast(pl.UInt32).alias("rows"),
        (~present).sum().cast(pl.UInt32).alias("missing"),
        kept.n_unique().cast(pl.UInt32).alias("distinct"),
        kept.str.len_chars().min().cast(pl.UInt32).alias("length_min"),
        kept.str.len_chars().mean().alias("length_mean"),
        kept.str.len_chars().max().cast(pl.UInt32).alias("length_max"),
    )
    present_text = pl.when(present).then(text)
    frames = [
        _top(frame, present_text, top_n, "top_values"),
        _top(frame, value_pattern(present_text), top_n, "top_patterns"),
    ]
    reason = _reason(column)
    if reason in frame.collect_schema().names():
        is_invalid = pl.col(reason).is_not_null() & (pl.col(reason) != BLANK)
        invalid = frame.group_by(_SRC).agg(
            is_invalid.sum().cast(pl.UInt32).alias("invalid")
        )
        invalid_reason = pl.when(is_invalid).then(pl.col(reason))
        frames += [invalid, _top(frame, invalid_reason, 1_000, "invalid_reasons")]
    for extra in frames:
        stats = stats.join(extra, on=_SRC, how="left", maintain_order="left")
    present_n = pl.col("rows") - pl.col("missing")
    out = stats.with_columns(
        pl.lit(column).alias("column"),
        (present_n / pl.col("rows")).alias("completeness"),
        pl.when(present_n > 0).then(pl.col("distinct") / present_n).alias("uniqueness"),
    )
    if "invalid" in out.collect_schema().names():
        out = out.with_columns(
            pl.col("invalid").fill_null(0),
            pl.when(present_n > 0)
            .then(1 - pl.col("invalid").fill_null(0) / present_n)
            .alias("validity"),
        )
    columns = [
        pl.col(_SRC).alias("source"),
        *(
            pl.col(name).cast(dtype)
            if name in out.collect_schema().names()
            else pl.lit(None, dtype=dtype).alias(name)
            for name, dtype in PROFILE_SCHEMA.items()
            if name != "source"
        ),
    ]
    return out.select(columns)


def _with_source(frame: pl.DataFrame, source_column: str | None) -> pl.LazyFrame:
    lazy = frame.lazy()
    if source_column is not None and source_column in frame.columns:
        return lazy.with_columns(pl.col(source_column).cast(pl.String).alias(_SRC))
    return lazy.with_columns(pl.lit(ALL_SOURCES).alias(_SRC))


def _columns(
    frame: pl.DataFrame, columns: Sequence[str] | None, source_column: str | None
) -> list[str]:
    if columns is None:
        return [
            name
            for name, dtype in frame.schema.items()
            if name != source_column and not isinstance(dtype, _NESTED)
        ]
    missing = [name for name in columns if name not in frame.columns]
    if missing:
        raise SchemaError(
            f"Cannot profile missing column(s) {missing}; valid columns: "
            f"{frame.columns}."
        )
    nested = [name for name in columns if isinstance(frame.schema[name], _NESTED)]
    if nested:
        raise SchemaError(
            f"Cannot profile nested column(s) {nested}; profile their fields "
            "after unnesting them."
        )
    return list(columns)


def _profile(lazy: pl.LazyFrame, columns: Sequence[str], top_n: int) -> pl.DataFrame:
    if not columns:
        return pl.DataFrame(schema=PROFILE_SCHEMA)
    parts = [_profile_column(lazy, column, top_n) for column in columns]
    profile = pl.concat(pl.collect_all(parts))
    order = pl.DataFrame({"column": list(columns)}).with_row_index("__order")
    return profile.join(order, on="column").sort("source", "__order").drop("__order")


def profile_frame(
    frame: pl.DataFrame,
    *,
    source_column: str | None = schema.SOURCE,
    columns: Sequence[str] | None = None,
    validity: Steps | None = None,
    top_n: int = 5,
) -> pl.DataFrame:
    """Profile the data quality of each column, per source.

    Parameters
    ----------
    frame
        The records.
    source_column
        The column naming each record's source. When None, or when ``frame``
        has no such column, the whole frame is one source called ``"all"``.
    columns
        The columns to profile; default every column but the source column
        (nested columns are skipped).
    validity
        Standardisers by column: a value is valid when it is present and its
        standardiser does not turn it into null.
    top_n
        How many most frequent values and patterns to list.

    Returns
    -------
    polars.DataFrame
        One row per source and column (sorted by source, then in column order),
        with the columns of :data:`PROFILE_SCHEMA`: ``rows``; ``missing`` (null
        or blank); ``completeness`` (share present); ``distinct`` (distinct
        present values) and ``uniqueness`` (``distinct`` / present);
        ``invalid``, ``validity`` (share of present values that are valid) and
        ``invalid_reasons`` (null for columns without a standardiser);
        ``length_min`` / ``length_mean`` / ``length_max`` (in characters);
        ``top_values`` and ``top_patterns`` as ``"value (count); ..."``, where
        a pattern writes upper-case letters as ``A``, other letters as ``a``
        and digits as ``9``.

    Raises
    ------
    SchemaError
        A requested column is missing or nested.

    Examples
    --------
    >>> from er_toolkit.standardise import PhoneStandardiser
    >>> df = pl.DataFrame({"phone": ["020 7946 0958", "020 7946 0958", "n/a", None]})
    >>> p = profile_frame(df, validity={"phone": PhoneStandardiser()}, top_n=1)
    >>> columns = ["source", "completeness", "distinct", "validity", "top_patterns"]
    >>> p.select(columns).with_columns(pl.selectors.float().round(3)).row(0)
    ('all', 0.75, 2, 0.667, '999 9999 9999 (2)')
    """
    names = _columns(frame, columns, source_column)
    lazy = _with_source(frame, source_column)
    if validity:
        unknown = [column for column in validity if column not in frame.columns]
        if unknown:
            raise SchemaError(
                f"Cannot check the validity of missing column(s) {unknown}; valid "
                f"columns: {frame.columns}."
            )
        steps = {column: validity[column] for column in validity if column in names}
        checked, _ = apply_standardisers(frame.select(list(steps)), steps, reasons=True)
        lazy = pl.concat(
            [
                lazy,
                checked.lazy().select(
                    pl.col(f"{c}_reason").alias(_reason(c)) for c in steps
                ),
            ],
            how="horizontal",
        )
    return _profile(lazy, names, top_n)


def profile_standardisation(
    frame: pl.DataFrame,
    steps: Steps,
    *,
    source_column: str | None = schema.SOURCE,
    top_n: int = 5,
) -> tuple[pl.DataFrame, pl.DataFrame]:
    """Standardise ``frame`` and profile its columns before and after.

    Parameters
    ----------
    frame
        The records.
    steps
        Standardisers by column, as for ``apply_standardisers``.
    source_column, top_n
        As for :func:`profile_frame`.

    Returns
    -------
    standardised : polars.DataFrame
        As returned by ``apply_standardisers``.
    profile : polars.DataFrame
        A ``stage`` column (``"before"`` or ``"after"``) then the profile
        columns. Before, validity is that of the standardisers; after, the
        values that could not be standardised are missing, and the extra
        outputs (``<column>_<part>``) are profiled too.

    Examples
    --------
    >>> from er_toolkit.standardise import EmailStandardiser
    >>> df = pl.DataFrame({"email": ["A@x.com", "a@x.com ", "nope"]})
    >>> out, p = profile_standardisation(df, {"email": EmailStandardiser()})
    >>> columns = ["stage", "completeness", "distinct", "validity"]
    >>> p.select(columns).with_columns(pl.selectors.float().round(3)).rows()
    [('before', 1.0, 3, 0.667), ('after', 0.667, 1, None)]
    """
    standardised, _ = apply_standardisers(frame, steps, reasons=True)
    reason_columns = [f"{column}_reason" for column in steps]
    names = _columns(frame, None, source_column)
    before_lazy = pl.concat(
        [
            _with_source(frame, source_column),
            standardised.lazy().select(
                pl.col(f"{c}_reason").alias(_reason(c)) for c in steps
            ),
        ],
        how="horizontal",
    )
    standardised = standardised.drop(reason_columns)
    after_names = _columns(standardised, None, source_column)
    before = _profile(before_lazy, names, top_n)
    after = _profile(_with_source(standardised, source_column), after_names, top_n)
    profile = pl.concat(
        [
            before.select(pl.lit("before").alias("stage"), pl.all()),
            after.select(pl.lit("after").alias("stage"), pl.all()),
        ]
    )
    return standardised, profile


def _labels(profile: pl.DataFrame) -> list[str]:
    parts = [pl.col("source"), pl.col("column")]
    if "stage" in profile.columns:
        parts.append(pl.col("stage"))
    return profile.select(pl.concat_str(parts, separator=" · ")).to_series().to_list()


def plot_profile(profile: pl.DataFrame) -> Figure:
    """Draw completeness, validity and uniqueness of each profiled column.

    Parameters
    ----------
    profile
        As returned by :func:`profile_frame` or :func:`profile_standardisation`.

    Returns
    -------
    matplotlib.figure.Figure
        Three bar charts side by side, one bar per row of ``profile`` (grey
        before standardisation, blue after, or blue without stages).

    Examples
    --------
    >>> fig = plot_profile(profile_frame(pl.DataFrame({"a": ["x", None]})))
    >>> [ax.get_title() for ax in fig.axes]
    ['completeness', 'validity', 'uniqueness']
    """
    from matplotlib.figure import Figure

    missing = {"source", "column", "completeness", "validity", "uniqueness"}
    missing -= set(profile.columns)
    if missing:
        raise SchemaError(
            f"plot_profile needs a profile frame; columns {sorted(missing)} are "
            "missing. Make one with profile_frame."
        )
    labels = _labels(profile)
    height = 1.5 + 0.3 * max(len(labels), 1)
    fig = Figure(figsize=(12, height), layout="constrained")
    axes = fig.subplots(1, 3, sharey=True)
    positions = list(range(len(labels)))
    stages = profile.get_column("stage").to_list() if "stage" in profile.columns else []
    colours = ["tab:gray" if stage == "before" else "tab:blue" for stage in stages]
    units = {
        "completeness": "share of rows with a value",
        "validity": "share of values a standardiser accepts",
        "uniqueness": "distinct / present values",
    }
    for ax, metric in zip(
        axes, ("completeness", "validity", "uniqueness"), strict=True
    ):
        raw = profile[metric].to_list()
        values = [v if v is not None else 0.0 for v in raw]
        ax.barh(positions, values, color=colours or "tab:blue")
        ax.set_xlim(0, 1)
        ax.set_title(metric)
        ax.set_xlabel(units[metric], fontsize=8)
        ax.grid(axis="x", alpha=0.3)
        if all(v is None for v in raw):
            ax.text(
                0.5,
                0.5,
                "not measured:\nno column has a standardiser",
                transform=ax.transAxes,
                ha="center",
                va="center",
                color="#555555",
            )
    axes[0].set_yticks(positions, labels)
    axes[0].invert_yaxis()
    if stages:
        fig.suptitle("Data quality per source and column (grey: before standardising)")
    else:
        fig.suptitle("Data quality per source and column")
    return fig


def _metric_name(*parts: str) -> str:
    return ".".join(re.sub(r"[^0-9A-Za-z_\-/ ]", "_", part) for part in parts)


def log_profile(profile: pl.DataFrame, *, artifact_path: str = "profile") -> None:
    """Log a profile to the active MLflow run (starting one if there is none).

    Logs ``<artifact_path>/profile.csv``, the chart as
    ``<artifact_path>/profile.png``, and metrics named
    ``profile.[<stage>.]<source>.<column>.<completeness|validity|uniqueness>``.

    Parameters
    ----------
    profile
        As returned by :func:`profile_frame` or :func:`profile_standardisation`.
    artifact_path
        The folder of the run's artifacts to write to.
    """
    import mlflow

    metrics: dict[str, float] = {}
    has_stage = "stage" in profile.columns
    for row in profile.iter_rows(named=True):
        prefix = ["profile", *([row["stage"]] if has_stage else [])]
        for metric in ("completeness", "validity", "uniqueness"):
            if row[metric] is not None:
                name = _metric_name(*prefix, row["source"], row["column"], metric)
                metrics[name] = float(row[metric])
    if metrics:
        mlflow.log_metrics(metrics)
    with tempfile.TemporaryDirectory() as folder:
        path = Path(folder) / "profile.csv"
        profile.write_csv(path)
        mlflow.log_artifact(str(path), artifact_path=artifact_path)
    mlflow.log_figure(plot_profile(profile), f"{artifact_path}/profile.png")
