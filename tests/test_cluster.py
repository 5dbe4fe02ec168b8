"""Tests for er_toolkit.cluster."""

from __future__ import annotations

from collections.abc import Sequence

import networkx as nx
import numpy as np
import polars as pl
import pytest
import scipy.sparse as sp
from hypothesis import assume, given, settings
from hypothesis import strategies as st

from er_toolkit import cluster, schema
from er_toolkit.cluster import CLUSTER_SCHEMA, cluster_id_expr, connected_components
from er_toolkit.exceptions import ConfigError, SchemaError

PAIRS_SCHEMA = {
    schema.ROW_L: pl.UInt32,
    schema.ROW_R: pl.UInt32,
    schema.MATCH_PROBABILITY: pl.Float64,
    schema.MATCH_WEIGHT: pl.Float64,
}


def make_records(
    n: int, sources: list[str] | None = None, ids: list[str] | None = None
) -> pl.DataFrame:
    return pl.DataFrame(
        {
            schema.ROW: np.arange(n, dtype=np.uint32),
            schema.RECORD_ID: ids if ids is not None else [f"r{i}" for i in range(n)],
            schema.SOURCE: sources if sources is not None else ["crm"] * n,
            "name": [f"name{i}" for i in range(n)],
        },
        schema_overrides={schema.ROW: pl.UInt32},
    )


def make_pairs(
    edges: list[tuple[int, int, float]], *, orient: bool = True
) -> pl.DataFrame:
    rows = [
        (*((min(a, b), max(a, b)) if orient else (a, b)), p, float(np.log2(p + 1e-9)))
        for a, b, p in edges
    ]
    return pl.DataFrame(rows, schema=PAIRS_SCHEMA, orient="row")


def partition(frame: pl.DataFrame) -> set[frozenset[int]]:
    groups = frame.group_by(schema.CLUSTER_ID).agg(pl.col(schema.ROW))
    return {frozenset(rows) for rows in groups.get_column(schema.ROW).to_list()}


def nx_partition(
    n: int, edges: list[tuple[int, int, float]], threshold: float
) -> set[frozenset[int]]:
    graph = nx.Graph()
    graph.add_nodes_from(range(n))
    graph.add_edges_from((a, b) for a, b, p in edges if p >= threshold)
    return {frozenset(c) for c in nx.connected_components(graph)}


@st.composite
def graphs(draw: st.DrawFn) -> tuple[int, list[tuple[int, int, float]], list[str]]:
    n = draw(st.integers(min_value=1, max_value=25))
    edge = st.tuples(
        st.integers(0, n - 1),
        st.integers(0, n - 1),
        st.floats(0.0, 1.0, allow_nan=False),
    ).filter(lambda e: e[0] != e[1])
    edges = draw(st.lists(edge, max_size=3 * n)) if n > 1 else []
    sources = draw(
        st.lists(st.sampled_from(["crm", "erp", "a:b"]), min_size=n, max_size=n)
    )
    return n, edges, sources


# --------------------------------------------------------------------------- #
# properties
# --------------------------------------------------------------------------- #
@settings(max_examples=150, deadline=None)
@given(graphs(), st.floats(0.0, 1.0, allow_nan=False))
def test_partition_matches_networkx(graph, threshold):
    n, edges, sources = graph
    records = make_records(n, sources)
    out = connected_components(records, make_pairs(edges), threshold=threshold)
    assert partition(out) == nx_partition(n, edges, threshold)


@settings(max_examples=100, deadline=None)
@given(graphs(), st.floats(0.0, 1.0, allow_nan=False))
def test_every_record_once_with_schema_and_sizes(graph, threshold):
    n, edges, sources = graph
    out = connected_components(
        make_records(n, sources), make_pairs(edges), threshold=threshold
    )
    assert out.schema == CLUSTER_SCHEMA
    assert out.get_column(schema.ROW).to_list() == list(range(n))
    sizes = out.group_by(schema.CLUSTER_ID).agg(pl.len().alias("expected"))
    checked = out.join(sizes, on=schema.CLUSTER_ID)
    assert (checked["cluster_size"].cast(pl.UInt32) == checked["expected"]).all()


@settings(max_examples=100, deadline=None)
@given(
    graphs(), st.floats(0.0, 1.0, allow_nan=False), st.randoms(use_true_random=False)
)
def test_ids_stable_under_pair_shuffle_and_rerun(graph, threshold, rnd):
    n, edges, sources = graph
    records = make_records(n, sources)
    first = connected_components(records, make_pairs(edges), threshold=threshold)
    shuffled = list(edges)
    rnd.shuffle(shuffled)
    # Flip some pairs' orientation too: _row_l / _row_r swapped is the same edge.
    flipped = [(b, a, p) if rnd.random() < 0.5 else (a, b, p) for a, b, p in shuffled]
    second = connected_components(
        records, make_pairs(flipped, orient=False), threshold=threshold
    )
    third = connected_components(records, make_pairs(edges), threshold=threshold)
    assert first.equals(second)
    assert first.equals(third)


@settings(max_examples=100, deadline=None)
@given(
    graphs(), st.floats(0.0, 1.0, allow_nan=False), st.randoms(use_true_random=False)
)
def test_ids_independent_of_record_order(graph, threshold, rnd):
    n, edges, sources = graph
    records = make_records(n, sources)
    base = connected_components(records, make_pairs(edges), threshold=threshold)
    perm = list(range(n))
    rnd.shuffle(perm)  # old row i becomes new row perm[i]
    inverse = np.argsort(perm)
    moved = records.with_columns(pl.Series(schema.ROW, perm, dtype=pl.UInt32)).sort(
        schema.ROW
    )
    assert moved.get_column(schema.RECORD_ID).to_list() == [f"r{i}" for i in inverse]
    moved_edges = [(perm[a], perm[b], p) for a, b, p in edges]
    out = connected_components(moved, make_pairs(moved_edges), threshold=threshold)
    key = [schema.SOURCE, schema.RECORD_ID]
    assert (
        out.select(*key, schema.CLUSTER_ID)
        .sort(key)
        .equals(base.select(*key, schema.CLUSTER_ID).sort(key))
    )


@settings(max_examples=100, deadline=None)
@given(graphs(), st.floats(0.0, 1.0, allow_nan=False))
def test_cluster_id_is_smallest_member(graph, threshold):
    n, edges, sources = graph
    out = connected_components(
        make_records(n, sources), make_pairs(edges), threshold=threshold
    )
    for rows in nx_partition(n, edges, threshold):
        members = out.filter(pl.col(schema.ROW).is_in(list(rows)))
        src, rid = min(
            zip(members[schema.SOURCE], members[schema.RECORD_ID], strict=True)
        )
        expected = src.replace("\\", "\\\\").replace(":", "\\:") + ":" + rid
        assert set(members[schema.CLUSTER_ID]) == {expected}


# --------------------------------------------------------------------------- #
# examples
# --------------------------------------------------------------------------- #
def test_empty_pairs_gives_singletons():
    records = make_records(4)
    out = connected_components(
        records, pl.DataFrame(schema=PAIRS_SCHEMA), threshold=0.5
    )
    assert out.get_column("cluster_size").to_list() == [1, 1, 1, 1]
    assert out.get_column(schema.CLUSTER_ID).to_list() == [
        "crm:r0",
        "crm:r1",
        "crm:r2",
        "crm:r3",
    ]


def test_no_records_gives_empty_frame():
    out = connected_components(
        make_records(0), pl.DataFrame(schema=PAIRS_SCHEMA), threshold=0.5
    )
    assert out.height == 0
    assert out.schema == CLUSTER_SCHEMA


def test_one_record():
    out = connected_components(
        make_records(1), pl.DataFrame(schema=PAIRS_SCHEMA), threshold=0.0
    )
    assert out.rows() == [(0, "r0", "crm", "crm:r0", 1)]


def test_threshold_is_inclusive_and_singletons_kept():
    records = make_records(5, ids=["e", "d", "c", "b", "a"])
    pairs = make_pairs([(0, 1, 0.5), (1, 2, 0.49), (3, 2, 0.8)])
    out = connected_components(records, pairs, threshold=0.5)
    assert out.select(schema.CLUSTER_ID, "cluster_size").rows() == [
        ("crm:d", 2),
        ("crm:d", 2),
        ("crm:b", 2),
        ("crm:b", 2),
        ("crm:a", 1),
    ]


def test_representative_orders_by_source_then_record_id():
    records = make_records(3, sources=["erp", "crm", "crm"], ids=["1", "9", "5"])
    pairs = make_pairs([(0, 1, 1.0), (1, 2, 1.0)])
    out = connected_components(records, pairs, threshold=1.0)
    assert set(out[schema.CLUSTER_ID]) == {"crm:5"}


def test_nan_and_null_scores_are_not_edges():
    records = make_records(3)
    pairs = pl.DataFrame(
        {
            schema.ROW_L: [0, 1],
            schema.ROW_R: [1, 2],
            schema.MATCH_PROBABILITY: [float("nan"), None],
        },
        schema_overrides={schema.MATCH_PROBABILITY: pl.Float64},
    )
    out = connected_components(records, pairs, threshold=0.0)
    assert out.get_column("cluster_size").to_list() == [1, 1, 1]


def test_match_weight_threshold_outside_unit_interval():
    records = make_records(3)
    pairs = make_pairs([(0, 1, 0.99), (1, 2, 0.6)])  # weights ~ -0.01, -0.74
    out = connected_components(
        records, pairs, threshold=-0.5, score_column=schema.MATCH_WEIGHT
    )
    assert out.get_column("cluster_size").to_list() == [2, 2, 1]


def test_extra_columns_and_unsorted_records():
    records = make_records(3).reverse()
    pairs = make_pairs([(0, 2, 0.9)]).with_columns(pl.lit("x").alias("blocked_by"))
    out = connected_components(records, pairs, threshold=0.5)
    assert out.columns == list(CLUSTER_SCHEMA)
    assert out.get_column(schema.ROW).to_list() == [0, 1, 2]
    assert out.get_column(schema.CLUSTER_ID).to_list() == ["crm:r0", "crm:r1", "crm:r0"]


def test_caller_frames_not_mutated():
    records = make_records(3)
    pairs = make_pairs([(0, 1, 0.9)])
    before = (records.clone(), pairs.clone())
    connected_components(records, pairs, threshold=0.5)
    assert records.equals(before[0])
    assert pairs.equals(before[1])


def test_cluster_id_expr_escapes_separator():
    frame = pl.DataFrame(
        {
            schema.SOURCE: ["a:b", "a", "x\\", "x", None],
            schema.RECORD_ID: ["c", "b:c", ":y", "\\:y", "z"],
        }
    )
    ids = frame.select(cluster_id_expr()).to_series().to_list()
    assert ids == ["a\\:b:c", "a:b:c", "x\\\\::y", "x:\\:y", ":z"]
    assert len(set(ids)) == len(ids)


def test_all_is_exported():
    for name in cluster.__all__:
        assert hasattr(cluster, name)


# --------------------------------------------------------------------------- #
# errors
# --------------------------------------------------------------------------- #
@pytest.mark.parametrize(
    ("drop", "missing"),
    [
        (schema.MATCH_PROBABILITY, "'match_probability'"),
        (schema.ROW_L, "'_row_l'"),
        (schema.ROW_R, "'_row_r'"),
    ],
)
def test_missing_pair_column(drop, missing):
    pairs = make_pairs([(0, 1, 0.9)]).drop(drop)
    with pytest.raises(
        SchemaError, match=rf"pairs lacks column\(s\) \[{missing}\]; its columns are \["
    ):
        connected_components(make_records(2), pairs, threshold=0.5)


def test_missing_score_column_lists_present_columns():
    pairs = make_pairs([(0, 1, 0.9)])
    with pytest.raises(SchemaError, match=r"\['score'\].*'match_weight'"):
        connected_components(
            make_records(2), pairs, threshold=0.5, score_column="score"
        )


def test_missing_records_column():
    with pytest.raises(
        SchemaError, match=r"records lacks column\(s\) \['source'\]; its columns are"
    ):
        connected_components(
            make_records(2).drop(schema.SOURCE),
            make_pairs([(0, 1, 0.9)]),
            threshold=0.5,
        )


@pytest.mark.parametrize("threshold", [-0.1, 1.5, float("inf")])
def test_probability_threshold_out_of_range(threshold):
    with pytest.raises(
        ConfigError, match=r"threshold on 'match_probability' must be in \[0, 1\]"
    ):
        connected_components(make_records(2), make_pairs([]), threshold=threshold)


@pytest.mark.parametrize(
    ("threshold", "message"),
    [
        (float("nan"), "threshold must be a number; got NaN."),
        ("0.5", "threshold must be a number; got str '0.5'."),
        (True, "threshold must be a number; got bool True."),
    ],
)
def test_threshold_not_a_number(threshold, message):
    with pytest.raises(ConfigError, match=message.replace(".", r"\.")):
        connected_components(make_records(2), make_pairs([]), threshold=threshold)


def test_config_error_is_value_error():
    with pytest.raises(ValueError):
        connected_components(make_records(2), make_pairs([]), threshold=2.0)


def test_rows_must_be_dense():
    records = make_records(3).with_columns(
        pl.Series(schema.ROW, [0, 1, 5], dtype=pl.UInt32)
    )
    with pytest.raises(
        SchemaError, match=r"'_row' must hold the dense row numbers 0\.\.2, each once"
    ):
        connected_components(records, make_pairs([]), threshold=0.5)


def test_pair_rows_out_of_range():
    with pytest.raises(SchemaError, match=r"rows outside the records frame \(0\.\.1\)"):
        connected_components(make_records(2), make_pairs([(0, 7, 0.9)]), threshold=0.5)


def test_null_record_id():
    records = make_records(2).with_columns(
        pl.Series(schema.RECORD_ID, ["a", None], dtype=pl.String)
    )
    with pytest.raises(SchemaError, match=r"'record_id' has 1 null value\(s\)"):
        connected_components(records, make_pairs([]), threshold=0.5)


# --- pruning weak links -----------------------------------------------------


def _clique_pairs(members: list[int], p: float) -> list[tuple[int, int, float]]:
    return [(a, b, p) for i, a in enumerate(members) for b in members[i + 1 :]]


def _prune_records(n: int) -> pl.DataFrame:
    return pl.DataFrame(
        {
            "_row": pl.Series(range(n), dtype=pl.UInt32),
            "record_id": [f"r{i}" for i in range(n)],
            "source": ["crm"] * n,
        }
    )


def _pairs(rows: list[tuple[int, int, float]]) -> pl.DataFrame:
    return pl.DataFrame(
        rows, schema=["_row_l", "_row_r", "match_probability"], orient="row"
    )


@pytest.mark.parametrize(
    ("bridge", "keep_above", "expected_sizes"),
    [
        (0.95, 0.999, [4, 4]),  # a doubtful bridge between two cliques is cut
        (0.9995, 0.999, [8]),  # a near-certain one stays
        (0.95, 0.9, [8]),  # ... as does any link above keep_above
    ],
)
def test_pruning_cuts_unsupported_bridges(bridge, keep_above, expected_sizes):
    pairs = _pairs(
        _clique_pairs([0, 1, 2, 3], 0.99)
        + _clique_pairs([4, 5, 6, 7], 0.99)
        + [(3, 4, bridge)]
    )
    out = connected_components(
        _prune_records(8),
        pairs,
        threshold=0.5,
        prune_weak_links=True,
        keep_above=keep_above,
    )
    sizes = sorted(out.group_by("cluster_id").len().get_column("len").to_list())
    assert sizes == sorted(expected_sizes)


def test_pruning_leaves_small_components_and_supported_links():
    # a chain of three (no common neighbours) is small, so it stays whole;
    # a triangle with a tail: the tail link has no support and is cut
    pairs = _pairs(
        [
            (0, 1, 0.9),
            (1, 2, 0.9),
            (3, 4, 0.95),
            (4, 5, 0.95),
            (3, 5, 0.95),
            (5, 6, 0.95),
            (6, 7, 0.95),
        ]
    )
    out = connected_components(
        _prune_records(8), pairs, threshold=0.5, prune_weak_links=True
    )
    ids = out.get_column("cluster_id").to_list()
    assert ids[0] == ids[1] == ids[2]
    assert ids[3] == ids[4] == ids[5]
    assert ids[6] != ids[5]


@settings(max_examples=60, deadline=None)
@given(data=st.data())
def test_pruning_only_splits_clusters(data):
    n = data.draw(st.integers(1, 30))
    edges = data.draw(
        st.lists(
            st.tuples(
                st.integers(0, n - 1), st.integers(0, n - 1), st.floats(0.5, 1.0)
            ),
            max_size=80,
        )
    )
    edges = [(a, b, p) for a, b, p in edges if a != b]
    records = _prune_records(n)
    pairs = _pairs(edges) if edges else _pairs([])
    plain = connected_components(records, pairs, threshold=0.6)
    pruned = connected_components(records, pairs, threshold=0.6, prune_weak_links=True)
    assert pruned.height == n
    assert pruned.get_column("_row").to_list() == list(range(n))
    joined = plain.select("_row", plain_id="cluster_id").join(
        pruned.select("_row", pruned_id="cluster_id"), on="_row"
    )
    # every pruned cluster lies inside one unpruned cluster
    per = joined.group_by("pruned_id").agg(pl.col("plain_id").n_unique())
    assert per.get_column("plain_id").max() == 1


def test_oversized_components_are_recut_at_stricter_thresholds():
    # two cliques of four joined by a 0.95 link; with max size 5 the link
    # (below the first stricter step, 0.99) goes and each clique stays whole
    pairs = _pairs(
        _clique_pairs([0, 1, 2, 3], 0.999)
        + _clique_pairs([4, 5, 6, 7], 0.999)
        + [(3, 4, 0.95)]
    )
    records = _prune_records(8)
    whole = connected_components(records, pairs, threshold=0.9)
    assert whole.get_column("cluster_size").max() == 8
    split = connected_components(records, pairs, threshold=0.9, max_cluster_size=5)
    assert sorted(split.group_by("cluster_id").len().get_column("len")) == [4, 4]
    # a component within the limit is left alone, weak links included
    same = connected_components(records, pairs, threshold=0.9, max_cluster_size=8)
    assert same.get_column("cluster_size").max() == 8


def test_recutting_works_on_match_weights_too():
    pairs = pl.DataFrame(
        [(0, 1, 20.0), (1, 2, 20.0), (2, 3, 1.0)],
        schema=["_row_l", "_row_r", "match_weight"],
        orient="row",
    )
    out = connected_components(
        _prune_records(4),
        pairs,
        threshold=0.0,
        score_column="match_weight",
        max_cluster_size=3,
    )
    assert sorted(out.group_by("cluster_id").len().get_column("len")) == [1, 3]


@settings(max_examples=60, deadline=None)
@given(data=st.data())
def test_recutting_only_splits_and_respects_the_limit_when_it_can(data):
    n = data.draw(st.integers(1, 25))
    edges = data.draw(
        st.lists(
            st.tuples(
                st.integers(0, n - 1), st.integers(0, n - 1), st.floats(0.5, 0.99)
            ),
            max_size=60,
        )
    )
    edges = [(a, b, p) for a, b, p in edges if a != b]
    records = _prune_records(n)
    pairs = _pairs(edges) if edges else _pairs([])
    limit = data.draw(st.integers(2, 6))
    plain = connected_components(records, pairs, threshold=0.6)
    recut = connected_components(records, pairs, threshold=0.6, max_cluster_size=limit)
    assert recut.height == n
    joined = plain.select("_row", a="cluster_id").join(
        recut.select("_row", b="cluster_id"), on="_row"
    )
    assert joined.group_by("b").agg(pl.col("a").n_unique()).get_column("a").max() == 1
    # every score is below the first stricter step (0.96), so oversized parts
    # lose all their links: only components within the limit keep any
    assert (
        recut.get_column("cluster_size").max() <= max(limit, 1)
        or recut.get_column("cluster_size").max() == 1
    )


@settings(max_examples=40, deadline=None)
@given(data=st.data())
def test_common_neighbours_in_chunks_equal_brute_force(data):
    n = data.draw(st.integers(2, 15))
    edges = data.draw(
        st.lists(
            st.tuples(st.integers(0, n - 1), st.integers(0, n - 1)),
            min_size=1,
            max_size=40,
        )
    )
    edges = [(a, b) for a, b in edges if a != b] or [(0, 1)]
    left = np.array([a for a, _ in edges])
    right = np.array([b for _, b in edges])
    adjacency = sp.coo_array(
        (np.ones(2 * left.size), (np.r_[left, right], np.r_[right, left])),
        shape=(n, n),
    ).tocsr()
    adjacency.data[:] = 1.0
    neighbours = [set() for _ in range(n)]
    for a, b in edges:
        neighbours[a].add(b)
        neighbours[b].add(a)
    expected = [len(neighbours[a] & neighbours[b]) for a, b in edges]
    chunk = data.draw(st.integers(1, 7))
    got = cluster._common_neighbours(adjacency, left, right, chunk=chunk)
    assert got.tolist() == expected


# --------------------------------------------------------------------------- #
# average / complete linkage
# --------------------------------------------------------------------------- #
def _naive_linkage(
    n: int,
    edges: list[tuple[int, int, float]],
    threshold: float,
    method: str,
    *,
    not_linked: Sequence[tuple[int, int, float]] = (),
    unknown: float = 1.0,
) -> set[frozenset[int]] | None:
    """Agglomerate by brute force: merge the closest two groups while within the cut.

    ``edges`` are the links; ``not_linked`` pairs compared below the cut
    count one minus their probability, and every other pair ``unknown``.
    None when two merges within the cut tie (the order, so the partition,
    is then the implementation's choice).
    """
    distance = np.full((n, n), unknown)
    for a, b, p in not_linked:
        distance[a, b] = distance[b, a] = 1.0 - p
    for a, b, p in edges:
        distance[a, b] = distance[b, a] = 1.0 - p
    np.fill_diagonal(distance, 0.0)
    groups = [[i] for i in range(n)]
    combine = np.mean if method == "average" else np.max
    while len(groups) > 1:
        best, pick, ties = np.inf, (0, 0), 0
        for i in range(len(groups)):
            for j in range(i + 1, len(groups)):
                d = combine(distance[np.ix_(groups[i], groups[j])])
                if d < best - 1e-9:
                    best, pick, ties = d, (i, j), 1
                elif d <= best + 1e-9:
                    ties += 1
        if best > 1.0 - threshold + 1e-6:
            break
        if ties > 1:
            return None
        i, j = pick
        groups[i] = groups[i] + groups.pop(j)
    return {frozenset(g) for g in groups}


def _draw_scored_edges(
    data: st.DataObject, max_n: int, low: float
) -> tuple[int, list[tuple[int, int, float]], float]:
    """Draw ``n`` records, scored edges between them and a threshold.

    Every score stays clear of the cut and scores are apart: with ties the
    order of merging (so the partition) is the implementation's choice.
    """
    n = data.draw(st.integers(1, max_n))
    drawn = data.draw(
        st.lists(
            st.tuples(
                st.integers(0, n - 1),
                st.integers(0, n - 1),
                st.floats(low, 0.999),
            ),
            max_size=40,
            unique_by=lambda e: (min(e[0], e[1]), max(e[0], e[1])),
        )
    )
    threshold = data.draw(st.floats(0.3, 0.9))
    edges = [(a, b, p) for a, b, p in drawn if a != b and abs(p - threshold) > 1e-4]
    edges = list({round(p, 4): (a, b, p) for a, b, p in edges}.values())
    return n, edges, threshold


@settings(max_examples=80, deadline=None)
@given(data=st.data(), method=st.sampled_from(["average", "complete"]))
def test_linkage_equals_brute_force_agglomeration(data, method):
    n, edges, threshold = _draw_scored_edges(data, 14, 0.05)
    records = _prune_records(n)
    out = connected_components(
        records, _pairs(edges), threshold=threshold, linkage=method
    )
    assert out.height == n
    got = partition(out)
    linked = [(a, b, p) for a, b, p in edges if p >= threshold]
    expected = _naive_linkage(n, linked, threshold, method)
    assert expected is not None  # scores are apart: no ties
    assert got == expected
    # it only ever splits the connected components
    plain = partition(connected_components(records, _pairs(edges), threshold=threshold))
    assert all(any(part <= whole for whole in plain) for part in got)


@settings(max_examples=80, deadline=None)
@given(data=st.data(), method=st.sampled_from(["average", "complete"]))
def test_neutral_not_compared_equals_brute_force_agglomeration(data, method):
    n, edges, threshold = _draw_scored_edges(data, 12, 0.001)
    records = _prune_records(n)
    out = connected_components(
        records,
        _pairs(edges),
        threshold=threshold,
        linkage=method,
        not_compared="neutral",
    )
    assert out.height == n
    # brute force within each connected component (linkage never merges two)
    plain = partition(connected_components(records, _pairs(edges), threshold=threshold))
    expected: set[frozenset[int]] = set()
    for whole in plain:
        inside = sorted(whole)
        local = {r: i for i, r in enumerate(inside)}
        mine = [
            (local[a], local[b], p) for a, b, p in edges if a in whole and b in whole
        ]
        linked = [e for e in mine if e[2] >= threshold]
        below = [e for e in mine if e[2] < threshold]
        parts = _naive_linkage(
            len(inside),
            linked,
            threshold,
            method,
            not_linked=below,
            unknown=1.0 - threshold,
        )
        assume(parts is not None)  # pairs never compared tie at the cut
        assert parts is not None
        expected |= {frozenset(inside[i] for i in part) for part in parts}
    assert partition(out) == expected


@settings(max_examples=80, deadline=None)
@given(
    data=st.data(),
    method=st.sampled_from(["average", "complete"]),
    not_compared=st.sampled_from(["far", "neutral"]),
)
def test_min_linkage_probability_equals_brute_force_agglomeration(
    data, method, not_compared
):
    n, edges, threshold = _draw_scored_edges(data, 12, 0.001)
    # the merge cut, at most the link threshold
    cut = data.draw(st.floats(0.05, threshold))
    assume(all(abs(p - cut) > 1e-4 for _, _, p in edges))
    records = _prune_records(n)
    out = connected_components(
        records,
        _pairs(edges),
        threshold=threshold,
        linkage=method,
        not_compared=not_compared,
        min_linkage_probability=cut,
    )
    assert out.height == n
    plain = partition(connected_components(records, _pairs(edges), threshold=threshold))
    expected: set[frozenset[int]] = set()
    for whole in plain:  # linkage only ever splits a connected component
        inside = sorted(whole)
        local = {r: i for i, r in enumerate(inside)}
        mine = [
            (local[a], local[b], p) for a, b, p in edges if a in whole and b in whole
        ]
        neutral = not_compared == "neutral"
        parts = _naive_linkage(
            len(inside),
            [e for e in mine if e[2] >= threshold],
            cut,
            method,
            not_linked=[e for e in mine if e[2] < threshold] if neutral else (),
            unknown=1.0 - cut if neutral else 1.0,
        )
        assume(parts is not None)  # merges that tie: the order is scipy's
        assert parts is not None
        expected |= {frozenset(inside[i] for i in part) for part in parts}
    assert partition(out) == expected


def test_min_linkage_probability_takes_in_a_record_half_its_group_links():
    # a triangle 0-1-2 and record 3 linked to 0 and 1 only, compared with 2
    # and scored 0.3: average distance of 3 to the triangle (0.05 + 0.06 +
    # 0.7) / 3 = 0.27, over the cut at the threshold (0.1), within 0.5
    scored = _pairs(
        [
            (0, 1, 0.99),
            (0, 2, 0.98),
            (1, 2, 0.97),
            (0, 3, 0.95),
            (1, 3, 0.94),
            (2, 3, 0.3),
        ]
    )
    records = _prune_records(4)
    kwargs = {"threshold": 0.9, "linkage": "average", "not_compared": "neutral"}
    default = connected_components(records, scored, **kwargs)
    assert partition(default) == {frozenset({0, 1, 2}), frozenset({3})}
    same = connected_components(records, scored, min_linkage_probability=0.9, **kwargs)
    assert same.equals(default)
    looser = connected_components(
        records, scored, min_linkage_probability=0.5, **kwargs
    )
    assert partition(looser) == {frozenset(range(4))}


def test_min_linkage_probability_needs_a_linkage_and_a_probability():
    pairs = _pairs([(0, 1, 0.9)])
    with pytest.raises(ConfigError, match="applies only with linkage 'average'"):
        connected_components(
            _prune_records(2), pairs, threshold=0.5, min_linkage_probability=0.4
        )
    with pytest.raises(ConfigError, match=r"must be a number in \[0, 1\].*got 1.5"):
        connected_components(
            _prune_records(2),
            pairs,
            threshold=0.5,
            linkage="average",
            min_linkage_probability=1.5,
        )
    # a cut stricter than the threshold (as a probability) is a higher threshold
    with pytest.raises(ConfigError, match=r"at most the threshold.*0.5\b"):
        connected_components(
            _prune_records(2),
            pairs,
            threshold=0.5,
            linkage="average",
            min_linkage_probability=0.6,
        )
    with pytest.raises(ConfigError, match="at most the threshold"):
        connected_components(
            _prune_records(2),
            pairs.rename({"match_probability": "match_weight"}),
            threshold=0.0,  # probability 0.5
            score_column="match_weight",
            linkage="average",
            min_linkage_probability=0.6,
        )


def test_neutral_not_compared_keeps_a_sparse_entity_and_splits_on_evidence():
    # a chain 0-1-2-3 of strong links whose other pairs blocking never
    # compared: "far" counts them 1 and splits the chain; "neutral" keeps it
    chain = [(0, 1, 0.99), (1, 2, 0.99), (2, 3, 0.99)]
    records = _prune_records(4)
    far = connected_components(records, _pairs(chain), threshold=0.5, linkage="average")
    assert len(partition(far)) > 1
    neutral = connected_components(
        records,
        _pairs(chain),
        threshold=0.5,
        linkage="average",
        not_compared="neutral",
    )
    assert partition(neutral) == {frozenset(range(4))}
    # the same chain with its ends compared and scored as non-matches:
    # a namesake record (1, 2) bridging two people; the evidence splits it
    scored = _pairs([*chain, (0, 2, 0.001), (0, 3, 0.001), (1, 3, 0.001)])
    split = connected_components(
        records, scored, threshold=0.5, linkage="average", not_compared="neutral"
    )
    assert len(partition(split)) == 2
    # match weights give the clusters their probabilities give
    weights = scored.with_columns(
        (pl.col("match_probability") / (1 - pl.col("match_probability")))
        .log(2)
        .alias("match_weight")
    ).drop("match_probability")
    by_weight = connected_components(
        records,
        weights,
        threshold=0.0,
        score_column="match_weight",
        linkage="average",
        not_compared="neutral",
    )
    assert partition(by_weight) == partition(split)


def test_neutral_not_compared_needs_a_linkage():
    pairs = _pairs([(0, 1, 0.9)])
    with pytest.raises(ConfigError, match="applies only with linkage 'average'"):
        connected_components(
            _prune_records(2), pairs, threshold=0.5, not_compared="neutral"
        )
    with pytest.raises(ConfigError, match="'not_compared' must be one of"):
        connected_components(
            _prune_records(2),
            pairs,
            threshold=0.5,
            linkage="average",
            not_compared="near",  # type: ignore[arg-type]
        )


def test_average_linkage_keeps_two_groups_apart_that_one_link_joins():
    # two cliques of four; sites of one agency: a few links between them
    groups = _clique_pairs([0, 1, 2, 3], 0.99) + _clique_pairs([4, 5, 6, 7], 0.99)
    few = _pairs([*groups, (3, 4, 0.9), (2, 5, 0.8)])
    records = _prune_records(8)
    single = connected_components(records, few, threshold=0.5)
    assert single.get_column("cluster_size").max() == 8
    apart = connected_components(records, few, threshold=0.5, linkage="average")
    assert partition(apart) == {frozenset(range(4)), frozenset(range(4, 8))}
    assert apart.get_column("cluster_size").to_list() == [4] * 8
    # the same groups linked pair by pair are one entity
    many = _pairs([*groups, *((a, b, 0.9) for a in range(4) for b in range(4, 8))])
    assert (
        connected_components(records, many, threshold=0.5, linkage="average")
        .get_column("cluster_size")
        .to_list()
        == [8] * 8
    )


def test_complete_linkage_is_stricter_than_average():
    # a chain 0-1-2 strongly linked, 0-2 not linked: average keeps it whole
    # when the mean distance is within the cut, complete never does
    chain = _pairs([(0, 1, 0.99), (1, 2, 0.99), (0, 2, 0.3)])
    records = _prune_records(3)
    avg = connected_components(records, chain, threshold=0.3, linkage="average")
    assert partition(avg) == {frozenset({0, 1, 2})}
    full = connected_components(records, chain, threshold=0.5, linkage="complete")
    assert len(partition(full)) == 2


def test_linkage_on_match_weights_equals_probabilities():
    groups = _clique_pairs([0, 1, 2], 0.99) + _clique_pairs([3, 4, 5], 0.98)
    probs = _pairs([*groups, (2, 3, 0.9)])
    weights = probs.select(
        "_row_l",
        "_row_r",
        (pl.col("match_probability") / (1 - pl.col("match_probability")))
        .log(2)
        .alias("match_weight"),
    )
    records = _prune_records(6)
    by_p = connected_components(records, probs, threshold=0.5, linkage="average")
    by_w = connected_components(
        records, weights, threshold=0.0, score_column="match_weight", linkage="average"
    )
    assert (
        partition(by_p)
        == partition(by_w)
        == {frozenset({0, 1, 2}), frozenset({3, 4, 5})}
    )


def test_linkage_after_pruning_ignores_the_pruned_links():
    # the bridge 2-3 has no common neighbour and is pruned; linkage then
    # works on each side without reading it
    pairs = _pairs(
        _clique_pairs([0, 1, 2], 0.9) + _clique_pairs([3, 4, 5], 0.9) + [(2, 3, 0.6)]
    )
    out = connected_components(
        _prune_records(6),
        pairs,
        threshold=0.5,
        prune_weak_links=True,
        linkage="average",
    )
    assert partition(out) == {frozenset({0, 1, 2}), frozenset({3, 4, 5})}


def test_linkage_refuses_a_component_too_large_and_bad_names(monkeypatch):
    monkeypatch.setattr(cluster, "MAX_LINKAGE_SIZE", 3)
    pairs = _pairs([(0, 1, 0.9), (1, 2, 0.9), (2, 3, 0.9)])
    with pytest.raises(ConfigError, match="largest has 4 records, over 3"):
        connected_components(_prune_records(4), pairs, threshold=0.5, linkage="average")
    # a component linked throughout needs no matrix, whatever its size
    clique = _pairs(_clique_pairs([0, 1, 2, 3], 0.9))
    out = connected_components(
        _prune_records(4), clique, threshold=0.5, linkage="average"
    )
    assert out.get_column("cluster_size").to_list() == [4] * 4
    # single linkage needs no matrix
    assert connected_components(_prune_records(4), pairs, threshold=0.5).height == 4
    with pytest.raises(ConfigError, match="'linkage' must be one of"):
        connected_components(_prune_records(4), pairs, threshold=0.5, linkage="ward")  # type: ignore[arg-type]
