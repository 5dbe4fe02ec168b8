"""Tests of er_toolkit.blocking against brute-force enumeration."""

from __future__ import annotations

import itertools
import json
import warnings
from typing import Any

import hypothesis.strategies as st
import numpy as np
import polars as pl
import pytest
from hypothesis import given, settings

from er_toolkit import schema
from er_toolkit.blocking import (
    BLOCKER_KINDS,
    Blocker,
    ExactRule,
    KeyBlocker,
    SortedNeighbourhood,
    as_blocker,
    block_against,
    block_by_keys,
    block_pair_positions,
    block_pairs,
    blocker_from_dict,
    count_key_pairs,
    count_rule_pairs,
    key_expr,
    pairs_between,
    register_blocker,
)
from er_toolkit.exceptions import BlockingError, ConfigError, SchemaError
from er_toolkit.io import Source, prepare_records

LINK_TYPES = ("dedupe", "link", "link_and_dedupe")
# Small alphabets so that keys collide often; "", " " and None all mean null.
VALUES = [None, "", " ", "a", "b", "ab", " a", "ba ", "abc", "b a"]

# --------------------------------------------------------------------------- #
# Building records frames
# --------------------------------------------------------------------------- #


def make_records(rows: list[tuple[str, str | None, str | None]]) -> pl.DataFrame:
    """Records frame (``_row``, ``record_id``, ``source``, ``a``, ``b``)."""
    return pl.DataFrame(
        {
            schema.ROW: list(range(len(rows))),
            schema.RECORD_ID: [f"r{i}" for i in range(len(rows))],
            schema.SOURCE: [r[0] for r in rows],
            "a": [r[1] for r in rows],
            "b": [r[2] for r in rows],
        },
        schema={
            schema.ROW: pl.UInt32,
            schema.RECORD_ID: pl.String,
            schema.SOURCE: pl.String,
            "a": pl.String,
            "b": pl.String,
        },
    )


@st.composite
def records_frames(draw: st.DrawFn) -> pl.DataFrame:
    """0-40 records from 1-3 sources, sources interleaved in any order."""
    n_sources = draw(st.integers(1, 3))
    sources = [f"s{i}" for i in range(n_sources)]
    row = st.tuples(
        st.sampled_from(sources), st.sampled_from(VALUES), st.sampled_from(VALUES)
    )
    return make_records(draw(st.lists(row, max_size=40)))


# --------------------------------------------------------------------------- #
# Brute force
# --------------------------------------------------------------------------- #


def norm(value: str | None, n: int | None = None) -> str | None:
    """What key_expr makes of one value: strip, prefix, empty -> null."""
    if value is None:
        return None
    value = value.strip()
    if n is not None:
        value = value[:n]
    return value or None


def key_of(row: dict, spec: str) -> str | None:
    col, _, rest = spec.partition("[:")
    n = int(rest.rstrip("]")) if rest else None
    return norm(row[col], n)


def allowed(row_l: dict, row_r: dict, link_type: str) -> bool:
    return link_type != "link" or row_l[schema.SOURCE] != row_r[schema.SOURCE]


def brute_exact(records: pl.DataFrame, keys: tuple[str, ...], link_type: str) -> set:
    out = set()
    for x, y in itertools.combinations(records.iter_rows(named=True), 2):
        kx = [key_of(x, k) for k in keys]
        ky = [key_of(y, k) for k in keys]
        if None in kx or kx != ky or not allowed(x, y, link_type):
            continue
        out.add((x[schema.ROW], y[schema.ROW]))
    return out


def brute_sn(
    records: pl.DataFrame, keys: tuple[str, ...], window: int, link_type: str
) -> set:
    rows = list(records.iter_rows(named=True))
    keyed = []
    for r in rows:
        parts = [key_of(r, k) for k in keys]
        if None not in parts:
            keyed.append(("\x1f".join(parts), r[schema.ROW]))
    order = [row for _, row in sorted(keyed)]
    out = set()
    for i, j in itertools.combinations(range(len(order)), 2):
        if j - i < window:
            lo, hi = sorted((order[i], order[j]))
            if allowed(rows[lo], rows[hi], link_type):
                out.add((lo, hi))
    return out


def brute(records: pl.DataFrame, blocker: Blocker, link_type: str) -> set:
    if isinstance(blocker, ExactRule):
        return brute_exact(records, blocker.keys, link_type)
    assert isinstance(blocker, SortedNeighbourhood)
    return brute_sn(records, blocker.keys, blocker.window, link_type)


def check_pair_frame(records: pl.DataFrame, pairs: pl.DataFrame, link_type: str):
    """Invariants every blocker output must hold; return the pairs as a set."""
    assert pairs.schema[schema.ROW_L] == pl.UInt32
    assert pairs.schema[schema.ROW_R] == pl.UInt32
    got = list(zip(pairs[schema.ROW_L], pairs[schema.ROW_R], strict=True))
    assert all(lo < hi for lo, hi in got), "self pair or wrong orientation"
    assert len(set(got)) == len(got), "duplicate pair"
    assert all(hi < records.height for _, hi in got)
    if link_type == "link":
        src = records.get_column(schema.SOURCE).to_list()
        assert all(src[lo] != src[hi] for lo, hi in got), "within-source pair"
    return set(got)


# --------------------------------------------------------------------------- #
# Property tests
# --------------------------------------------------------------------------- #

EXACT_KEYS = [("a",), ("a", "b"), ("a[:1]",), ("a[:1]", "b[:2]")]


@settings(max_examples=80, deadline=None)
@given(
    records=records_frames(),
    keys=st.sampled_from(EXACT_KEYS),
    link_type=st.sampled_from(LINK_TYPES),
)
def test_exact_rule_matches_brute_force(
    records: pl.DataFrame, keys: tuple[str, ...], link_type: str
) -> None:
    rule = ExactRule(keys)
    pairs = rule.block(records, link_type=link_type)
    got = check_pair_frame(records, pairs, link_type)
    assert got == brute_exact(records, keys, link_type)
    assert rule.count_pairs(records, link_type=link_type) == len(got)


@settings(max_examples=80, deadline=None)
@given(
    records=records_frames(),
    keys=st.sampled_from([("a",), ("a[:1]",), ("a", "b")]),
    window=st.integers(2, 5),
    link_type=st.sampled_from(LINK_TYPES),
)
def test_sorted_neighbourhood_matches_brute_force(
    records: pl.DataFrame, keys: tuple[str, ...], window: int, link_type: str
) -> None:
    rule = SortedNeighbourhood(keys, window=window)
    pairs = rule.block(records, link_type=link_type)
    got = check_pair_frame(records, pairs, link_type)
    assert got == brute_sn(records, keys, window, link_type)
    assert rule.count_pairs(records, link_type=link_type) >= len(got)


def rule_sets() -> st.SearchStrategy[list[Blocker]]:
    candidates: list[Blocker] = [
        ExactRule(("a",)),
        ExactRule(("b",)),
        ExactRule(("a[:1]", "b[:1]")),
        SortedNeighbourhood(("b",), window=2),
        SortedNeighbourhood(("a",), window=4),
        ExactRule(("a[:1]",)),
    ]
    return st.lists(
        st.sampled_from(candidates), min_size=1, max_size=4, unique_by=lambda b: b.name
    )


@settings(max_examples=80, deadline=None)
@given(
    records=records_frames(),
    blockers=rule_sets(),
    link_type=st.sampled_from(LINK_TYPES),
)
def test_block_pairs_union_matches_brute_force(
    records: pl.DataFrame, blockers: list[Blocker], link_type: str
) -> None:
    out = block_pairs(records, blockers, link_type=link_type)
    assert out.columns == [schema.ROW_L, schema.ROW_R, schema.BLOCKED_BY]
    assert out.schema[schema.BLOCKED_BY] == pl.Enum([b.name for b in blockers])
    got = check_pair_frame(records, out, link_type)

    expected: dict[tuple[int, int], str] = {}
    for blocker in blockers:
        for pair in brute(records, blocker, link_type):
            expected.setdefault(pair, blocker.name)
    assert got == set(expected)
    attributed = dict(
        zip(
            zip(out[schema.ROW_L], out[schema.ROW_R], strict=True),
            out[schema.BLOCKED_BY],
            strict=True,
        )
    )
    assert attributed == expected

    report = count_rule_pairs(records, blockers, link_type=link_type)
    assert report.get_column(schema.BLOCKED_BY).to_list() == [b.name for b in blockers]
    for blocker, n in zip(blockers, report.get_column("pairs"), strict=True):
        produced = len(brute(records, blocker, link_type))
        if isinstance(blocker, ExactRule):
            assert n == produced
        else:
            assert n >= produced


@settings(max_examples=50, deadline=None)
@given(
    rows=st.lists(
        st.tuples(st.sampled_from(VALUES), st.sampled_from(VALUES)),
        min_size=1,
        max_size=12,
    ),
    n_sources=st.integers(1, 3),
    link_type=st.sampled_from(LINK_TYPES),
)
def test_exact_rule_on_prepare_records_output(
    rows: list[tuple[str | None, str | None]], n_sources: int, link_type: str
) -> None:
    # The same rows split into contiguous sources, through prepare_records.
    sources = []
    for s in range(n_sources):
        part = rows[s::n_sources]
        if part:
            sources.append(
                Source(
                    f"src{s}",
                    pl.DataFrame(
                        {
                            "id": list(range(len(part))),
                            "a": [r[0] for r in part],
                            "b": [r[1] for r in part],
                        },
                        schema={"id": pl.Int64, "a": pl.String, "b": pl.String},
                    ),
                    id_column="id",
                )
            )
    records = prepare_records(sources, columns=["a", "b"])
    rule = ExactRule(("a", "b[:1]"))
    got = check_pair_frame(records, rule.block(records, link_type=link_type), link_type)
    assert got == brute_exact(records, rule.keys, link_type)


# --------------------------------------------------------------------------- #
# Worked examples
# --------------------------------------------------------------------------- #


@pytest.fixture
def records() -> pl.DataFrame:
    return make_records(
        [
            ("x", "smith", "1"),  # 0
            ("y", "smith", "1"),  # 1
            ("x", "smith", "2"),  # 2
            ("y", "smyth", "2"),  # 3
            ("x", "jones", "1"),  # 4
            ("y", None, "1"),  # 5
            ("x", "  ", "2"),  # 6
            ("y", "smith", None),  # 7
        ]
    )


def pair_set(frame: pl.DataFrame) -> set[tuple[int, int]]:
    return set(frame.select(schema.ROW_L, schema.ROW_R).iter_rows())


def test_exact_rule_example(records: pl.DataFrame) -> None:
    rule = ExactRule(("a",))
    assert rule.name == "a"
    assert pair_set(rule.block(records, link_type="dedupe")) == {
        (0, 1),
        (0, 2),
        (0, 7),
        (1, 2),
        (1, 7),
        (2, 7),
    }
    assert pair_set(rule.block(records, link_type="link")) == {
        (0, 1),
        (0, 7),
        (1, 2),
        (2, 7),
    }
    assert rule.count_pairs(records, link_type="dedupe") == 6
    assert rule.count_pairs(records, link_type="link") == 4


def test_exact_rule_prefix_and_two_keys(records: pl.DataFrame) -> None:
    rule = ExactRule(("a[:2]", "b"), name="sm_b")
    assert rule.columns == ("a", "b")
    assert pair_set(rule.block(records, link_type="dedupe")) == {(0, 1), (2, 3)}


def test_sorted_neighbourhood_example(records: pl.DataFrame) -> None:
    rule = SortedNeighbourhood(("a",), window=2)
    assert rule.name == "sn(a,w=2)"
    # Non-null keys sorted: jones(4) smith(0) smith(1) smith(2) smith(7) smyth(3)
    assert pair_set(rule.block(records, link_type="dedupe")) == {
        (0, 4),
        (0, 1),
        (1, 2),
        (2, 7),
        (3, 7),
    }
    assert pair_set(rule.block(records, link_type="link")) == {
        (0, 1),
        (1, 2),
        (2, 7),
    }
    assert rule.count_pairs(records, link_type="dedupe") == 5


def test_sorted_neighbourhood_window_larger_than_records() -> None:
    recs = make_records([("x", "a", None), ("x", "b", None), ("x", None, None)])
    rule = SortedNeighbourhood(("a",), window=5)
    assert pair_set(rule.block(recs, link_type="dedupe")) == {(0, 1)}
    empty = make_records([])
    out = rule.block(empty, link_type="dedupe")
    assert out.height == 0
    assert out.schema == {schema.ROW_L: pl.UInt32, schema.ROW_R: pl.UInt32}


def test_block_pairs_attributes_to_first_rule(records: pl.DataFrame) -> None:
    by_name = ExactRule(("a",))
    by_b = ExactRule(("b",))
    out = block_pairs(records, [by_name, by_b], link_type="dedupe")
    tags = {(lo, hi): tag for lo, hi, tag in out.iter_rows()}
    assert tags[(0, 1)] == "a"  # both rules produce it; the first wins
    assert tags[(0, 4)] == "b"
    assert len(tags) == out.height
    swapped = block_pairs(records, [by_b, by_name], link_type="dedupe")
    assert dict(((lo, hi), t) for lo, hi, t in swapped.iter_rows())[(0, 1)] == "b"


# --------------------------------------------------------------------------- #
# Exploding rules
# --------------------------------------------------------------------------- #


def test_max_pairs_raise_names_rule_and_count(records: pl.DataFrame) -> None:
    n_b = ExactRule(("b",)).count_pairs(records, link_type="dedupe")
    assert n_b == 9  # four "1"s -> 6, three "2"s -> 3
    with pytest.raises(BlockingError, match=r"rule 'b' would produce 9 pairs.*=8"):
        block_pairs(
            records,
            [ExactRule(("a",)), ExactRule(("b",))],
            link_type="dedupe",
            max_pairs_per_rule=8,
        )


def test_max_pairs_is_inclusive(records: pl.DataFrame) -> None:
    out = block_pairs(
        records, [ExactRule(("b",))], link_type="dedupe", max_pairs_per_rule=9
    )
    assert out.height == 9


def test_max_pairs_raise_formats_large_counts() -> None:
    recs = make_records([("x", "k", None)] * 1500)
    with pytest.raises(BlockingError, match=r"'a' would produce 1,124,250 pairs"):
        block_pairs(
            recs, [ExactRule(("a",))], link_type="dedupe", max_pairs_per_rule=10
        )


def test_max_pairs_warn_skips_only_that_rule(records: pl.DataFrame) -> None:
    with pytest.warns(UserWarning, match=r"rule 'b' would produce 9 pairs"):
        out = block_pairs(
            records,
            [ExactRule(("a",)), ExactRule(("b",))],
            link_type="dedupe",
            max_pairs_per_rule=8,
            on_explode="warn",
        )
    assert set(out.get_column(schema.BLOCKED_BY).to_list()) == {"a"}
    assert pair_set(out) == pair_set(
        ExactRule(("a",)).block(records, link_type="dedupe")
    )


def test_max_pairs_warn_all_skipped_gives_empty_typed_frame(
    records: pl.DataFrame,
) -> None:
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        out = block_pairs(
            records,
            [ExactRule(("a",)), ExactRule(("b",))],
            link_type="dedupe",
            max_pairs_per_rule=1,
            on_explode="warn",
        )
    assert len(caught) == 2
    assert out.height == 0
    assert out.schema == {
        schema.ROW_L: pl.UInt32,
        schema.ROW_R: pl.UInt32,
        schema.BLOCKED_BY: pl.Enum(["a", "b"]),
    }


# --------------------------------------------------------------------------- #
# Configuration errors
# --------------------------------------------------------------------------- #


def test_no_blockers_is_config_error(records: pl.DataFrame) -> None:
    with pytest.raises(ConfigError, match="at least one blocker"):
        block_pairs(records, [], link_type="dedupe")


def test_duplicate_blocker_names_is_config_error(records: pl.DataFrame) -> None:
    with pytest.raises(ConfigError, match=r"unique.*\['a', 'a'\]"):
        block_pairs(
            records,
            [ExactRule(("a",)), ExactRule(("b",), name="a")],
            link_type="dedupe",
        )


def test_bad_on_explode_is_config_error(records: pl.DataFrame) -> None:
    with pytest.raises(ConfigError, match=r"on_explode.*got 'ignore'"):
        block_pairs(
            records,
            [ExactRule(("a",))],
            link_type="dedupe",
            on_explode="ignore",  # type: ignore[arg-type]
        )


@pytest.mark.parametrize("window", [1, 0, -3, 2.5, "3"])
def test_sorted_neighbourhood_bad_window(window: object) -> None:
    with pytest.raises(ConfigError, match=r"'window'.*>= 2"):
        SortedNeighbourhood(("a",), window=window)  # type: ignore[arg-type]


@pytest.mark.parametrize("spec", ["a[:x]", "a[1:2]", "a[:]", "[a]", "", "a[:2"])
def test_key_expr_bad_spec(spec: str) -> None:
    with pytest.raises(ConfigError, match="column name or 'column\\[:n\\]'"):
        key_expr(spec)


def test_exact_rule_with_bad_key_raises_config_error() -> None:
    # refused when declared, not first when blocking
    with pytest.raises(
        ConfigError, match=r"column name or 'column\[:n\]'; got 'a\[:x\]'"
    ):
        ExactRule(("a[:x]",))


def test_key_expr_strips_prefixes_and_nulls_empty() -> None:
    df = pl.DataFrame(
        {"s": ["  smith ", "", "   ", None, "ab"], "n": [123, 4, 5, 6, 7]}
    )
    assert df.select(key_expr("s[:3]")).to_series().to_list() == [
        "smi",
        None,
        None,
        None,
        "ab",
    ]
    assert df.select(key_expr("s")).to_series().to_list() == [
        "smith",
        None,
        None,
        None,
        "ab",
    ]
    assert df.select(key_expr("n[:2]")).to_series().to_list() == [
        "12",
        "4",
        "5",
        "6",
        "7",
    ]


# --------------------------------------------------------------------------- #
# largest_blocks
# --------------------------------------------------------------------------- #


def test_largest_blocks_biggest_first(records: pl.DataFrame) -> None:
    out = ExactRule(("a",)).largest_blocks(records)
    assert out.columns == ["a", "records"]
    assert out.row(0) == ("smith", 4)
    counts = out.get_column("records").to_list()
    assert counts == sorted(counts, reverse=True)
    assert sorted(out.rows()) == [("jones", 1), ("smith", 4), ("smyth", 1)]


def test_largest_blocks_respects_n_and_skips_nulls() -> None:
    recs = make_records(
        [("x", v, None) for v in ["c"] * 3 + ["a"] * 5 + ["b"] * 4 + [None] * 9]
    )
    out = ExactRule(("a",)).largest_blocks(recs, n=2)
    assert out.rows() == [("a", 5), ("b", 4)]


@pytest.mark.parametrize(
    ("max_block_size", "expected"),
    [
        (None, {(0, 1), (0, 2), (1, 2), (3, 4)}),
        (3, {(0, 1), (0, 2), (1, 2), (3, 4)}),
        (2, {(3, 4)}),  # the block of three "a" records is purged
    ],
)
def test_exact_rule_purges_blocks_above_max_block_size(max_block_size, expected):
    records = pl.DataFrame(
        {
            "_row": pl.Series(range(6), dtype=pl.UInt32),
            "s": ["a", "a", "a", "b", "b", None],
        }
    )
    rule = ExactRule(("s",), max_block_size=max_block_size)
    pairs = rule.block(records, link_type="dedupe")
    assert set(pairs.rows()) == expected
    assert rule.count_pairs(records, link_type="dedupe") == len(expected)


@pytest.mark.parametrize("bad", [1, 0, -3, 2.5, True, "10"])
def test_exact_rule_rejects_bad_max_block_size(bad):
    with pytest.raises(ConfigError, match="'max_block_size' of ExactRule"):
        ExactRule(("s",), max_block_size=bad)


@settings(max_examples=80, deadline=None)
@given(
    sizes=st.lists(st.integers(1, 7), min_size=0, max_size=8),
    chunk_pairs=st.integers(1, 30),
    with_sources=st.booleans(),
    data=st.data(),
)
def test_block_pair_positions_chunks_match_brute_force(
    sizes: list[int], chunk_pairs: int, with_sources: bool, data: st.DataObject
) -> None:
    block = np.repeat(np.arange(len(sizes)), sizes)
    sources = (
        np.array(
            data.draw(
                st.lists(st.integers(0, 2), min_size=len(block), max_size=len(block))
            ),
            dtype=np.int64,
        )
        if with_sources
        else None
    )
    got: list[tuple[int, int]] = []
    for left, right in block_pair_positions(block, sources, chunk_pairs=chunk_pairs):
        # a chunk stays near its size: only one position's partners can overrun
        assert left.size <= chunk_pairs + max(sizes, default=0)
        got.extend(zip(left.tolist(), right.tolist(), strict=True))
    expected = [
        (i, j)
        for i, j in itertools.combinations(range(len(block)), 2)
        if block[i] == block[j] and (sources is None or sources[i] != sources[j])
    ]
    assert sorted(got) == expected
    assert len(got) == len(set(got))


def test_block_pairs_reuses_given_counts_and_checks_them(records: pl.DataFrame) -> None:
    rules = [ExactRule(("a",)), ExactRule(("b",))]
    counts = count_rule_pairs(records, rules, link_type="dedupe")
    given = block_pairs(records, rules, link_type="dedupe", counts=counts)
    assert given.equals(block_pairs(records, rules, link_type="dedupe"))
    # a refused rule is refused on the given counts
    with pytest.raises(BlockingError, match="'a'"):
        block_pairs(
            records,
            rules,
            link_type="dedupe",
            counts=counts.with_columns(pl.lit(10**9).alias("pairs")),
            max_pairs_per_rule=10**6,
        )
    with pytest.raises(ConfigError, match="counts must list the blockers"):
        block_pairs(records, rules, link_type="dedupe", counts=counts.reverse())


# --------------------------------------------------------------------------- #
# Blocking keys: block_keys, block_by_keys, pairs_between, block_against
# --------------------------------------------------------------------------- #

# Values with ":" and digits, where a careless join of key parts would collide
# ("1:" + "a" against "1" + ":a").
KEY_VALUES = [None, "", " ", "a", "1", ":", "1:", ":a", "1:a", "a1", "11", "2:a1"]
KEY_SPECS = [("a",), ("a", "b"), ("a[:1]", "b"), ("b[:2]", "a[:1]"), ("b", "a")]


@st.composite
def key_records(draw: st.DrawFn, max_size: int = 30) -> pl.DataFrame:
    n_sources = draw(st.integers(1, 3))
    row = st.tuples(
        st.sampled_from([f"s{i}" for i in range(n_sources)]),
        st.sampled_from(KEY_VALUES),
        st.sampled_from(KEY_VALUES),
    )
    return make_records(draw(st.lists(row, max_size=max_size)))


def brute_keys(records: pl.DataFrame, keys: tuple[str, ...]) -> dict[int, tuple]:
    """Each record's key tuple, for records with no null part."""
    out = {}
    for row in records.iter_rows(named=True):
        parts = tuple(key_of(row, k) for k in keys)
        if None not in parts:
            out[row[schema.ROW]] = parts
    return out


def renumber(records: pl.DataFrame) -> pl.DataFrame:
    return records.with_columns(
        pl.Series(schema.ROW, range(records.height), dtype=pl.UInt32)
    )


@settings(max_examples=80, deadline=None)
@given(records=key_records(), keys=st.sampled_from(KEY_SPECS))
def test_exact_rule_block_keys_match_brute_force(
    records: pl.DataFrame, keys: tuple[str, ...]
) -> None:
    frame = ExactRule(keys).block_keys(records)
    assert frame.schema == {schema.ROW: pl.UInt32, schema.BLOCK_KEY: pl.String}
    got = dict(frame.iter_rows())
    assert len(got) == frame.height  # one key per record
    expected = brute_keys(records, keys)
    assert set(got) == set(expected)
    # equal keys exactly when the key tuples are equal
    for x, y in itertools.combinations(expected, 2):
        assert (got[x] == got[y]) == (expected[x] == expected[y])


@settings(max_examples=80, deadline=None)
@given(
    records=key_records(),
    keys=st.sampled_from(KEY_SPECS),
    link_type=st.sampled_from(LINK_TYPES),
    max_block_size=st.sampled_from([None, 2, 3, 5]),
)
def test_block_by_keys_is_what_exact_rule_blocks(
    records: pl.DataFrame,
    keys: tuple[str, ...],
    link_type: str,
    max_block_size: int | None,
) -> None:
    rule = ExactRule(keys, max_block_size=max_block_size)
    by_keys = block_by_keys(
        rule.block_keys(records),
        records,
        link_type=link_type,
        max_block_size=max_block_size,
    )
    got = check_pair_frame(records, by_keys, link_type)
    assert got == check_pair_frame(
        records, rule.block(records, link_type=link_type), link_type
    )
    counted = count_key_pairs(
        rule.block_keys(records),
        records,
        link_type=link_type,
        max_block_size=max_block_size,
    )
    assert counted == rule.count_pairs(records, link_type=link_type) == len(got)
    if max_block_size is None:
        assert got == brute_exact(records, keys, link_type)


def brute_between(
    new: pl.DataFrame,
    old: pl.DataFrame,
    keys: tuple[str, ...],
    link_type: str,
    max_block_size: int | None,
) -> set:
    new_keys, old_keys = brute_keys(new, keys), brute_keys(old, keys)
    sizes: dict[tuple, int] = {}
    for k in [*new_keys.values(), *old_keys.values()]:
        sizes[k] = sizes.get(k, 0) + 1
    new_rows, old_rows = (
        list(new.iter_rows(named=True)),
        list(old.iter_rows(named=True)),
    )
    return {
        (i, j)
        for i, ki in new_keys.items()
        for j, kj in old_keys.items()
        if ki == kj
        and (max_block_size is None or sizes[ki] <= max_block_size)
        and allowed(new_rows[i], old_rows[j], link_type)
    }


@settings(max_examples=100, deadline=None)
@given(
    records=key_records(max_size=36),
    keys=st.sampled_from(KEY_SPECS),
    link_type=st.sampled_from(LINK_TYPES),
    max_block_size=st.sampled_from([None, 2, 4]),
    data=st.data(),
)
def test_block_against_matches_brute_force_and_the_union(
    records: pl.DataFrame,
    keys: tuple[str, ...],
    link_type: str,
    max_block_size: int | None,
    data: st.DataObject,
) -> None:
    split = data.draw(st.integers(0, records.height))
    old, new = renumber(records[:split]), renumber(records[split:])
    rule = ExactRule(keys, max_block_size=max_block_size)
    pairs = block_against(rule, new, old, link_type=link_type)
    assert pairs.schema == {schema.ROW_L: pl.UInt32, schema.ROW_R: pl.UInt32}
    got = list(pairs.iter_rows())
    assert len(got) == len(set(got)), "duplicate pair"
    assert set(got) == brute_between(new, old, keys, link_type, max_block_size)
    # the pairs across the split that blocking the union would make
    union = {
        (hi - split, lo)
        for lo, hi in rule.block(records, link_type=link_type).iter_rows()
        if lo < split <= hi
    }
    assert set(got) == union


@settings(max_examples=60, deadline=None)
@given(
    left=st.lists(st.tuples(st.integers(0, 5), st.sampled_from("xyz")), max_size=12),
    right=st.lists(st.tuples(st.integers(0, 5), st.sampled_from("xyz")), max_size=12),
    max_block_size=st.sampled_from([None, 2, 3]),
)
def test_pairs_between_is_a_join_on_the_key(
    left: list[tuple[int, str]],
    right: list[tuple[int, str]],
    max_block_size: int | None,
) -> None:
    # several keys per record, and repeated (record, key) rows
    def frame(rows: list[tuple[int, str]]) -> pl.DataFrame:
        return pl.DataFrame(
            rows,
            schema={schema.ROW: pl.UInt32, schema.BLOCK_KEY: pl.String},
            orient="row",
        )

    got = pairs_between(frame(left), frame(right), max_block_size=max_block_size)
    holders = {k: {r for r, kk in left if kk == k} for _, k in left + right}
    holders_r = {k: {r for r, kk in right if kk == k} for _, k in left + right}
    expected = {
        (i, j)
        for i, k in left
        for j, kk in right
        if k == kk
        and (
            max_block_size is None
            or len(holders[k]) + len(holders_r[k]) <= max_block_size
        )
    }
    rows = list(got.iter_rows())
    assert len(rows) == len(set(rows)) and set(rows) == expected


@settings(max_examples=60, deadline=None)
@given(
    records=records_frames(),
    link_type=st.sampled_from(LINK_TYPES),
    max_block_size=st.sampled_from([None, 2, 3]),
)
def test_block_by_keys_with_several_keys_per_record(
    records: pl.DataFrame, link_type: str, max_block_size: int | None
) -> None:
    # a record's keys: its values of a and of b (a token-style blocker)
    keys = pl.concat(
        [
            records.select(
                schema.ROW, key_expr(column).alias(schema.BLOCK_KEY)
            ).drop_nulls()
            for column in ("a", "b")
        ]
    )
    pairs = block_by_keys(
        keys, records, link_type=link_type, max_block_size=max_block_size
    )
    got = check_pair_frame(records, pairs, link_type)
    rows = list(records.iter_rows(named=True))
    held: dict[int, set[str]] = {r[schema.ROW]: set() for r in rows}
    for row, key in keys.iter_rows():
        held[row].add(key)
    size = {
        k: sum(k in ks for ks in held.values()) for k in set(keys[schema.BLOCK_KEY])
    }
    expected = {
        (x[schema.ROW], y[schema.ROW])
        for x, y in itertools.combinations(rows, 2)
        if allowed(x, y, link_type)
        and any(
            max_block_size is None or size[k] <= max_block_size
            for k in held[x[schema.ROW]] & held[y[schema.ROW]]
        )
    }
    assert got == expected
    counted = count_key_pairs(
        keys, records, link_type=link_type, max_block_size=max_block_size
    )
    assert counted >= len(got)  # an upper bound: a pair may share two keys


def test_key_frames_must_have_the_key_columns() -> None:
    with pytest.raises(
        SchemaError,
        match=r"left_keys must have columns \['_row', '_block_key'\]; it lacks \['_block_key'\]",
    ):
        pairs_between(
            pl.DataFrame({schema.ROW: [0]}),
            pl.DataFrame({schema.ROW: [0], schema.BLOCK_KEY: ["x"]}),
        )


def test_exact_rule_is_a_key_blocker_and_sorted_neighbourhood_is_not() -> None:
    assert isinstance(ExactRule(("a",)), KeyBlocker)
    assert isinstance(ExactRule(("a",)), Blocker)
    sn = SortedNeighbourhood(("a",))
    assert isinstance(sn, Blocker) and not isinstance(sn, KeyBlocker)


# --------------------------------------------------------------------------- #
# The registry and declarations
# --------------------------------------------------------------------------- #


def test_the_builtin_kinds_are_registered() -> None:
    assert BLOCKER_KINDS["exact"] is ExactRule
    assert BLOCKER_KINDS["sorted_neighbourhood"] is SortedNeighbourhood


key_specs = st.lists(
    st.sampled_from(["a", "b", "c", "a[:1]", "b[:3]", "c[:12]"]),
    min_size=1,
    max_size=3,
    unique=True,
)
names = st.sampled_from(["", "by_a", "rule 1"])
declared_blockers = st.one_of(
    st.builds(
        ExactRule,
        keys=key_specs,
        name=names,
        max_block_size=st.one_of(st.none(), st.integers(2, 10_000)),
    ),
    st.builds(
        SortedNeighbourhood, keys=key_specs, window=st.integers(2, 50), name=names
    ),
)


@settings(max_examples=60, deadline=None)
@given(blocker=declared_blockers)
def test_declarations_round_trip(blocker: Blocker) -> None:
    spec = blocker.to_dict()
    assert spec["kind"] == blocker.kind
    assert blocker_from_dict(spec) == blocker
    assert blocker_from_dict(json.loads(json.dumps(spec))) == blocker
    assert as_blocker(spec) == blocker and as_blocker(blocker) is blocker


def test_a_column_list_is_an_exact_rule() -> None:
    assert as_blocker(["a", "b[:2]"]) == ExactRule(("a", "b[:2]"))
    with pytest.raises(
        ConfigError,
        match=r"a blocker table \(with 'kind'\) or a list of column names; got str",
    ):
        as_blocker("a")  # type: ignore[arg-type]


@pytest.mark.parametrize(
    ("spec", "match"),
    [
        (
            {"keys": ["a"]},
            r"The 'kind' of a blocker must be one of \['exact', "
            r".*'sorted_neighbourhood'.*\]; got None",
        ),
        (
            {"kind": "canopy", "keys": ["a"]},
            r"must be one of \['exact', .*'sorted_neighbourhood'.*\]; got 'canopy'",
        ),
        (
            {"kind": "exact", "keys": ["a"], "windw": 3},
            r"Unknown option\(s\) \['windw'\] for a blocker of kind 'exact'; valid "
            r"options are \['keys', 'max_block_size', 'name'\]",
        ),
        (
            {"kind": "sorted_neighbourhood", "window": 3},
            r"A blocker of kind 'sorted_neighbourhood' needs \['keys'\]; got "
            r"\['window'\]",
        ),
        (["a"], r"Expected a blocker to be a table with a 'kind'; got list"),
    ],
)
def test_bad_declarations_name_the_valid_choices(spec: Any, match: str) -> None:
    with pytest.raises(ConfigError, match=match):
        blocker_from_dict(spec)


@pytest.mark.parametrize(
    ("build", "match"),
    [
        (
            lambda: ExactRule(()),
            r"The 'keys' of ExactRule must be a non-empty list of column names or "
            r"'column\[:n\]' prefixes; got \(\) \(no keys would pair every record "
            r"with every other\)",
        ),
        (
            lambda: SortedNeighbourhood([]),
            r"The 'keys' of SortedNeighbourhood must be a non-empty list .*; got \[\]",
        ),
        (
            lambda: ExactRule("surname"),
            r"The 'keys' of ExactRule must be a list of column names; got the string "
            r"'surname' \(write \['surname'\]\)",
        ),
        (
            lambda: ExactRule(("a[:0]",)),
            r"A blocking key's prefix 'column\[:n\]' needs n >= 1; got 'a\[:0\]'",
        ),
        (
            lambda: ExactRule(("a", "a")),
            r"The 'keys' of ExactRule must differ; got \['a', 'a'\]",
        ),
        (
            lambda: ExactRule((3,)),
            r"A blocking key must be a column name or 'column\[:n\]'; got 3",
        ),
        (
            lambda: ExactRule(("a",), max_block_size=1),
            r"The 'max_block_size' of ExactRule must be an int >= 2 or None; got 1",
        ),
        (
            lambda: SortedNeighbourhood(("a",), window=1),
            r"The 'window' of SortedNeighbourhood must be an int >= 2; got 1",
        ),
        (
            lambda: ExactRule(("a",), name=None),
            r"The 'name' of ExactRule must be a string; got None",
        ),
    ],
)
def test_bad_blocker_options_say_what_was_expected(build: Any, match: str) -> None:
    with pytest.raises(ConfigError, match=match):
        build()


def test_option_errors_say_where_the_declaration_is() -> None:
    with pytest.raises(
        ConfigError,
        match=r"In \[\[blocking.blockers\]\] number 2: The 'window' of "
        r"SortedNeighbourhood must be an int >= 2; got 1",
    ):
        blocker_from_dict(
            {"kind": "sorted_neighbourhood", "keys": ["a"], "window": 1},
            where="[[blocking.blockers]] number 2",
        )


def test_register_blocker_refuses_a_taken_kind_or_no_kind() -> None:
    class Impostor:
        kind = "exact"

    class Nameless:
        pass

    with pytest.raises(
        ConfigError,
        match=r"Blocker kind 'exact' is already registered to ExactRule; choose "
        r"another kind for Impostor",
    ):
        register_blocker(Impostor)
    with pytest.raises(
        ConfigError, match=r"needs a non-empty string 'kind'.*Nameless has None"
    ):
        register_blocker(Nameless)
    assert register_blocker(ExactRule) is ExactRule  # registering again is a no-op
    assert BLOCKER_KINDS["exact"] is ExactRule


def test_union_keys_pairs_the_same_whichever_way_a_blocker_orders_them():
    from er_toolkit.blocking.union import _new_pair_keys

    ordered = pl.DataFrame(
        {"_row_l": [0, 1, 0], "_row_r": [1, 2, 1]},
        schema={"_row_l": pl.UInt32, "_row_r": pl.UInt32},
    )
    reversed_ = ordered.select(
        pl.col("_row_r").alias("_row_l"), pl.col("_row_l").alias("_row_r")
    )
    expected = [(0 << 32) | 1, (1 << 32) | 2]
    assert _new_pair_keys(ordered, []).tolist() == expected
    assert _new_pair_keys(reversed_, []).tolist() == expected


def key_code_rule_sets() -> st.SearchStrategy[list[Blocker]]:
    """Exact rules on whole columns and prefixes, purged or not, and a sorted neighbourhood."""
    candidates: list[Blocker] = [
        ExactRule(("a",)),
        ExactRule(("a", "b")),
        ExactRule(("a[:1]", "b[:2]")),
        ExactRule(("b[:1]",)),
        ExactRule(("a",), name="a purged", max_block_size=2),
        ExactRule(("a[:1]", "b"), name="a1 b purged", max_block_size=3),
        SortedNeighbourhood(("b",), window=2),
    ]
    return st.lists(
        st.sampled_from(candidates), min_size=1, max_size=4, unique_by=lambda b: b.name
    )


@settings(max_examples=80, deadline=None)
@given(
    records=records_frames(),
    blockers=key_code_rule_sets(),
    link_type=st.sampled_from(LINK_TYPES),
)
def test_engine_block_from_key_codes_matches_block_pairs(
    records: pl.DataFrame, blockers: list[Blocker], link_type: str
) -> None:
    # The polars engine pairs exact rules (whole columns, prefixes, purged
    # blocks) from the encoding's key codes once a count has encoded the
    # records; the counts, the pairs, their order and their first producer
    # are those of each blocker's own count_pairs and block.
    from er_toolkit.engines import PolarsEngine

    engine = PolarsEngine()
    counts = engine.count_rule_pairs(records, blockers, link_type=link_type)
    assert counts.equals(count_rule_pairs(records, blockers, link_type=link_type))
    for b in blockers:
        assert (engine.exact_key_codes(records, b) is not None) == isinstance(
            b, ExactRule
        )
    got = engine.block(records, blockers, link_type=link_type, counts=counts)
    assert got.equals(block_pairs(records, blockers, link_type=link_type))


def test_pairs_of_key_codes_orients_rows_not_in_position_order() -> None:
    from er_toolkit.blocking.base import pairs_of_key_codes

    codes = np.array([1, 1, -1, 1, 2, 2])
    rows = np.array([5, 3, 4, 0, 2, 1], dtype=np.uint32)
    assert sorted(pairs_of_key_codes(codes, rows).rows()) == [
        (0, 3),
        (0, 5),
        (1, 2),
        (3, 5),
    ]
    sources = np.array([0, 1, 0, 0, 0, 1])
    assert sorted(pairs_of_key_codes(codes, rows, sources).rows()) == [
        (0, 3),
        (1, 2),
        (3, 5),
    ]
