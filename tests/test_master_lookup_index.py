"""Lookups read an in-memory index: it must follow the store through every write."""

from __future__ import annotations

from pathlib import Path

import polars as pl
import pytest
from polars.testing import assert_frame_equal

from er_toolkit.master import MasterStore
from er_toolkit.master.lookup import LookupIndex, lookup
from tests.master_fixtures import (
    customers,  # noqa: F401  (fixture)
    linker,  # noqa: F401  (fixture)
    model_path,  # noqa: F401  (fixture)
)


def _fresh(store: MasterStore, probe: dict[str, object]) -> pl.DataFrame:
    """The lookup from an index loaded now from the store's current state."""
    index = LookupIndex.load(store._db, store.linker, store._blockers)
    return lookup(
        index,
        store.linker,
        store.frequencies,
        store._blockers,
        probe,
        top=None,
        id_dtype=store._meta.get("record_id_dtype") or "String",
    )


def _same_as_fresh(store: MasterStore, probe: dict[str, object]) -> pl.DataFrame:
    held = store.lookup(probe, top=None)
    assert_frame_equal(held, _fresh(store, probe))
    return held


def _cluster_size(store: MasterStore, cluster_id: str) -> int:
    return store.clusters().filter(pl.col("cluster_id") == cluster_id).height


def test_lookup_follows_apply_decide_undo_and_erase(
    customers: pl.DataFrame,  # noqa: F811
    model_path: Path,  # noqa: F811
    tmp_path: Path,
) -> None:
    # a customer with several records: all but one stored, that one probed
    counts = customers.group_by("email").len().filter(pl.col("len") >= 3)
    email = counts.sort("email").get_column("email").drop_nulls()[0]
    person = customers.filter(pl.col("email") == email)
    probe_row = person.row(0, named=True)
    probe = {k: v for k, v in probe_row.items() if k != "record_id"}
    rest = customers.join(
        person.head(1).select("source", "record_id"),
        on=["source", "record_id"],
        how="anti",
    )
    path = tmp_path / "master.duckdb"
    with MasterStore.init(path, model_path, term_frequencies=customers) as store:
        store.apply(rest)
        before = _same_as_fresh(store, probe)
        assert before.get_column("is_match").any()
        index = store._index
        # apply: the probed record itself arrives, and becomes the best member
        store.apply(person.head(1))
        assert store._index is None or store._index is not index
        after_apply = _same_as_fresh(store, probe)
        best = after_apply.row(0, named=True)
        assert (best["source"], str(best["record_id"])) == (
            probe_row["source"],
            str(probe_row["record_id"]),
        )
        assert (
            best["match_probability"] > before.row(0, named=True)["match_probability"]
        )
        # decide: the record becomes its own entity, so its cluster changes
        ref = (probe_row["source"], probe_row["record_id"])
        decision = store.decide("own_entity", ref, actor="test", reason="check")
        after_decide = _same_as_fresh(store, probe)
        own = after_decide.filter(
            (pl.col("source") == ref[0])
            & (pl.col("record_id").cast(pl.String) == str(ref[1]))
        )
        assert own.height == 1
        others = after_decide.filter(pl.col("cluster_id") != own["cluster_id"][0])
        assert others.height > 0  # the rest of the customer, in another cluster
        assert _cluster_size(store, own["cluster_id"][0]) == 1
        # undo
        store.undo(decision, actor="test", reason="undo")
        _same_as_fresh(store, probe)
        # erase: the record is gone from every answer
        store.erase([ref], actor="test", reason="gdpr")
        after_erase = _same_as_fresh(store, probe)
        gone = after_erase.filter(
            (pl.col("source") == ref[0])
            & (pl.col("record_id").cast(pl.String) == str(ref[1]))
        )
        assert gone.height == 0
        assert after_erase.height > 0


def test_lookups_snapshot_stays_while_the_store_moves_on(
    customers: pl.DataFrame,  # noqa: F811
    model_path: Path,  # noqa: F811
    tmp_path: Path,
) -> None:
    """A detached Lookups keeps its snapshot; the store's own lookup sees the write."""
    first, second = customers.head(1200), customers.slice(1200)
    probe = second.row(0, named=True)
    probe.pop("record_id")
    path = tmp_path / "master.duckdb"
    with MasterStore.init(path, model_path, term_frequencies=customers) as store:
        store.apply(first)
        snapshot = store.lookups()
        old = snapshot.lookup(probe, top=None)
        store.apply(second)
        assert_frame_equal(snapshot.lookup(probe, top=None), old)
        new = _same_as_fresh(store, probe)
    assert new.height >= old.height
    assert new.get_column("match_probability").max() >= (
        old.get_column("match_probability").max() or 0.0
    )


@pytest.mark.parametrize("top", [None, 1, 3])
def test_few_path_ranking_equals_the_batch_path(
    customers: pl.DataFrame,  # noqa: F811
    model_path: Path,  # noqa: F811
    tmp_path: Path,
    top: int | None,
) -> None:
    """The numpy ranking of the few-record path is the batch path's query."""
    path = tmp_path / "master.duckdb"
    with MasterStore.init(path, model_path, term_frequencies=customers) as store:
        store.apply(customers.slice(40))
        store.prepare_lookups()
        args = (store._index, store.linker, store.frequencies, store._blockers)
        probes = customers.head(40).drop("record_id").to_dicts()
        for cut in (0.0, 0.3, 0.95):
            few = lookup(*args, probes[:16], top=top, min_probability=cut, path="few")
            many = lookup(*args, probes[:16], top=top, min_probability=cut, path="many")
            assert_frame_equal(few, many)
        assert few.height > 0


def test_stored_values_stand_in_for_the_standardisers(
    customers: pl.DataFrame,  # noqa: F811
    model_path: Path,  # noqa: F811
    tmp_path: Path,
) -> None:
    """The index reads stored records' standardised values by raw value; erased ones go."""
    from er_toolkit.standardise import apply_standardisers

    path = tmp_path / "master.duckdb"
    with MasterStore.init(path, model_path, term_frequencies=customers) as store:
        store.apply(customers)
        store.prepare_lookups()
        memo = store._index.memo
        steps = store.linker.config.standardise
        assert memo is not None and set(memo.stored) == set(steps)
        sample = customers.sample(50, seed=1)
        expected, _ = apply_standardisers(sample, steps)
        for column, known in memo.stored.items():
            names = list(known.outputs.columns)
            for raw, row in zip(
                sample.get_column(column).to_list(),
                expected.select(names).rows(),
                strict=True,
            ):
                if raw is not None:
                    assert known.get(raw) == row
            assert known.get("\x00 never stored \x00") is None
        # the memo's answer for a whole stored record is the standardisers'
        assert_frame_equal(
            memo.standardise(sample.head(3)),
            apply_standardisers(sample.head(3), steps)[0],
        )
        # erased values leave the index with the record
        person = customers.filter(
            pl.col("email").is_not_null() & pl.col("email").is_unique()
        ).row(0, named=True)
        assert memo.stored["email"].get(person["email"]) is not None
        store.erase(
            [(person["source"], person["record_id"])], actor="test", reason="gdpr"
        )
        store.prepare_lookups()
        assert store._index.memo.stored["email"].get(person["email"]) is None
