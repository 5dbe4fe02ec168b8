"""Warnings where output would be silently poor, and the compared-length cap."""

from __future__ import annotations

import math
import warnings
from types import SimpleNamespace

import numpy as np
import polars as pl
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from er_toolkit import diagnostics
from er_toolkit.compare import (
    Comparison,
    DateDifferenceLevel,
    DistanceLevel,
    ExactLevel,
    NumericDifferenceLevel,
    RecordEncoding,
    SimilarityLevel,
    compare_pairs,
    limits,
)
from er_toolkit.exceptions import ConfigError, DataQualityWarning


def _caught(call):
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        result = call()
    return result, [str(w.message) for w in caught if w.category is DataQualityWarning]


def _records(**columns):
    n = len(next(iter(columns.values())))
    return pl.DataFrame(
        {
            "_row": np.arange(n, dtype=np.uint32),
            "record_id": [str(i) for i in range(n)],
            "source": ["s"] * n,
            **columns,
        }
    )


# ------------------------------------------------------------------ columns
def test_a_standardiser_that_nulls_most_values_warns():
    before = pl.DataFrame({"phone": ["x1", "x2", "x3", "0701", None]})
    after = pl.DataFrame({"phone": [None, None, None, "+46701", None]})
    found, caught = _caught(
        lambda: diagnostics.check_standardised(before, after, ["phone"])
    )
    assert found == caught
    assert caught == [
        "column 'phone': its standardiser could not read 3 of 4 non-blank values "
        "(75%); they are null now, so comparisons on it say little. Check the "
        "standardiser's options (region, country, formats)."
    ]
    assert "x1" not in caught[0]


@given(
    st.lists(
        st.sampled_from(["07700 900123", "+46701234567", "n/a", "", "  ", "x1"])
        | st.none(),
        max_size=30,
    ),
    st.lists(st.sampled_from(["a", "b", None]), min_size=30, max_size=30),
)
@settings(max_examples=40, deadline=None)
def test_the_profile_counts_give_the_same_warnings_as_the_frames(phones, sources):
    from er_toolkit.standardise import PhoneStandardiser, profile_standardisation

    before = pl.DataFrame(
        {"source": sources[: len(phones)], "phone": phones, "other": phones},
        schema={"source": pl.String, "phone": pl.String, "other": pl.String},
    )
    steps = {"phone": PhoneStandardiser(default_region="GB")}
    after, profile = profile_standardisation(before, steps)
    from_frames = _caught(
        lambda: diagnostics.check_standardised(before, after, ["phone"])
    )
    from_profile = _caught(
        lambda: diagnostics.check_standardised(
            before, after, ["phone"], profile=profile
        )
    )
    assert from_profile == from_frames


def test_a_standardiser_that_keeps_most_values_is_quiet():
    before = pl.DataFrame({"p": ["a", "b", "c"]})
    after = pl.DataFrame({"p": ["A", None, "C"]})
    assert (
        _caught(lambda: diagnostics.check_standardised(before, after, ["p"]))[1] == []
    )


@pytest.mark.parametrize(
    ("values", "date_format", "warned"),
    [
        (["31/12/1999", "01/02/2000", "15/06/1980"], "%Y%m%d", True),
        (["19991231", "20000201", "bad"], "%Y%m%d", False),
        (["19991231", "x", "y"], "%Y%m%d", True),
        ([None, None, "19991231"], "%Y%m%d", False),
    ],
)
def test_dates_that_do_not_parse_under_the_format_warn(values, date_format, warned):
    comp = Comparison("dob", "dob", (DateDifferenceLevel(30),), date_format=date_format)
    records = _records(dob=values)
    _, caught = _caught(
        lambda: diagnostics.check_compared_columns(records, [comp], link_type="dedupe")
    )
    assert bool([m for m in caught if "do not parse as dates" in m]) == warned
    for value in values:
        assert not any(value and len(value) > 2 and value in m for m in caught)


def test_numbers_over_text_and_empty_columns_warn():
    comps = [
        Comparison("age", "age", (NumericDifferenceLevel(1.0),)),
        Comparison("nick", "nick", (ExactLevel(),)),
    ]
    records = _records(age=["ten", "eleven", "3"], nick=[None, " ", ""])
    _, caught = _caught(
        lambda: diagnostics.check_compared_columns(records, comps, link_type="dedupe")
    )
    assert any(
        "2 of 3 non-blank values of column 'age' are not numbers" in m for m in caught
    )
    assert any("column 'nick' holds no values" in m for m in caught)


@pytest.mark.parametrize(
    ("n", "link_type", "sources", "message"),
    [
        (1, "dedupe", ["s"], "only 1 record(s): there are no pairs"),
        (0, "dedupe", [], "only 0 record(s)"),
        (3, "link", ["a", "a", "a"], "only one source holds records"),
    ],
)
def test_too_few_records_warn(n, link_type, sources, message):
    records = pl.DataFrame(
        {"source": sources, "x": ["v"] * n},
        schema={"source": pl.String, "x": pl.String},
    )
    comp = Comparison("x", "x", (ExactLevel(),))
    _, caught = _caught(
        lambda: diagnostics.check_compared_columns(records, [comp], link_type=link_type)
    )
    assert any(message in m for m in caught), caught


# ------------------------------------------------------------------ scorers
def _fs(lam, m=None):
    return SimpleNamespace(
        m_={"a": np.array(m or [0.1, 0.9])},
        u_={"a": np.array([0.9, 0.1])},
        probability_two_random_records_match_=lam,
    )


@pytest.mark.parametrize(
    ("lam", "warned"), [(math.nan, True), (0.0, True), (1.0, True), (1e-6, False)]
)
def test_lambda_that_is_not_a_probability_warns(lam, warned):
    _, caught = _caught(lambda: diagnostics.check_fitted(_fs(lam)))
    assert bool([m for m in caught if "(λ)" in m]) == warned


def test_non_finite_m_warns():
    _, caught = _caught(lambda: diagnostics.check_fitted(_fs(0.01, m=[math.nan, 1.0])))
    assert any(
        "comparison(s) ['a'] have m or u probabilities that are not finite" in m
        for m in caught
    )


@pytest.mark.parametrize(
    ("threshold", "warned"),
    [(0.0, True), (1e-4, True), (0.9995, True), (0.5, False), (0.02, False)],
)
def test_an_extreme_classifier_threshold_warns(threshold, warned):
    scorer = SimpleNamespace(
        threshold_=threshold, threshold_reason_="max F1 1.0", fellegi_sunter=None
    )
    _, caught = _caught(lambda: diagnostics.check_fitted(scorer))
    assert bool([m for m in caught if "threshold came out at" in m]) == warned


# ------------------------------------------------------- compared-length cap
def test_long_values_are_cut_for_string_comparators_only():
    long_a = "a" * 5_000 + "x"
    long_b = "a" * 5_000 + "y"  # same first 5,000 characters
    records = _records(v=[long_a, long_b, "short", "shirt"])
    pairs = pl.DataFrame(
        {"_row_l": [0, 2], "_row_r": [1, 3]},
        schema={"_row_l": pl.UInt32, "_row_r": pl.UInt32},
    )
    comp = Comparison(
        "v",
        "v",
        (
            ExactLevel(),
            SimilarityLevel("jaro_winkler", 0.99),
            DistanceLevel("levenshtein", 1),
        ),
    )
    vectors, caught = _caught(
        lambda: compare_pairs(
            records,
            pairs,
            [comp],
            encoding=RecordEncoding(records, max_compared_length=100),
        )
    )
    # not exact: the whole values differ; but compared on their first 100 chars
    assert vectors.get_column("gamma_v").to_list() == [2, 1]
    assert vectors.get_column("sim_v").to_list()[0] == 1.0
    assert caught == [
        "column 'v': 2 distinct value(s) (2 record(s)) longer than 100 characters are "
        "compared on their first 100 only (set ER_TOOLKIT_MAX_COMPARED_LENGTH to "
        "change the cap)."
    ]


def test_the_cap_default_and_environment(monkeypatch):
    monkeypatch.delenv(limits.MAX_COMPARED_LENGTH_ENV, raising=False)
    assert limits.max_compared_length() == limits.DEFAULT_MAX_COMPARED_LENGTH == 1_000
    monkeypatch.setenv(limits.MAX_COMPARED_LENGTH_ENV, "50")
    assert RecordEncoding(_records(v=["a"])).max_compared_length == 50
    for bad in ("0", "-3", "many"):
        monkeypatch.setenv(limits.MAX_COMPARED_LENGTH_ENV, bad)
        with pytest.raises(ConfigError, match="must be a positive integer"):
            limits.max_compared_length()


def test_values_within_the_cap_are_untouched():
    values = pl.Series(["a" * 10, "b", ""])
    out, cut = limits.cap_lengths(values, 10)
    assert out.to_list() == values.to_list() and cut.size == 0


def test_a_block_of_very_long_values_is_compared_in_bounded_time():
    """150 records of 20,000 characters in one block: 11,175 pairs compared.

    Without the cap each Jaro-Winkler comparison reads 20,000 x 20,000
    characters; with it, 1,000 x 1,000. No timing is asserted: the test
    finishing at all is the point (it hung before the cap).
    """
    rng = np.random.default_rng(0)
    letters = np.array(list("abcdefghij"))
    values = ["".join(rng.choice(letters, 20_000)) for _ in range(150)]
    records = _records(v=values)
    left, right = np.triu_indices(150, k=1)
    pairs = pl.DataFrame(
        {"_row_l": left.astype(np.uint32), "_row_r": right.astype(np.uint32)}
    )
    comp = Comparison(
        "v",
        "v",
        (SimilarityLevel("jaro_winkler", 0.9), DistanceLevel("levenshtein", 2)),
    )
    vectors, caught = _caught(lambda: compare_pairs(records, pairs, [comp]))
    assert vectors.height == 11_175
    assert any(
        "150 distinct value(s) (150 record(s)) longer than 1,000" in m for m in caught
    )
