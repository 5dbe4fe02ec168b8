"""Stable cluster ids: a merge keeps the oldest id, a split keeps it for the part with the oldest member."""

from __future__ import annotations

from typing import Final

import polars as pl

from er_toolkit import schema

__all__ = ["SEQ", "assign_ids", "cluster_id", "format_cluster_id"]

SEQ: Final = "seq"
"""A cluster's creation number: the smaller, the older."""
_LABEL: Final = "__label"
_PREFIX: Final = "c"
_WIDTH: Final = 9


def format_cluster_id(seq: int) -> str:
    """Return the id of the cluster created ``seq``-th.

    Examples
    --------
    >>> format_cluster_id(42)
    'c000000042'
    """
    return f"{_PREFIX}{seq:0{_WIDTH}d}"


def cluster_id(seq: pl.Expr) -> pl.Expr:
    """Build cluster ids from creation numbers (:func:`format_cluster_id` as an expression)."""
    return pl.concat_str(pl.lit(_PREFIX), seq.cast(pl.String).str.zfill(_WIDTH)).alias(
        schema.CLUSTER_ID
    )


def assign_ids(
    labels: pl.DataFrame, before: pl.DataFrame, *, next_seq: int
) -> tuple[pl.DataFrame, pl.DataFrame, int]:
    """Give each new cluster an id, keeping old ids wherever the rules allow.

    Each old cluster's heir is the new cluster that holds most of its
    surviving members, ties going to the part with its oldest member (the
    smallest row: rows are numbered in order of arrival). A new cluster
    that is the heir of several old ones keeps the oldest id (the smallest
    ``seq``): a merge keeps the older id; a split keeps the id for its
    largest part, and the other parts get new ids; a record that moves
    leaves its old cluster's id behind. A new cluster that is nobody's heir
    gets a new id, in order of its smallest row. So a cluster whose
    members did not change keeps its id, whatever happened around it.

    Parameters
    ----------
    labels
        ``_row`` and ``__label`` (any integer naming each new cluster).
    before
        ``_row``, ``cluster_id`` and ``seq`` of the rows that had a cluster
        before (rows no longer in ``labels`` are ignored).
    next_seq
        The next unused creation number.

    Returns
    -------
    tuple
        ``_row``, ``cluster_id`` per labelled row; the new clusters
        (``cluster_id``, ``seq``); the next unused creation number.

    Examples
    --------
    >>> labels = pl.DataFrame({"_row": [0, 1, 2, 3], "__label": [0, 0, 0, 3]})
    >>> before = pl.DataFrame({"_row": [0, 1, 2], "cluster_id": ["c000000002", "c000000001", "c000000002"], "seq": [2, 1, 2]})
    >>> members, new, _ = assign_ids(labels, before, next_seq=3)
    >>> members.get_column("cluster_id").to_list(), new.rows()
    (['c000000001', 'c000000001', 'c000000001', 'c000000003'], [('c000000003', 3)])
    """
    labels = labels.select(
        pl.col(schema.ROW).cast(pl.Int64), pl.col(_LABEL).cast(pl.Int64)
    )
    old = before.select(
        pl.col(schema.ROW).cast(pl.Int64),
        pl.col(schema.CLUSTER_ID).cast(pl.String),
        pl.col(SEQ).cast(pl.Int64),
    ).join(labels, on=schema.ROW, how="inner")
    heirs = (
        old.group_by(schema.CLUSTER_ID, _LABEL)
        .agg(
            pl.col(SEQ).first(),
            pl.len().alias("__kept"),
            pl.col(schema.ROW).min().alias("__oldest"),
        )
        .sort(
            [schema.CLUSTER_ID, "__kept", "__oldest"], descending=[False, True, False]
        )
        .group_by(schema.CLUSTER_ID, maintain_order=True)
        .agg(pl.col(SEQ).first(), pl.col(_LABEL).first())
    )
    kept = (
        heirs.sort(SEQ)
        .group_by(_LABEL, maintain_order=True)
        .agg(pl.col(schema.CLUSTER_ID).first(), pl.col(SEQ).first())
    )
    unclaimed = (
        labels.join(kept.select(_LABEL), on=_LABEL, how="anti")
        .group_by(_LABEL)
        .agg(pl.col(schema.ROW).min().alias("__first"))
        .sort("__first")
        .with_row_index("__n")
        .select(_LABEL, (pl.col("__n").cast(pl.Int64) + next_seq).alias(SEQ))
        .with_columns(cluster_id(pl.col(SEQ)))
    )
    ids = pl.concat(
        [kept.select(_LABEL, schema.CLUSTER_ID, SEQ), unclaimed.select(kept.columns)],
        how="vertical_relaxed",
    )
    members = labels.join(ids, on=_LABEL, how="left").select(
        schema.ROW, schema.CLUSTER_ID
    )
    return (
        members,
        unclaimed.select(schema.CLUSTER_ID, SEQ),
        next_seq + unclaimed.height,
    )
