"""The compare kernel on batches of left/right values equals compare_pairs."""

from __future__ import annotations

import dataclasses
import datetime as dt
import itertools
from pathlib import Path
from typing import Any

import numpy as np
import polars as pl
import pyarrow as pa
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from er_toolkit import schema
from er_toolkit.compare import (
    AndLevel,
    ColumnsReversedLevel,
    Comparison,
    ContainsLevel,
    DateDifferenceLevel,
    DateSwapLevel,
    DistanceLevel,
    ExactLevel,
    NotLevel,
    NumericDifferenceLevel,
    OrLevel,
    SimilarityLevel,
    compare_batch,
    compare_pairs,
    term_frequencies,
)
from er_toolkit.compare.comparators import STRING_COMPARATORS
from er_toolkit.exceptions import ConfigError, SchemaError

# --------------------------------------------------------------------------- #
# random frames: text, string dates, Date values, numbers; nulls and blanks
# --------------------------------------------------------------------------- #
_NULLISH = st.sampled_from([None, "", "  "])
_TEXT = st.one_of(_NULLISH, st.text(alphabet="abé ", max_size=6))
_ISO = st.dates(dt.date(1999, 12, 25), dt.date(2000, 1, 15)).map(str)
_STRING_DATE = st.one_of(
    _NULLISH,
    _ISO,
    st.sampled_from(
        ["2000-01-03", "2000-03-01", "not a date", "2000-02-30", "01/03/2000"]
    ),
    _ISO.map(lambda s: f" {s} "),
)
_DATE = st.one_of(st.none(), st.dates(dt.date(2000, 1, 1), dt.date(2000, 1, 20)))
_NUMBER_STRING = st.one_of(
    _NULLISH,
    st.sampled_from(["abc", "1e400x", " 7 ", "7", "7.5", "-3"]),
    st.integers(-10, 10).map(str),
)
_FLOAT = st.one_of(
    st.none(), st.just(float("nan")), st.integers(-5, 5).map(float), st.just(2.5)
)

COLUMNS: dict[str, tuple[Any, Any]] = {
    "text": (_TEXT, pl.String),
    "text2": (_TEXT, pl.String),
    "dates": (_STRING_DATE, pl.String),
    "date_values": (_DATE, pl.Date),
    "numbers": (_NUMBER_STRING, pl.String),
    "floats": (_FLOAT, pl.Float64),
}

_TEXT_LEVELS = st.one_of(
    st.builds(ExactLevel, term_frequency=st.booleans()),
    st.builds(
        SimilarityLevel,
        comparator=st.sampled_from(STRING_COMPARATORS),
        min_similarity=st.sampled_from([0.0, 0.5, 0.6, 2 / 3, 0.75, 0.8, 0.9, 1.0]),
    ),
    st.builds(
        DistanceLevel,
        comparator=st.sampled_from(["levenshtein", "damerau_levenshtein"]),
        max_distance=st.integers(0, 3),
    ),
)
_NUMBER_LEVELS = st.builds(
    NumericDifferenceLevel,
    max_difference=st.sampled_from([0.0, 0.5, 1.0]),
    relative=st.booleans(),
)
_DATE_LEVELS = st.one_of(
    st.builds(DateDifferenceLevel, max_days=st.integers(0, 40)),
    st.builds(DateSwapLevel),
)
# levels over several columns: on the other text column, across the two text
# columns, and composites of them
# (an exact level on text2 may be term-frequency adjusted by text2's frequencies)
_ON_TEXT2 = _TEXT_LEVELS.map(lambda lvl: dataclasses.replace(lvl, column="text2"))
_CROSS = st.one_of(
    st.builds(
        ColumnsReversedLevel,
        columns=st.sampled_from([("text", "text2"), ("text2", "text")]),
        comparator=st.sampled_from([None, "jaro_winkler", "token_jaccard"]),
        min_similarity=st.sampled_from([0.5, 0.8]),
    ),
    st.builds(
        ContainsLevel,
        other=st.just("text2"),
        column=st.sampled_from([None, "text"]),
        mode=st.sampled_from(["tokens", "substring"]),
        min_length=st.integers(1, 3),
    ),
)
_SIMPLE = st.one_of(_TEXT_LEVELS, _ON_TEXT2, _CROSS)
_MULTI = st.one_of(
    _SIMPLE,
    st.builds(AndLevel, levels=st.lists(_SIMPLE, min_size=1, max_size=3).map(tuple)),
    st.builds(OrLevel, levels=st.lists(_SIMPLE, min_size=1, max_size=3).map(tuple)),
    st.builds(NotLevel, level=_SIMPLE),
)
LEVELS = {
    "text": st.one_of(_TEXT_LEVELS, _MULTI),
    "text2": _TEXT_LEVELS,
    "dates": st.one_of(_TEXT_LEVELS, _DATE_LEVELS),
    "date_values": st.one_of(_TEXT_LEVELS, _DATE_LEVELS),
    "numbers": st.one_of(_TEXT_LEVELS, _NUMBER_LEVELS),
    "floats": st.one_of(_TEXT_LEVELS, _NUMBER_LEVELS),
}


@st.composite
def comparisons(draw: st.DrawFn) -> list[Comparison]:
    columns = draw(
        st.lists(st.sampled_from(sorted(COLUMNS)), min_size=1, max_size=4, unique=True)
    )
    out = []
    for k, column in enumerate(columns):
        levels = draw(st.lists(LEVELS[column], min_size=1, max_size=4))
        out.append(Comparison(f"c{k}", column, tuple(levels)))
    # a second comparison on a column already used (the kernel shares encodings)
    if draw(st.booleans()):
        column = columns[0]
        levels = draw(st.lists(LEVELS[column], min_size=1, max_size=2))
        out.append(Comparison("again", column, tuple(levels)))
    return out


def _as(kind: str, values: pl.Series) -> Any:
    """``values`` as the array type named ``kind``."""
    if kind == "polars":
        return values
    if kind == "arrow":
        return values.to_arrow()
    if kind == "numpy":  # strings: object arrays with None; floats: NaN
        return values.to_numpy()
    return values.to_list()


def _sims_as_numpy(vectors: pl.DataFrame, name: str) -> np.ndarray:
    return vectors.get_column(name).fill_null(np.nan).to_numpy()


@settings(max_examples=100, deadline=None)
@given(data=st.data(), comps=comparisons(), raw_similarity=st.booleans())
def test_kernel_on_batches_equals_compare_pairs(
    data: st.DataObject, comps: list[Comparison], raw_similarity: bool
) -> None:
    n = data.draw(st.integers(1, 25), label="n_records")
    records = pl.DataFrame(
        {schema.ROW: np.arange(n, dtype=np.uint32)}
        | {
            column: pl.Series(
                column, data.draw(st.lists(values, min_size=n, max_size=n)), dtype
            )
            for column, (values, dtype) in COLUMNS.items()
        }
    )
    index = st.integers(0, n - 1)
    pair_list = data.draw(st.lists(st.tuples(index, index), max_size=60))
    pairs = pl.DataFrame(
        pair_list,
        schema={schema.ROW_L: pl.UInt32, schema.ROW_R: pl.UInt32},
        orient="row",
    )
    whole = compare_pairs(records, pairs, comps, raw_similarity=raw_similarity)

    cuts = data.draw(st.lists(st.integers(0, len(pair_list)), max_size=4))
    bounds = [0, *sorted(cuts), len(pair_list)]
    array_kind = data.draw(st.sampled_from(["polars", "arrow", "numpy", "list"]))
    rows_l = pairs.get_column(schema.ROW_L).to_numpy().astype(np.int64)
    rows_r = pairs.get_column(schema.ROW_R).to_numpy().astype(np.int64)
    tf_whole = {
        c.name: {t: term_frequencies(records.get_column(t)) for t in c.tf_columns}
        for c in comps
        if c.tf_columns
    }
    batches = []
    for lo, hi in itertools.pairwise(bounds):
        left_rows, right_rows = rows_l[lo:hi], rows_r[lo:hi]
        columns = {column for c in comps for column in c.columns}
        left = {
            c: _as(array_kind, records.get_column(c).gather(left_rows)) for c in columns
        }
        right = {
            c: _as(array_kind, records.get_column(c).gather(right_rows))
            for c in columns
        }
        batches.append(
            compare_batch(
                comps,
                left,
                right,
                term_frequencies={
                    k: {t: f[left_rows] for t, f in v.items()}
                    for k, v in tf_whole.items()
                },
                raw_similarity=raw_similarity,
            )
        )
    names = [c for c in whole.columns if c not in pairs.columns]
    assert sorted(names) == sorted(batches[0])
    for name in names:
        got = np.concatenate([b[name] for b in batches])
        if name.startswith(schema.SIM_PREFIX):
            want = _sims_as_numpy(whole, name)
        else:
            want = whole.get_column(name).to_numpy()
        assert got.dtype == want.dtype, name
        np.testing.assert_array_equal(got, want, err_msg=name)


# --------------------------------------------------------------------------- #
# the contract
# --------------------------------------------------------------------------- #
NAME = Comparison("name", "name", (ExactLevel(term_frequency=True), SimilarityLevel()))


def test_batch_output_types_and_null_tf() -> None:
    out = compare_batch(
        [NAME],
        {"name": pa.array(["anna", None, "martha", "bob"])},
        {"name": pa.array(["anna", "anna", "marhta", None])},
        term_frequencies={"name": np.array([0.5, 0.25, 0.5, 0.1])},
    )
    assert out["gamma_name"].dtype == np.int8
    assert out["sim_name"].dtype == np.float32
    assert out["tf_name"].dtype == np.float32
    assert out["gamma_name"].tolist() == [2, -1, 1, -1]
    np.testing.assert_array_equal(
        out["tf_name"], np.array([0.5, np.nan, 0.5, 0.1], dtype=np.float32)
    )
    assert np.isnan(out["sim_name"][[1, 3]]).all()


# Splink's ForenameSurnameComparison: both exact, then exact surname (its TF),
# then exact forename (its TF)
NAMES = Comparison(
    "names",
    "first",
    (
        AndLevel(levels=(ExactLevel(), ExactLevel(column="sur"))),
        ExactLevel(column="sur", term_frequency=True),
        ExactLevel(term_frequency=True),
    ),
    null_columns=("first", "sur"),
)


def test_each_tf_level_reads_its_own_columns_frequencies() -> None:
    assert NAMES.tf_columns == ("sur", "first")
    assert [(g, c) for g, _, c in NAMES.tf_levels] == [(2, "sur"), (1, "first")]
    left = {"first": ["ann", "ann", "bob", "cy"], "sur": ["ash", "ash", "ash", None]}
    right = {"first": ["ann", "ann", "al", "cy"], "sur": ["ash", "oak", "ash", "oak"]}
    freqs = {
        "first": np.array([0.1, 0.2, 0.3, 0.4]),
        "sur": np.array([0.5, 0.6, 0.7, 0.8]),
    }
    out = compare_batch([NAMES], left, right, term_frequencies={"names": freqs})
    # both / forename only / surname only / forename only (surname null)
    assert out["gamma_names"].tolist() == [3, 1, 2, 1]
    # at no TF level: the first TF column's (surname); else the level's column
    np.testing.assert_array_equal(
        out["tf_names"], np.array([0.5, 0.2, 0.7, 0.4], dtype=np.float32)
    )
    with pytest.raises(SchemaError, match=r"must map each of them"):
        compare_batch([NAMES], left, right, term_frequencies={"names": freqs["sur"]})
    with pytest.raises(SchemaError, match=r"got columns \['sur'\]"):
        compare_batch(
            [NAMES], left, right, term_frequencies={"names": {"sur": freqs["sur"]}}
        )
    with pytest.raises(SchemaError, match=r"\['names'\]\['first'\] must hold one"):
        compare_batch(
            [NAMES],
            left,
            right,
            term_frequencies={"names": freqs | {"first": [0.1]}},
        )


def test_batch_of_no_pairs() -> None:
    out = compare_batch(
        [NAME], {"name": []}, {"name": []}, term_frequencies={"name": []}
    )
    assert {k: len(v) for k, v in out.items()} == {
        "gamma_name": 0,
        "sim_name": 0,
        "tf_name": 0,
    }


def test_all_null_numpy_side_is_null() -> None:
    comp = Comparison("name", "name", (ExactLevel(),))
    out = compare_batch(
        [comp],
        {"name": np.array(["a", "b"], dtype=object)},
        {"name": np.array([None, None], dtype=object)},
    )
    assert out["gamma_name"].tolist() == [-1, -1]


def test_threads_do_not_change_the_result() -> None:
    rng = np.random.default_rng(0)
    words = np.array(["martha", "marhta", "marta", "matha", "bob"], dtype=object)
    left, right = rng.choice(words, 500), rng.choice(words, 500)
    comp = Comparison(
        "name", "name", (SimilarityLevel(min_similarity=0.9), DistanceLevel())
    )
    one = compare_batch([comp], {"name": left}, {"name": right}, workers=1)
    every = compare_batch([comp], {"name": left}, {"name": right}, workers=-1)
    for key in one:
        np.testing.assert_array_equal(one[key], every[key])


@pytest.mark.parametrize(
    ("left", "right", "freqs", "error", "match"),
    [
        (
            {"other": ["a"]},
            {"name": ["a"]},
            {"name": [0.1]},
            SchemaError,
            r"Comparison 'name' needs column 'name' on the left; the batch has \['other'\]",
        ),
        (
            {"name": ["a", "b"]},
            {"name": ["a"]},
            {"name": [0.1, 0.1]},
            SchemaError,
            r"one left and one right value per pair; got 2 left and 1 right",
        ),
        (
            {"name": ["a"]},
            {"name": ["a"]},
            None,
            SchemaError,
            r"needs term_frequencies\['name'\], the left values' frequencies over "
            r"the whole column; got keys \[\]",
        ),
        (
            {"name": ["a"]},
            {"name": ["a"]},
            {"name": [0.1, 0.2]},
            SchemaError,
            r"term_frequencies\['name'\] must hold one value per pair \(1\); got 2",
        ),
        (
            {"name": ["a"]},
            {"name": [[1]]},
            {"name": [0.1]},
            SchemaError,
            r"must share a type; got String and List\(Int64\)",
        ),
    ],
)
def test_bad_batches_raise(
    left: dict[str, Any],
    right: dict[str, Any],
    freqs: dict[str, Any] | None,
    error: type[Exception],
    match: str,
) -> None:
    with pytest.raises(error, match=match):
        compare_batch([NAME], left, right, term_frequencies=freqs)


def test_columns_of_unequal_length_raise() -> None:
    a = Comparison("a", "a", (ExactLevel(),))
    b = Comparison("b", "b", (ExactLevel(),))
    with pytest.raises(SchemaError, match=r"column 'b' holds 1, another 2"):
        compare_batch(
            [a, b], {"a": ["x", "y"], "b": ["x"]}, {"a": ["x", "y"], "b": ["x"]}
        )


def test_duplicate_names_raise() -> None:
    with pytest.raises(ConfigError, match="names must be unique"):
        compare_batch([NAME, NAME], {"name": []}, {"name": []})


def test_kernel_imports_no_engine_state() -> None:
    import ast

    import er_toolkit.compare.kernel as kernel

    tree = ast.parse(Path(kernel.__file__).read_text())
    imported = {
        node.module
        for node in ast.walk(tree)
        if isinstance(node, ast.ImportFrom) and node.module
    } | {
        alias.name
        for node in ast.walk(tree)
        if isinstance(node, ast.Import)
        for alias in node.names
    }
    assert "er_toolkit.compare.engine" not in imported
    names = {
        alias.name
        for node in ast.walk(tree)
        if isinstance(node, ast.ImportFrom)
        for alias in node.names
    }
    assert "RecordEncoding" not in names


def test_compare_exports() -> None:
    import er_toolkit.compare as compare

    assert {"compare_batch", "compare_pairs", "RecordEncoding"} <= set(compare.__all__)
    for name in compare.__all__:
        assert getattr(compare, name) is not None


# ------------------------------------------------ few values: Python encodings
_TEXTS = st.one_of(
    st.none(),
    st.text(
        alphabet=st.sampled_from([*"ab Zé\t\u00a0\u2003\x1c\u0085ß", "ǅ", "😀"]),
        max_size=6,
    ),
)


@settings(max_examples=150, deadline=None)
@given(values=st.lists(_TEXTS, min_size=1, max_size=40), cap=st.integers(1, 5))
def test_small_encodings_equal_the_polars_ones(
    values: list[str | None], cap: int
) -> None:
    """Up to SMALL_ENCODING values the codes, distinct strings, lengths and caps come
    from Python and numpy: exactly what the polars expressions give."""
    import warnings

    from er_toolkit.compare import pair_values

    def encode(small: int) -> dict[str, Any]:
        with pytest.MonkeyPatch.context() as patch:
            patch.setattr(pair_values, "SMALL_ENCODING", small)
            return _encoded(pair_values, small)

    def _encoded(pair_values: Any, small: int) -> dict[str, Any]:
        enc = pair_values.ColumnEncoding(
            pl.Series("v", values), max_compared_length=cap
        )
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            uniques = enc.uniques.tolist()
        left = np.arange(len(values)) % max(enc.n_uniques, 1)
        right = left[::-1].copy()
        rows = np.arange(len(values))
        pairs = pair_values.PairValues(enc, rows, rows[::-1].copy())
        return {
            "codes": enc.codes.tolist(),
            "uniques": uniques,
            "sorted": enc.uniques_series.to_list(),
            "lengths": enc._lengths.tolist(),
            "one_edit": enc.may_be_one_edit_apart(left, right).tolist()
            if enc.n_uniques
            else [],
            "distinct": [a.tolist() for a in pairs.distinct_codes],
            "jaro": pairs.similarity("jaro_winkler").tolist(),
        }

    np.testing.assert_equal(encode(10_000), encode(0))


def test_compare_batch_of_a_few_pairs_equals_a_big_batch() -> None:
    """A batch small enough for the one-query strings gives each pair what a big one does."""
    rng = np.random.default_rng(3)
    names = np.array(
        [" ann", "anne ", "Zoë", "zoe", None, "", "ann-marie", "bob"], dtype=object
    )
    dates = np.array(
        ["2001-02-03", "2001-03-02", "bad", None, " 2001-02-04"], dtype=object
    )
    left = {"name": rng.choice(names, 400), "dob": rng.choice(dates, 400)}
    right = {"name": rng.choice(names, 400), "dob": rng.choice(dates, 400)}
    comparisons = [
        Comparison(
            "name",
            "name",
            (
                ExactLevel(),
                SimilarityLevel(comparator="jaro_winkler", min_similarity=0.8),
            ),
        ),
        Comparison("dob", "dob", (ExactLevel(), DateDifferenceLevel(max_days=31))),
    ]
    big = compare_batch(comparisons, left, right)
    for start in range(0, 400, 7):
        part = slice(start, start + 7)
        few = compare_batch(
            comparisons,
            {c: v[part] for c, v in left.items()},
            {c: v[part] for c, v in right.items()},
        )
        for name, array in big.items():
            np.testing.assert_array_equal(few[name], array[part], err_msg=name)


def test_compare_encodings_at_any_positions_equals_compare_batch() -> None:
    """Pairs read at any positions of one encoding of the distinct values get what compare_batch gives."""
    from er_toolkit.compare.kernel import compare_encodings
    from er_toolkit.compare.pair_values import ColumnEncoding

    rng = np.random.default_rng(5)
    firsts = np.array(["ann", "anne", "bob", None, " cy", ""], dtype=object)
    surs = np.array(["ash", "oak", None, "ashe"], dtype=object)
    streets = np.array(["1 high st", "high st 1", "2 low rd", None], dtype=object)
    street = Comparison(
        "street",
        "street",
        (
            ExactLevel(),
            SimilarityLevel(comparator="jaro_winkler", min_similarity=0.95),
            SimilarityLevel(comparator="token_jaccard", min_similarity=0.5),
        ),
    )
    comparisons = [NAMES, street]
    # every value once: the positions say which value each pair's side holds
    values = {"first": firsts, "sur": surs, "street": streets}
    n = 300
    picks = {
        c: (rng.integers(0, len(v), n), rng.integers(0, len(v), n))
        for c, v in values.items()
    }
    # one position per pair side shared by all columns: a record of each combination
    left_rows = np.arange(n)
    right_rows = np.arange(n, 2 * n)
    records = {
        c: pl.Series(c, [*v[picks[c][0]], *v[picks[c][1]]], dtype=pl.String)
        for c, v in values.items()
    }
    encodings = {c: ColumnEncoding(s) for c, s in records.items()}
    freqs = {"first": rng.random(n), "sur": rng.random(n)}
    order = rng.permutation(n)  # the pairs in another order than the records
    out = compare_encodings(
        comparisons,
        lambda l_col, r_col, date_format: encodings[l_col],
        left_rows[order],
        right_rows[order],
        term_frequencies={"names": {c: f[order] for c, f in freqs.items()}},
    )
    expected = compare_batch(
        comparisons,
        {c: values[c][picks[c][0]][order] for c in values},
        {c: values[c][picks[c][1]][order] for c in values},
        term_frequencies={"names": {c: f[order] for c, f in freqs.items()}},
    )
    assert set(out) == set(expected)
    assert (expected["gamma_names"] >= 0).any() and (
        expected["gamma_street"] == 1
    ).any()
    for name, array in expected.items():
        np.testing.assert_array_equal(out[name], array, err_msg=name)
