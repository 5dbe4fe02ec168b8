"""Comparisons over several columns and the name levels, against per-pair references."""

from __future__ import annotations

import json
import tomllib
import unicodedata
from typing import Any

import numpy as np
import polars as pl
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
    ExactLevel,
    InitialLevel,
    NotLevel,
    OrLevel,
    SimilarityLevel,
    TransliteratedLevel,
    compare_batch,
    compare_pairs,
    level_from_dict,
    level_to_dict,
)
from er_toolkit.compare.levels import exact_columns, level_column_pairs
from er_toolkit.exceptions import ConfigError, SchemaError

_WORDS = st.sampled_from(["ann", "smith", "a", "mary ann", "ann smith", "", None, "x1"])


def _frame(**columns: list[Any]) -> pl.DataFrame:
    n = len(next(iter(columns.values())))
    return pl.DataFrame(
        {schema.ROW: np.arange(n, dtype=np.uint32)}
        | {k: pl.Series(k, v, dtype=pl.String) for k, v in columns.items()}
    )


def _gamma(
    records: pl.DataFrame, pairs: list[tuple[int, int]], comp: Comparison
) -> list[int]:
    frame = pl.DataFrame(
        pairs, schema={schema.ROW_L: pl.UInt32, schema.ROW_R: pl.UInt32}, orient="row"
    )
    out = compare_pairs(records, frame, [comp])
    return out.get_column(schema.gamma(comp.name)).to_list()


def _present(value: str | None) -> str | None:
    return value.strip() or None if value is not None else None


def _words(value: str) -> set[str]:
    return set(value.split())


def _contained(needle: str | None, hay: str | None, mode: str, min_length: int) -> bool:
    needle, hay = _present(needle), _present(hay)
    if needle is None or hay is None:
        return False
    if mode == "substring":
        return len(needle) >= min_length and needle in hay
    words = _words(needle)
    return bool(words) and max(map(len, words)) >= min_length and words <= _words(hay)


def _squashed(text: str) -> str:
    return "".join(ch for ch in text if ch.isalnum())


def _share_found(
    needle: str | None, hay: str | None, min_length: int, min_share: float, squash: bool
) -> bool:
    """Reference for mode "token_share": a share of the needle's words inside the hay."""
    if needle is None or hay is None:
        return False
    if squash:
        hay = _squashed(hay)
    words = needle.split(" ")
    if squash:
        words = [_squashed(w) for w in words]
    words = [w for w in words if len(w) >= min_length]
    if not words:
        return False
    return sum(w in hay for w in words) / len(words) >= min_share


_CODES = st.sampled_from(
    ["p502025 hd15m", "b90su", "kx-tg1034s", "ab", "d90 d90body", "", None, "x1 x1"]
)
_TITLES = st.sampled_from(
    [
        "tripp lite video cable p502 025",
        "olympus b 90su charger",
        "panasonic kx tg1034s phone",
        "nikon d90 body",
        "",
        None,
        "x1",
    ]
)


@settings(max_examples=80, deadline=None)
@given(
    rows=st.lists(st.tuples(_CODES, _TITLES), min_size=1, max_size=8),
    min_length=st.integers(1, 4),
    min_share=st.sampled_from([0.01, 0.5, 1.0]),
    squash=st.booleans(),
    data=st.data(),
)
def test_contains_token_share_equals_a_per_pair_reference(
    rows: list[tuple[str | None, str | None]],
    min_length: int,
    min_share: float,
    squash: bool,
    data: Any,
) -> None:
    records = _frame(codes=[r[0] for r in rows], title=[r[1] for r in rows])
    index = st.integers(0, len(rows) - 1)
    pairs = data.draw(st.lists(st.tuples(index, index), min_size=1, max_size=20))
    level = ContainsLevel(
        other="title",
        column="codes",
        mode="token_share",
        min_length=min_length,
        min_share=min_share,
        squash=squash,
    )
    comp = Comparison("c", "title", (level,))
    expected = []
    for i, j in pairs:
        c_l, t_l = (_present(v) for v in rows[i])
        c_r, t_r = (_present(v) for v in rows[j])
        if t_l is None or t_r is None:
            expected.append(-1)  # the comparison's own column decides the null level
            continue
        found = _share_found(c_l, t_r, min_length, min_share, squash) or _share_found(
            c_r, t_l, min_length, min_share, squash
        )
        expected.append(int(found))
    assert _gamma(records, pairs, comp) == expected


def test_contains_squash_finds_codes_split_by_spaces_and_dashes() -> None:
    records = _frame(
        codes=["p502025", "kxtg1034s", "kxtg9332t", None],
        title=[
            "tripp lite monitor cable",
            "panasonic kx-tg1034s dect phone",
            "panasonic kx tg9332s dect phone",
            "tripp lite video cable p502 025",
        ],
    )
    pairs = [(0, 3), (1, 1), (2, 2), (0, 1)]
    squashed = Comparison(
        "c",
        "title",
        (
            ContainsLevel(
                other="title", column="codes", mode="token_share", squash=True
            ),
        ),
    )
    plain = Comparison(
        "c",
        "title",
        (ContainsLevel(other="title", column="codes", mode="token_share"),),
    )
    # another colour's code (9332t against 9332s) is not found either way
    assert _gamma(records, pairs, squashed) == [1, 1, 0, 0]
    assert _gamma(records, pairs, plain) == [0, 0, 0, 0]


def test_contains_declaration_keeps_its_old_form_by_default() -> None:
    old = {"kind": "contains", "other": "title", "mode": "tokens", "min_length": 3}
    assert level_to_dict(level_from_dict(old)) == old
    new = {
        "kind": "contains",
        "other": "title",
        "column": "codes",
        "mode": "token_share",
        "min_length": 4,
        "min_share": 0.5,
        "squash": True,
    }
    assert level_to_dict(level_from_dict(new)) == new


@settings(max_examples=80, deadline=None)
@given(
    rows=st.lists(st.tuples(_WORDS, _WORDS), min_size=1, max_size=8),
    mode=st.sampled_from(["tokens", "substring"]),
    min_length=st.integers(1, 3),
    data=st.data(),
)
def test_multi_column_levels_equal_a_per_pair_reference(
    rows: list[tuple[str | None, str | None]], mode: str, min_length: int, data: Any
) -> None:
    records = _frame(a=[r[0] for r in rows], b=[r[1] for r in rows])
    index = st.integers(0, len(rows) - 1)
    pairs = data.draw(st.lists(st.tuples(index, index), min_size=1, max_size=20))
    reversed_ = Comparison("r", "a", (ColumnsReversedLevel(columns=("a", "b")),))
    contains = Comparison(
        "c", "a", (ContainsLevel(other="b", mode=mode, min_length=min_length),)
    )  # type: ignore[arg-type]
    both = Comparison(
        "both", "a", (AndLevel((ExactLevel(), NotLevel(ExactLevel(column="b")))),)
    )
    either = Comparison(
        "either", "a", (OrLevel((ExactLevel(), ExactLevel(column="b"))),)
    )
    on_b = Comparison("on_b", "a", (ExactLevel(column="b"),))

    def expect(check: Any) -> list[int]:
        out = []
        for i, j in pairs:
            a_l, b_l = (_present(v) for v in rows[i])
            a_r, b_r = (_present(v) for v in rows[j])
            if a_l is None or a_r is None:
                out.append(-1)  # the comparison's own column decides the null level
            else:
                out.append(1 if check(a_l, b_l, a_r, b_r) else 0)
        return out

    def eq(x: str | None, y: str | None) -> bool:
        return x is not None and x == y

    assert _gamma(records, pairs, reversed_) == expect(
        lambda al, bl, ar, br: eq(al, br) and eq(bl, ar)
    )
    assert _gamma(records, pairs, contains) == expect(
        lambda al, bl, ar, br: (
            _contained(al, br, mode, min_length) or _contained(ar, bl, mode, min_length)
        )
    )
    assert _gamma(records, pairs, both) == expect(
        lambda al, bl, ar, br: eq(al, ar) and not eq(bl, br)
    )
    assert _gamma(records, pairs, either) == expect(
        lambda al, bl, ar, br: eq(al, ar) or eq(bl, br)
    )
    assert _gamma(records, pairs, on_b) == expect(lambda al, bl, ar, br: eq(bl, br))


@settings(max_examples=80, deadline=None)
@given(
    rows=st.lists(st.tuples(_WORDS, _WORDS), min_size=1, max_size=8),
    data=st.data(),
)
def test_null_columns_equal_a_per_pair_reference(
    rows: list[tuple[str | None, str | None]], data: Any
) -> None:
    """Null only when both columns are; else the levels, a null keeping a pair off."""
    records = _frame(a=[r[0] for r in rows], b=[r[1] for r in rows])
    index = st.integers(0, len(rows) - 1)
    pairs = data.draw(st.lists(st.tuples(index, index), min_size=1, max_size=20))
    names = Comparison(
        "names",
        "a",
        (
            AndLevel((ExactLevel(), ExactLevel(column="b"))),
            ColumnsReversedLevel(columns=("a", "b")),
            ExactLevel(column="b"),
            ExactLevel(),
        ),
        null_columns=("a", "b"),
    )

    def eq(x: str | None, y: str | None) -> bool:
        return x is not None and x == y

    expected = []
    for i, j in pairs:
        a_l, b_l = (_present(v) for v in rows[i])
        a_r, b_r = (_present(v) for v in rows[j])
        if (a_l is None or a_r is None) and (b_l is None or b_r is None):
            expected.append(-1)
        elif eq(a_l, a_r) and eq(b_l, b_r):
            expected.append(4)
        elif eq(a_l, b_r) and eq(a_r, b_l):
            expected.append(3)
        elif eq(b_l, b_r):
            expected.append(2)
        elif eq(a_l, a_r):
            expected.append(1)
        else:
            expected.append(0)
    assert _gamma(records, pairs, names) == expected
    left = {c: [rows[i][k] for i, _ in pairs] for k, c in enumerate("ab")}
    right = {c: [rows[j][k] for _, j in pairs] for k, c in enumerate("ab")}
    batch = compare_batch([names], left, right)
    assert batch[schema.gamma("names")].tolist() == expected


def test_columns_reversed_in_float64_is_duckdbs_similarity() -> None:
    """The float64 level compares each crosswise pair's DuckDB-exact similarity."""
    from er_toolkit.compare.comparators import similarity

    left = {"a": ["martha", "jon", "ann", None], "b": ["smith", "ward", "lee", "x"]}
    right = {"a": ["smyth", "wart", "lea", "x"], "b": ["marhta", "john", "anne", "y"]}

    def precise(x: list[Any], y: list[Any]) -> np.ndarray:
        return similarity("jaro_winkler", x, y, dtype=np.float64)

    sims = np.minimum(
        precise(left["a"][:3], right["b"][:3]), precise(left["b"][:3], right["a"][:3])
    )
    threshold = float(sims[0])  # the first pair just reaches it
    level = ColumnsReversedLevel(
        columns=("a", "b"),
        comparator="jaro_winkler",
        min_similarity=threshold,
        precision="float64",
    )
    comp = Comparison("n", "a", (level,), null_columns=("a", "b"))
    out = compare_batch([comp], left, right)["gamma_n"].tolist()
    assert out[:3] == [int(s >= threshold) for s in sims]
    assert out[0] == 1 and out[3] == 0  # a null keeps the last pair off


def test_null_columns_round_trip_and_say_what_was_expected() -> None:
    names = Comparison("n", "a", (ExactLevel(column="b"),), null_columns=("a", "b"))
    assert names.columns == ("a", "b")
    assert Comparison.from_dict(json.loads(json.dumps(names.to_dict()))) == names
    plain = Comparison("n", "a", (ExactLevel(),), null_columns=("a",))
    assert plain.null_columns == () and "null_columns" not in plain.to_dict()
    with pytest.raises(ConfigError, match=r"'null_columns' must include its own"):
        Comparison("n", "a", (ExactLevel(),), null_columns=("b", "c"))
    with pytest.raises(ConfigError, match=r"'null_columns' must be a list of distinct"):
        Comparison("n", "a", (ExactLevel(),), null_columns=("a", "a"))
    with pytest.raises(ConfigError, match=r"'null_columns' must be a list of column"):
        Comparison.from_dict(
            {"name": "n", "levels": [{"kind": "exact"}], "null_columns": "a"}
        )


def _key(value: str) -> str:
    text = value.lower()
    for a, b in {
        "ß": "ss",
        "æ": "ae",
        "ø": "o",
        "œ": "oe",
        "ł": "l",
        "đ": "d",
        "ı": "i",  # noqa: RUF001
    }.items():
        text = text.replace(a, b)
    text = "".join(
        c for c in unicodedata.normalize("NFKD", text) if not unicodedata.combining(c)
    )
    text = "".join(c for c in text if c.isalpha())
    for a, b in {
        "ae": "a",
        "oe": "o",
        "ue": "u",
        "ss": "s",
        "ij": "y",
        "ph": "f",
    }.items():
        text = text.replace(a, b)
    return text


_NAMES = st.sampled_from(
    ["Müller", "MUELLER", "muller", "Miller", "Dijkstra", "Dykstra", "J", "j.", "John",
     "jane", "K", "Strauß", "strauss", "", "1"]
)  # fmt: skip


@settings(max_examples=80, deadline=None)
@given(left=st.lists(_NAMES, min_size=1, max_size=10), data=st.data())
def test_name_levels_equal_a_per_pair_reference(left: list[str], data: Any) -> None:
    right = data.draw(st.lists(_NAMES, min_size=len(left), max_size=len(left)))
    out = compare_batch(
        [
            Comparison("t", "n", (TransliteratedLevel(),)),
            Comparison("i", "n", (InitialLevel(),)),
        ],
        {"n": left},
        {"n": right},
    )

    def initial(x: str) -> str | None:
        x = x.strip().lower()
        return x[0] if len(x.rstrip(".")) == 1 and x[0].isalpha() else None

    for k, (a, b) in enumerate(zip(left, right, strict=True)):
        if not a.strip() or not b.strip():
            assert out["gamma_t"][k] == -1 and out["gamma_i"][k] == -1
            continue
        same_key = _key(a) != "" and _key(a) == _key(b)
        assert out["gamma_t"][k] == int(same_key), (a, b)
        init = (initial(a) is not None and initial(a) == b.strip().lower()[:1]) or (
            initial(b) is not None and initial(b) == a.strip().lower()[:1]
        )
        assert out["gamma_i"][k] == int(init), (a, b)


def test_transliterations_and_initials_agree() -> None:
    out = compare_batch(
        [Comparison("n", "n", (ExactLevel(), TransliteratedLevel(), InitialLevel()))],
        {"n": ["müller", "dijkstra", "J.", "j", "ann"]},
        {"n": ["MUELLER", "dykstra", "john", "karl", "anna"]},
    )
    assert out["gamma_n"].tolist() == [2, 2, 1, 0, 0]


def test_swapped_names_household_and_conditions_in_one_config() -> None:
    spec = tomllib.loads(
        """
[[comparisons]]
name = "first_name"
columns = ["first_name", "surname"]
levels = [
  { kind = "exact", term_frequency = true },
  { kind = "columns_reversed", columns = ["first_name", "surname"] },
  { kind = "initial" },
]

[[comparisons]]
name = "household"
column = "surname"
levels = [
  { kind = "and", levels = [{ kind = "exact" }, { kind = "exact", column = "postcode" }] },
  { kind = "exact" },
  { kind = "exact", column = "postcode" },
]

[[comparisons]]
name = "twin"
column = "first_name"
date_format = "%d/%m/%Y"
levels = [
  { kind = "and", levels = [
    { kind = "date_difference", column = "dob", max_days = 0 },
    { kind = "not", level = { kind = "similarity", min_similarity = 0.8 } },
  ] },
]
"""
    )
    comps = [Comparison.from_dict(c) for c in spec["comparisons"]]
    assert comps[0].columns == ("first_name", "surname")
    assert comps[1].columns == ("surname", "postcode")
    assert comps[2].columns == ("first_name", "dob")
    for comp in comps:  # declarations round-trip through JSON
        again = Comparison.from_dict(json.loads(json.dumps(comp.to_dict())))
        assert again == comp
    records = _frame(
        first_name=["ann", "smith", "a", "bob", "ann"],
        surname=["smith", "ann", "smith", "smith", "smith"],
        postcode=["AB1", "XY9", "AB1", "AB1", None],
        dob=["01/02/1990", "01/02/1990", None, "01/02/1990", "bad"],
    )
    pairs = [(0, 1), (0, 2), (0, 3), (0, 4), (2, 3)]
    first = compare_pairs(
        records,
        pl.DataFrame(pairs, schema=[schema.ROW_L, schema.ROW_R], orient="row").cast(
            pl.UInt32
        ),
        comps,
    )
    assert first["gamma_first_name"].to_list() == [2, 1, 0, 3, 0]
    assert first["gamma_household"].to_list() == [0, 3, 3, 2, 3]
    # a twin: same date of birth, another first name; the date level is on
    # another column, so an unreadable date there is no null level here
    assert first["gamma_twin"].to_list() == [1, 0, 1, 0, 0]


def test_levels_name_the_column_pairs_they_read() -> None:
    level = AndLevel(
        (
            ExactLevel(column="b"),
            ColumnsReversedLevel(columns=("a", "c")),
            ContainsLevel(other="t"),
        )
    )
    assert level_column_pairs(level, main="a") == (
        ("b", "b"),
        ("a", "c"),
        ("c", "a"),
        ("a", "t"),
        ("t", "a"),
    )
    assert exact_columns(
        AndLevel((ExactLevel(), ExactLevel(column="b"))), main="a"
    ) == (
        "a",
        "b",
    )
    assert exact_columns(AndLevel((ExactLevel(), InitialLevel())), main="a") is None


def test_a_date_level_on_another_column_does_not_read_the_own_column_as_dates() -> None:
    comp = Comparison("n", "name", (DateDifferenceLevel(column="dob", max_days=1),))
    assert comp.reads == frozenset({"text"})
    out = compare_batch(
        [comp],
        {"name": ["x", "x"], "dob": ["2000-01-01", None]},
        {"name": ["y", "y"], "dob": ["2000-01-02", "2000-01-02"]},
    )
    assert out["gamma_n"].tolist() == [1, 0]


@pytest.mark.parametrize(
    "level",
    [
        AndLevel((ExactLevel(column="a"), NotLevel(SimilarityLevel(column="b")))),
        OrLevel((InitialLevel(), TransliteratedLevel(column="x"))),
        ColumnsReversedLevel(columns=("a", "b"), comparator="jaro", min_similarity=0.8),
        ColumnsReversedLevel(
            columns=("a", "b"),
            comparator="jaro",
            min_similarity=0.8,
            precision="float64",
        ),
        ContainsLevel(other="title", column="code", mode="substring", min_length=2),
    ],
)
def test_new_levels_round_trip(level: Any) -> None:
    assert level_from_dict(json.loads(json.dumps(level_to_dict(level)))) == level


@pytest.mark.parametrize(
    ("spec", "match"),
    [
        ({"kind": "and", "levels": []}, r"'and' level needs at least one level"),
        (
            {"kind": "and", "levels": {"kind": "exact"}},
            r"'levels' of an 'and' level must be a list",
        ),
        ({"kind": "not"}, r"A 'not' level needs a 'level'"),
        ({"kind": "columns_reversed", "columns": ["a"]}, r"two different column names"),
        (
            {"kind": "columns_reversed", "columns": ["a", "a"]},
            r"two different column names",
        ),
        (
            {"kind": "columns_reversed", "columns": ["a", "b"], "precision": "float64"},
            r"'precision' applies only with a 'comparator'",
        ),
        (
            {
                "kind": "columns_reversed",
                "columns": ["a", "b"],
                "comparator": "jaro",
                "precision": "double",
            },
            r"'precision' of a columns_reversed level must be one of",
        ),
        ({"kind": "contains"}, r"'other' of a contains level must be the column"),
        (
            {"kind": "contains", "other": "t", "mode": "fuzzy"},
            r"'mode' of a contains level must be one of \['tokens', 'substring', "
            r"'token_share'\]; got 'fuzzy'",
        ),
        (
            {"kind": "contains", "other": "t", "min_share": 0.5},
            r"'min_share' applies only with mode = 'token_share'; got mode 'tokens'",
        ),
        (
            {"kind": "contains", "other": "t", "mode": "token_share", "min_share": 0},
            r"'min_share' of a contains level must be in \(0, 1\]; got 0",
        ),
        (
            {"kind": "contains", "other": "t", "mode": "token_share", "min_share": 2},
            r"min_share",
        ),
        (
            {"kind": "contains", "other": "t", "squash": "yes"},
            r"'squash' of a contains level must be true or false; got 'yes'",
        ),
        (
            {"kind": "exact", "column": ""},
            r"'column' of a exact level must be a column name",
        ),
        ({"kind": "and", "levels": [{"kind": "nope"}]}, r"'kind' must be one of"),
    ],
)
def test_bad_levels_say_what_was_expected(spec: dict[str, Any], match: str) -> None:
    with pytest.raises(ConfigError, match=match):
        level_from_dict(spec)


def test_bad_comparisons_say_what_was_expected() -> None:
    with pytest.raises(
        ConfigError, match=r"'columns' must start with its own 'column'"
    ):
        Comparison("c", "a", (ExactLevel(),), columns=("b", "a"))


def test_missing_columns_are_named() -> None:
    comp = Comparison("c", "a", (ColumnsReversedLevel(columns=("a", "b")),))
    with pytest.raises(SchemaError, match=r"needs column\(s\) \['b'\]"):
        _gamma(_frame(a=["x", "y"]), [(0, 1)], comp)
    with pytest.raises(SchemaError, match=r"needs column 'b' on the left"):
        compare_batch([comp], {"a": ["x"]}, {"a": ["y"], "b": ["x"]})


def test_a_composite_on_one_column_also_reads_plain_pair_values() -> None:
    from er_toolkit.compare.pair_values import ColumnEncoding, PairValues

    encoding = ColumnEncoding(pl.Series(["ann", "anna", "bob"]))
    values = PairValues(encoding, np.array([0, 0]), np.array([1, 2]))
    level = AndLevel((SimilarityLevel(min_similarity=0.8), NotLevel(ExactLevel())))
    assert level.matches(values).tolist() == [True, False]
    with pytest.raises(SchemaError, match="reads other columns"):
        AndLevel((ExactLevel(column="b"),)).matches(values)


def test_level_order_check_ignores_levels_on_other_columns() -> None:
    from er_toolkit.config import validate_level_order

    comp = Comparison(
        "location",
        "phone",
        (
            AndLevel((ExactLevel(), ExactLevel(column="postcode"))),
            ExactLevel(),
            ExactLevel(column="postcode"),
        ),
    )
    validate_level_order(comp)  # the postcode level is reachable
    with pytest.raises(ConfigError, match=r"level 2 .* can never be reached"):
        validate_level_order(
            Comparison("p", "phone", (ExactLevel(column="p"), ExactLevel(column="p")))
        )
