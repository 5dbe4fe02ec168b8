"""Steward decisions in the master store; the resolution and id rules they rest on."""

from __future__ import annotations

from pathlib import Path

import networkx as nx
import numpy as np
import polars as pl
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from er_toolkit.cluster import ClusteringConfig, connected_components
from er_toolkit.exceptions import ConfigError, StoreError
from er_toolkit.master import MasterStore
from er_toolkit.master.ids import assign_ids, format_cluster_id
from er_toolkit.master.resolve import resolve
from er_toolkit.steward import Decision, membership_events
from tests.master_fixtures import (
    customers,  # noqa: F401  (fixture)
    customers_config,
    linker,  # noqa: F401  (fixture)
    model_path,  # noqa: F401  (fixture)
    train,
)


@pytest.fixture(scope="module")
def filled(
    customers: pl.DataFrame,  # noqa: F811
    model_path: Path,  # noqa: F811
    tmp_path_factory: pytest.TempPathFactory,
) -> Path:
    path = tmp_path_factory.mktemp("steward") / "master.duckdb"
    with MasterStore.init(path, model_path) as store:
        store.apply(customers)
    return path


@pytest.fixture
def store(filled: Path, tmp_path: Path):  # type: ignore[no-untyped-def]
    target = tmp_path / "store.duckdb"
    target.write_bytes(filled.read_bytes())
    with MasterStore.open(target) as opened:
        yield opened


def _linked_pair(store: MasterStore) -> tuple[tuple[str, str], tuple[str, str], str]:
    """Two records the model links directly, in a cluster of three or more."""
    pair = store._db.frame(
        "SELECT a.source AS sa, a.record_id AS ia, b.source AS sb, b.record_id AS ib, "
        "m.cluster_id FROM pairs p JOIN records a ON a._row = p._row_l "
        "JOIN records b ON b._row = p._row_r JOIN membership m ON m._row = p._row_l "
        "JOIN clusters c ON c.cluster_id = m.cluster_id WHERE c.cluster_size >= 3 "
        "ORDER BY p.match_probability DESC, p._row_l LIMIT 1"
    ).row(0)
    return (pair[0], pair[1]), (pair[2], pair[3]), pair[4]


def _cluster_of(store: MasterStore, ref: tuple[str, str]) -> str:
    clusters = store.clusters()
    return str(
        clusters.filter(
            (pl.col("source") == ref[0])
            & (pl.col("record_id").cast(pl.String) == ref[1])
        )
        .get_column("cluster_id")
        .item()
    )


def test_cannot_link_splits_and_survives_retraining(
    store: MasterStore,
    customers: pl.DataFrame,  # noqa: F811
) -> None:
    a, b, cluster = _linked_pair(store)
    did = store.decide(
        "cannot_link", a, b, actor="ann", reason="twins, checked by phone"
    )
    assert _cluster_of(store, a) != _cluster_of(store, b)
    history = store.history(cluster)
    kinds = history.get_column("kind").to_list()
    assert "decide" in kinds and ("split" in kinds or "regroup" in kinds)
    event = history.filter(pl.col("kind") == "decide").row(0, named=True)
    assert (event["actor"], event["reason"], event["decision_id"]) == (
        "ann",
        "twins, checked by phone",
        did,
    )
    assert event["clusters_before"] == [cluster]
    assert sorted(event["clusters_after"]) == sorted(
        {_cluster_of(store, a), _cluster_of(store, b)}
    )
    # a new model version: every record re-scored, the decision stays
    retrained = train(customers, customers_config(seed=7, u_sample_size=50_000))
    summary = store.set_model(retrained, actor="ml-team", reason="monthly retrain")
    assert store.model_version == 2
    assert summary.records == customers.height
    assert _cluster_of(store, a) != _cluster_of(store, b)
    assert store.decisions(active_only=True).get_column("decision_id").to_list() == [
        did
    ]
    assert "model" in store.audit().get_column("kind").to_list()
    # and after reopening
    path = store.path
    store.close()
    with MasterStore.open(path) as again:
        assert _cluster_of(again, a) != _cluster_of(again, b)
        assert again.model_version == 2


def test_undo_gives_the_model_its_say_again(store: MasterStore) -> None:
    a, b, cluster = _linked_pair(store)
    before = store.clusters()
    did = store.decide("cannot_link", a, b, actor="ann", reason="r")
    summary = store.undo(did, actor="bob", reason="they are one person after all")
    assert summary.merges >= 1 or summary.clusters_touched >= 1
    assert store.clusters().equals(before)  # the same clusters, the same ids
    events = store.history(cluster)
    undo = events.filter(pl.col("kind") == "undo").row(0, named=True)
    assert (undo["actor"], undo["decision_id"]) == ("bob", did)
    row = store.decisions().row(0, named=True)
    assert not row["active"] and row["undone_by"] == "bob"
    with pytest.raises(StoreError, match="No standing decision"):
        store.undo(did, actor="bob", reason="again")


def test_must_link_merges_and_keeps_the_older_id(store: MasterStore) -> None:
    clusters = store.clusters()
    singles = clusters.filter(pl.col("cluster_size") == 1)
    x, y = singles.row(0, named=True), singles.row(1, named=True)
    older = min(x["cluster_id"], y["cluster_id"])
    store.decide(
        "must_link",
        (x["source"], x["record_id"]),
        (y["source"], y["record_id"]),
        actor="ann",
        reason="same customer, two accounts",
    )
    assert _cluster_of(store, (x["source"], x["record_id"])) == older
    assert _cluster_of(store, (y["source"], y["record_id"])) == older
    merge = store.audit().filter(pl.col("kind") == "merge").row(-1, named=True)
    assert merge["clusters_after"] == [older]
    assert merge["actor"] == "ann"
    # the same decision again changes nothing
    count = store.audit().height
    again = store.decide(
        "must_link",
        (y["source"], y["record_id"]),
        (x["source"], x["record_id"]),
        actor="ann",
        reason="again",
    )
    assert again == 1 and store.audit().height == count
    with pytest.raises(StoreError, match="contradicts standing"):
        store.decide(
            "cannot_link",
            (x["source"], x["record_id"]),
            (y["source"], y["record_id"]),
            actor="bob",
            reason="no",
        )


def test_own_entity_isolates_a_record(store: MasterStore) -> None:
    a, _, cluster = _linked_pair(store)
    size = store.clusters().filter(pl.col("cluster_id") == cluster).height
    store.decide("own_entity", a, actor="ann", reason="shared office address")
    mine = _cluster_of(store, a)
    clusters = store.clusters()
    assert clusters.filter(pl.col("cluster_id") == mine).height == 1
    # the rest keep the id (the larger part)
    assert clusters.filter(pl.col("cluster_id") == cluster).height == size - 1


def test_decisions_need_known_records_actor_and_reason(store: MasterStore) -> None:
    a, b, _ = _linked_pair(store)
    with pytest.raises(StoreError, match="not in the store"):
        store.decide("must_link", a, ("crm", "no-such"), actor="ann", reason="r")
    with pytest.raises(ConfigError, match="'reason'"):
        store.decide("must_link", a, b, actor="ann", reason=" ")
    with pytest.raises(ConfigError, match="kind must be one of"):
        store.decide("maybe_link", a, b, actor="ann", reason="r")  # type: ignore[arg-type]
    with pytest.raises(ConfigError, match="two different records"):
        Decision("cannot_link", (a, a), actor="ann", reason="r")


# ------------------------------------------------ resolution and id rules
edges_strategy = st.lists(
    st.tuples(
        st.integers(0, 14), st.integers(0, 14), st.floats(0.0, 1.0, allow_nan=False)
    ),
    max_size=40,
)


def _edges(raw: list[tuple[int, int, float]]) -> pl.DataFrame:
    kept = [(a, b, p) for a, b, p in raw if a != b]
    return pl.DataFrame(
        {
            "_row_l": [min(a, b) for a, b, _ in kept],
            "_row_r": [max(a, b) for a, b, _ in kept],
            "match_probability": [p for *_, p in kept],
        },
        schema={
            "_row_l": pl.Int64,
            "_row_r": pl.Int64,
            "match_probability": pl.Float64,
        },
    ).unique(["_row_l", "_row_r"], keep="first", maintain_order=True)


def _groups(labels: np.ndarray) -> set[frozenset[int]]:
    out: dict[object, set[int]] = {}
    for i, label in enumerate(labels.tolist()):
        out.setdefault(label, set()).add(i)
    return {frozenset(g) for g in out.values()}


@settings(max_examples=60, deadline=None)
@given(raw=edges_strategy, prune=st.booleans())
def test_resolve_without_decisions_is_the_batch_algorithm(
    raw: list[tuple[int, int, float]], prune: bool
) -> None:
    edges = _edges(raw)
    config = ClusteringConfig(prune_weak_links=prune, max_cluster_size=5)
    out = resolve(np.arange(15), edges, threshold=0.5, clustering=config)
    records = pl.DataFrame(
        {
            "_row": np.arange(15, dtype=np.uint32),
            "record_id": np.arange(15),
            "source": "s",
        }
    )
    batch = connected_components(
        records,
        edges,
        threshold=0.5,
        prune_weak_links=prune,
        max_cluster_size=5,
    )
    assert _groups(out.get_column("__label").to_numpy()) == _groups(
        batch.get_column("cluster_id").to_numpy()
    )
    # raw components are the components of the links at the threshold
    graph = nx.Graph()
    graph.add_nodes_from(range(15))
    strong = edges.filter(pl.col("match_probability") >= 0.5)
    graph.add_edges_from(strong.select("_row_l", "_row_r").rows())
    assert _groups(out.get_column("component").to_numpy()) == {
        frozenset(c) for c in nx.connected_components(graph)
    }


@settings(max_examples=60, deadline=None)
@given(
    raw=edges_strategy,
    apart=st.lists(st.tuples(st.integers(0, 14), st.integers(0, 14)), max_size=4),
    together=st.lists(st.tuples(st.integers(0, 14), st.integers(0, 14)), max_size=3),
    alone=st.lists(st.integers(0, 14), max_size=2),
)
def test_decisions_override_the_model(
    raw: list[tuple[int, int, float]],
    apart: list[tuple[int, int]],
    together: list[tuple[int, int]],
    alone: list[int],
) -> None:
    apart = [(a, b) for a, b in apart if a != b]
    together = [
        (a, b) for a, b in together if a != b and a not in alone and b not in alone
    ]

    def pairs(items: list[tuple[int, int]]) -> pl.DataFrame:
        return pl.DataFrame(
            {"_row_l": [a for a, _ in items], "_row_r": [b for _, b in items]},
            schema={"_row_l": pl.Int64, "_row_r": pl.Int64},
        )

    out = resolve(
        np.arange(15),
        _edges(raw),
        threshold=0.5,
        clustering=ClusteringConfig(),
        must_link=pairs(together),
        cannot_link=pairs(apart),
        own_entity=np.array(alone, dtype=np.int64),
    )
    label = dict(zip(out.get_column("_row"), out.get_column("__label"), strict=True))
    assert all(label[a] != label[b] for a, b in apart)  # cannot-links always win
    for row in alone:
        assert sum(1 for v in label.values() if v == label[row]) == 1
    # must-links hold unless a cannot-link forbids their group
    graph = nx.Graph()
    graph.add_edges_from(together)
    for group in nx.connected_components(graph):
        if not any(a in group and b in group for a, b in apart):
            assert len({label[r] for r in group}) == 1
    # each cluster is connected by links and must-links
    links = nx.Graph()
    links.add_nodes_from(range(15))
    strong = _edges(raw).filter(pl.col("match_probability") >= 0.5)
    links.add_edges_from(strong.select("_row_l", "_row_r").rows())
    links.add_edges_from(together)
    for group in _groups(np.array([label[i] for i in range(15)])):
        assert nx.is_connected(links.subgraph(group))


@settings(max_examples=80, deadline=None)
@given(
    old=st.lists(st.integers(0, 5), min_size=1, max_size=12),
    new=st.lists(st.integers(0, 5), min_size=1, max_size=12),
)
def test_ids_follow_the_rules(old: list[int], new: list[int]) -> None:
    n = min(len(old), len(new))
    old, new = old[:n], new[:n]
    before = pl.DataFrame(
        {
            "_row": range(n),
            "cluster_id": [format_cluster_id(c + 1) for c in old],
            "seq": [c + 1 for c in old],
        }
    )
    labels = pl.DataFrame({"_row": range(n), "__label": new})
    members, created, next_seq = assign_ids(labels, before, next_seq=100)
    ids = dict(
        zip(members.get_column("_row"), members.get_column("cluster_id"), strict=True)
    )
    # one id per new cluster, ids never shared
    by_label: dict[int, set[str]] = {}
    for row, label in enumerate(new):
        by_label.setdefault(label, set()).add(ids[row])
    assert all(len(v) == 1 for v in by_label.values())
    assert len({next(iter(v)) for v in by_label.values()}) == len(by_label)
    # a cluster whose members did not change keeps its id
    old_groups: dict[int, set[int]] = {}
    for row, c in enumerate(old):
        old_groups.setdefault(c, set()).add(row)
    new_groups: dict[int, set[int]] = {}
    for row, label in enumerate(new):
        new_groups.setdefault(label, set()).add(row)
    for c, rows in old_groups.items():
        if rows in new_groups.values():
            assert {ids[r] for r in rows} == {format_cluster_id(c + 1)}
    # a new cluster holding all of several old clusters keeps the oldest id
    for rows in new_groups.values():
        whole = [c for c, g in old_groups.items() if g <= rows]
        if len(whole) > 1 and all(g <= rows for c, g in old_groups.items() if g & rows):
            assert ids[next(iter(rows))] == format_cluster_id(min(whole) + 1)
    assert next_seq == 100 + created.height
    assert all(s >= 100 for s in created.get_column("seq"))


def test_membership_events_name_each_kind() -> None:
    before = pl.DataFrame(
        {
            "_row": [0, 1, 2, 3, 4, 5, 6],
            "cluster_id": ["a", "a", "b", "c", "c", "d", "e"],
        }
    )
    after = pl.DataFrame(
        {
            "_row": [0, 1, 2, 3, 4, 5, 7],
            "cluster_id": ["a", "a", "a", "c", "f", "d", "g"],
        }
    )
    events = membership_events(before, after, changed_rows=np.array([5]))
    kinds = {
        (tuple(r["clusters_before"]), tuple(r["clusters_after"])): r["kind"]
        for r in events.iter_rows(named=True)
    }
    assert kinds == {
        (("a", "b"), ("a",)): "merge",
        (("c",), ("c", "f")): "split",
        (("d",), ("d",)): "update",
        (("e",), ()): "remove",
        ((), ("g",)): "create",
    }
