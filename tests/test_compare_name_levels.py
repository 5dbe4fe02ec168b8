"""The nickname level: Bill / William, Peggy / Margaret, against the tables it reads."""

from __future__ import annotations

import itertools
import json

import numpy as np
import polars as pl
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from er_toolkit import schema
from er_toolkit.compare import (
    Comparison,
    ExactLevel,
    NicknameLevel,
    SimilarityLevel,
    compare_batch,
    compare_pairs,
    level_from_dict,
    level_to_dict,
    nickname_pairs,
    related_names,
)
from er_toolkit.exceptions import ConfigError

NAMES = [
    "bill",
    "william",
    "Will",
    "peggy",
    "margaret",
    "maggie",
    "robert",
    "bob",
    "john",
    "jack",
    "jane",
    "sepp",
    "josef",
    "bill j",
    "",
    None,
]


def _related_by_table(a: str | None, b: str | None) -> bool:
    """The brute-force answer: first words equal, or listed as related."""
    if a is None or b is None:
        return False
    wa, wb = a.lower().split()[:1], b.lower().split()[:1]
    if not wa or not wb:
        return False
    known = set(
        zip(nickname_pairs()["name_l"], nickname_pairs()["name_r"], strict=True)
    )
    return wa[0] == wb[0] or (wa[0], wb[0]) in known


def test_known_nicknames_are_related_and_unrelated_names_are_not() -> None:
    left = ["bill", "Peggy", "maggie", "sepp", "bob", "john", "robert", "jane"]
    right = [
        "William",
        "margaret",
        "peggy",
        "Josef",
        "robert",
        "jack",
        "william",
        "john",
    ]
    got = related_names(pl.Series(left), pl.Series(right)).tolist()
    assert got == [True, True, True, True, True, True, False, False]


def test_relation_is_symmetric_and_never_reflexive() -> None:
    pairs = nickname_pairs()
    forward = set(zip(pairs["name_l"], pairs["name_r"], strict=True))
    assert forward == {(b, a) for a, b in forward}
    assert all(a != b for a, b in forward)
    assert pairs.height == len(forward)  # no duplicates


@settings(max_examples=15, deadline=None)
@given(
    data=st.lists(
        st.tuples(st.sampled_from(NAMES), st.sampled_from(NAMES)), max_size=30
    )
)
def test_level_is_the_table_lookup(data: list[tuple[str | None, str | None]]) -> None:
    left = [a for a, _ in data]
    right = [b for _, b in data]
    out = compare_batch(
        [Comparison("n", "n", (NicknameLevel(),))], {"n": left}, {"n": right}
    )
    for k, (a, b) in enumerate(data):
        if not a or not b:  # empty text is null too
            assert out["gamma_n"][k] == schema.NULL_LEVEL
        else:
            assert out["gamma_n"][k] == int(_related_by_table(a, b)), (a, b)


def test_whole_frame_engine_agrees_with_the_batch_kernel() -> None:
    values = [v for v in NAMES if v is not None]
    records = pl.DataFrame(
        {schema.ROW: range(len(values)), "n": values},
        schema={schema.ROW: pl.UInt32, "n": pl.String},
    )
    ij = list(itertools.combinations(range(len(values)), 2))
    pairs = pl.DataFrame(
        {schema.ROW_L: [i for i, _ in ij], schema.ROW_R: [j for _, j in ij]},
        schema={schema.ROW_L: pl.UInt32, schema.ROW_R: pl.UInt32},
    )
    comparison = Comparison(
        "n",
        "n",
        (
            ExactLevel(),
            NicknameLevel(),
            SimilarityLevel(comparator="jaro_winkler", min_similarity=0.9),
        ),
    )
    whole = compare_pairs(records, pairs, [comparison]).get_column("gamma_n").to_numpy()
    batch = compare_batch(
        [comparison],
        {"n": [values[i] for i, _ in ij]},
        {"n": [values[j] for _, j in ij]},
    )["gamma_n"]
    assert np.array_equal(whole, batch)
    at = {(values[i], values[j]): g for (i, j), g in zip(ij, whole, strict=True)}
    top = len(comparison.levels)
    assert at[("bill", "william")] == top - 1  # the nickname level
    assert at[("peggy", "margaret")] == top - 1
    assert at[("bill", "bill j")] == top - 1  # first words
    assert at[("john", "jane")] == 0


def test_another_column_and_round_trip() -> None:
    level = NicknameLevel(column="first_name")
    assert level.label == "first_name nickname"
    assert level_from_dict(json.loads(json.dumps(level_to_dict(level)))) == level
    out = compare_batch(
        [Comparison("n", "canon", (ExactLevel(), level))],
        {"canon": ["frederick", "x"], "first_name": ["fred", "ann"]},
        {"canon": ["alfred", "y"], "first_name": ["alfred", "bob"]},
    )
    assert out["gamma_n"].tolist() == [1, 0]


def test_bad_column_is_refused() -> None:
    with pytest.raises(ConfigError, match="'column' of a nickname level"):
        NicknameLevel(column="")
