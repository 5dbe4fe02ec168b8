"""Nulls are nulls: null, blank and unreadable values give the null level (-1)."""

from __future__ import annotations

import datetime as dt
from typing import Any

import numpy as np
import polars as pl
import pytest

from er_toolkit import schema
from er_toolkit.compare import (
    Comparison,
    DateDifferenceLevel,
    DateSwapLevel,
    DistanceLevel,
    ExactLevel,
    NumericDifferenceLevel,
    SimilarityLevel,
    compare_batch,
    compare_pairs,
    term_frequencies,
)
from er_toolkit.compare.comparators import STRING_COMPARATORS

TEXT_LEVELS: dict[str, tuple[Any, ...]] = {
    "exact": (ExactLevel(),),
    "exact_tf": (ExactLevel(term_frequency=True),),
    **{
        f"similarity_{c}": (SimilarityLevel(comparator=c, min_similarity=0.5),)
        for c in STRING_COMPARATORS
    },
    "distance_levenshtein": (DistanceLevel("levenshtein", 2),),
    "distance_damerau": (DistanceLevel("damerau_levenshtein", 2),),
}
NUMBER_LEVELS: dict[str, tuple[Any, ...]] = {
    "numeric_absolute": (NumericDifferenceLevel(max_difference=5),),
    "numeric_relative": (NumericDifferenceLevel(max_difference=0.5, relative=True),),
    "numeric_with_exact": (ExactLevel(), NumericDifferenceLevel(max_difference=5)),
    "numeric_with_distance": (
        DistanceLevel("levenshtein", 1),
        NumericDifferenceLevel(max_difference=5),
    ),
}
DATE_LEVELS: dict[str, tuple[Any, ...]] = {
    "date_difference": (DateDifferenceLevel(max_days=400),),
    "date_swap": (DateSwapLevel(),),
    "date_with_exact": (ExactLevel(), DateDifferenceLevel(max_days=400)),
    "date_with_distance": (
        DistanceLevel("damerau_levenshtein", 1),
        DateDifferenceLevel(max_days=400),
    ),
    "date_with_exact_tf_and_swap": (
        ExactLevel(term_frequency=True),
        DateSwapLevel(),
        SimilarityLevel("jaro_winkler", 0.5),
    ),
}

MISSING = [None, "", "   "]
NOT_A_NUMBER = ["abc", "7 apples", "nan"]
NOT_A_DATE = ["not a date", "2001-02-30", "2001-13-01", "20010102", "02/01/2001"]


def _cases() -> list[Any]:
    cases = []
    for kind, levels in TEXT_LEVELS.items():
        for bad in MISSING:
            cases.append(pytest.param(levels, "smith", bad, id=f"{kind}-{bad!r}"))
    for kind, levels in NUMBER_LEVELS.items():
        for bad in [*MISSING, *NOT_A_NUMBER]:
            cases.append(pytest.param(levels, "10", bad, id=f"{kind}-{bad!r}"))
    for kind, levels in DATE_LEVELS.items():
        for bad in [*MISSING, *NOT_A_DATE]:
            cases.append(pytest.param(levels, "2001-01-02", bad, id=f"{kind}-{bad!r}"))
    return cases


def _pairs(n: int) -> pl.DataFrame:
    return pl.DataFrame(
        {schema.ROW_L: np.arange(n), schema.ROW_R: np.arange(n) + n},
        schema={schema.ROW_L: pl.UInt32, schema.ROW_R: pl.UInt32},
    )


def _every_engine(
    comparison: Comparison, left: list[Any], right: list[Any], dtype: Any = None
) -> list[dict[str, np.ndarray]]:
    """The comparison's arrays from compare_pairs (raw and not) and compare_batch."""
    values = pl.Series("v", [*left, *right], dtype=dtype)
    records = pl.DataFrame(
        {schema.ROW: np.arange(len(values), dtype=np.uint32), "v": values}
    )
    out = []
    for raw in (True, False):
        vectors = compare_pairs(
            records, _pairs(len(left)), [comparison], raw_similarity=raw
        )
        out.append(
            {
                c: (
                    vectors.get_column(c).fill_null(np.nan)
                    if c.startswith(schema.SIM_PREFIX)
                    else vectors.get_column(c)
                ).to_numpy()
                for c in vectors.columns
                if c not in (schema.ROW_L, schema.ROW_R)
            }
        )
    freqs = {comparison.name: term_frequencies(values)[: len(left)]}
    out.append(
        compare_batch(
            [comparison],
            {"v": values[: len(left)]},
            {"v": values[len(left) :]},
            term_frequencies=freqs,
        )
    )
    return out


@pytest.mark.parametrize(("levels", "good", "bad"), _cases())
def test_null_blank_and_unreadable_values_are_the_null_level(
    levels: tuple[Any, ...], good: str, bad: Any
) -> None:
    comparison = Comparison("v", "v", levels)
    # bad on the left, on the right, on both; then good against itself
    left = [bad, good, bad, good]
    right = [good, bad, bad, good]
    for out in _every_engine(comparison, left, right):
        gamma = out["gamma_v"].tolist()
        assert gamma[:3] == [-1, -1, -1]
        assert gamma[3] >= 0  # the value itself is readable
        if "sim_v" in out:
            assert np.isnan(out["sim_v"][:3]).all()


@pytest.mark.parametrize(
    ("levels", "left", "right", "expected"),
    [
        # an unreadable value is null even where the text would agree
        (DATE_LEVELS["date_with_exact"], "not a date", "not a date", -1),
        (DATE_LEVELS["date_with_distance"], "2001-02-30", "2001-02-28", -1),
        (NUMBER_LEVELS["numeric_with_exact"], "n/a", "n/a", -1),
        # readable values go to their levels, else 0 (a real disagreement)
        (DATE_LEVELS["date_with_exact"], "2001-01-02", "2001-01-02", 2),
        (DATE_LEVELS["date_with_exact"], "2001-01-02", "2003-01-02", 0),
        (DATE_LEVELS["date_with_distance"], "2001-01-02", "2001-01-03", 2),
        (DATE_LEVELS["date_with_distance"], "2001-01-02", "2001-11-03", 1),
        (NUMBER_LEVELS["numeric_with_exact"], " 10", "10.0", 1),
        (NUMBER_LEVELS["numeric_with_exact"], "10", "30", 0),
        # text levels alone read text: no value is unreadable
        (TEXT_LEVELS["exact"], "not a date", "not a date", 1),
        (TEXT_LEVELS["distance_levenshtein"], "n/a", "n/b", 1),
    ],
)
def test_readable_values_keep_their_levels(
    levels: tuple[Any, ...], left: str, right: str, expected: int
) -> None:
    comparison = Comparison("v", "v", levels)
    for out in _every_engine(comparison, [left], [right]):
        assert out["gamma_v"].tolist() == [expected]


def test_a_date_format_decides_what_reads_as_a_date() -> None:
    comparison = Comparison(
        "v", "v", DATE_LEVELS["date_with_exact"], date_format="%Y%m%d"
    )
    left = ["20010102", "20010102", "2001-01-02"]
    right = ["20010102", "20010230", "2001-01-02"]
    for out in _every_engine(comparison, left, right):
        assert out["gamma_v"].tolist() == [2, -1, -1]


@pytest.mark.parametrize(
    ("levels", "dtype", "left", "right", "expected"),
    [
        (NUMBER_LEVELS["numeric_with_exact"], pl.Float64, [1.0, np.nan], [np.nan] * 2, [-1, -1]),
        (TEXT_LEVELS["exact"], pl.Float64, [1.0, np.nan, None], [np.nan, 1.0, 1.0], [-1, -1, -1]),
        (NUMBER_LEVELS["numeric_absolute"], pl.Int64, [1, None], [None, 3], [-1, -1]),
        (DATE_LEVELS["date_with_exact"], pl.Date, [dt.date(2001, 1, 2), None], [None, dt.date(2001, 1, 2)], [-1, -1]),
    ],
)  # fmt: skip
def test_typed_nulls_and_nan_are_null(
    levels: tuple[Any, ...],
    dtype: Any,
    left: list[Any],
    right: list[Any],
    expected: list[int],
) -> None:
    comparison = Comparison("v", "v", levels)
    for out in _every_engine(comparison, left, right, dtype=dtype):
        assert out["gamma_v"].tolist() == expected


def test_iso_is_read_whatever_the_first_value() -> None:
    # Without a date_format the column is read as ISO dates: a batch whose
    # first value is another format must not switch the format it reads.
    comparison = Comparison("v", "v", DATE_LEVELS["date_with_exact"])
    out = compare_batch(
        [comparison],
        {"v": ["01/03/2000", "2000-01-03"]},
        {"v": ["01/03/2000", "2000-01-05"]},
    )
    assert out["gamma_v"].tolist() == [-1, 1]
