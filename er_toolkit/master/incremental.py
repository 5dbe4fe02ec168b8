"""Incremental resolution: pair a change with the store, re-resolve the components it touches, write it in one transaction."""

from __future__ import annotations

import contextlib
import json
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import Any, Final

import numpy as np
import polars as pl

from er_toolkit import schema
from er_toolkit.blocking import KeyBlocker
from er_toolkit.master.db import Database
from er_toolkit.master.ids import SEQ, assign_ids
from er_toolkit.master.resolve import COMPONENT, resolve
from er_toolkit.master.scoring import TermFrequencies, score_pairs
from er_toolkit.master.tables import (
    GOLDEN_RULES,
    KEY_HASH,
    encode_golden,
    golden_rule_names,
    key_hash,
)
from er_toolkit.steward.audit import (
    CLUSTERS_AFTER,
    CLUSTERS_BEFORE,
    EVENT_ROWS,
    membership_events,
)

__all__ = ["BATCH_FIRST", "BATCH_LAST", "Change", "Plan", "plan_change", "write_plan"]

BATCH_FIRST: Final = "_batch_first"
BULK_ROWS: Final = 100_000
"""Rows (records or memberships) from which an update is written as a bulk write."""
BULK_MEMORY_LIMIT: Final = "256MB"
"""DuckDB's memory limit at most while a bulk write runs: at 1M records, 1GB peaks 0.2 GB higher in RSS."""
"""Records column: the batch that first brought the record."""
BATCH_LAST: Final = "_batch_last"
"""Records column: the batch that last changed the record's values."""
_LOCAL: Final = "__local"
_SLICE: Final = "__slice"
GOLDEN_SLICE: Final = 100_000
"""Records mastered per golden build: a first batch of millions is built a slice of clusters at a time."""
_ID_COLUMNS: Final = (schema.ROW, schema.SOURCE, schema.RECORD_ID)
_RULE_SUFFIX: Final = schema.LINEAGE_SEPARATOR + schema.RULE


def _rows(values: Any) -> pl.DataFrame:
    return pl.DataFrame({schema.ROW: np.asarray(values, dtype=np.int64)})


@dataclass
class Change:
    """What one update does to the store, before it is resolved.

    Attributes
    ----------
    batch_id
        The batch (apply) number the update belongs to, or None.
    actor, reason
        Who made the update and why, for every audit event it causes.
    incoming
        Standardised records to store (``_row`` = store rows, ``source``,
        ``record_id`` as text, features): new records, and new values of
        stored ones.
    incoming_raw
        The same records before standardisation (``_row`` and the input
        columns).
    changed_rows
        Stored rows among ``incoming`` (their values changed).
    removed_rows
        Stored rows to delete (erasure).
    seed_rows
        Further stored rows whose components must be re-resolved (the
        records of a steward decision).
    everything
        Every stored record is in ``incoming`` (a new model version).
    decision_id
        The decision the update carries out, for its audit events.
    """

    batch_id: int | None
    actor: str
    reason: str
    incoming: pl.DataFrame | None = None
    incoming_raw: pl.DataFrame | None = None
    changed_rows: np.ndarray = field(default_factory=lambda: np.empty(0, np.int64))
    removed_rows: np.ndarray = field(default_factory=lambda: np.empty(0, np.int64))
    seed_rows: np.ndarray = field(default_factory=lambda: np.empty(0, np.int64))
    everything: bool = False
    decision_id: int | None = None


@dataclass
class Plan:
    """Everything one update writes, worked out before the transaction starts."""

    change: Change
    keys: pl.DataFrame | None
    new_edges: pl.DataFrame
    members: pl.DataFrame
    membership_rows: pl.DataFrame
    clusters: pl.DataFrame
    cluster_ids_written: list[str]
    golden: list[pl.DataFrame]
    """Golden records of the touched clusters, in parts: consecutive ranges of cluster ids."""
    events: pl.DataFrame
    next_seq: int
    counts: dict[str, int]
    extra_writes: list[Callable[[Database], None]] = field(default_factory=list)
    blockers: Sequence[KeyBlocker] = ()
    """The key blockers that hash the incoming records' keys, where ``keys`` is None."""


@dataclass
class Context:
    """What resolution reads besides the change: the store and its model."""

    db: Database
    linker: Any
    frequencies: TermFrequencies
    blockers: Sequence[KeyBlocker]
    model_version: int
    next_seq: int
    stored: bool
    """Whether the store holds any record yet."""


def block_keys(blockers: Sequence[KeyBlocker], records: pl.DataFrame) -> pl.DataFrame:
    """Return every key blocker's keys as the store keeps them: ``key_hash``, ``_row``.

    ``records`` carries store rows in ``_row``; the blockers see them
    numbered densely from 0. Each key is hashed with its blocker's position
    (:func:`~er_toolkit.master.tables.key_hash`).
    """
    local = records.with_columns(
        pl.int_range(pl.len(), dtype=pl.UInt32).alias(schema.ROW)
    )
    rows = records.get_column(schema.ROW).cast(pl.Int64)
    parts = []
    for i, blocker in enumerate(blockers):
        keys = blocker.block_keys(local)
        parts.append(
            keys.select(
                key_hash(i, pl.col(schema.BLOCK_KEY)),
                rows.gather(keys.get_column(schema.ROW)).alias(schema.ROW),
            )
        )
    if not parts:
        return pl.DataFrame(schema={KEY_HASH: pl.UInt64, schema.ROW: pl.Int64})
    return pl.concat(parts)


def _comparison_columns(linker: Any) -> list[str]:
    return list(
        dict.fromkeys(col for c in linker.config.comparisons for col in c.columns)
    )


def _orient(frame: pl.DataFrame, a: str, b: str) -> pl.DataFrame:
    return frame.select(
        pl.min_horizontal(a, b).alias(schema.ROW_L),
        pl.max_horizontal(a, b).alias(schema.ROW_R),
    )


def _no_edges() -> pl.DataFrame:
    return pl.DataFrame(
        schema={
            schema.ROW_L: pl.Int64,
            schema.ROW_R: pl.Int64,
            schema.MATCH_WEIGHT: pl.Float64,
            schema.MATCH_PROBABILITY: pl.Float64,
        }
    )


def _increasing(rows: pl.Series) -> bool:
    values = rows.to_numpy()
    return bool(np.all(values[1:] > values[:-1]))


def _edges_within(
    ctx: Context, local_in: pl.DataFrame, store_rows: pl.Series
) -> pl.DataFrame:
    """Score a batch against itself alone (a first batch, a new model): the pipeline's path.

    The batch's rows are numbered densely in store-row order, so a pair's
    local rows orient it as its store rows do; blocking and comparing share
    one column encoding of the batch, and the pairs need no renumbering.
    """
    linker = ctx.linker
    engine = linker.engine
    # the batch's column encoding serves blocking and comparing, then is freed
    release = getattr(engine, "release_compare", None)
    try:
        with engine.cached(local_in):
            pairs = _orient(linker.block(local_in), schema.ROW_L, schema.ROW_R)
            if pairs.height == 0:
                return _no_edges()
            encoding_of = getattr(engine, "_encoding_of", None)
            scored = score_pairs(
                linker,
                local_in,
                pairs,
                ctx.frequencies,
                min_probability=linker.threshold_,
                encoding=encoding_of(local_in) if encoding_of is not None else None,
            )
            del pairs
    finally:
        if release is not None:
            release()
    return scored.select(
        store_rows.gather(scored.get_column(schema.ROW_L)).alias(schema.ROW_L),
        store_rows.gather(scored.get_column(schema.ROW_R)).alias(schema.ROW_R),
        schema.MATCH_WEIGHT,
        schema.MATCH_PROBABILITY,
    )


def _new_edges(ctx: Context, change: Change, keys: pl.DataFrame | None) -> pl.DataFrame:
    """Score the incoming records against each other and against the store (by ``keys``)."""
    linker = ctx.linker
    incoming = change.incoming
    assert incoming is not None
    store_rows = incoming.get_column(schema.ROW).cast(pl.Int64)
    local_in = incoming.with_columns(
        pl.int_range(pl.len(), dtype=pl.UInt32).alias(schema.ROW)
    )
    if not (ctx.stored and not change.everything) and _increasing(store_rows):
        return _edges_within(ctx, local_in, store_rows)
    within = linker.block(local_in)
    within = within.select(
        store_rows.gather(within.get_column(schema.ROW_L)).alias("a"),
        store_rows.gather(within.get_column(schema.ROW_R)).alias("b"),
    )
    pairs = _orient(within, "a", "b")
    columns = _comparison_columns(linker)
    candidates = None
    if ctx.stored and not change.everything:
        assert keys is not None
        excluded = _rows(np.concatenate([store_rows.to_numpy(), change.removed_rows]))
        across = ctx.db.frame(
            "SELECT DISTINCT b._row AS a, k._row AS b FROM {keys} b "
            "JOIN keys k ON b.key_hash = k.key_hash "
            "WHERE k._row NOT IN (SELECT _row FROM {excluded})",
            keys=keys,
            excluded=excluded,
        )
        if across.height:
            wanted = across.select(pl.col("b").unique().alias(schema.ROW))
            candidates = ctx.db.frame(
                "SELECT _row, source, record_id, "
                + ", ".join(f'"{c}"' for c in columns)
                + " FROM records WHERE _row IN (SELECT _row FROM {wanted})",
                wanted=wanted,
            )
            if linker.config.link_type == "link":
                sources = pl.concat(
                    [
                        incoming.select(schema.ROW, schema.SOURCE),
                        candidates.select(schema.ROW, schema.SOURCE),
                    ]
                ).cast({schema.ROW: pl.Int64})
                across = (
                    across.join(
                        sources.rename({schema.ROW: "a", schema.SOURCE: "sa"}), on="a"
                    )
                    .join(
                        sources.rename({schema.ROW: "b", schema.SOURCE: "sb"}), on="b"
                    )
                    .filter(pl.col("sa") != pl.col("sb"))
                    .select("a", "b")
                )
            pairs = pl.concat([pairs, _orient(across, "a", "b")])
    if pairs.height == 0:
        return _no_edges()
    frames = [incoming.select(*_ID_COLUMNS, *columns)]
    if candidates is not None:
        frames.append(candidates.select(*_ID_COLUMNS, *columns))
    local = pl.concat(
        [f.cast({schema.ROW: pl.Int64}) for f in frames], how="vertical_relaxed"
    )
    positions = local.select(pl.col(schema.ROW), pl.int_range(pl.len()).alias(_LOCAL))
    local = local.with_columns(
        pl.int_range(pl.len(), dtype=pl.UInt32).alias(schema.ROW)
    )
    numbered = pairs.join(
        positions.rename({schema.ROW: schema.ROW_L, _LOCAL: "l"}), on=schema.ROW_L
    ).join(positions.rename({schema.ROW: schema.ROW_R, _LOCAL: "r"}), on=schema.ROW_R)
    scored = score_pairs(
        linker,
        local,
        numbered.select(
            pl.col("l").alias(schema.ROW_L), pl.col("r").alias(schema.ROW_R)
        ),
        ctx.frequencies,
        min_probability=linker.threshold_,
    )
    store_of = positions.get_column(schema.ROW)
    return scored.select(
        store_of.gather(scored.get_column(schema.ROW_L)).alias(schema.ROW_L),
        store_of.gather(scored.get_column(schema.ROW_R)).alias(schema.ROW_R),
        schema.MATCH_WEIGHT,
        schema.MATCH_PROBABILITY,
    )


def _scope(ctx: Context, seeds: np.ndarray, *, everything: bool) -> pl.DataFrame:
    """Return the stored rows in the components of ``seeds``, with their clusters."""
    columns = (
        "m._row, m.cluster_id, m.component, c.seq, r.source, r.record_id "
        "FROM membership m JOIN clusters c USING (cluster_id) "
        "JOIN records r USING (_row)"
    )
    if everything:
        return ctx.db.frame(f"SELECT {columns}")
    scope = ctx.db.frame(
        f"SELECT {columns} WHERE m.component IN (SELECT component FROM membership "
        "WHERE _row IN (SELECT _row FROM {seeds}))",
        seeds=_rows(np.unique(seeds)),
    )
    # a must-link to a record in another component pulls that component in
    while True:
        partners = ctx.db.frame(
            "SELECT row_b AS _row FROM decisions WHERE active AND kind = 'must_link' "
            "AND row_a IN (SELECT _row FROM {scope}) UNION "
            "SELECT row_a FROM decisions WHERE active AND kind = 'must_link' "
            "AND row_b IN (SELECT _row FROM {scope})",
            scope=scope.select(schema.ROW),
        )
        outside = partners.join(scope.select(schema.ROW), on=schema.ROW, how="anti")
        if outside.height == 0:
            return scope
        more = ctx.db.frame(
            f"SELECT {columns} WHERE m.component IN (SELECT component FROM membership "
            "WHERE _row IN (SELECT _row FROM {seeds}))",
            seeds=outside,
        )
        scope = pl.concat([scope, more]).unique(schema.ROW)


def _decisions(ctx: Context, rows: pl.DataFrame) -> dict[str, pl.DataFrame]:
    active = ctx.db.frame(
        "SELECT kind, row_a, row_b FROM decisions WHERE active AND row_a IN "
        "(SELECT _row FROM {rows})",
        rows=rows,
    )
    pair = pl.col("row_b").is_in(rows.get_column(schema.ROW).implode())
    links = active
    out = {}
    for kind in ("must_link", "cannot_link"):
        out[kind] = links.filter((pl.col("kind") == kind) & pair).select(
            pl.col("row_a").alias(schema.ROW_L), pl.col("row_b").alias(schema.ROW_R)
        )
    out["own_entity"] = active.filter(pl.col("kind") == "own_entity").select(
        pl.col("row_a").alias(schema.ROW)
    )
    return out


def _golden_inputs(
    ctx: Context, change: Change, rows: pl.DataFrame
) -> tuple[pl.DataFrame, pl.DataFrame]:
    """Return the standardised and raw records of ``rows`` (store rows)."""
    incoming = change.incoming
    stored_rows = rows
    parts: list[pl.DataFrame] = []
    raw_parts: list[pl.DataFrame] = []
    drop = [BATCH_FIRST, BATCH_LAST]
    if (
        incoming is not None
        and change.incoming_raw is not None
        and rows.height == incoming.height
        and change.incoming_raw.get_column(schema.ROW).equals(
            incoming.get_column(schema.ROW), check_names=False
        )
        and bool(
            incoming.get_column(schema.ROW)
            .cast(pl.Int64)
            .is_in(rows.get_column(schema.ROW).cast(pl.Int64).implode())
            .all()
        )
    ):
        # every incoming record and nothing else (a first batch): no copies
        ids = incoming.select(schema.SOURCE, schema.RECORD_ID)
        raw = pl.concat(
            [change.incoming_raw.cast({schema.ROW: pl.Int64}), ids], how="horizontal"
        )
        records = incoming.drop(drop, strict=False).cast({schema.ROW: pl.Int64})
        return records, raw
    if incoming is not None:
        mine = incoming.filter(
            pl.col(schema.ROW).is_in(rows.get_column(schema.ROW).implode())
        )
        parts.append(mine)
        assert change.incoming_raw is not None
        raw_parts.append(
            change.incoming_raw.join(mine.select(*_ID_COLUMNS), on=schema.ROW)
        )
        stored_rows = rows.join(mine.select(schema.ROW), on=schema.ROW, how="anti")
    if stored_rows.height and not change.everything:
        stored = ctx.db.frame(
            "SELECT * FROM records WHERE _row IN (SELECT _row FROM {rows})",
            rows=stored_rows,
        )
        parts.append(stored)
        # the ids come from the records just read, not from a join with the table
        raw_parts.append(
            ctx.db.frame(
                "SELECT * FROM raw_records WHERE _row IN (SELECT _row FROM {rows})",
                rows=stored_rows,
            ).join(
                stored.select(schema.ROW, schema.SOURCE, schema.RECORD_ID),
                on=schema.ROW,
            )
        )
    records = pl.concat(
        [p.drop(drop, strict=False).cast({schema.ROW: pl.Int64}) for p in parts],
        how="diagonal_relaxed",
    )
    raw = pl.concat(
        [p.cast({schema.ROW: pl.Int64}) for p in raw_parts], how="diagonal_relaxed"
    )
    return records, raw


def plan_change(ctx: Context, change: Change) -> Plan:
    """Work out everything ``change`` writes: new links, clusters, ids, golden records, events.

    Only the raw components the change touches are re-resolved (see
    :func:`~er_toolkit.master.resolve.resolve`): those of the changed and
    removed records, of the stored records the incoming ones link to, and
    of the records named by ``seed_rows``.
    """
    linker = ctx.linker
    incoming = change.incoming
    keys = None
    new_edges = pl.DataFrame(
        schema={
            schema.ROW_L: pl.Int64,
            schema.ROW_R: pl.Int64,
            schema.MATCH_WEIGHT: pl.Float64,
            schema.MATCH_PROBABILITY: pl.Float64,
        }
    )
    incoming_rows = np.empty(0, np.int64)
    if incoming is not None and incoming.height:
        incoming_rows = incoming.get_column(schema.ROW).cast(pl.Int64).to_numpy()
        if ctx.stored and not change.everything:
            # the keys pair the batch with the store; else write_plan hashes them
            keys = block_keys(ctx.blockers, incoming)
        new_edges = _new_edges(ctx, change, keys)
    dropped = np.union1d(change.changed_rows, change.removed_rows)
    seeds = np.empty(0, np.int64)
    if ctx.stored and not change.everything:
        # an empty store (a first batch) or a new model has no components to seed
        linked = np.concatenate(
            [
                new_edges.get_column(schema.ROW_L).to_numpy(),
                new_edges.get_column(schema.ROW_R).to_numpy(),
            ]
        )
        fresh = np.setdiff1d(incoming_rows, change.changed_rows)
        seeds = np.unique(
            np.concatenate(
                [
                    change.changed_rows,
                    change.removed_rows,
                    change.seed_rows,
                    linked[~np.isin(linked, fresh)],
                ]
            ).astype(np.int64)
        )
    scope = (
        _scope(ctx, seeds, everything=change.everything)
        if ctx.stored and (seeds.size or change.everything)
        else pl.DataFrame(
            schema={
                schema.ROW: pl.Int64,
                schema.CLUSTER_ID: pl.String,
                COMPONENT: pl.Int64,
                SEQ: pl.Int64,
                schema.SOURCE: pl.String,
                schema.RECORD_ID: pl.String,
            }
        )
    ).cast({schema.ROW: pl.Int64, COMPONENT: pl.Int64, SEQ: pl.Int64})
    removed = pl.Series(change.removed_rows, dtype=pl.Int64)
    kept = scope.filter(~pl.col(schema.ROW).is_in(removed.implode()))
    kept_rows = kept.get_column(schema.ROW).to_numpy()
    if kept_rows.size == 0:
        rows = np.unique(incoming_rows)
    else:
        rows = np.union1d(kept_rows, incoming_rows)
    if change.everything or not ctx.stored:
        stored_edges = new_edges.head(0)
    else:
        stored_edges = ctx.db.frame(
            "SELECT _row_l, _row_r, match_weight, match_probability FROM pairs "
            "WHERE _row_l IN (SELECT _row FROM {scope}) "
            "AND _row_l NOT IN (SELECT _row FROM {dropped}) "
            "AND _row_r NOT IN (SELECT _row FROM {dropped})",
            scope=kept.select(schema.ROW),
            dropped=_rows(dropped),
        )
    edges = pl.concat([stored_edges, new_edges], how="vertical_relaxed")
    decided = _decisions(ctx, _rows(rows)) if ctx.stored else {}
    sources = None
    if linker.config.clustering.one_to_one != "off":
        sources = _sources_of(rows, scope, incoming)
    labels = resolve(
        rows,
        edges,
        threshold=linker.threshold_,
        clustering=linker.config.clustering,
        must_link=decided.get("must_link"),
        cannot_link=decided.get("cannot_link"),
        own_entity=(
            decided["own_entity"].get_column(schema.ROW).to_numpy() if decided else None
        ),
        sources=sources,
    )
    members, created, next_seq = assign_ids(
        labels, kept.select(schema.ROW, schema.CLUSTER_ID, SEQ), next_seq=ctx.next_seq
    )
    members = members.join(labels.select(schema.ROW, COMPONENT), on=schema.ROW)
    # resolved: free the edges and labels before the golden records are built
    del labels, edges, stored_edges, decided, sources
    changed_values = (
        np.asarray(change.changed_rows, dtype=np.int64)
        if not change.everything
        else np.empty(0, np.int64)
    )
    events = membership_events(
        scope.select(schema.ROW, schema.CLUSTER_ID),
        members.select(schema.ROW, schema.CLUSTER_ID),
        changed_rows=changed_values,
    )
    before_ids = events.get_column(CLUSTERS_BEFORE).explode().drop_nulls().unique()
    after_ids = events.get_column(CLUSTERS_AFTER).explode().drop_nulls().unique()
    written = pl.concat([before_ids, after_ids]).unique().sort().to_list()
    # membership rows whose cluster or component changed
    old = scope.select(
        schema.ROW,
        pl.col(schema.CLUSTER_ID).alias("__old_id"),
        pl.col(COMPONENT).alias("__old_component"),
    )
    membership_rows = (
        members.join(old, on=schema.ROW, how="left")
        .filter(
            pl.col("__old_id").ne_missing(pl.col(schema.CLUSTER_ID))
            | pl.col("__old_component").ne_missing(pl.col(COMPONENT))
        )
        .select(schema.ROW, schema.CLUSTER_ID, COMPONENT)
    )
    touched = members.filter(pl.col(schema.CLUSTER_ID).is_in(after_ids.implode()))
    old_clusters = (
        ctx.db.frame(
            "SELECT cluster_id, seq, created_batch FROM clusters WHERE cluster_id IN "
            "(SELECT cluster_id FROM {ids})",
            ids=after_ids.to_frame(schema.CLUSTER_ID),
        )
        if ctx.stored and after_ids.len()
        else pl.DataFrame(
            schema={
                schema.CLUSTER_ID: pl.String,
                SEQ: pl.Int64,
                "created_batch": pl.Int32,
            }
        )
    )
    batch = change.batch_id
    new_clusters = created.with_columns(
        pl.lit(batch, dtype=pl.Int32).alias("created_batch")
    )
    clusters = (
        touched.group_by(schema.CLUSTER_ID)
        .agg(pl.len().cast(pl.Int32).alias(schema.CLUSTER_SIZE))
        .join(
            pl.concat(
                [
                    old_clusters.cast({SEQ: pl.Int64, "created_batch": pl.Int32}),
                    new_clusters.cast({SEQ: pl.Int64}),
                ]
            ),
            on=schema.CLUSTER_ID,
            how="left",
        )
        .with_columns(pl.lit(batch, dtype=pl.Int32).alias("updated_batch"))
        .select(
            schema.CLUSTER_ID,
            SEQ,
            schema.CLUSTER_SIZE,
            "created_batch",
            "updated_batch",
        )
        .sort(SEQ)
    )
    golden: list[pl.DataFrame] = []
    if touched.height:
        records, raw = _golden_inputs(ctx, change, touched.select(schema.ROW))
        memberships = touched.join(
            records.select(schema.ROW, schema.SOURCE, schema.RECORD_ID), on=schema.ROW
        ).select(schema.ROW, schema.SOURCE, schema.RECORD_ID, schema.CLUSTER_ID)
        del touched
        golden = _build_golden(linker, records, raw, memberships)
        del records, raw, memberships
    kinds = events.get_column("kind")
    counts = {
        "clusters_touched": len(written),
        "clusters_created": int((kinds == "create").sum()),
        "merges": int((kinds == "merge").sum()),
        "splits": int((kinds == "split").sum()),
        "links": new_edges.height,
    }
    # events name records by (source, record_id), never by store row
    id_columns = (schema.ROW, schema.SOURCE, schema.RECORD_ID)
    if incoming is not None and scope.height == 0:
        ids = incoming.select(id_columns)  # each row once already
    else:
        ids = pl.concat(
            [
                scope.select(id_columns),
                *([incoming.select(id_columns)] if incoming is not None else []),
            ],
            how="vertical_relaxed",
        ).unique(schema.ROW)
    events = _events_with_ids(events, ids)
    return Plan(
        change=change,
        keys=keys,
        new_edges=new_edges,
        members=members,
        membership_rows=membership_rows,
        clusters=clusters,
        cluster_ids_written=written,
        golden=golden,
        events=events,
        next_seq=next_seq,
        counts=counts,
        blockers=ctx.blockers,
    )


def _build_golden(
    linker: Any, records: pl.DataFrame, raw: pl.DataFrame, memberships: pl.DataFrame
) -> list[pl.DataFrame]:
    """Build the golden records of the clusters in ``memberships``, :data:`GOLDEN_SLICE` records at a time.

    A cluster's golden record reads its own members alone, so slices of
    whole clusters, in cluster id order, give the frame one build would,
    with a slice's working memory instead of a whole first batch's. Each
    build is sorted by cluster id and the slices are consecutive ranges of
    cluster ids, so the slices' frames, in slice order, are the sorted
    frame as they are: they are returned as parts, never concatenated,
    so each is freed once written (:func:`write_plan`).
    """
    build = linker.config.golden.build
    if memberships.height <= GOLDEN_SLICE:
        return [build(records, memberships, raw=raw, lineage="rows")]
    sizes = memberships.group_by(schema.CLUSTER_ID).len().sort(schema.CLUSTER_ID)
    part = (sizes.get_column("len").cum_sum() - 1) // GOLDEN_SLICE
    sliced = memberships.join(
        sizes.select(schema.CLUSTER_ID, part.alias(_SLICE)), on=schema.CLUSTER_ID
    )
    del sizes, part
    parts = []
    for (_,), members in sorted(
        sliced.partition_by(_SLICE, as_dict=True).items(), key=lambda kv: kv[0]
    ):
        mine = members.get_column(schema.ROW).implode()
        golden = build(
            records.filter(pl.col(schema.ROW).is_in(mine)),
            members.drop(_SLICE),
            raw=raw.filter(pl.col(schema.ROW).is_in(mine)),
            lineage="rows",
        )
        # a rule name per value is a few names repeated: held as categories
        # (:func:`~er_toolkit.master.tables.encode_golden` reads them as they are)
        rules = [c for c in golden.columns if c.endswith(_RULE_SUFFIX)]
        parts.append(golden.with_columns(pl.col(rules).cast(pl.Categorical)))
        del golden
    del sliced
    return parts


def _sources_of(
    rows: np.ndarray, scope: pl.DataFrame, incoming: pl.DataFrame | None
) -> np.ndarray:
    """Return the source of each of ``rows`` (store rows), from the scope and the incoming records."""
    known = [scope.select(schema.ROW, schema.SOURCE)]
    if incoming is not None:
        known.append(incoming.select(schema.ROW, schema.SOURCE))
    table = pl.concat(
        [k.cast({schema.ROW: pl.Int64, schema.SOURCE: pl.String}) for k in known]
    ).unique(schema.ROW, keep="last")
    return (
        pl.DataFrame({schema.ROW: rows})
        .join(table, on=schema.ROW, how="left", maintain_order="left")
        .get_column(schema.SOURCE)
        .to_numpy()
    )


def _events_with_ids(events: pl.DataFrame, ids: pl.DataFrame) -> pl.DataFrame:
    """Replace each event's store rows by its records' ``(source, record_id)``."""
    numbered = events.with_row_index("__event")
    refs = (
        numbered.select("__event", EVENT_ROWS)
        .explode(EVENT_ROWS)
        .join(
            ids.cast({schema.ROW: pl.Int64}).rename({schema.ROW: EVENT_ROWS}),
            on=EVENT_ROWS,
            how="left",
        )
        .group_by("__event")
        .agg(
            pl.struct(
                pl.col(schema.SOURCE).cast(pl.String),
                pl.col(schema.RECORD_ID).cast(pl.String),
            ).alias("records")
        )
    )
    return (
        numbered.join(refs, on="__event", how="left")
        .sort("__event")
        .select("kind", CLUSTERS_BEFORE, CLUSTERS_AFTER, "records")
    )


def _plain_types(frame: pl.DataFrame) -> pl.DataFrame:
    """Cast columns of no type (all null) to text, so DuckDB can store them."""
    return frame.cast({c: pl.String for c, t in frame.schema.items() if t == pl.Null})


def _insert(db: Database, table: str, frame: pl.DataFrame) -> None:
    """Append ``frame`` to ``table`` by column name, making the table at first use."""
    if frame.width == 0:
        return
    frame = _plain_types(frame)
    if db.has_table(table):
        if frame.height:
            db.execute(
                f"INSERT INTO {table} BY NAME SELECT * FROM {{frame}}", frame=frame
            )
    else:
        db.execute(f"CREATE TABLE {table} AS SELECT * FROM {{frame}}", frame=frame)


def _write_golden(db: Database, parts: list[pl.DataFrame]) -> None:
    """Append golden records, their rule names as codes (new names join the list in ``meta``).

    ``parts`` are written in order, as one frame of them all would be
    (one column type for all, one list of rule names), and taken off the
    list as they are written, so each is freed once DuckDB holds it.
    """
    if not parts:
        return
    known = json.loads(db.meta().get(GOLDEN_RULES, "[]"))
    names = golden_rule_names(parts, known)
    if names != known:
        db.set_meta({GOLDEN_RULES: json.dumps(names)})
    target = pl.concat([p.head(0) for p in parts], how="vertical_relaxed").schema
    parts.reverse()
    while parts:
        stored, _ = encode_golden(parts.pop().cast(target), names)
        _insert(db, "golden", stored)
        del stored


def write_plan(
    db: Database,
    plan: Plan,
    *,
    model_version: int,
    now: Any,
    first_event_id: int,
) -> int:
    """Write ``plan``; the caller holds the transaction. Return the next event id.

    Each of ``plan``'s frames is dropped from it once written (a first
    batch's are the largest frames of all), so polars' copy is freed while
    DuckDB writes the rest; only its counts and ``next_seq`` stay. A plan
    of :data:`BULK_ROWS` rows or more is written under DuckDB's memory
    limit of :data:`BULK_MEMORY_LIMIT` at most (the store's limit comes
    back after), so DuckDB's insert buffers stay small beside those frames.
    """
    incoming = plan.change.incoming
    rows = max(0 if incoming is None else incoming.height, plan.membership_rows.height)
    limit = (
        db.memory_limit(BULK_MEMORY_LIMIT)
        if rows >= BULK_ROWS
        else contextlib.nullcontext()
    )
    with limit:
        return _write_plan(
            db,
            plan,
            model_version=model_version,
            now=now,
            first_event_id=first_event_id,
        )


def _write_plan(
    db: Database,
    plan: Plan,
    *,
    model_version: int,
    now: Any,
    first_event_id: int,
) -> int:
    change = plan.change
    incoming = change.incoming
    if incoming is not None and incoming.height:
        if change.everything:
            for table in ("records", "raw_records", "keys", "pairs"):
                db.execute(f"DELETE FROM {table}")
        elif change.changed_rows.size:
            changed = _rows(change.changed_rows)
            for table in ("records", "raw_records", "keys"):
                if db.has_table(table):
                    db.execute(
                        f"DELETE FROM {table} WHERE _row IN (SELECT _row FROM {{rows}})",
                        rows=changed,
                    )
            db.execute(
                "DELETE FROM pairs WHERE _row_l IN (SELECT _row FROM {rows}) "
                "OR _row_r IN (SELECT _row FROM {rows})",
                rows=changed,
            )
        _insert(db, "records", incoming)
        if plan.keys is None:
            plan.keys = block_keys(plan.blockers, incoming)
        change.incoming = incoming = None
        assert change.incoming_raw is not None
        _insert(db, "raw_records", change.incoming_raw)
        change.incoming_raw = None
        _insert(db, "keys", plan.keys)
        plan.keys = None
    if change.removed_rows.size:
        removed = _rows(change.removed_rows)
        for table in ("records", "raw_records", "keys", "membership"):
            db.execute(
                f"DELETE FROM {table} WHERE _row IN (SELECT _row FROM {{rows}})",
                rows=removed,
            )
        db.execute(
            "DELETE FROM pairs WHERE _row_l IN (SELECT _row FROM {rows}) "
            "OR _row_r IN (SELECT _row FROM {rows})",
            rows=removed,
        )
    plan.members = plan.members.clear()  # the written rows are membership_rows
    if plan.new_edges.height:
        _insert(
            db,
            "pairs",
            plan.new_edges.with_columns(
                pl.lit(model_version, dtype=pl.Int32).alias("model_version")
            ),
        )
        plan.new_edges = plan.new_edges.clear()
    if plan.membership_rows.height:
        db.execute(
            "DELETE FROM membership WHERE _row IN (SELECT _row FROM {rows})",
            rows=plan.membership_rows.select(schema.ROW),
        )
        _insert(db, "membership", plan.membership_rows)
        plan.membership_rows = plan.membership_rows.clear()
    if plan.cluster_ids_written:
        ids = pl.DataFrame({schema.CLUSTER_ID: plan.cluster_ids_written})
        db.execute(
            "DELETE FROM clusters WHERE cluster_id IN (SELECT cluster_id FROM {ids})",
            ids=ids,
        )
        _insert(db, "clusters", plan.clusters)
        plan.clusters = plan.clusters.clear()
        if db.has_table("golden"):
            db.execute(
                "DELETE FROM golden WHERE cluster_id IN (SELECT cluster_id FROM {ids})",
                ids=ids,
            )
        _write_golden(db, plan.golden)
    events, plan.events = plan.events, plan.events.clear()
    if events.height:
        _insert(
            db,
            "audit",
            events.select(
                (pl.int_range(pl.len(), dtype=pl.Int64) + first_event_id).alias(
                    "event_id"
                ),
                pl.lit(now, dtype=pl.Datetime("us")).alias("occurred_at"),
                pl.lit(change.batch_id, dtype=pl.Int32).alias("batch_id"),
                "kind",
                pl.lit(change.actor, dtype=pl.String).alias("actor"),
                pl.lit(change.reason, dtype=pl.String).alias("reason"),
                pl.lit(change.decision_id, dtype=pl.Int32).alias("decision_id"),
                pl.lit(model_version, dtype=pl.Int32).alias("model_version"),
                CLUSTERS_BEFORE,
                CLUSTERS_AFTER,
                "records",
            ),
        )
    for write in plan.extra_writes:
        write(db)
    return first_event_id + events.height
