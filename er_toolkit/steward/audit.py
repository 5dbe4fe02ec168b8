"""The audit log's events: what changed in which clusters, from memberships before and after."""

from __future__ import annotations

from typing import Final, Literal

import numpy as np
import polars as pl
import scipy.sparse as sp
from scipy.sparse import csgraph

from er_toolkit import schema
from er_toolkit.exceptions import SchemaError

__all__ = [
    "AUDIT_KINDS",
    "CLUSTERS_AFTER",
    "CLUSTERS_BEFORE",
    "EVENT_ROWS",
    "MEMBERSHIP_KINDS",
    "AuditKind",
    "membership_events",
]

AuditKind = Literal[
    "create",
    "update",
    "merge",
    "split",
    "regroup",
    "remove",
    "decide",
    "undo",
    "erase",
    "model",
]
MEMBERSHIP_KINDS: Final[tuple[AuditKind, ...]] = (
    "create",
    "update",
    "merge",
    "split",
    "regroup",
    "remove",
)
"""Events about cluster membership: a new cluster (``create``); records joined,
left or changed in one cluster that keeps its id (``update``); several
clusters became one, which keeps the oldest id (``merge``); one became
several, the part with its oldest member keeping the id (``split``); several
became several at once (``regroup``, e.g. a changed record moving between
clusters); every member erased (``remove``)."""
AUDIT_KINDS: Final[tuple[AuditKind, ...]] = (
    *MEMBERSHIP_KINDS,
    "decide",
    "undo",
    "erase",
    "model",
)
"""Every event kind: the membership kinds, plus a steward decision
(``decide``) and its withdrawal (``undo``), an erasure (``erase``) and a new
model version (``model``)."""

CLUSTERS_BEFORE: Final = "clusters_before"
CLUSTERS_AFTER: Final = "clusters_after"
EVENT_ROWS: Final = "rows"
_BEFORE: Final = "__before"
_AFTER: Final = "__after"


def _check(frame: pl.DataFrame, name: str) -> pl.DataFrame:
    missing = [c for c in (schema.ROW, schema.CLUSTER_ID) if c not in frame.columns]
    if missing:
        raise SchemaError(
            f"{name} lacks column(s) {missing}; its columns are {frame.columns}."
        )
    return frame.select(
        pl.col(schema.ROW).cast(pl.Int64), pl.col(schema.CLUSTER_ID).cast(pl.String)
    )


def membership_events(
    before: pl.DataFrame,
    after: pl.DataFrame,
    *,
    changed_rows: np.ndarray | None = None,
) -> pl.DataFrame:
    """Return one event per group of clusters whose membership changed.

    Clusters before and after are linked by the records they share; each
    connected group of them is one event, whose kind says what happened
    (see :data:`MEMBERSHIP_KINDS`). Groups where nothing changed (the same
    id with the same members, none of them changed) give no event.

    Parameters
    ----------
    before, after
        ``_row`` and ``cluster_id`` of the records concerned, before and
        after: a record only in ``after`` is new, one only in ``before`` was
        removed.
    changed_rows
        Records whose values changed; their cluster's event lists them even
        when no record moved.

    Returns
    -------
    polars.DataFrame
        ``kind``, ``clusters_before`` and ``clusters_after`` (sorted lists
        of ids) and ``rows`` (the records that are new, removed, moved or
        changed), ordered by the first id after (then before).

    Examples
    --------
    >>> before = pl.DataFrame({"_row": [0, 1, 2], "cluster_id": ["a", "b", "b"]})
    >>> after = pl.DataFrame({"_row": [0, 1, 2, 3], "cluster_id": ["a", "a", "a", "c"]})
    >>> membership_events(before, after).select("kind", "clusters_before", "clusters_after").rows()
    [('merge', ['a', 'b'], ['a']), ('create', [], ['c'])]
    """
    old = _check(before, "before").rename({schema.CLUSTER_ID: _BEFORE})
    new = _check(after, "after").rename({schema.CLUSTER_ID: _AFTER})
    rows = old.join(new, on=schema.ROW, how="full", coalesce=True)
    out_schema = pl.Schema(
        [
            ("kind", pl.String()),
            (CLUSTERS_BEFORE, pl.List(pl.String)),
            (CLUSTERS_AFTER, pl.List(pl.String)),
            (EVENT_ROWS, pl.List(pl.Int64)),
        ]
    )
    if rows.height == 0:
        return pl.DataFrame(schema=out_schema)
    if old.height == 0 and new.get_column(_AFTER).null_count() == 0:
        # every record is new (a first batch): one 'create' per cluster
        return (
            new.group_by(_AFTER)
            .agg(pl.col(schema.ROW).sort().alias(EVENT_ROWS))
            .sort(_AFTER)
            .select(
                pl.lit("create").alias("kind"),
                pl.lit([], dtype=pl.List(pl.String)).alias(CLUSTERS_BEFORE),
                pl.concat_list(_AFTER).alias(CLUSTERS_AFTER),
                EVENT_ROWS,
            )
            .cast(out_schema)
        )
    old_ids = rows.get_column(_BEFORE).drop_nulls().unique().sort()
    new_ids = rows.get_column(_AFTER).drop_nulls().unique().sort()
    k, m = len(old_ids), len(new_ids)
    rows = rows.with_columns(
        pl.col(_BEFORE)
        .replace_strict(old_ids, pl.int_range(k, eager=True), default=None)
        .alias("__b"),
        pl.col(_AFTER)
        .replace_strict(new_ids, pl.int_range(k, k + m, eager=True), default=None)
        .alias("__a"),
    )
    both = rows.filter(pl.col("__b").is_not_null() & pl.col("__a").is_not_null())
    left = both.get_column("__b").to_numpy()
    right = both.get_column("__a").to_numpy()
    graph = sp.coo_array(
        (np.ones(left.size, dtype=bool), (left, right)), shape=(k + m, k + m)
    ).tocsr()
    labels = csgraph.connected_components(graph, directed=False)[1]
    node = rows.select(pl.coalesce("__b", "__a")).to_series().to_numpy()
    changed = np.asarray(
        changed_rows if changed_rows is not None else [], dtype=np.int64
    )
    moved = (
        pl.col(_BEFORE).is_null()
        | pl.col(_AFTER).is_null()
        | (pl.col(_BEFORE) != pl.col(_AFTER))
        | pl.col(schema.ROW).is_in(pl.Series(changed, dtype=pl.Int64).implode())
    )
    groups = (
        rows.with_columns(pl.Series("__group", labels[node]), moved.alias("__moved"))
        .group_by("__group")
        .agg(
            pl.col(_BEFORE).drop_nulls().unique().sort().alias(CLUSTERS_BEFORE),
            pl.col(_AFTER).drop_nulls().unique().sort().alias(CLUSTERS_AFTER),
            pl.col(schema.ROW).filter(pl.col("__moved")).sort().alias(EVENT_ROWS),
        )
        .filter(pl.col(EVENT_ROWS).list.len() > 0)
    )
    n_before = pl.col(CLUSTERS_BEFORE).list.len()
    n_after = pl.col(CLUSTERS_AFTER).list.len()
    kind = (
        pl.when(n_before == 0)
        .then(pl.lit("create"))
        .when(n_after == 0)
        .then(pl.lit("remove"))
        .when((n_before == 1) & (n_after == 1))
        .then(pl.lit("update"))
        .when(n_after == 1)
        .then(pl.lit("merge"))
        .when(n_before == 1)
        .then(pl.lit("split"))
        .otherwise(pl.lit("regroup"))
    )
    return (
        groups.with_columns(kind.alias("kind"))
        .sort(
            pl.col(CLUSTERS_AFTER).list.first(),
            pl.col(CLUSTERS_BEFORE).list.first(),
            nulls_last=True,
        )
        .select(list(out_schema))
        .cast(out_schema)
    )
