"""Blocking on Spark: blocking keys per batch, then equi-joins on them (salted when skewed)."""

from __future__ import annotations

from collections.abc import Sequence
from typing import TYPE_CHECKING

import polars as pl

from er_toolkit import schema
from er_toolkit.blocking import Blocker, KeyBlocker, SortedNeighbourhood
from er_toolkit.engines.spark._frames import fixed, map_batches, with_dense_rows

if TYPE_CHECKING:
    from pyspark.sql import Column, DataFrame

    from er_toolkit.schema import LinkType

_SALT = "__salt"
_SIZE = "__size"
_SRC = "_src"


def _is_key_blocker(blocker: Blocker) -> bool:
    return isinstance(blocker, KeyBlocker)


def _inputs(records: DataFrame, blocker: Blocker) -> DataFrame:
    from pyspark.sql import functions as F

    return records.select(
        F.col(schema.ROW), F.col(schema.SOURCE), *[F.col(c) for c in blocker.columns]
    )


def keys(records: DataFrame, blocker: Blocker) -> DataFrame:
    """Return ``_row``, ``source`` and ``_block_key``: the blocker's own key code, per batch.

    A key blocker's :meth:`block_keys`, or a sorted neighbourhood's
    :meth:`sort_keys`, runs on each Arrow batch: keys are a function of
    each record alone, so they are those of the polars engine.
    """
    make = (
        blocker.sort_keys
        if isinstance(blocker, SortedNeighbourhood)
        else blocker.block_keys  # type: ignore[attr-defined]
    )

    def batch_keys(batch: pl.DataFrame) -> pl.DataFrame:
        made = make(batch).with_columns(pl.col(schema.ROW).cast(pl.Int64))
        sources = batch.select(pl.col(schema.ROW).cast(pl.Int64), schema.SOURCE)
        return made.join(sources, on=schema.ROW, how="left").select(
            schema.ROW, schema.SOURCE, schema.BLOCK_KEY
        )

    out = map_batches(_inputs(records, blocker), batch_keys)
    if not isinstance(blocker, SortedNeighbourhood) and blocker.kind != "exact":
        out = out.dropDuplicates([schema.ROW, schema.BLOCK_KEY])  # several keys each
    return out


def _block_sizes(
    keyed: DataFrame, *, link_type: LinkType, max_block_size: int | None
) -> DataFrame:
    """Return ``_block_key``, its record count and pair count; purged keys left out."""
    from pyspark.sql import functions as F

    if link_type == "link":
        per = keyed.groupBy(schema.BLOCK_KEY, schema.SOURCE).agg(
            F.count("*").alias("c")
        )
        sizes = per.groupBy(schema.BLOCK_KEY).agg(
            F.sum("c").alias(_SIZE),
            ((F.sum("c") * F.sum("c") - F.sum(F.col("c") * F.col("c"))) / 2)
            .cast("long")
            .alias("pairs"),
        )
    else:
        sizes = keyed.groupBy(schema.BLOCK_KEY).agg(F.count("*").alias(_SIZE))
        sizes = sizes.withColumn(
            "pairs", (F.col(_SIZE) * (F.col(_SIZE) - 1) / 2).cast("long")
        )
    if max_block_size is not None:
        sizes = sizes.where(F.col(_SIZE) <= max_block_size)
    return sizes.where(F.col(_SIZE) >= 2)


def count_pairs(records: DataFrame, blocker: Blocker, *, link_type: LinkType) -> int:
    """Return the blocker's pair count, as its ``count_pairs`` gives it.

    Key blockers: the pairs of each key summed over keys (exact when each
    record has one key, as with exact rules; an upper bound otherwise).
    Sorted neighbourhood: every window position's pairs.
    """
    from pyspark.sql import functions as F

    if isinstance(blocker, SortedNeighbourhood):
        n = keys(records, blocker).count()
        return sum(max(n - k, 0) for k in range(1, blocker.window))
    if not _is_key_blocker(blocker):
        return int(
            blocker.count_pairs(_collect_for(records, blocker), link_type=link_type)
        )
    sizes = _block_sizes(
        keys(records, blocker),
        link_type=link_type,
        max_block_size=getattr(blocker, "max_block_size", None),
    )
    total = sizes.agg(F.sum("pairs")).first()
    return int(total[0] or 0) if total is not None else 0


def pairs(
    records: DataFrame,
    blocker: Blocker,
    *,
    link_type: LinkType,
    salt_above: int,
) -> DataFrame:
    """Return one blocker's pairs: ``_row_l`` < ``_row_r`` (Int64), each once."""
    if isinstance(blocker, SortedNeighbourhood):
        return _sorted_neighbourhood(records, blocker, link_type=link_type)
    if not _is_key_blocker(blocker):
        return _driver_pairs(records, blocker, link_type=link_type)
    keyed = keys(records, blocker)
    sizes = _block_sizes(
        keyed,
        link_type=link_type,
        max_block_size=getattr(blocker, "max_block_size", None),
    )
    out = _key_join(keyed, sizes, link_type=link_type, salt_above=salt_above)
    if blocker.kind != "exact":
        out = out.dropDuplicates()  # records sharing several keys
    return out


def _key_join(
    keyed: DataFrame, sizes: DataFrame, *, link_type: LinkType, salt_above: int
) -> DataFrame:
    """Self-join the keys: every pair of records sharing a key, salted where a key is big.

    Skew: a key held by ``n`` records makes ``n²/2`` pairs in one task.
    A key held by more than ``salt_above`` records is split into
    ``ceil(n / salt_above)`` salts: each left record takes one salt (from
    its row number) and each right record is copied to every salt, so the
    key's pairs are made by that many tasks, each with ``salt_above``
    left records. The pairs are the same; keys below the limit are
    joined as they are.
    """
    from pyspark.sql import functions as F

    salts = F.greatest(F.lit(1), F.ceil(F.col(_SIZE) / F.lit(salt_above))).cast("int")
    sized = keyed.join(
        sizes.select(schema.BLOCK_KEY, salts.alias("__salts")), schema.BLOCK_KEY
    )
    left = sized.select(
        F.col(schema.BLOCK_KEY),
        F.pmod(F.col(schema.ROW), F.col("__salts")).alias(_SALT),
        F.col(schema.ROW).alias(schema.ROW_L),
        F.col(schema.SOURCE).alias("__src_l"),
    )
    right = sized.select(
        F.col(schema.BLOCK_KEY),
        F.explode(F.sequence(F.lit(0), F.col("__salts") - 1)).alias(_SALT),
        F.col(schema.ROW).alias(schema.ROW_R),
        F.col(schema.SOURCE).alias("__src_r"),
    )
    joined = left.join(right, [schema.BLOCK_KEY, _SALT]).where(
        F.col(schema.ROW_L) < F.col(schema.ROW_R)
    )
    if link_type == "link":
        joined = joined.where(F.col("__src_l") != F.col("__src_r"))
    return joined.select(schema.ROW_L, schema.ROW_R)


def _oriented(a: Column, b: Column) -> list[Column]:
    from pyspark.sql import functions as F

    return [F.least(a, b).alias(schema.ROW_L), F.greatest(a, b).alias(schema.ROW_R)]


def _sorted_neighbourhood(
    records: DataFrame, blocker: SortedNeighbourhood, *, link_type: LinkType
) -> DataFrame:
    """Pair each record with the next ``window - 1`` in (key, row) order.

    A global sort numbers the records by position (no single-partition
    window); each position is joined with the next ``window - 1``.
    """
    from pyspark.sql import functions as F

    ordered = fixed(keys(records, blocker).orderBy(schema.BLOCK_KEY, schema.ROW))
    placed = with_dense_rows(ordered, column="__pos")
    ahead = placed.select(
        (F.col("__pos") + F.explode(F.sequence(F.lit(1), F.lit(blocker.window - 1))))
        .alias("__pos"),
        F.col(schema.ROW).alias("__a"),
        F.col(schema.SOURCE).alias("__src_a"),
    )
    here = placed.select(
        "__pos",
        F.col(schema.ROW).alias("__b"),
        F.col(schema.SOURCE).alias("__src_b"),
    )
    joined = ahead.join(here, "__pos")
    if link_type == "link":
        joined = joined.where(F.col("__src_a") != F.col("__src_b"))
    return joined.select(*_oriented(F.col("__a"), F.col("__b")))


def _collect_for(records: DataFrame, blocker: Blocker) -> pl.DataFrame:
    from er_toolkit.engines.spark._frames import to_polars

    return to_polars(_inputs(records, blocker)).with_columns(
        pl.col(schema.ROW).cast(pl.UInt32)
    )


def _driver_pairs(
    records: DataFrame, blocker: Blocker, *, link_type: LinkType
) -> DataFrame:
    """A blocker with neither keys nor a sort key: run it here on the columns it reads.

    Its records' ``_row`` and columns are collected to the driver (rows
    keep their numbers), so its pairs are the polars engine's.
    """
    from er_toolkit.engines.spark._frames import to_spark

    here = _collect_for(records, blocker).sort(schema.ROW)
    made = blocker.block(here, link_type=link_type)
    return to_spark(records.sparkSession, made)


def union(
    parts: Sequence[tuple[str, DataFrame]],
) -> DataFrame | None:
    """Return the union of the blockers' pairs, each once, tagged with its first producer."""
    from pyspark.sql import functions as F

    if not parts:
        return None
    names = [name for name, _ in parts]
    tagged = None
    for i, (_, frame) in enumerate(parts):
        one = frame.select(schema.ROW_L, schema.ROW_R, F.lit(i).alias("__rule"))
        tagged = one if tagged is None else tagged.unionByName(one)
    assert tagged is not None
    first = tagged.groupBy(schema.ROW_L, schema.ROW_R).agg(
        F.min("__rule").alias("__rule")
    )
    label = F.element_at(F.array(*[F.lit(n) for n in names]), F.col("__rule") + 1)
    return first.select(schema.ROW_L, schema.ROW_R, label.alias(schema.BLOCKED_BY))


def against(
    new_records: DataFrame,
    existing_records: DataFrame,
    blocker: KeyBlocker,
    *,
    link_type: LinkType,
) -> DataFrame:
    """Pair new records (``_row_l``) with existing ones (``_row_r``) sharing a key.

    As :func:`er_toolkit.blocking.block_against`: keys held by more than
    ``max_block_size`` records of the two frames together pair none.
    """
    from pyspark.sql import functions as F

    new = keys(new_records, blocker).dropDuplicates([schema.ROW, schema.BLOCK_KEY])
    old = keys(existing_records, blocker).dropDuplicates(
        [schema.ROW, schema.BLOCK_KEY]
    )
    limit = blocker.max_block_size
    if limit is not None:
        big = (
            new.select(schema.BLOCK_KEY)
            .unionAll(old.select(schema.BLOCK_KEY))
            .groupBy(schema.BLOCK_KEY)
            .count()
            .where(F.col("count") > limit)
            .select(schema.BLOCK_KEY)
        )
        new = new.join(big, schema.BLOCK_KEY, "left_anti")
        old = old.join(big, schema.BLOCK_KEY, "left_anti")
    joined = new.select(
        schema.BLOCK_KEY,
        F.col(schema.ROW).alias(schema.ROW_L),
        F.col(schema.SOURCE).alias("__src_l"),
    ).join(
        old.select(
            schema.BLOCK_KEY,
            F.col(schema.ROW).alias(schema.ROW_R),
            F.col(schema.SOURCE).alias("__src_r"),
        ),
        schema.BLOCK_KEY,
    )
    if link_type == "link":
        joined = joined.where(
            F.col("__src_l").cast("string") != F.col("__src_r").cast("string")
        )
    return joined.select(schema.ROW_L, schema.ROW_R).dropDuplicates()

