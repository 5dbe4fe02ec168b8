"""Tests of er_toolkit.blocking against brute-force enumeration."""

from __future__ import annotations

import itertools
import warnings

import hypothesis.strategies as st
import numpy as np
import polars as pl
import pytest
from hypothesis import given, settings

from er_toolkit import schema
from er_toolkit.blocking import (
    Blocker,
    ExactRule,
    SortedNeighbourhood,
    block_pair_positions,
    block_pairs,
    count_rule_pairs,
    key_expr,
)
from er_toolkit.exceptions import BlockingError, ConfigError
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
