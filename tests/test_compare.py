"""Comparison levels, gamma vectors, raw similarities and term frequencies."""

from __future__ import annotations

import datetime as dt
from collections import Counter
from typing import Any

import numpy as np
import polars as pl
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from rapidfuzz import distance as rf

from er_toolkit import schema
from er_toolkit.compare import (
    Comparison,
    DateDifferenceLevel,
    DateSwapLevel,
    DistanceLevel,
    ExactLevel,
    NumericDifferenceLevel,
    SimilarityLevel,
    YearTypoLevel,
    compare_pairs,
    level_from_dict,
    level_to_dict,
)
from er_toolkit.compare.comparators import similarity
from er_toolkit.compare.comparison import term_frequencies
from er_toolkit.compare.pair_values import (
    SMALL_ENCODING,
    ColumnEncoding,
    _distinct,
    _packed_distinct,
)
from er_toolkit.exceptions import ConfigError, SchemaError

SCALAR_DISTANCE = {
    "levenshtein": rf.Levenshtein.distance,
    "damerau_levenshtein": rf.DamerauLevenshtein.distance,
}
SCALAR_SIMILARITY = {
    "jaro_winkler": rf.JaroWinkler.normalized_similarity,
    "jaro": rf.Jaro.normalized_similarity,
    "levenshtein": rf.Levenshtein.normalized_similarity,
    "damerau_levenshtein": rf.DamerauLevenshtein.normalized_similarity,
}


def _records(values: list[Any], dtype: Any = None) -> pl.DataFrame:
    series = pl.Series("v", values, dtype=dtype)
    return pl.DataFrame(
        {schema.ROW: np.arange(len(values), dtype=np.uint32)}
    ).with_columns(series)


def _compare_aligned(
    left: list[Any],
    right: list[Any],
    levels: tuple[Any, ...],
    *,
    dtype: Any = None,
    date_format: str | None = None,
    unparsed: Any = "null",
) -> pl.DataFrame:
    """Compare left[i] with right[i] for every i; return the vectors."""
    n = len(left)
    records = _records([*left, *right], dtype=dtype)
    pairs = pl.DataFrame(
        {schema.ROW_L: np.arange(n), schema.ROW_R: np.arange(n) + n},
        schema={schema.ROW_L: pl.UInt32, schema.ROW_R: pl.UInt32},
    )
    comparison = Comparison(
        "v", "v", levels, date_format=date_format, unparsed=unparsed
    )
    return compare_pairs(records, pairs, [comparison])


def _gammas(left: list[Any], right: list[Any], *levels: Any, **kw: Any) -> list[int]:
    return _compare_aligned(left, right, levels, **kw).get_column("gamma_v").to_list()


# --------------------------------------------------------------------------- #
# each level kind
# --------------------------------------------------------------------------- #
def test_exact_level_trims_and_treats_blank_as_null() -> None:
    left = ["smith", " smith ", "smith", None, "", "   ", "Smith"]
    right = ["smith", "smith", "smyth", "smith", "smith", "smith", "smith"]
    assert _gammas(left, right, ExactLevel()) == [1, 1, 0, -1, -1, -1, 0]


def test_null_on_the_right_side_is_null_too() -> None:
    assert _gammas(["a", "a"], [None, "  "], ExactLevel()) == [-1, -1]


@pytest.mark.parametrize(
    ("comparator", "left", "right", "threshold", "expected"),
    [
        ("jaro_winkler", "martha", "marhta", 0.96, 1),  # 0.961
        ("jaro_winkler", "martha", "marhta", 0.97, 0),
        ("jaro", "martha", "marhta", 0.94, 1),  # 0.944
        ("jaro", "martha", "marhta", 0.95, 0),
        ("levenshtein", "abcdefghij", "abcdefghik", 0.9, 1),  # exactly 0.9
        ("levenshtein", "abcdefghij", "abcdefgxyz", 0.7, 1),  # exactly 0.7
        ("levenshtein", "abcdefghij", "abcdefgxyz", 0.71, 0),
        ("levenshtein", "smith", "simth", 0.6, 1),  # 2 edits of 5: 0.6
        ("damerau_levenshtein", "smith", "simth", 0.8, 1),  # 1 transposition
        ("levenshtein", "smith", "simth", 0.8, 0),
        ("token_jaccard", "acme corp ltd", "ltd  acme", 0.66, 1),  # 2/3
        ("token_jaccard", "acme corp ltd", "ltd acme", 0.67, 0),
        ("token_jaccard", "a b c d e f g", "g f e d c b a", 1.0, 1),
        ("token_jaccard", "a b", "c d", 0.01, 0),
    ],
)
def test_similarity_level_thresholds(
    comparator: str, left: str, right: str, threshold: float, expected: int
) -> None:
    level = SimilarityLevel(comparator=comparator, min_similarity=threshold)
    assert _gammas([left], [right], level) == [expected]


@pytest.mark.parametrize("comparator", list(SCALAR_SIMILARITY))
def test_similarity_level_agrees_with_rapidfuzz_threshold(comparator: str) -> None:
    words = ["catherine", "katherine", "kathryn", "cathy", "kate", "karen", "ka"]
    left = [a for a in words for _ in words]
    right = [b for _ in words for b in words]
    threshold = 0.75
    got = _gammas(left, right, SimilarityLevel(comparator, threshold))
    scorer = SCALAR_SIMILARITY[comparator]
    expected = [
        int(np.float32(scorer(a, b)) >= threshold)
        for a, b in zip(left, right, strict=True)
    ]
    assert got == expected
    assert 0 < sum(got) < len(got)  # the threshold splits the pairs


@pytest.mark.parametrize(
    ("comparator", "max_distance", "left", "right", "expected"),
    [
        ("levenshtein", 1, "smith", "smyth", 1),
        ("levenshtein", 1, "smith", "simth", 0),  # a swap is two edits
        ("levenshtein", 2, "smith", "simth", 1),
        ("damerau_levenshtein", 1, "smith", "simth", 1),
        ("damerau_levenshtein", 0, "smith", "simth", 0),
        ("damerau_levenshtein", 0, "smith", "smith", 1),
        ("levenshtein", 3, "abc", "", -1),  # empty string is null, not distance 3
    ],
)
def test_distance_level(
    comparator: str, max_distance: int, left: str, right: str, expected: int
) -> None:
    level = DistanceLevel(comparator=comparator, max_distance=max_distance)
    assert _gammas([left], [right], level) == [expected]


def test_numeric_difference_absolute() -> None:
    left = [10.0, 10.0, 10.0, -5.0, None]
    right = [12.0, 12.5, 7.5, -3.0, 1.0]
    level = NumericDifferenceLevel(max_difference=2.5)
    assert _gammas(left, right, level) == [1, 1, 1, 1, -1]
    assert _gammas(left, right, NumericDifferenceLevel(max_difference=2.0)) == [
        1,
        0,
        0,
        1,
        -1,
    ]


def test_numeric_difference_relative_to_the_larger() -> None:
    left = [100, 100, 0, -100, 100]
    right = [110, 120, 0, -109, 91]
    level = NumericDifferenceLevel(max_difference=0.1, relative=True)
    # 10/110, 20/120, both zero, 9/109, 9/100
    assert _gammas(left, right, level) == [1, 0, 1, 1, 1]


def test_numeric_difference_reads_numeric_strings() -> None:
    left = [" 10", "10", "abc"]
    right = ["11 ", "20", "10"]
    # not a number is null, not a disagreement
    assert _gammas(left, right, NumericDifferenceLevel(max_difference=1)) == [1, 0, -1]


def test_date_difference_with_format() -> None:
    left = ["19900101", "19900101", "19900101", "19901340", None]
    right = ["19900110", "19900111", "19891231", "19900101", "19900101"]
    level = DateDifferenceLevel(max_days=9)
    # 9 days, 10 days, 1 day (across a year), unparsable -> null, null
    got = _gammas(left, right, level, date_format="%Y%m%d")
    assert got == [1, 0, 1, -1, -1]


def test_date_difference_iso_strings_and_date_dtype_agree() -> None:
    left = ["2000-02-28", "2000-02-28", "1999-12-31"]
    right = ["2000-03-01", "2000-03-02", "2000-01-01"]
    level = DateDifferenceLevel(max_days=2)
    expected = [1, 0, 1]  # 2000 is a leap year: 2 days, 3 days, 1 day
    assert _gammas(left, right, level) == expected
    to_date = [dt.date.fromisoformat(s) for s in left + right]
    as_dates = _gammas(to_date[:3], to_date[3:], level, dtype=pl.Date)
    assert as_dates == expected
    as_datetimes = _gammas(
        [dt.datetime.combine(d, dt.time(13)) for d in to_date[:3]],
        [dt.datetime.combine(d, dt.time(1)) for d in to_date[3:]],
        level,
        dtype=pl.Datetime,
    )
    assert as_datetimes == expected


def test_unparsed_text_keeps_bad_dates_for_the_text_levels() -> None:
    levels = (
        ExactLevel(),
        DistanceLevel("damerau_levenshtein", 1),
        DateDifferenceLevel(max_days=31),
    )
    left = ["1831-07-18", "1831-87-18", "1831-87-18", "1831-87-18", None, "2001-01-02"]
    right = ["1831-87-18", "1831-87-18", "1750-01-01", "1831-07-19", "1831-07-18"]
    right.append("2001-01-25")
    # one edit, equal, else, two edits (date level cannot read it), null, days
    assert _gammas(left, right, *levels, unparsed="text") == [2, 3, 0, 0, -1, 1]
    # the default: a value that is no date is unknown to every level
    assert _gammas(left, right, *levels) == [-1, -1, -1, -1, -1, 1]


def test_unparsed_text_keeps_bad_numbers_for_the_text_levels() -> None:
    levels = (ExactLevel(), NumericDifferenceLevel(max_difference=1))
    got = _gammas(["10", "abc", "abc"], ["11", "abc", "10"], *levels, unparsed="text")
    assert got == [1, 2, 0]


@pytest.mark.parametrize(
    ("left", "right", "max_days", "expected"),
    [
        ("1973-10-27", "1983-10-27", 0, 1),  # one digit
        ("1975-03-01", "1957-03-01", 0, 1),  # adjacent digits swapped
        ("1975-03-01", "1957-03-02", 0, 0),  # ... but another day
        ("1975-03-01", "1957-03-02", 1, 1),
        ("1973-10-27", "1983-11-24", 31, 1),
        ("1973-10-27", "1983-11-24", 27, 0),
        ("1973-10-27", "1973-10-27", 0, 0),  # same year: no typo
        ("1973-10-27", "1984-10-27", 0, 0),  # two digits
        ("1973-10-27", "1379-10-27", 0, 0),  # swapped, not adjacent
        ("2014-09-03", "2024-08-29", 5, 1),
        ("1630-08-01", "1638-08-01", 0, 1),
        ("1630-08-01", "not a date", 9, -1),
    ],
)
def test_year_typo(left: str, right: str, max_days: int, expected: int) -> None:
    assert _gammas([left], [right], YearTypoLevel(max_days=max_days)) == [expected]
    assert _gammas([right], [left], YearTypoLevel(max_days=max_days)) == [expected]


@settings(max_examples=60, deadline=None)
@given(
    st.dates(dt.date(1000, 1, 1), dt.date(2999, 12, 31)),
    st.dates(dt.date(1000, 1, 1), dt.date(2999, 12, 31)),
    st.integers(0, 400),
)
def test_year_typo_against_a_loop(a: dt.date, b: dt.date, max_days: int) -> None:
    ya, yb = f"{a.year:04d}", f"{b.year:04d}"
    differ = [i for i in range(4) if ya[i] != yb[i]]
    swap = (
        len(differ) == 2
        and differ[1] == differ[0] + 1
        and ya[differ[0]] == yb[differ[1]]
        and ya[differ[1]] == yb[differ[0]]
    )
    try:
        moved = b.replace(year=a.year)
    except ValueError:  # 29 February into a common year: 1 March
        moved = dt.date(a.year, 3, 1)
    close = abs((a - moved).days) <= max_days
    expected = int((len(differ) == 1 or swap) and close)
    level = YearTypoLevel(max_days=max_days)
    assert _gammas([a.isoformat()], [b.isoformat()], level) == [expected]


def test_unparsed_must_be_a_known_option() -> None:
    with pytest.raises(ConfigError, match="'unparsed' must be one of"):
        Comparison("v", "v", (ExactLevel(),), unparsed="maybe")  # type: ignore[arg-type]


@pytest.mark.parametrize(
    ("left", "right", "expected"),
    [
        ("19900304", "19900403", 1),
        ("19901203", "19900312", 1),
        ("19900303", "19900303", 0),  # day == month: not a swap
        ("19900304", "19910403", 0),  # another year
        ("19900304", "19900304", 0),
        ("19900304", "19900405", 0),
    ],
)
def test_date_swap_with_format(left: str, right: str, expected: int) -> None:
    assert _gammas([left], [right], DateSwapLevel(), date_format="%Y%m%d") == [expected]


def test_date_swap_iso_and_date_dtype() -> None:
    assert _gammas(["1990-03-04"], ["1990-04-03"], DateSwapLevel()) == [1]
    dates = [dt.date(1990, 3, 4), dt.date(1990, 4, 3), dt.date(1990, 4, 4)]
    got = _gammas(dates[:2], [dates[1], dates[2]], DateSwapLevel(), dtype=pl.Date)
    assert got == [1, 0]


# --------------------------------------------------------------------------- #
# gamma ordering
# --------------------------------------------------------------------------- #
def test_gamma_counts_down_from_the_first_level() -> None:
    levels = (
        ExactLevel(),
        SimilarityLevel("jaro_winkler", 0.9),
        SimilarityLevel("jaro_winkler", 0.7),
    )
    left = ["jonathan", "jonathan", "jonathan", "jonathan", "jonathan", None]
    right = ["jonathan", "jonathon", "johnny", "zzz", "  ", "jonathan"]
    # jw(jonathan, jonathon)=0.95, jw(jonathan, johnny)=0.75
    assert _gammas(left, right, *levels) == [3, 2, 1, 0, -1, -1]
    vectors = _compare_aligned(left, right, levels)
    assert vectors.get_column("gamma_v").dtype == pl.Int8


def test_first_matching_level_wins() -> None:
    # A looser level listed first takes every pair it matches, even exact ones.
    levels = (SimilarityLevel("jaro_winkler", 0.5), ExactLevel())
    assert _gammas(["anna", "anna"], ["anna", "zzzz"], *levels) == [2, 0]


def test_levels_labels_and_counts() -> None:
    comp = Comparison(
        "name",
        "name",
        (ExactLevel(term_frequency=True), DistanceLevel("levenshtein", 2)),
    )
    assert comp.n_levels == 3
    assert comp.level_labels == ["else", "levenshtein <= 2", "exact (tf)"]
    assert comp.tf_gamma == 2
    assert comp.similarity_comparator == "levenshtein"
    assert Comparison("x", "x", (DateSwapLevel(),)).similarity_comparator is None


def test_compare_pairs_keeps_pair_columns_and_adds_one_set_per_comparison() -> None:
    records = pl.DataFrame(
        {
            schema.ROW: np.arange(3, dtype=np.uint32),
            "a": ["x", "x", "y"],
            "b": ["p", "q", "p"],
        }
    )
    pairs = pl.DataFrame(
        {schema.ROW_L: [0, 0], schema.ROW_R: [1, 2], schema.BLOCKED_BY: ["r", "r"]}
    )
    comps = [
        Comparison("a", "a", (ExactLevel(term_frequency=True),)),
        Comparison("b_sim", "b", (SimilarityLevel("jaro", 0.9),)),
    ]
    out = compare_pairs(records, pairs, comps)
    assert out.columns == [
        schema.ROW_L,
        schema.ROW_R,
        schema.BLOCKED_BY,
        "gamma_a",
        "tf_a",
        "gamma_b_sim",
        "sim_b_sim",
    ]
    assert out.get_column("gamma_a").to_list() == [1, 0]
    assert out.get_column("gamma_b_sim").to_list() == [0, 1]
    assert out.get_column("sim_b_sim").dtype == pl.Float32


def test_compare_pairs_with_no_pairs() -> None:
    records = _records(["a", "b"])
    pairs = pl.DataFrame(schema={schema.ROW_L: pl.UInt32, schema.ROW_R: pl.UInt32})
    comp = Comparison("v", "v", (ExactLevel(), SimilarityLevel()))
    out = compare_pairs(records, pairs, [comp])
    assert out.height == 0
    assert {"gamma_v", "sim_v"} <= set(out.columns)


# --------------------------------------------------------------------------- #
# raw similarity and term frequencies
# --------------------------------------------------------------------------- #
_TEXT = st.text(alphabet="abcé ", max_size=6)


@settings(max_examples=60, deadline=None)
@given(
    values=st.lists(_TEXT, min_size=2, max_size=25),
    data=st.data(),
)
def test_sim_column_equals_rapidfuzz_per_pair(values: list[str], data: Any) -> None:
    n = len(values)
    index = st.integers(0, n - 1)
    pairs_list = data.draw(st.lists(st.tuples(index, index), min_size=1, max_size=60))
    records = _records(values)
    pairs = pl.DataFrame(
        {
            schema.ROW_L: [p[0] for p in pairs_list],
            schema.ROW_R: [p[1] for p in pairs_list],
        },
        schema={schema.ROW_L: pl.UInt32, schema.ROW_R: pl.UInt32},
    )
    comp = Comparison("v", "v", (SimilarityLevel("jaro_winkler", 0.9),))
    sims = compare_pairs(records, pairs, [comp]).get_column("sim_v").to_numpy()
    for (i, j), got in zip(pairs_list, sims, strict=True):
        a, b = values[i].strip(), values[j].strip()
        if not a or not b:
            assert np.isnan(got)
        else:
            want = np.float32(rf.JaroWinkler.normalized_similarity(a, b))
            assert got == want, (a, b)


@settings(max_examples=40, deadline=None)
@given(
    values=st.lists(_TEXT.filter(lambda s: s.strip() != ""), min_size=2, max_size=20)
)
@pytest.mark.parametrize("comparator", [*SCALAR_SIMILARITY, "token_jaccard"])
def test_distinct_value_caching_matches_uncached_comparator(
    comparator: str, values: list[str]
) -> None:
    n = len(values)
    rows_l, rows_r = np.triu_indices(n, k=1)
    records = _records(values)
    pairs = pl.DataFrame(
        {schema.ROW_L: rows_l, schema.ROW_R: rows_r},
        schema={schema.ROW_L: pl.UInt32, schema.ROW_R: pl.UInt32},
    )
    comp = Comparison("v", "v", (SimilarityLevel(comparator, 0.5),))
    cached = compare_pairs(records, pairs, [comp]).get_column("sim_v").to_numpy()
    stripped = [v.strip() for v in values]
    direct = similarity(
        comparator, [stripped[i] for i in rows_l], [stripped[j] for j in rows_r]
    )
    np.testing.assert_array_equal(cached, direct)


@settings(max_examples=60, deadline=None)
@given(
    keys=st.lists(st.integers(0, (1 << 62) - 1), max_size=300),
    repeats=st.integers(1, 4),
)
def test_packed_distinct_is_numpy_unique(keys: list[int], repeats: int) -> None:
    key = np.array(keys * repeats, dtype=np.int64)
    packed = _packed_distinct(key)
    if packed is None:  # keys with positions need more than 63 bits
        assert int(key.max()).bit_length() + (key.size - 1).bit_length() > 63
        return
    uniq, inverse = np.unique(key, return_inverse=True)
    np.testing.assert_array_equal(packed[0], uniq)
    np.testing.assert_array_equal(packed[1], inverse.reshape(-1))
    assert packed[1].dtype == np.int64


@pytest.mark.parametrize("high", [1 << 20, 1 << 50, (1 << 63) - 1])
def test_distinct_of_many_keys_is_numpy_unique(high: int) -> None:
    # past SMALL_ENCODING keys: packed with positions, or (too wide) ranked
    key = np.random.default_rng(3).integers(0, high, SMALL_ENCODING * 3)
    key[::7] = key[0]
    uniq, inverse = _distinct(key)
    expected, expected_inverse = np.unique(key, return_inverse=True)
    np.testing.assert_array_equal(uniq, expected)
    np.testing.assert_array_equal(inverse, expected_inverse.reshape(-1))


@settings(max_examples=40, deadline=None)
@given(
    values=st.lists(_TEXT.filter(lambda s: s.strip() != ""), min_size=2, max_size=20)
)
def test_distance_caching_matches_scalar(values: list[str]) -> None:
    n = len(values)
    rows_l, rows_r = np.triu_indices(n, k=1)
    got = _gammas(
        [values[i] for i in rows_l],
        [values[j] for j in rows_r],
        DistanceLevel("damerau_levenshtein", 1),
    )
    expected = [
        int(rf.DamerauLevenshtein.distance(values[i].strip(), values[j].strip()) <= 1)
        for i, j in zip(rows_l, rows_r, strict=True)
    ]
    assert got == expected


def test_tf_column_is_value_count_over_non_null_count() -> None:
    values = ["smith", "smith ", "jones", "smith", None, "", "li", "jones"]
    records = _records(values)
    pairs = pl.DataFrame(
        {schema.ROW_L: [0, 2, 6, 4, 5], schema.ROW_R: [1, 7, 0, 0, 0]},
        schema={schema.ROW_L: pl.UInt32, schema.ROW_R: pl.UInt32},
    )
    comp = Comparison("v", "v", (ExactLevel(term_frequency=True),))
    out = compare_pairs(records, pairs, [comp])
    tf = out.get_column("tf_v").to_numpy()
    # 6 non-null values: smith x3, jones x2, li x1; tf is the left record's.
    np.testing.assert_allclose(tf[:3], [3 / 6, 2 / 6, 1 / 6])
    assert np.isnan(tf[3]) and np.isnan(tf[4])
    assert out.get_column("gamma_v").to_list() == [1, 1, 0, -1, -1]


def test_term_frequencies_matches_counter() -> None:
    rng = np.random.default_rng(3)
    values = rng.choice(
        ["a", "b", "c", "d", ""], size=200, p=[0.5, 0.2, 0.15, 0.1, 0.05]
    )
    out = term_frequencies(pl.Series(values.tolist()))
    counts = Counter(v for v in values if v)
    n = sum(counts.values())
    for v, f in zip(values, out, strict=True):
        if v:
            assert f == pytest.approx(counts[v] / n)
        else:
            assert np.isnan(f)


# --------------------------------------------------------------------------- #
# declarations
# --------------------------------------------------------------------------- #
ALL_LEVELS = [
    ExactLevel(),
    ExactLevel(term_frequency=True),
    SimilarityLevel(),
    SimilarityLevel(comparator="token_jaccard", min_similarity=0.25),
    DistanceLevel(),
    DistanceLevel(comparator="damerau_levenshtein", max_distance=3),
    NumericDifferenceLevel(),
    NumericDifferenceLevel(max_difference=0.2, relative=True),
    DateDifferenceLevel(max_days=30),
    DateSwapLevel(),
]


@pytest.mark.parametrize("level", ALL_LEVELS, ids=lambda lvl: lvl.label)
def test_level_dict_round_trip(level: Any) -> None:
    spec = level_to_dict(level)
    assert spec["kind"] == level.kind
    rebuilt = level_from_dict(spec)
    assert rebuilt == level
    assert type(rebuilt) is type(level)


def test_level_from_dict_applies_defaults() -> None:
    assert level_from_dict({"kind": "similarity"}) == SimilarityLevel(
        "jaro_winkler", 0.9
    )
    assert level_from_dict({"kind": "date_swap"}) == DateSwapLevel()


@pytest.mark.parametrize(
    ("make", "match"),
    [
        (
            lambda: SimilarityLevel(comparator="soundex"),
            r"'comparator' of a similarity level must be one of .*'jaro_winkler'.*got 'soundex'",
        ),
        (
            lambda: DistanceLevel(comparator="jaro_winkler"),
            r"'comparator' of a distance level must be one of \['levenshtein', 'damerau_levenshtein'\]; got 'jaro_winkler'",
        ),
        (
            lambda: SimilarityLevel(min_similarity=1.5),
            r"'min_similarity' of a similarity level must be a number in \[0.0, 1.0\]; got 1.5",
        ),
        (
            lambda: SimilarityLevel(min_similarity=-0.1),
            r"'min_similarity' .* got -0.1",
        ),
        (
            lambda: SimilarityLevel(min_similarity="0.9"),
            r"'min_similarity' .* got '0.9'",
        ),
        (
            lambda: DistanceLevel(max_distance=-1),
            r"'max_distance' of a distance level must be an int >= 0; got -1",
        ),
        (
            lambda: DistanceLevel(max_distance=1.5),
            r"'max_distance' .* got 1.5",
        ),
        (
            lambda: NumericDifferenceLevel(max_difference=-1),
            r"'max_difference' of a numeric_difference level must be a number in \[0.0, inf\]",
        ),
        (
            lambda: NumericDifferenceLevel(max_difference=1.5, relative=True),
            r"'max_difference' of a numeric_difference level must be a number in \[0.0, 1.0\]; got 1.5",
        ),
        (
            lambda: DateDifferenceLevel(max_days=-3),
            r"'max_days' of a date_difference level must be an int >= 0; got -3",
        ),
        (
            lambda: level_from_dict({"kind": "phonetic"}),
            r"level's 'kind' must be one of \['and', 'columns_reversed', 'contains', 'date_difference', 'date_swap', 'distance', 'exact', 'first_number', 'geo_distance', 'initial', 'nickname', 'not', 'number_set', 'numeric_difference', 'or', 'set_overlap', 'similarity', 'tfidf_cosine', 'transliterated', 'year_typo'\]; got 'phonetic'",
        ),
        (lambda: level_from_dict({"comparator": "jaro"}), r"'kind' .* got None"),
        (
            lambda: level_from_dict({"kind": "exact", "tf": True}),
            r"Unknown option\(s\) \['tf'\] for a 'exact' level; valid options are \['column', 'extract', 'precision', 'term_frequency', 'tf_min_u', 'tf_weight'\]",
        ),
        (
            lambda: level_from_dict(
                {"kind": "similarity", "threshold": 0.9, "comparator": "jaro"}
            ),
            r"Unknown option\(s\) \['threshold'\] .* valid options are \['column', 'comparator', 'extract', 'min_similarity', 'precision'\]",
        ),
        (
            lambda: level_from_dict({"kind": "similarity", "comparator": "nope"}),
            r"'comparator' of a similarity level",
        ),
    ],
)
def test_bad_level_declarations_raise_config_error(make: Any, match: str) -> None:
    with pytest.raises(ConfigError, match=match):
        make()


COMPARISONS = [
    Comparison(
        "surname", "surname", (ExactLevel(term_frequency=True), SimilarityLevel())
    ),
    Comparison(
        "dob",
        "date_of_birth",
        (ExactLevel(), DateSwapLevel(), DateDifferenceLevel(max_days=365)),
        date_format="%Y%m%d",
    ),
    Comparison("age", "age", (NumericDifferenceLevel(max_difference=2),)),
    Comparison(
        "dob_text",
        "dob",
        (ExactLevel(), DateDifferenceLevel(max_days=9)),
        unparsed="text",
    ),
]


@pytest.mark.parametrize("comparison", COMPARISONS, ids=lambda c: c.name)
def test_comparison_dict_round_trip(comparison: Comparison) -> None:
    spec = comparison.to_dict()
    assert Comparison.from_dict(spec) == comparison
    assert ("date_format" in spec) == (comparison.date_format is not None)


def test_comparison_from_dict_defaults_column_to_name() -> None:
    comp = Comparison.from_dict({"name": "city", "levels": [{"kind": "exact"}]})
    assert comp.column == "city"
    assert comp.levels == (ExactLevel(),)


@pytest.mark.parametrize(
    ("spec", "match"),
    [
        (
            {"name": "a", "levels": [{"kind": "exact"}], "weight": 2},
            r"Unknown key\(s\) \['weight'\] in a comparison; valid keys are \['column', 'columns', 'date_format', 'levels', 'name', 'null_columns', 'unparsed'\]",
        ),
        ({"name": "a"}, r"A comparison needs \['levels'\]; got \['name'\]"),
        ({"levels": []}, r"A comparison needs \['name'\]"),
        ({"name": "a", "levels": []}, r"Comparison 'a' needs at least one level"),
        (
            {"name": "first name", "levels": [{"kind": "exact"}]},
            r"name must be an identifier .* got 'first name'",
        ),
    ],
)
def test_bad_comparison_declarations(spec: dict[str, Any], match: str) -> None:
    with pytest.raises(ConfigError, match=match):
        Comparison.from_dict(spec)


def test_duplicate_comparison_names_raise() -> None:
    records = _records(["a", "b"])
    pairs = pl.DataFrame({schema.ROW_L: [0], schema.ROW_R: [1]})
    comps = [
        Comparison("v", "v", (ExactLevel(),)),
        Comparison("v", "v", (SimilarityLevel(),)),
    ]
    with pytest.raises(ConfigError, match=r"names must be unique; got \['v', 'v'\]"):
        compare_pairs(records, pairs, comps)


def test_missing_column_raises_schema_error() -> None:
    records = _records(["a", "b"])
    pairs = pl.DataFrame({schema.ROW_L: [0], schema.ROW_R: [1]})
    comp = Comparison("city", "city", (ExactLevel(),))
    with pytest.raises(
        SchemaError, match=r"Comparison 'city' needs column\(s\) \['city'\]"
    ):
        compare_pairs(records, pairs, [comp])


@settings(max_examples=40, deadline=None)
@given(
    values=st.lists(
        st.sampled_from([None, "", "ann", "anne", "anna", "bob", "rob"]),
        min_size=2,
        max_size=25,
    ),
    chunk_size=st.integers(1, 12),
    data=st.data(),
)
def test_compare_in_chunks_equals_compare_at_once(
    values: list[str | None], chunk_size: int, data: st.DataObject
) -> None:
    n = len(values)
    index = st.integers(0, n - 1)
    pairs = pl.DataFrame(
        data.draw(st.lists(st.tuples(index, index), min_size=0, max_size=40)),
        schema={schema.ROW_L: pl.UInt32, schema.ROW_R: pl.UInt32},
        orient="row",
    )
    comparison = Comparison(
        "v",
        "v",
        (
            ExactLevel(term_frequency=True),
            SimilarityLevel("jaro_winkler", 0.9),
            DistanceLevel("levenshtein", 1),
        ),
    )
    records = _records(values)
    whole = compare_pairs(records, pairs, [comparison])
    chunked = compare_pairs(records, pairs, [comparison], chunk_size=chunk_size)
    assert chunked.equals(whole)


def test_compare_rejects_a_non_positive_chunk_size() -> None:
    records = _records(["a", "b"])
    pairs = pl.DataFrame({schema.ROW_L: [0], schema.ROW_R: [1]})
    with pytest.raises(ConfigError, match="chunk_size"):
        compare_pairs(
            records, pairs, [Comparison("v", "v", (ExactLevel(),))], chunk_size=0
        )


@settings(max_examples=300, deadline=None)
@given(
    words=st.lists(
        st.text(alphabet="abé1", min_size=1, max_size=9), min_size=2, max_size=12
    ),
    data=st.data(),
)
def test_one_edit_filter_never_drops_a_pair_within_one_edit(
    words: list[str], data: st.DataObject
) -> None:
    encoding = ColumnEncoding(pl.Series(words))
    n = encoding.n_uniques
    index = st.integers(0, n - 1)
    pairs = data.draw(st.lists(st.tuples(index, index), min_size=1, max_size=30))
    pairs = [(a, b) for a, b in pairs if a != b]
    if not pairs:
        return
    left = np.array([a for a, _ in pairs])
    right = np.array([b for _, b in pairs])
    maybe = encoding.may_be_one_edit_apart(left, right)
    for (a, b), kept in zip(pairs, maybe.tolist(), strict=True):
        x, y = encoding.uniques[a], encoding.uniques[b]
        if rf.DamerauLevenshtein.distance(x, y) <= 1:
            assert kept, (x, y)


@pytest.mark.parametrize("comparator", ["levenshtein", "damerau_levenshtein"])
def test_distance_level_of_one_agrees_with_rapidfuzz(comparator: str) -> None:
    rng = np.random.default_rng(3)
    left: list[str] = []
    right: list[str] = []
    for _ in range(40):
        w = "".join(rng.choice(list("0123456789"), int(rng.integers(3, 12))))
        i = int(rng.integers(0, len(w) - 1))
        family = [
            w,
            w[:i] + w[i + 1 :],  # deletion
            w[:i] + "x" + w[i:],  # insertion
            w[:i] + "y" + w[i + 1 :],  # substitution
            w[:i] + w[i + 1] + w[i] + w[i + 2 :],  # neighbours swapped
            w[::-1],
        ]
        for a in family:
            for b in family:
                left.append(a)
                right.append(b)
    got = _gammas(left, right, DistanceLevel(comparator, 1))
    scorer = SCALAR_DISTANCE[comparator]
    expected = [1 if scorer(a, b) <= 1 else 0 for a, b in zip(left, right, strict=True)]
    assert got == expected
    assert 0 < sum(got) < len(got)
