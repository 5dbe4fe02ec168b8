"""Warnings where a run goes on but its output would be silently poor."""

from __future__ import annotations

import math
import warnings
from collections.abc import Iterable, Sequence
from typing import Any, Final

import polars as pl

from er_toolkit import schema
from er_toolkit.exceptions import DataQualityWarning

MOSTLY_NULL: Final = 0.5
"""Warn when a standardiser or comparator turns more than this share of a
column's non-blank values into nulls."""
EXTREME_THRESHOLD: Final = 1e-3
"""Warn when a classifier's chosen threshold is this close to 0 or 1."""


def warn(message: str) -> None:
    """Issue a :class:`~er_toolkit.exceptions.DataQualityWarning` (the CLIs print them)."""
    warnings.warn(message, DataQualityWarning, stacklevel=3)


def _non_blank(values: pl.Series) -> pl.Series:
    if values.dtype == pl.String:
        values = values.str.strip_chars()
        return values.filter(values.str.len_chars() > 0)
    return values.drop_nulls()


def _non_blank_counts(profile: pl.DataFrame, stage: str) -> dict[str, int]:
    """Non-blank values per column of one stage of a standardisation profile."""
    return dict(
        profile.filter(pl.col("stage") == stage)
        .group_by("column")
        .agg((pl.col("rows").cast(pl.Int64) - pl.col("missing")).sum())
        .iter_rows()
    )


def check_standardised(
    before: pl.DataFrame,
    after: pl.DataFrame,
    columns: Iterable[str],
    *,
    profile: pl.DataFrame | None = None,
) -> list[str]:
    """Warn for each standardised column that lost most of its non-blank values.

    Parameters
    ----------
    before, after
        The records before and after standardisation.
    columns
        The standardised columns.
    profile
        Their before/after profile (``profile_standardisation``), when at
        hand: its ``rows`` less ``missing`` (null or blank) are the same
        counts, so the columns are not read again.

    Examples
    --------
    >>> import warnings
    >>> with warnings.catch_warnings():
    ...     warnings.simplefilter("ignore")
    ...     found = check_standardised(
    ...         pl.DataFrame({"p": ["x", "y"]}), pl.DataFrame({"p": [None, None]}), ["p"]
    ...     )
    >>> found[0].split(":")[0]
    "column 'p'"
    """
    messages = []
    non_blank = None
    if profile is not None and "stage" in profile.columns:
        non_blank = tuple(_non_blank_counts(profile, s) for s in ("before", "after"))
    for column in columns:
        if column not in before.columns or column not in after.columns:
            continue
        if non_blank and all(column in counts for counts in non_blank):
            n_before, n_after = non_blank[0][column], non_blank[1][column]
        else:
            n_before = _non_blank(before.get_column(column)).len()
            n_after = _non_blank(after.get_column(column)).len()
        lost = n_before - n_after
        if n_before and lost / n_before > MOSTLY_NULL:
            messages.append(
                f"column {column!r}: its standardiser could not read {lost:,} of "
                f"{n_before:,} non-blank values ({lost / n_before:.0%}); they are null "
                "now, so comparisons on it say little. Check the standardiser's "
                "options (region, country, formats)."
            )
    for message in messages:
        warn(message)
    return messages


def check_compared_columns(
    records: pl.DataFrame, comparisons: Sequence[Any], *, link_type: str
) -> list[str]:
    """Warn when a comparison would see mostly nulls, or the records hold no pairs.

    A date comparison whose ``date_format`` parses few of a column's values,
    a numeric comparison over text, and a column with no values at all
    compare as null for (nearly) every pair.
    """
    from er_toolkit.compare.levels import (
        DateDifferenceLevel,
        DateSwapLevel,
        NumericDifferenceLevel,
        YearTypoLevel,
    )

    messages = []
    n = records.height
    if link_type == "dedupe" and n < 2:
        messages.append(
            f"only {n} record(s): there are no pairs to compare, so nothing is "
            "learnt or linked."
        )
    elif link_type != "dedupe" and schema.SOURCE in records.columns:
        sizes = records.get_column(schema.SOURCE).value_counts()
        if sizes.height < 2:
            messages.append(
                "only one source holds records: a link job has no pairs across "
                "sources to compare."
            )
    for comp in comparisons:
        if comp.column not in records.columns:
            continue
        values = _non_blank(records.get_column(comp.column))
        if values.len() == 0:
            messages.append(
                f"comparison {comp.name!r}: column {comp.column!r} holds no values, "
                "so every pair compares as null."
            )
            continue
        if values.dtype == pl.String and any(
            isinstance(level, (DateDifferenceLevel, DateSwapLevel, YearTypoLevel))
            for level in comp.levels
        ):
            parsed = values.str.to_date(comp.date_format, strict=False)
            failed = parsed.null_count()
            if failed / values.len() > MOSTLY_NULL:
                fmt = comp.date_format or "ISO (%Y-%m-%d)"
                messages.append(
                    f"comparison {comp.name!r}: {failed:,} of {values.len():,} "
                    f"non-blank values of column {comp.column!r} ({failed / values.len():.0%}) "
                    f"do not parse as dates under date_format {fmt!r}; their date "
                    "levels never apply."
                )
        if values.dtype == pl.String and any(
            isinstance(level, NumericDifferenceLevel) for level in comp.levels
        ):
            failed = values.cast(pl.Float64, strict=False).null_count()
            if failed / values.len() > MOSTLY_NULL:
                messages.append(
                    f"comparison {comp.name!r}: {failed:,} of {values.len():,} "
                    f"non-blank values of column {comp.column!r} are not numbers; "
                    "their numeric levels never apply."
                )
    for message in messages:
        warn(message)
    return messages


def check_fitted(scorer: Any) -> list[str]:
    """Warn when a fitted scorer's parameters make its scores meaningless.

    λ not finite or at 0 or 1, m or u not finite, or a classifier threshold
    within :data:`EXTREME_THRESHOLD` of 0 or 1 (every pair, or none, would
    match).
    """
    messages = []
    fs = scorer if hasattr(scorer, "m_") else getattr(scorer, "fellegi_sunter", None)
    if fs is not None and hasattr(fs, "m_"):
        lam = float(getattr(fs, "probability_two_random_records_match_", math.nan))
        if not math.isfinite(lam) or not 0.0 < lam < 1.0:
            messages.append(
                f"the estimated probability that two random records match (λ) is "
                f"{lam!r}; every score would be meaningless. Give "
                "[model] probability_two_random_records_match or deterministic_rules."
            )
        bad = sorted(
            name
            for table in (fs.m_, fs.u_)
            for name, row in table.items()
            if not all(math.isfinite(float(p)) for p in row)
        )
        if bad:
            messages.append(
                f"comparison(s) {sorted(set(bad))} have m or u probabilities that "
                "are not finite; their weights are meaningless."
            )
    threshold = getattr(scorer, "threshold_", None)
    if threshold is not None and (
        not math.isfinite(threshold)
        or threshold <= EXTREME_THRESHOLD
        or threshold >= 1.0 - EXTREME_THRESHOLD
    ):
        messages.append(
            f"the classifier's threshold came out at {threshold:.6g} "
            f"({getattr(scorer, 'threshold_reason_', '')}): nearly every pair, or "
            "none, will be called a match. Label more pairs of both kinds, or set "
            "threshold_strategy = 'fixed'."
        )
    for message in messages:
        warn(message)
    return messages
