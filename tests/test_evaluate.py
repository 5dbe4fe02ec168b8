"""Tests for er_toolkit.evaluate."""

from __future__ import annotations

import itertools

import numpy as np
import polars as pl
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from er_toolkit import evaluate, schema
from er_toolkit.evaluate import (
    CURVE_SCHEMA,
    PAIR_SCHEMA,
    best_threshold,
    blocking_recall,
    cluster_metrics,
    pair_key,
    pairwise_metrics,
    precision_recall_curve,
    true_pairs_from_entities,
    true_pairs_from_list,
)
from er_toolkit.exceptions import ConfigError, EmptyInputError, SchemaError

LINK_TYPES = ["dedupe", "link", "link_and_dedupe"]
Pair = tuple[int, int]


def pairs_frame(pairs, **extra) -> pl.DataFrame:
    pairs = list(pairs)
    return pl.DataFrame(
        {
            schema.ROW_L: [a for a, _ in pairs],
            schema.ROW_R: [b for _, b in pairs],
            **extra,
        },
        schema_overrides=PAIR_SCHEMA,
    )


def as_set(frame: pl.DataFrame) -> set[Pair]:
    return {
        (min(a, b), max(a, b))
        for a, b in frame.select(schema.ROW_L, schema.ROW_R).rows()
    }


def make_records(entities, sources=None, ids=None) -> pl.DataFrame:
    n = len(entities)
    return pl.DataFrame(
        {
            schema.ROW: np.arange(n, dtype=np.uint32),
            schema.RECORD_ID: ids if ids is not None else [str(i) for i in range(n)],
            schema.SOURCE: sources if sources is not None else ["a"] * n,
            "entity": entities,
        },
        schema_overrides={schema.ROW: pl.UInt32, "entity": pl.Int64},
    )


def brute_true_pairs(entities, sources, link_type) -> set[Pair]:
    out = set()
    for i, j in itertools.combinations(range(len(entities)), 2):
        if entities[i] is None or entities[i] != entities[j]:
            continue
        if link_type == "link" and sources[i] == sources[j]:
            continue
        out.add((i, j))
    return out


def brute_cluster_pairs(labels, sources, link_type) -> set[Pair]:
    return {
        (i, j)
        for i, j in itertools.combinations(range(len(labels)), 2)
        if labels[i] == labels[j]
        and not (link_type == "link" and sources[i] == sources[j])
    }


def brute_prf(predicted: set[Pair], truth: set[Pair]) -> tuple[float, float, float]:
    tp = len(predicted & truth)
    p = tp / len(predicted) if predicted else 0.0
    r = tp / len(truth) if truth else 0.0
    f = 2 * p * r / (p + r) if p + r else 0.0
    return p, r, f


pair_lists = st.lists(
    st.tuples(st.integers(0, 12), st.integers(0, 12)).filter(lambda t: t[0] != t[1]),
    max_size=40,
)


@st.composite
def labelled_records(draw: st.DrawFn):
    n = draw(st.integers(0, 20))
    entities = draw(
        st.lists(st.one_of(st.none(), st.integers(0, 5)), min_size=n, max_size=n)
    )
    clusters = draw(st.lists(st.integers(0, 5), min_size=n, max_size=n))
    sources = draw(st.lists(st.sampled_from(["a", "b", "c"]), min_size=n, max_size=n))
    return entities, clusters, sources


# --------------------------------------------------------------------------- #
# pair_key
# --------------------------------------------------------------------------- #
def test_pair_key_symmetric_and_wide():
    frame = pl.DataFrame(
        {schema.ROW_L: [3, 7, 2**32 - 1], schema.ROW_R: [7, 3, 0]},
        schema_overrides=PAIR_SCHEMA,
    )
    keys = frame.select(pair_key()).to_series()
    assert keys.dtype == pl.UInt64
    assert keys.to_list() == [3 * 2**32 + 7, 3 * 2**32 + 7, 2**32 - 1]


# --------------------------------------------------------------------------- #
# true_pairs_from_entities
# --------------------------------------------------------------------------- #
@pytest.mark.parametrize(
    ("link_type", "expected"),
    [
        ("dedupe", [(0, 1), (0, 2), (1, 2), (4, 5)]),
        ("link_and_dedupe", [(0, 1), (0, 2), (1, 2), (4, 5)]),
        ("link", [(0, 2), (1, 2)]),
    ],
)
def test_true_pairs_from_entities_table(link_type, expected):
    records = make_records(
        [1, 1, 1, None, 2, 2, None], sources=["a", "a", "b", "a", "b", "b", "b"]
    )
    out = true_pairs_from_entities(records, entity_column="entity", link_type=link_type)
    assert out.schema == PAIR_SCHEMA
    assert out.rows() == expected


@settings(max_examples=100, deadline=None)
@given(labelled_records(), st.sampled_from(LINK_TYPES))
def test_true_pairs_from_entities_brute_force(data, link_type):
    entities, _, sources = data
    records = make_records(entities, sources)
    out = true_pairs_from_entities(records, entity_column="entity", link_type=link_type)
    assert out.rows() == sorted(brute_true_pairs(entities, sources, link_type))


def test_true_pairs_from_entities_errors():
    records = make_records([1, 1])
    with pytest.raises(SchemaError, match=r"records lacks column\(s\) \['label'\]"):
        true_pairs_from_entities(records, entity_column="label", link_type="dedupe")
    with pytest.raises(
        ConfigError,
        match=r"link_type must be one of \['dedupe', 'link', 'link_and_dedupe'\]; "
        r"got 'merge'",
    ):
        true_pairs_from_entities(records, entity_column="entity", link_type="merge")  # type: ignore[arg-type]
    with pytest.raises(SchemaError, match=r"\['source'\]"):
        true_pairs_from_entities(
            records.drop(schema.SOURCE), entity_column="entity", link_type="link"
        )


# --------------------------------------------------------------------------- #
# true_pairs_from_list
# --------------------------------------------------------------------------- #
@pytest.fixture
def two_sources() -> pl.DataFrame:
    return make_records(
        [0] * 5,
        sources=["crm", "crm", "crm", "erp", "erp"],
        ids=["1", "2", "3", "1", "9"],
    )


def test_list_with_source_columns(two_sources):
    labels = pl.DataFrame(
        {
            "record_id_l": ["1", "9", "2", "1"],
            "source_l": ["erp", "erp", "crm", "crm"],
            "record_id_r": ["3", "2", "2", "1"],
            "source_r": ["crm", "crm", "crm", "erp"],
        }
    )
    out = true_pairs_from_list(two_sources, labels, link_type="link_and_dedupe")
    # (erp:1, crm:3) -> (2, 3); (erp:9, crm:2) -> (1, 4); self-pair dropped;
    # (crm:1, erp:1) -> (0, 3).
    assert out.schema == PAIR_SCHEMA
    assert out.rows() == [(0, 3), (1, 4), (2, 3)]


def test_list_link_without_sources_uses_source_order(two_sources):
    labels = pl.DataFrame({"record_id_l": [3, 1, 3], "record_id_r": [9, 1, 9]})
    out = true_pairs_from_list(two_sources, labels, link_type="link")
    assert out.rows() == [(0, 3), (2, 4)]


def test_list_dedupe_by_record_id():
    records = make_records([0, 0, 0, 0], ids=["a", "b", "c", "d"])
    labels = pl.DataFrame(
        {"record_id_l": ["d", "a", "b", "c"], "record_id_r": ["a", "d", "c", "c"]}
    )
    out = true_pairs_from_list(records, labels, link_type="dedupe")
    assert out.rows() == [(0, 3), (1, 2)]


@pytest.mark.parametrize(
    "is_match",
    [
        [True, False, None, True],
        [1, 0, None, 1],
        [1.0, 0.0, None, 1.0],
        ["true", "False", None, " 1 "],
    ],
)
def test_list_keeps_positive_labels(is_match):
    records = make_records([0, 0, 0, 0], ids=["a", "b", "c", "d"])
    labels = pl.DataFrame(
        {
            "record_id_l": ["a", "b", "c", "c"],
            "record_id_r": ["b", "c", "d", "a"],
            "is_match": is_match,
        }
    )
    out = true_pairs_from_list(records, labels, link_type="dedupe")
    assert out.rows() == [(0, 1), (0, 2)]


def test_list_is_match_wrong_type():
    records = make_records([0, 0], ids=["a", "b"])
    labels = pl.DataFrame(
        {"record_id_l": ["a"], "record_id_r": ["b"], "is_match": [[1]]}
    )
    with pytest.raises(SchemaError, match=r"'is_match' must be boolean, 0/1 or text"):
        true_pairs_from_list(records, labels, link_type="dedupe")


def test_list_unknown_ids_named(two_sources):
    labels = pl.DataFrame(
        {
            "record_id_l": ["1", "x1", "x2", "x3", "x4", "x5", "x6"],
            "source_l": ["crm"] * 7,
            "record_id_r": ["1", "1", "1", "1", "1", "1", "1"],
            "source_r": ["erp", "erp", "erp", "erp", "erp", "erp", "nope"],
        }
    )
    with pytest.raises(
        SchemaError,
        match=r"7 record id\(s\) in the pairs are not in records, e\.g\. "
        r"\['crm:x1', 'crm:x2', 'crm:x3', 'crm:x4', 'crm:x5'\]",
    ):
        true_pairs_from_list(two_sources, labels, link_type="link")


def test_list_unknown_ids_without_sources():
    records = make_records([0, 0], ids=["a", "b"])
    labels = pl.DataFrame({"record_id_l": ["a", None], "record_id_r": ["zz", "b"]})
    with pytest.raises(
        SchemaError, match=r"2 record id\(s\) .* e\.g\. \['<null>', 'zz'\]"
    ):
        true_pairs_from_list(records, labels, link_type="dedupe")


def test_list_one_source_column(two_sources):
    labels = pl.DataFrame(
        {"record_id_l": ["1"], "record_id_r": ["1"], "source_l": ["crm"]}
    )
    with pytest.raises(
        SchemaError, match=r"pairs has only one of 'source_l' and 'source_r'"
    ):
        true_pairs_from_list(two_sources, labels, link_type="link")


def test_list_link_without_sources_needs_two_sources():
    records = make_records([0, 0, 0], sources=["a", "b", "c"])
    labels = pl.DataFrame({"record_id_l": ["0"], "record_id_r": ["1"]})
    with pytest.raises(
        SchemaError, match=r"records must hold exactly 2 sources; got \['a', 'b', 'c'\]"
    ):
        true_pairs_from_list(records, labels, link_type="link")


def test_list_repeated_ids_need_sources(two_sources):
    labels = pl.DataFrame({"record_id_l": ["1"], "record_id_r": ["2"]})
    with pytest.raises(
        SchemaError, match=r"record ids repeat across sources \(e\.g\. \['1'\]\)"
    ):
        true_pairs_from_list(two_sources, labels, link_type="dedupe")


def test_list_missing_columns(two_sources):
    with pytest.raises(SchemaError, match=r"pairs lacks column\(s\) \['record_id_r'\]"):
        true_pairs_from_list(
            two_sources, pl.DataFrame({"record_id_l": ["1"]}), link_type="link"
        )


@settings(max_examples=60, deadline=None)
@given(pair_lists)
def test_list_round_trip(pairs):
    n = 13
    records = make_records([0] * n, ids=[f"id{i}" for i in range(n)])
    labels = pl.DataFrame(
        {
            "record_id_l": [f"id{a}" for a, _ in pairs],
            "record_id_r": [f"id{b}" for _, b in pairs],
        },
        schema={"record_id_l": pl.String, "record_id_r": pl.String},
    )
    out = true_pairs_from_list(records, labels, link_type="dedupe")
    assert out.rows() == sorted({(min(a, b), max(a, b)) for a, b in pairs})


# --------------------------------------------------------------------------- #
# pairwise_metrics
# --------------------------------------------------------------------------- #
@pytest.mark.parametrize(
    ("predicted", "truth", "expected"),
    [
        (
            [(0, 1), (1, 2), (2, 3), (3, 4)],
            [(0, 1), (2, 3), (5, 6)],
            {"tp": 2, "fp": 2, "fn": 1, "precision": 0.5, "recall": 2 / 3, "f1": 4 / 7},
        ),
        (
            [(1, 0), (0, 1), (2, 2)],  # reversed, repeated and self-pairs
            [(0, 1)],
            {"tp": 1, "fp": 0, "fn": 0, "precision": 1.0, "recall": 1.0, "f1": 1.0},
        ),
        (
            [],
            [(0, 1)],
            {"tp": 0, "fp": 0, "fn": 1, "precision": 0.0, "recall": 0.0, "f1": 0.0},
        ),
        (
            [(0, 1)],
            [],
            {"tp": 0, "fp": 1, "fn": 0, "precision": 0.0, "recall": 0.0, "f1": 0.0},
        ),
        (
            [],
            [],
            {"tp": 0, "fp": 0, "fn": 0, "precision": 0.0, "recall": 0.0, "f1": 0.0},
        ),
    ],
)
def test_pairwise_metrics_table(predicted, truth, expected):
    out = pairwise_metrics(pairs_frame(predicted), pairs_frame(truth))
    assert out == pytest.approx(expected)
    assert all(isinstance(out[k], int) for k in ("tp", "fp", "fn"))


@settings(max_examples=150, deadline=None)
@given(pair_lists, pair_lists)
def test_pairwise_metrics_brute_force(predicted, truth):
    out = pairwise_metrics(pairs_frame(predicted), pairs_frame(truth))
    pred_set = {(min(a, b), max(a, b)) for a, b in predicted}
    true_set = {(min(a, b), max(a, b)) for a, b in truth}
    p, r, f = brute_prf(pred_set, true_set)
    assert out["tp"] == len(pred_set & true_set)
    assert out["fp"] == len(pred_set - true_set)
    assert out["fn"] == len(true_set - pred_set)
    assert (out["precision"], out["recall"], out["f1"]) == pytest.approx((p, r, f))


def test_pairwise_metrics_missing_column():
    with pytest.raises(
        SchemaError, match=r"predicted lacks column\(s\) \['_row_r'\]; its columns"
    ):
        pairwise_metrics(pl.DataFrame({"_row_l": [0]}), pairs_frame([]))


# --------------------------------------------------------------------------- #
# blocking_recall
# --------------------------------------------------------------------------- #
@pytest.mark.parametrize(
    ("candidates", "truth", "expected"),
    [
        ([(0, 1), (1, 2), (2, 3)], [(0, 1), (0, 3), (3, 2), (1, 2)], 0.75),
        ([], [(0, 1)], 0.0),
        ([(0, 1)], [], 0.0),
    ],
)
def test_blocking_recall_table(candidates, truth, expected):
    assert blocking_recall(pairs_frame(candidates), pairs_frame(truth)) == expected


@settings(max_examples=100, deadline=None)
@given(pair_lists, pair_lists)
def test_blocking_recall_brute_force(candidates, truth):
    cand = {(min(a, b), max(a, b)) for a, b in candidates}
    true = {(min(a, b), max(a, b)) for a, b in truth}
    expected = len(cand & true) / len(true) if true else 0.0
    got = blocking_recall(pairs_frame(candidates), pairs_frame(truth))
    assert got == pytest.approx(expected)


# --------------------------------------------------------------------------- #
# cluster_metrics
# --------------------------------------------------------------------------- #
def clusters_frame(labels) -> pl.DataFrame:
    return pl.DataFrame(
        {
            schema.ROW: np.arange(len(labels), dtype=np.uint32),
            schema.CLUSTER_ID: [f"c{x}" for x in labels],
        },
        schema_overrides={schema.ROW: pl.UInt32, schema.CLUSTER_ID: pl.String},
    )


def test_cluster_metrics_hand_computed_dedupe():
    # entities: {0,1,2} {3,4} {5}; clusters: {0,1} {2,3,4} {5}
    records = make_records([7, 7, 7, 8, 8, 9])
    clusters = clusters_frame([0, 0, 1, 1, 1, 2])
    out = cluster_metrics(clusters, records, entity_column="entity", link_type="dedupe")
    # predicted pairs 1 + 3 = 4, true pairs 3 + 1 = 4, TP 1 + 1 = 2
    # B-cubed P: (1 + 1 + 1/3 + 2/3 + 2/3 + 1) / 6 = 14/18
    # B-cubed R: (2/3 + 2/3 + 1/3 + 1 + 1 + 1) / 6 = 14/18
    assert out == pytest.approx(
        {
            "cluster_precision": 0.5,
            "cluster_recall": 0.5,
            "cluster_f1": 0.5,
            "bcubed_precision": 14 / 18,
            "bcubed_recall": 14 / 18,
            "bcubed_f1": 14 / 18,
            "n_clusters": 3,
            "largest_cluster": 3,
        }
    )


def test_cluster_metrics_hand_computed_link():
    # one entity, all in one cluster: sources a, a, b -> 2 cross-source pairs
    # of 3; entity 2 (null at row 3) singleton.
    records = make_records([1, 1, 1, None], sources=["a", "a", "b", "b"])
    clusters = clusters_frame([0, 0, 0, 0])
    out = cluster_metrics(clusters, records, entity_column="entity", link_type="link")
    # predicted cross-source pairs: (16 - (4 + 4)) / 2 = 4; true: 2; TP 2
    assert out["cluster_precision"] == pytest.approx(0.5)
    assert out["cluster_recall"] == pytest.approx(1.0)
    assert out["cluster_f1"] == pytest.approx(2 / 3)
    assert out["bcubed_precision"] == pytest.approx((3 / 4 * 3 + 1 / 4) / 4)
    assert out["bcubed_recall"] == pytest.approx(1.0)
    assert out["n_clusters"] == 1
    assert out["largest_cluster"] == 4


def test_cluster_metrics_from_ids_and_missing_records_are_singletons():
    records = make_records([1, 1, 2], ids=["x", "y", "z"])
    clusters = pl.DataFrame(
        {
            schema.SOURCE: ["a", "a"],
            schema.RECORD_ID: ["y", "x"],
            schema.CLUSTER_ID: ["k", "k"],
        }
    )
    out = cluster_metrics(clusters, records, entity_column="entity", link_type="dedupe")
    assert out["cluster_precision"] == 1.0
    assert out["cluster_recall"] == 1.0
    assert out["bcubed_f1"] == 1.0
    assert out["n_clusters"] == 2
    assert out["largest_cluster"] == 2


def test_cluster_metrics_empty():
    out = cluster_metrics(
        clusters_frame([]), make_records([]), entity_column="entity", link_type="dedupe"
    )
    assert out == {
        "cluster_precision": 0.0,
        "cluster_recall": 0.0,
        "cluster_f1": 0.0,
        "bcubed_precision": 0.0,
        "bcubed_recall": 0.0,
        "bcubed_f1": 0.0,
        "n_clusters": 0,
        "largest_cluster": 0,
    }


def test_cluster_metrics_errors():
    records = make_records([1, 1])
    with pytest.raises(
        SchemaError,
        match=r"clusters must list each record once \(by \['_row'\]\); "
        r"2 row\(s\) repeat",
    ):
        cluster_metrics(
            clusters_frame([0, 0]).vstack(clusters_frame([0, 0])),
            records,
            entity_column="entity",
            link_type="dedupe",
        )
    with pytest.raises(
        SchemaError, match=r"clusters lacks column\(s\) \['cluster_id'\]"
    ):
        cluster_metrics(
            clusters_frame([0, 0]).drop(schema.CLUSTER_ID),
            records,
            entity_column="entity",
            link_type="dedupe",
        )
    with pytest.raises(SchemaError, match=r"records lacks column\(s\) \['truth'\]"):
        cluster_metrics(
            clusters_frame([0, 0]), records, entity_column="truth", link_type="dedupe"
        )


@settings(max_examples=150, deadline=None)
@given(labelled_records(), st.sampled_from(LINK_TYPES))
def test_cluster_metrics_pairwise_brute_force(data, link_type):
    entities, labels, sources = data
    records = make_records(entities, sources)
    out = cluster_metrics(
        clusters_frame(labels), records, entity_column="entity", link_type=link_type
    )
    predicted = brute_cluster_pairs(labels, sources, link_type)
    truth = brute_true_pairs(entities, sources, link_type)
    p, r, f = brute_prf(predicted, truth)
    assert (out["cluster_precision"], out["cluster_recall"], out["cluster_f1"]) == (
        pytest.approx((p, r, f))
    )
    # The same numbers as listing the pairs and scoring them.
    listed = pairwise_metrics(
        pairs_frame(sorted(predicted)),
        true_pairs_from_entities(records, entity_column="entity", link_type=link_type),
    )
    assert out["cluster_precision"] == pytest.approx(listed["precision"])
    assert out["cluster_recall"] == pytest.approx(listed["recall"])
    assert out["n_clusters"] == len(set(labels))
    assert out["largest_cluster"] == max(
        (labels.count(x) for x in set(labels)), default=0
    )


@settings(max_examples=150, deadline=None)
@given(labelled_records(), st.sampled_from(LINK_TYPES))
def test_cluster_metrics_bcubed_brute_force(data, link_type):
    entities, labels, sources = data
    n = len(entities)
    # A null entity is an entity of its own.
    ent = [e if e is not None else ("null", i) for i, e in enumerate(entities)]
    precisions, recalls = [], []
    for i in range(n):
        same_cluster = {j for j in range(n) if labels[j] == labels[i]}
        same_entity = {j for j in range(n) if ent[j] == ent[i]}
        both = len(same_cluster & same_entity)
        precisions.append(both / len(same_cluster))
        recalls.append(both / len(same_entity))
    p = sum(precisions) / n if n else 0.0
    r = sum(recalls) / n if n else 0.0
    f = 2 * p * r / (p + r) if p + r else 0.0
    out = cluster_metrics(
        clusters_frame(labels),
        make_records(entities, sources),
        entity_column="entity",
        link_type=link_type,
    )
    assert (out["bcubed_precision"], out["bcubed_recall"], out["bcubed_f1"]) == (
        pytest.approx((p, r, f))
    )


# --------------------------------------------------------------------------- #
# precision_recall_curve and best_threshold
# --------------------------------------------------------------------------- #
def test_curve_hand_computed():
    scored = pairs_frame(
        [(0, 1), (1, 2), (2, 3), (3, 4), (4, 5)],
        match_probability=[0.9, 0.8, 0.8, 0.3, float("nan")],
    )
    truth = pairs_frame([(0, 1), (2, 3), (7, 8)])
    curve = precision_recall_curve(scored, truth)
    assert curve.schema == CURVE_SCHEMA
    assert curve["threshold"].to_list() == [0.9, 0.8, 0.3]
    assert curve["precision"].to_list() == pytest.approx([1.0, 2 / 3, 0.5])
    assert curve["recall"].to_list() == pytest.approx([1 / 3, 2 / 3, 2 / 3])
    assert curve["f1"].to_list() == pytest.approx([0.5, 2 / 3, 4 / 7])
    assert 0.3 < best_threshold(curve) <= 0.8  # selects the pairs scored >= 0.8


def test_curve_n_true_and_duplicates_count_once_at_max():
    scored = pairs_frame(
        [(0, 1), (1, 0), (2, 3)],
        match_weight=[-2.0, 5.0, 1.0],
        match_probability=[0.1] * 3,
    )
    truth = pairs_frame([(0, 1)])
    curve = precision_recall_curve(
        scored, truth, score_column=schema.MATCH_WEIGHT, n_true=4
    )
    expected = [(5.0, 1.0, 0.25, 0.4), (1.0, 0.5, 0.25, 1 / 3)]
    assert len(curve.rows()) == len(expected)
    for row, want in zip(curve.rows(), expected, strict=True):
        assert list(row) == pytest.approx(list(want))


@pytest.mark.parametrize(
    "rows",
    [
        [(0, 1), (0, 1), (2, 3)],  # ordered pairs, one listed twice
        [(0, 1), (1, 0), (2, 3)],  # the same pair both ways round
        [(1, 0), (0, 1), (3, 2)],
    ],
)
def test_curve_counts_a_repeated_pair_once_however_it_is_oriented(rows):
    scored = pairs_frame(rows, match_probability=[0.2, 0.9, 0.5])
    once = pairs_frame([(0, 1), (2, 3)], match_probability=[0.9, 0.5])
    truth = pairs_frame([(0, 1)])
    assert (
        precision_recall_curve(scored, truth).rows()
        == precision_recall_curve(once, truth).rows()
    )


def test_curve_empty_and_errors():
    empty = pairs_frame([], match_probability=pl.Series([], dtype=pl.Float64))
    curve = precision_recall_curve(empty, pairs_frame([(0, 1)]))
    assert curve.height == 0
    assert curve.schema == CURVE_SCHEMA
    with pytest.raises(EmptyInputError, match=r"The curve has no rows"):
        best_threshold(curve)
    scored = pairs_frame([(0, 1), (1, 2)], match_probability=[0.9, 0.8])
    truth = pairs_frame([(0, 1), (1, 2)])
    with pytest.raises(
        ConfigError,
        match=r"be at least the 2 true pair\(s\) among the scored pairs; got 1",
    ):
        precision_recall_curve(scored, truth, n_true=1)
    with pytest.raises(ConfigError, match=r"n_true must be a non-negative int; got -1"):
        precision_recall_curve(scored, truth, n_true=-1)
    with pytest.raises(SchemaError, match=r"scored lacks column\(s\) \['score'\]"):
        precision_recall_curve(scored, truth, score_column="score")
    with pytest.raises(SchemaError, match=r"curve lacks column\(s\) \['f1'\]"):
        best_threshold(pl.DataFrame({"threshold": [0.5]}))


def test_best_threshold_ties_go_high():
    curve = pl.DataFrame({"threshold": [0.2, 0.9, 0.6], "f1": [0.8, 0.5, 0.8]})
    assert best_threshold(curve) == pytest.approx(0.4)  # midway between 0.6 and 0.2


@settings(max_examples=100, deadline=None)
@given(
    st.lists(
        st.tuples(
            st.integers(0, 10),
            st.integers(0, 10),
            st.sampled_from([0.1, 0.3, 0.5, 0.7, 0.9]),
        ).filter(lambda t: t[0] != t[1]),
        max_size=40,
    ),
    pair_lists,
)
def test_curve_matches_pairwise_metrics_at_each_threshold(scored_rows, truth):
    scored = pairs_frame(
        [(a, b) for a, b, _ in scored_rows],
        match_probability=pl.Series([s for _, _, s in scored_rows], dtype=pl.Float64),
    )
    truth_frame = pairs_frame(truth)
    curve = precision_recall_curve(scored, truth_frame)
    best = {}
    for a, b, s in scored_rows:
        key = (min(a, b), max(a, b))
        best[key] = max(s, best.get(key, 0.0))
    assert curve["threshold"].to_list() == sorted(set(best.values()), reverse=True)
    recall = curve["recall"].to_numpy()
    assert (np.diff(recall) >= 0).all()
    for t, p, r, f in curve.rows():
        kept = [k for k, s in best.items() if s >= t]
        expected = pairwise_metrics(pairs_frame(kept), truth_frame)
        assert (p, r, f) == pytest.approx(
            (expected["precision"], expected["recall"], expected["f1"])
        )
    if curve.height:
        t = best_threshold(curve)
        chosen = curve.filter(pl.col("threshold") >= t)["threshold"].min()
        assert (
            curve.filter(pl.col("threshold") == chosen)["f1"].item()
            == curve["f1"].max()
        )


def test_all_is_exported():
    for name in evaluate.__all__:
        assert hasattr(evaluate, name)


@settings(max_examples=50, deadline=None)
@given(pair_lists, pair_lists, st.integers(1, 5))
def test_blocking_recall_in_slices_equals_at_once(candidates, truth, size):
    whole = blocking_recall(pairs_frame(candidates), pairs_frame(truth))
    with pytest.MonkeyPatch.context() as patch:
        patch.setattr(evaluate, "_SLICE", size)
        sliced = blocking_recall(pairs_frame(candidates), pairs_frame(truth))
    assert sliced == whole


def reference_curve(scored: pl.DataFrame, truth: pl.DataFrame) -> list[tuple]:
    """The curve by a hash group-by over the pairs (the earlier implementation)."""
    key = evaluate.pair_key()
    true = truth.select(key).unique().get_column(schema.PAIR_KEY).implode()
    score = pl.col(schema.MATCH_PROBABILITY).cast(pl.Float64)
    per_score = (
        scored.lazy()
        .filter(pl.col(schema.ROW_L) != pl.col(schema.ROW_R))
        .select(key, score.alias("t"))
        .filter(pl.col("t").is_not_null() & pl.col("t").is_not_nan())
        .group_by(schema.PAIR_KEY)
        .agg(pl.col("t").max())
        .select("t", pl.col(schema.PAIR_KEY).is_in(true).cast(pl.Int64).alias("tp"))
        .group_by("t")
        .agg(pl.len().cast(pl.Int64).alias("n"), pl.col("tp").sum())
        .sort("t", descending=True)
        .with_columns(pl.col("n").cum_sum(), pl.col("tp").cum_sum())
        .collect()
    )
    n_true = truth.select(key).n_unique() if truth.height else 0
    return [
        (t, tp / n, tp / n_true if n_true else 0.0)
        for t, n, tp in per_score.select("t", "n", "tp").rows()
    ]


scored_rows = st.lists(
    st.tuples(
        st.integers(0, 10),
        st.integers(0, 10),
        st.one_of(
            st.none(),
            st.just(float("nan")),
            st.sampled_from([0.0, 0.1, 0.3, 0.5, 0.7, 0.9, 1.0]),
        ),
    ),
    max_size=40,
)


def chunked(frame: pl.DataFrame, size: int) -> pl.DataFrame:
    """The frame in chunks of ``size`` rows, as frames built slice by slice are."""
    if frame.height == 0:
        return frame
    parts = [frame.slice(i, size) for i in range(0, frame.height, size)]
    return pl.concat(parts, rechunk=False)


@settings(max_examples=100, deadline=None)
@given(scored_rows, pair_lists, st.integers(1, 7), st.integers(1, 7))
def test_curve_equals_a_hash_group_by(rows, truth, chunk, lookup):
    """Self-pairs, nulls, NaN, repeats, both orientations, chunked frames, small slices."""
    scored = chunked(
        pairs_frame(
            [(a, b) for a, b, _ in rows],
            match_probability=pl.Series([s for _, _, s in rows], dtype=pl.Float64),
        ),
        chunk,
    )
    truth_frame = pairs_frame(truth)
    with pytest.MonkeyPatch.context() as patch:
        patch.setattr(evaluate, "_LOOKUP_SLICE", lookup)
        curve = precision_recall_curve(scored, truth_frame)
    got = curve.select("threshold", "precision", "recall").rows()
    assert got == reference_curve(scored, truth_frame)


@settings(max_examples=50, deadline=None)
@given(pair_lists, pair_lists, st.integers(1, 7), st.integers(1, 7))
def test_pair_measures_in_small_slices_and_chunks(predicted, truth, chunk, lookup):
    """pairwise_metrics and blocking_recall read chunked Int64 frames a slice at a time."""
    pred = chunked(pairs_frame(predicted).cast(pl.Int64), chunk)
    true = chunked(pairs_frame(truth), chunk)
    want = brute_prf(as_set(pred), as_set(true))
    found = len(as_set(pred) & as_set(true))
    with pytest.MonkeyPatch.context() as patch:
        patch.setattr(evaluate, "_LOOKUP_SLICE", lookup)
        patch.setattr(evaluate, "_SLICE", lookup)
        metrics = pairwise_metrics(pred, true)
        recall = blocking_recall(pred, true)
    assert (metrics["precision"], metrics["recall"], metrics["f1"]) == pytest.approx(
        want
    )
    assert metrics["tp"] == found
    assert recall == (found / len(as_set(true)) if truth else 0.0)


def test_curve_with_every_pair_repeated_keeps_the_highest_score():
    scored = pairs_frame(
        [(0, 1), (1, 0), (0, 1), (2, 3), (3, 2)],
        match_probability=[0.2, 0.9, None, 0.4, 0.4],
    )
    truth = pairs_frame([(2, 3)])
    curve = precision_recall_curve(scored, truth)
    assert curve.select("threshold", "precision", "recall").rows() == [
        (0.9, 0.0, 0.0),
        (0.4, 0.5, 1.0),
    ]
