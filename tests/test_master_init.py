"""A master store's first batch: the pipeline's fast path gives what the general path gives."""

from __future__ import annotations

import dataclasses
import json
from pathlib import Path
from typing import Any

import numpy as np
import polars as pl
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from er_toolkit import schema
from er_toolkit.cluster import cluster_labels, connected_components
from er_toolkit.master import MasterStore, incremental
from er_toolkit.master import store as store_module
from er_toolkit.master.tables import encode_golden
from er_toolkit.steward.audit import membership_events
from tests.master_fixtures import (
    customers,  # noqa: F401  (fixture)
    model_path,  # noqa: F401  (fixture)
)


def _edge_rows(edges: pl.DataFrame) -> list[tuple[Any, ...]]:
    return edges.sort(schema.ROW_L, schema.ROW_R).rows()


def test_a_first_batch_scores_the_pairs_the_general_path_scores(
    customers: pl.DataFrame,  # noqa: F811
    model_path: Path,  # noqa: F811
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    seen: list[tuple[Any, Any]] = []
    passed: list[Any] = []
    original = store_module.plan_change

    def capture(ctx: Any, change: Any) -> Any:
        # a copy: write_plan drops the change's frames once they are written
        seen.append((ctx, dataclasses.replace(change)))
        passed.append(change)
        return original(ctx, change)

    monkeypatch.setattr(store_module, "plan_change", capture)
    with MasterStore.init(tmp_path / "m.duckdb", model_path) as store:
        store.apply(customers)
    ctx, change = seen[0]
    assert not ctx.stored
    # written, then dropped: polars' copy is not held while DuckDB writes
    assert passed[0].incoming is None and passed[0].incoming_raw is None
    keys = incremental.block_keys(ctx.blockers, change.incoming)
    fast = incremental._new_edges(ctx, change, keys)
    monkeypatch.setattr(incremental, "_increasing", lambda rows: False)
    general = incremental._new_edges(ctx, change, keys)
    assert fast.height > 100
    assert fast.schema == general.schema
    assert _edge_rows(fast) == _edge_rows(general)
    # oriented by store row, as the pairs table holds them
    assert (fast.get_column(schema.ROW_L) < fast.get_column(schema.ROW_R)).all()


@settings(max_examples=60, deadline=None)
@given(st.lists(st.integers(0, 6), min_size=1, max_size=30), st.randoms())
def test_events_of_a_first_batch_are_one_create_per_cluster(
    labels: list[int], rnd: Any
) -> None:
    rows = list(range(100, 100 + len(labels)))
    rnd.shuffle(rows)
    after = pl.DataFrame(
        {schema.ROW: rows, schema.CLUSTER_ID: [f"s:{v}" for v in labels]}
    )
    before = pl.DataFrame(schema={schema.ROW: pl.Int64, schema.CLUSTER_ID: pl.String})
    events = membership_events(before, after)
    members: dict[str, list[int]] = {}
    for row, label in zip(rows, labels, strict=True):
        members.setdefault(f"s:{label}", []).append(row)
    expected = [("create", [], [cid], sorted(members[cid])) for cid in sorted(members)]
    assert events.rows() == expected
    # a record that was stored before goes the general way and still reports it
    moved = membership_events(after.head(1), after)
    assert moved.height == len(members) - 1 + (
        1 if len(members[after.item(0, schema.CLUSTER_ID)]) > 1 else 0
    )


@settings(max_examples=60, deadline=None)
@given(
    st.integers(2, 25),
    st.lists(
        st.tuples(st.integers(0, 24), st.integers(0, 24), st.floats(0.0, 1.0)),
        max_size=60,
    ),
    st.booleans(),
    st.sampled_from([None, 2, 4]),
)
def test_cluster_labels_are_the_partition_of_connected_components(
    n: int,
    edges: list[tuple[int, int, float]],
    prune: bool,
    max_size: int | None,
) -> None:
    kept = [(a, b, p) for a, b, p in edges if a < n and b < n and a != b]
    pairs = pl.DataFrame(
        {
            schema.ROW_L: [a for a, _, _ in kept],
            schema.ROW_R: [b for _, b, _ in kept],
            schema.MATCH_PROBABILITY: [p for _, _, p in kept],
        },
        schema={
            schema.ROW_L: pl.Int64,
            schema.ROW_R: pl.Int64,
            schema.MATCH_PROBABILITY: pl.Float64,
        },
    )
    records = pl.DataFrame(
        {schema.ROW: range(n), schema.RECORD_ID: range(n), schema.SOURCE: "s"},
        schema_overrides={schema.ROW: pl.UInt32},
    )
    options: dict[str, Any] = {
        "threshold": 0.5,
        "prune_weak_links": prune,
        "max_cluster_size": max_size,
    }
    ids = connected_components(records, pairs, **options).get_column(schema.CLUSTER_ID)
    labels = cluster_labels(n, pairs, **options)
    assert labels.shape == (n,)
    same_id = ids.to_numpy()[:, None] == ids.to_numpy()[None, :]
    same_label = labels[:, None] == labels[None, :]
    assert np.array_equal(same_id, same_label)


def test_golden_records_built_in_slices_are_stored_as_one_build_stores_them(
    customers: pl.DataFrame,  # noqa: F811
    model_path: Path,  # noqa: F811
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    def stored(path: Path) -> tuple[list[tuple[Any, ...]], str, pl.Schema]:
        with MasterStore.init(path, model_path) as store:
            store.apply(customers)
            golden = store._db.frame("SELECT * FROM golden ORDER BY cluster_id")
            return golden.rows(), store._db.meta()["golden_rules"], golden.schema

    whole = stored(tmp_path / "whole.duckdb")
    # slices of about 150 records: a first batch built a few clusters at a time
    monkeypatch.setattr(incremental, "GOLDEN_SLICE", 150)
    sliced = stored(tmp_path / "sliced.duckdb")
    assert len(whole[0]) > 500
    assert sliced == whole
    # the rule codes index every rule that chose a value, in sorted order
    rules = json.loads(whole[1])
    assert rules == sorted(rules) and len(rules) >= 2


def test_encode_golden_reads_categorical_rules_as_text_rules() -> None:
    golden = pl.DataFrame(
        {
            schema.CLUSTER_ID: ["c1", "c2", "c3"],
            "name": ["ann", None, "bo"],
            "name__row": [4, None, 7],
            "name__rule": ["unanimous", None, "most_frequent"],
        }
    )
    text = encode_golden(golden, ["tie_break"])
    categorical = encode_golden(
        golden.with_columns(pl.col("name__rule").cast(pl.Categorical)), ["tie_break"]
    )
    assert text[1] == categorical[1] == ["tie_break", "most_frequent", "unanimous"]
    assert text[0].equals(categorical[0])
    assert text[0].get_column("name__rule").to_list() == [2, None, 1]
