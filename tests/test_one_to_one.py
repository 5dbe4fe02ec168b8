"""The one-to-one link constraint: greedy against a brute-force loop, assignment against all matchings."""

from __future__ import annotations

import itertools

import numpy as np
import polars as pl
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from er_toolkit import schema
from er_toolkit.cluster import ClusteringConfig, connected_components
from er_toolkit.exceptions import ConfigError, SchemaError
from er_toolkit.one_to_one import one_to_one_links, one_to_one_mask


def _greedy_loop(
    slot_l: list[int], slot_r: list[int], score: list[float]
) -> list[bool]:
    order = sorted(range(len(score)), key=lambda i: (-score[i], i))
    used: set[int] = set()
    keep = [False] * len(score)
    for i in order:
        if slot_l[i] not in used and slot_r[i] not in used:
            keep[i] = True
            used.update((slot_l[i], slot_r[i]))
    return keep


links = st.lists(
    st.tuples(
        st.integers(0, 6),
        st.integers(7, 12),
        st.sampled_from([0.5, 0.6, 0.7, 0.8, 0.9, 0.95, 1.0]),
    ),
    max_size=30,
)


@settings(max_examples=60, deadline=None)
@given(links)
def test_greedy_equals_a_loop_best_first(edges: list[tuple[int, int, float]]) -> None:
    slot_l = [a for a, _, _ in edges]
    slot_r = [b for _, b, _ in edges]
    score = [s for _, _, s in edges]
    got = one_to_one_mask(
        np.array(slot_l, dtype=np.int64),
        np.array(slot_r, dtype=np.int64),
        np.array(score, dtype=np.float64),
    )
    assert got.tolist() == _greedy_loop(slot_l, slot_r, score)


def _two_sources(n_a: int, n_b: int) -> pl.DataFrame:
    return pl.DataFrame(
        {
            schema.ROW: range(n_a + n_b),
            schema.SOURCE: ["a"] * n_a + ["b"] * n_b,
        },
        schema_overrides={schema.ROW: pl.UInt32},
    )


def _pairs(edges: list[tuple[int, int, float]]) -> pl.DataFrame:
    return pl.DataFrame(
        {
            schema.ROW_L: [a for a, _, _ in edges],
            schema.ROW_R: [b for _, b, _ in edges],
            schema.MATCH_PROBABILITY: [p for _, _, p in edges],
        },
        schema={
            schema.ROW_L: pl.UInt32,
            schema.ROW_R: pl.UInt32,
            schema.MATCH_PROBABILITY: pl.Float64,
        },
    )


def _weight(p: float) -> float:
    return min(60.0, float(np.log2(p) - np.log2(1 - p))) if p < 1 else 60.0


bipartite = st.lists(
    st.tuples(
        st.integers(0, 3),
        st.integers(4, 7),
        st.sampled_from([0.55, 0.6, 0.7, 0.8, 0.9, 0.97, 0.999]),
    ),
    max_size=10,
    unique_by=lambda e: (e[0], e[1]),
)


@settings(max_examples=80, deadline=None)
@given(bipartite)
def test_assignment_has_the_largest_total_weight(
    edges: list[tuple[int, int, float]],
) -> None:
    records = _two_sources(4, 4)
    kept = one_to_one_links(records, _pairs(edges), threshold=0.5, method="assignment")
    rows = kept.rows()
    # a matching
    assert len({a for a, _, _ in rows}) == len(rows)
    assert len({b for _, b, _ in rows}) == len(rows)
    best = 0.0
    for k in range(len(edges) + 1):
        for subset in itertools.combinations(edges, k):
            if len({a for a, _, _ in subset}) == k == len({b for _, b, _ in subset}):
                best = max(best, sum(_weight(p) for _, _, p in subset))
    assert sum(_weight(p) for _, _, p in rows) == pytest.approx(best)


@settings(max_examples=60, deadline=None)
@given(links, st.sampled_from(["greedy", "assignment"]))
def test_each_record_keeps_one_link_per_source_and_low_pairs_stay(
    edges: list[tuple[int, int, float]], method: str
) -> None:
    records = _two_sources(7, 6)
    low = [(a, b, p * 0.4) for a, b, p in edges]  # below the threshold: kept as is
    pairs = _pairs(edges + low)
    kept = one_to_one_links(records, pairs, threshold=0.5, method=method)  # type: ignore[arg-type]
    linked = kept.filter(pl.col(schema.MATCH_PROBABILITY) >= 0.5)
    assert linked.get_column(schema.ROW_L).is_unique().all()
    assert linked.get_column(schema.ROW_R).is_unique().all()
    assert kept.filter(pl.col(schema.MATCH_PROBABILITY) < 0.5).height == len(low)
    # every dropped link shares a record with a kept link scored at least as high
    dropped = pairs.join(kept, on=pairs.columns, how="anti").filter(
        pl.col(schema.MATCH_PROBABILITY) >= 0.5
    )
    if method == "greedy":
        for a, b, p in dropped.rows():
            rivals = linked.filter(
                (pl.col(schema.ROW_L) == a) | (pl.col(schema.ROW_R) == b)
            )
            assert (
                rivals.height and rivals.get_column(schema.MATCH_PROBABILITY).max() >= p
            )  # type: ignore[operator]


def test_greedy_and_assignment_differ_where_two_links_beat_one() -> None:
    # a0-b0 0.9 is best, but a0-b1 0.85 + a1-b0 0.85 weigh more together
    records = _two_sources(2, 2)
    pairs = _pairs([(0, 2, 0.9), (0, 3, 0.85), (1, 2, 0.85)])
    greedy = one_to_one_links(records, pairs, threshold=0.5, method="greedy")
    assert greedy.rows() == [(0, 2, 0.9)]
    best = one_to_one_links(records, pairs, threshold=0.5, method="assignment")
    assert sorted(best.rows()) == [(0, 3, 0.85), (1, 2, 0.85)]


def test_one_link_per_other_source_with_three_sources() -> None:
    records = pl.DataFrame(
        {schema.ROW: [0, 1, 2, 3], schema.SOURCE: ["a", "b", "c", "c"]}
    )
    # record 0 may keep one link into b and one into c
    pairs = _pairs([(0, 1, 0.9), (0, 2, 0.8), (0, 3, 0.7)])
    kept = one_to_one_links(records, pairs, threshold=0.5)
    assert kept.rows() == [(0, 1, 0.9), (0, 2, 0.8)]


def test_off_and_empty_return_the_pairs() -> None:
    records = _two_sources(1, 1)
    pairs = _pairs([(0, 1, 0.9)])
    assert one_to_one_links(records, pairs, threshold=0.5, method="off") is pairs
    empty = pairs.clear()
    assert one_to_one_links(records, empty, threshold=0.5).height == 0


def test_bad_inputs_are_named() -> None:
    records = _two_sources(1, 1)
    with pytest.raises(ConfigError, match="one_to_one"):
        one_to_one_links(records, _pairs([]), threshold=0.5, method="best")  # type: ignore[arg-type]
    with pytest.raises(SchemaError, match="source"):
        one_to_one_links(
            records.drop(schema.SOURCE), _pairs([(0, 1, 0.9)]), threshold=0.5
        )
    with pytest.raises(SchemaError, match="rows the records frame lacks"):
        one_to_one_links(records, _pairs([(0, 5, 0.9)]), threshold=0.5)
    same = pl.DataFrame({schema.ROW: [0, 1], schema.SOURCE: ["a", "a"]})
    with pytest.raises(ConfigError, match="within one source"):
        one_to_one_links(
            same, _pairs([(0, 1, 0.9)]), threshold=0.5, method="assignment"
        )


def test_clustering_config_round_trips_and_checks_one_to_one() -> None:
    config = ClusteringConfig.from_dict({"one_to_one": "greedy"})
    assert config.one_to_one == "greedy"
    assert ClusteringConfig.from_dict(config.to_dict()) == config
    assert "one_to_one" not in ClusteringConfig().to_dict()
    with pytest.raises(ConfigError, match="one_to_one"):
        ClusteringConfig.from_dict({"one_to_one": "yes"})


def test_clusters_after_the_constraint_are_pairs() -> None:
    records = _two_sources(2, 2).with_columns(
        pl.Series(schema.RECORD_ID, ["a0", "a1", "b0", "b1"])
    )
    # without the constraint one chain a0-b0-a1-b1; with it two pairs
    pairs = _pairs([(0, 2, 0.99), (1, 2, 0.7), (1, 3, 0.95)])
    chained = connected_components(records, pairs, threshold=0.5)
    assert chained.get_column(schema.CLUSTER_SIZE).to_list() == [4] * 4
    kept = one_to_one_links(records, pairs, threshold=0.5)
    split = connected_components(records, kept, threshold=0.5)
    assert split.get_column(schema.CLUSTER_SIZE).to_list() == [2] * 4


def test_linker_cluster_applies_the_configured_constraint() -> None:
    import tomllib
    from pathlib import Path

    from er_toolkit.config import LinkageConfig
    from er_toolkit.pipeline import Linker

    data = Path(__file__).parent / "data"
    spec = tomllib.loads((data / "people_link.toml").read_text())
    spec["clustering"] = {"one_to_one": "greedy"}
    linker = Linker(LinkageConfig.from_dict(spec, base_dir=data))
    records = linker.records()
    sources = records.get_column(schema.SOURCE).to_list()
    a = [i for i, s in enumerate(sources) if s == sources[0]][:2]
    b = [i for i, s in enumerate(sources) if s != sources[0]][:2]
    # a0-b0 best; a1-b0 would chain a1 in; a1-b1 is a1's own
    scored = _pairs([(a[0], b[0], 0.99), (a[1], b[0], 0.8), (a[1], b[1], 0.7)])
    clusters = linker.cluster(records, scored, threshold=0.5)
    sizes = clusters.filter(pl.col(schema.ROW).is_in(a + b))
    assert sizes.get_column(schema.CLUSTER_SIZE).to_list() == [2, 2, 2, 2]
    assert linker.one_to_one(records, scored, threshold=0.5).height == 2
