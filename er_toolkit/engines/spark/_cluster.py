"""Connected components on Spark: large-star / small-star over DataFrames, ids as the polars engine's."""

from __future__ import annotations

import logging
from typing import TYPE_CHECKING

import polars as pl

from er_toolkit import schema
from er_toolkit.cluster import (
    Linkage,
    NotCompared,
    check_linkage_options,
    cluster_id_expr,
    connected_components,
)
from er_toolkit.engines.spark._frames import fixed, map_batches, to_polars, to_spark
from er_toolkit.exceptions import SchemaError

if TYPE_CHECKING:
    from pyspark.sql import DataFrame

log = logging.getLogger(__name__)

_U, _V, _M = "__u", "__v", "__m"
_COMPONENT = "__component"
MAX_ROUNDS = 64


def star_components(edges: DataFrame) -> DataFrame:
    """Return ``_row`` and ``__component`` (the smallest row it reaches) for every row on an edge.

    The alternating large-star / small-star algorithm (Kiveris et al.,
    "Connected Components in MapReduce and Beyond", SoCC 2014): each
    round takes O(edges) work in a few joins and group-bys, and the graph
    becomes one star per component, centred on its smallest row, within
    O(log² n) rounds (a handful in practice). Each round's edges are
    checkpointed, so the plan does not grow with the rounds.

    Parameters
    ----------
    edges
        ``__u``, ``__v``: Int64 row numbers of each link (any orientation).
    """
    from pyspark.sql import functions as F

    current = fixed(
        edges.select(
            F.greatest(_U, _V).alias(_U), F.least(_U, _V).alias(_V)
        )  # (larger, smaller)
        .where(F.col(_U) != F.col(_V))
        .distinct()
    )
    for round_ in range(1, MAX_ROUNDS + 1):
        # large star: every larger neighbour of u links to u's smallest neighbour
        both = current.unionByName(
            current.select(F.col(_V).alias(_U), F.col(_U).alias(_V))
        )
        smallest = (
            both.groupBy(_U)
            .agg(F.min(_V).alias(_M))
            .withColumn(_M, F.least(F.col(_M), F.col(_U)))
        )
        large = (
            both.join(smallest, _U)
            .where(F.col(_V) > F.col(_U))
            .select(F.col(_V).alias(_U), F.col(_M).alias(_V))
            .where(F.col(_U) != F.col(_V))
            .distinct()
        )
        # small star: u and its smaller neighbours link to the smallest of them
        smallest = large.groupBy(_U).agg(F.min(_V).alias(_M))
        linked = large.join(smallest, _U).select(F.col(_V).alias("__x"), F.col(_M))
        linked = linked.unionByName(smallest.select(F.col(_U).alias("__x"), F.col(_M)))
        current = fixed(
            linked.where(F.col("__x") != F.col(_M))
            .select(F.col("__x").alias(_U), F.col(_M).alias(_V))
            .distinct()
        )
        # done when the edges are stars: each row links to at most one other,
        # and no centre links to a smaller row
        his = current.groupBy(_U).agg(F.count("*").alias("__k"))
        unsettled = (
            his.where(F.col("__k") > 1)
            .select(_U)
            .unionByName(
                current.select(F.col(_V).alias(_U)).join(
                    his.select(_U), _U, "left_semi"
                )
            )
            .limit(1)
        )
        if unsettled.count() == 0:
            log.info("connected components: stars after %d round(s)", round_)
            break
    else:  # pragma: no cover - the rounds are O(log² n)
        raise RuntimeError(
            f"connected components did not converge in {MAX_ROUNDS} rounds"
        )
    return (
        current.select(F.col(_U).alias(schema.ROW), F.col(_V).alias(_COMPONENT))
        .unionByName(
            current.select(F.col(_V).alias(schema.ROW), F.col(_V).alias(_COMPONENT))
        )
        .distinct()
    )


def driver_components(links: DataFrame) -> pl.DataFrame:
    """Return ``_row`` and ``__component`` for every row on a link, found here (scipy).

    The labels :func:`star_components` finds (each row's component is
    the smallest row it reaches), from the links brought to the driver:
    one job instead of a few per round, for graphs whose links fit here.
    """
    import numpy as np

    from er_toolkit.cluster import _component_labels

    table = pl.from_arrow(links.select(_U, _V).toArrow())
    assert isinstance(table, pl.DataFrame)
    u = table.get_column(_U).to_numpy().astype(np.int64)
    v = table.get_column(_V).to_numpy().astype(np.int64)
    keep = u != v
    u, v = u[keep], v[keep]
    rows = np.unique(np.concatenate([u, v]))
    if rows.size == 0:
        return pl.DataFrame(schema={schema.ROW: pl.Int64, _COMPONENT: pl.Int64})
    labels = _component_labels(
        rows.size, np.searchsorted(rows, u), np.searchsorted(rows, v)
    )
    smallest = np.full(labels.max() + 1, np.iinfo(np.int64).max, dtype=np.int64)
    np.minimum.at(smallest, labels, rows)
    return pl.DataFrame({schema.ROW: rows, _COMPONENT: smallest[labels]})


def _cluster_ids(members: DataFrame) -> DataFrame:
    """Return ``__component``, ``cluster_id`` (of the smallest member by source, record id), ``cluster_size``."""
    from pyspark.sql import functions as F

    first = F.min(F.struct(F.col(schema.SOURCE), F.col(schema.RECORD_ID)))
    per = members.groupBy(_COMPONENT).agg(
        first.alias("__first"), F.count("*").alias(schema.CLUSTER_SIZE)
    )
    flat = per.select(
        _COMPONENT,
        F.col("__first." + schema.SOURCE).alias(schema.SOURCE),
        F.col("__first." + schema.RECORD_ID).alias(schema.RECORD_ID),
        schema.CLUSTER_SIZE,
    )

    def ids(batch: pl.DataFrame) -> pl.DataFrame:
        return batch.select(_COMPONENT, cluster_id_expr(), pl.col(schema.CLUSTER_SIZE))

    return map_batches(flat, ids)


def components(
    records: DataFrame,
    pairs: DataFrame,
    *,
    threshold: float,
    score_column: str,
    prune_weak_links: bool,
    keep_above: float,
    min_prune_size: int,
    max_cluster_size: int | None,
    linkage: Linkage = "single",
    not_compared: NotCompared = "far",
    min_linkage_probability: float | None = None,
    driver_links: int = 0,
    n_records: int | None = None,
) -> DataFrame:
    """Return ``_row``, ``record_id``, ``source``, ``cluster_id``, ``cluster_size`` per record.

    The components are found on Spark (large-star / small-star), or on the
    driver when there are at most ``driver_links`` links
    (:func:`driver_components`: the same labels in one job). Pruning weak links and re-cutting
    oversized clusters act within one component at a time, so the
    components they apply to (more than ``min_prune_size`` or
    ``max_cluster_size`` records, or three or more with an ``average`` /
    ``complete`` ``linkage``) are collected to the driver with their
    links and clustered there by
    :func:`~er_toolkit.cluster.connected_components`; components are
    small, so this is cheap, and the result is the polars engine's. With
    ``not_compared = "neutral"`` their pairs below the threshold go along.
    """
    from pyspark.sql import functions as F

    check_linkage_options(
        threshold,
        linkage,
        not_compared,
        min_linkage_probability,
        score_column=score_column,
    )
    missing = [
        c for c in (schema.ROW_L, schema.ROW_R, score_column) if c not in pairs.columns
    ]
    if missing:
        raise SchemaError(
            f"pairs lacks column(s) {missing}; its columns are {pairs.columns}."
        )
    score = F.col(score_column).cast("double")
    scored = pairs.where(~F.isnan(score)).select(
        F.col(schema.ROW_L).cast("long").alias(_U),
        F.col(schema.ROW_R).cast("long").alias(_V),
        score.alias("__score"),
    )
    links = scored.where(F.col("__score") >= F.lit(float(threshold)))
    level = pairs.storageLevel
    if not (level.useMemory or level.useDisk):  # else a filter of kept pairs
        links = fixed(links)
    n = records.count() if n_records is None else n_records
    bounds = links.agg(
        F.least(F.min(_U), F.min(_V)).alias("lo"),
        F.greatest(F.max(_U), F.max(_V)).alias("hi"),
        F.count("*").alias("n"),
    ).first()
    if (
        bounds is not None
        and bounds["lo"] is not None
        and (bounds["lo"] < 0 or bounds["hi"] >= n)
    ):
        raise SchemaError(
            f"pairs refer to rows outside the records frame (0..{n - 1}); "
            "score the pairs of these same records."
        )
    n_links = int(bounds["n"]) if bounds is not None else 0
    if n_links <= driver_links:
        labels = to_spark(records.sparkSession, driver_components(links))
    else:
        labels = star_components(links.select(_U, _V))
    members = (
        records.select(
            F.col(schema.ROW).cast("long").alias(schema.ROW),
            schema.RECORD_ID,
            F.col(schema.SOURCE).cast("string").alias(schema.SOURCE),
        )
        .join(labels, schema.ROW, "left")
        .withColumn(_COMPONENT, F.coalesce(F.col(_COMPONENT), F.col(schema.ROW)))
    )
    members = fixed(members)
    # ids made once (a Python pass): the clusters are read again below
    clusters = members.join(fixed(_cluster_ids(members)), _COMPONENT)
    limits = [
        *([min_prune_size] if prune_weak_links else []),
        *([max_cluster_size] if max_cluster_size is not None else []),
        *([2] if linkage != "single" else []),
    ]
    if limits:
        clusters = _refine_here(
            clusters,
            scored if not_compared == "neutral" else links,
            limit=min(limits),
            threshold=threshold,
            score_column=score_column,
            prune_weak_links=prune_weak_links,
            keep_above=keep_above,
            min_prune_size=min_prune_size,
            max_cluster_size=max_cluster_size,
            linkage=linkage,
            not_compared=not_compared,
            min_linkage_probability=min_linkage_probability,
        )
    return clusters.select(
        schema.ROW,
        schema.RECORD_ID,
        schema.SOURCE,
        schema.CLUSTER_ID,
        F.col(schema.CLUSTER_SIZE).cast("long").alias(schema.CLUSTER_SIZE),
    )


def _refine_here(
    clusters: DataFrame,
    links: DataFrame,
    *,
    limit: int,
    threshold: float,
    score_column: str,
    prune_weak_links: bool,
    keep_above: float,
    min_prune_size: int,
    max_cluster_size: int | None,
    linkage: Linkage,
    not_compared: NotCompared = "far",
    min_linkage_probability: float | None = None,
) -> DataFrame:
    """Re-cluster the components of more than ``limit`` records on the driver.

    ``links`` are the pairs at or above the threshold, or every scored pair
    (``not_compared = "neutral"``): the driver cuts them again.
    """
    from pyspark.sql import functions as F

    big = clusters.where(F.col(schema.CLUSTER_SIZE) > limit)
    here = to_polars(
        big.select(schema.ROW, schema.RECORD_ID, schema.SOURCE, _COMPONENT)
    )
    if here.height == 0:
        return clusters
    inside = links.join(big.select(F.col(schema.ROW).alias(_U)), _U, "left_semi")
    edges = pl.from_arrow(inside.toArrow())
    assert isinstance(edges, pl.DataFrame)
    local = here.sort(schema.ROW).with_row_index("__local")
    renumber = local.select(pl.col(schema.ROW).cast(pl.Int64), "__local")
    sub_pairs = (
        edges.join(renumber.rename({schema.ROW: _U, "__local": schema.ROW_L}), on=_U)
        .join(renumber.rename({schema.ROW: _V, "__local": schema.ROW_R}), on=_V)
        .select(schema.ROW_L, schema.ROW_R, pl.col("__score").alias(score_column))
    )
    sub_records = local.select(
        pl.col("__local").alias(schema.ROW), schema.RECORD_ID, schema.SOURCE
    )
    refined = connected_components(
        sub_records,
        sub_pairs,
        threshold=threshold,
        score_column=score_column,
        prune_weak_links=prune_weak_links,
        keep_above=keep_above,
        min_prune_size=min_prune_size,
        max_cluster_size=max_cluster_size,
        linkage=linkage,
        not_compared=not_compared,
        min_linkage_probability=min_linkage_probability,
    )
    log.info(
        "connected components: %d component(s) of %d records re-cut on the driver",
        here.get_column(_COMPONENT).n_unique(),
        here.height,
    )
    fresh = (
        local.select(schema.ROW, "__local")
        .join(
            refined.select(
                pl.col(schema.ROW).alias("__local"),
                schema.CLUSTER_ID,
                schema.CLUSTER_SIZE,
            ),
            on="__local",
        )
        .select(schema.ROW, schema.CLUSTER_ID, schema.CLUSTER_SIZE)
    )
    spark = clusters.sparkSession
    replaced = to_spark(spark, fresh).select(
        F.col(schema.ROW).alias("__row_new"),
        F.col(schema.CLUSTER_ID).alias("__id_new"),
        F.col(schema.CLUSTER_SIZE).alias("__size_new"),
    )
    joined = clusters.join(replaced, F.col(schema.ROW) == F.col("__row_new"), "left")
    return joined.select(
        *[
            c
            for c in clusters.columns
            if c not in (schema.CLUSTER_ID, schema.CLUSTER_SIZE)
        ],
        F.coalesce("__id_new", schema.CLUSTER_ID).alias(schema.CLUSTER_ID),
        F.coalesce("__size_new", schema.CLUSTER_SIZE).alias(schema.CLUSTER_SIZE),
    )
