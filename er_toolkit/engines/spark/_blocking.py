"""Blocking on Spark: blocking keys per batch, then equi-joins on them (salted when skewed)."""

from __future__ import annotations

from collections.abc import Sequence
from typing import TYPE_CHECKING

import polars as pl

from er_toolkit import schema
from er_toolkit.blocking import Blocker, KeyBlocker, SortedNeighbourhood
from er_toolkit.engines.spark._frames import (
    map_batches,
    to_polars,
    to_spark,
    with_dense_rows,
)

if TYPE_CHECKING:
    from pyspark.sql import Column, DataFrame

    from er_toolkit.schema import LinkType

RULE = "__rule"
BLOCKERS = "er_toolkit.blockers"
"""Column metadata of ``blocked_by``: the blocker names in priority order."""
_SALT = "__salt"
_SIZE = "__size"
_LIMIT = "__limit"


def joined_by_keys(blocker: Blocker) -> bool:
    """Whether Spark pairs this blocker's records itself (a key blocker or a sorted neighbourhood)."""
    return isinstance(blocker, (KeyBlocker, SortedNeighbourhood))


def keys(records: DataFrame, blockers: Sequence[Blocker]) -> DataFrame:
    """Return ``__rule``, ``_row``, ``source``, ``_block_key`` for every blocker Spark joins.

    One pass of ``mapInArrow`` over the records: each batch gets every
    blocker's own key code (a key blocker's ``block_keys``, a sorted
    neighbourhood's ``sort_keys``), so the keys are the polars engine's.
    ``__rule`` is the blocker's place in ``blockers``.
    """
    from pyspark.sql import functions as F

    made = [
        (i, b.sort_keys if isinstance(b, SortedNeighbourhood) else b.block_keys)  # type: ignore[attr-defined]
        for i, b in enumerate(blockers)
        if joined_by_keys(b)
    ]
    columns = list(
        dict.fromkeys(c for b in blockers if joined_by_keys(b) for c in b.columns)
    )

    def batch_keys(batch: pl.DataFrame) -> pl.DataFrame:
        sources = batch.select(pl.col(schema.ROW).cast(pl.Int64), schema.SOURCE)
        parts = [
            make(batch).select(
                pl.lit(i, dtype=pl.Int32).alias(RULE),
                pl.col(schema.ROW).cast(pl.Int64),
                pl.col(schema.BLOCK_KEY).cast(pl.String),
            )
            for i, make in made
        ]
        stacked = (
            pl.concat(parts)
            if parts
            else pl.DataFrame(
                schema={
                    RULE: pl.Int32,
                    schema.ROW: pl.Int64,
                    schema.BLOCK_KEY: pl.String,
                }
            )
        )
        return stacked.join(sources, on=schema.ROW, how="left").select(
            RULE, schema.ROW, schema.SOURCE, schema.BLOCK_KEY
        )

    out = map_batches(
        records.select(
            F.col(schema.ROW), F.col(schema.SOURCE).cast("string"), *columns
        ),
        batch_keys,
    )
    if any(
        joined_by_keys(b) and b.kind not in ("exact", SortedNeighbourhood.kind)
        for b in blockers
    ):
        out = out.dropDuplicates(
            [RULE, schema.ROW, schema.BLOCK_KEY]
        )  # several keys each
    return out


def _limits(blockers: Sequence[Blocker]) -> Column:
    """Each key rule's ``max_block_size`` (null: no limit), by ``__rule``."""
    from pyspark.sql import functions as F

    entries = [
        item
        for i, b in enumerate(blockers)
        if getattr(b, "max_block_size", None) is not None
        for item in (F.lit(i), F.lit(int(b.max_block_size)))  # type: ignore[attr-defined]
    ]
    if not entries:
        return F.lit(None).cast("long")
    return F.element_at(F.create_map(*entries), F.col(RULE))


def block_sizes(
    keyed: DataFrame, blockers: Sequence[Blocker], *, link_type: LinkType
) -> DataFrame:
    """Return ``__rule``, ``_block_key``, its record count and pair count, for key rules; purged keys left out."""
    from pyspark.sql import functions as F

    key_rules = [i for i, b in enumerate(blockers) if isinstance(b, KeyBlocker)]
    keyed = keyed.where(F.col(RULE).isin(key_rules))
    if link_type == "link":
        per = keyed.groupBy(RULE, schema.BLOCK_KEY, schema.SOURCE).agg(
            F.count("*").alias("c")
        )
        sizes = per.groupBy(RULE, schema.BLOCK_KEY).agg(
            F.sum("c").alias(_SIZE),
            ((F.sum("c") * F.sum("c") - F.sum(F.col("c") * F.col("c"))) / 2)
            .cast("long")
            .alias("pairs"),
        )
    else:
        sizes = keyed.groupBy(RULE, schema.BLOCK_KEY).agg(F.count("*").alias(_SIZE))
        sizes = sizes.withColumn(
            "pairs", (F.col(_SIZE) * (F.col(_SIZE) - 1) / 2).cast("long")
        )
    limit = _limits(blockers)
    return sizes.where((F.col(_SIZE) >= 2) & (limit.isNull() | (F.col(_SIZE) <= limit)))


def count_pairs(
    records: DataFrame,
    keyed: DataFrame,
    blockers: Sequence[Blocker],
    *,
    link_type: LinkType,
) -> list[int]:
    """Return each blocker's pair count, as its ``count_pairs`` gives it.

    Key blockers: the pairs of each key summed over keys (exact when each
    record has one key, as with exact rules; an upper bound otherwise).
    Sorted neighbourhood: every window position's pairs. Other blockers
    count on the driver.
    """
    from pyspark.sql import functions as F

    per_rule = {
        int(r[RULE]): int(r["p"] or 0)
        for r in block_sizes(keyed, blockers, link_type=link_type)
        .groupBy(RULE)
        .agg(F.sum("pairs").alias("p"))
        .collect()
    }
    windows = [i for i, b in enumerate(blockers) if isinstance(b, SortedNeighbourhood)]
    keyed_rows = (
        {
            int(r[RULE]): int(r["n"])
            for r in keyed.where(F.col(RULE).isin(windows))
            .groupBy(RULE)
            .agg(F.count("*").alias("n"))
            .collect()
        }
        if windows
        else {}
    )
    counts = []
    for i, blocker in enumerate(blockers):
        if isinstance(blocker, SortedNeighbourhood):
            n = keyed_rows.get(i, 0)
            counts.append(sum(max(n - k, 0) for k in range(1, blocker.window)))
        elif isinstance(blocker, KeyBlocker):
            counts.append(per_rule.get(i, 0))
        else:
            here = _collect_for(records, blocker)
            counts.append(int(blocker.count_pairs(here, link_type=link_type)))
    return counts


def pairs(
    records: DataFrame,
    keyed: DataFrame,
    blockers: Sequence[Blocker],
    run: Sequence[int],
    *,
    link_type: LinkType,
    salt_above: int,
) -> DataFrame:
    """Return ``__rule``, ``_row_l`` < ``_row_r`` (Int64) of the blockers at the places ``run``.

    A pair made by several rules, or by one rule through several keys,
    appears once per rule at most; :func:`union` keeps its first rule.
    """
    from pyspark.sql import functions as F

    keyed = keyed.where(F.col(RULE).isin(list(run)))
    parts = []
    if any(isinstance(blockers[i], KeyBlocker) for i in run):
        sizes = block_sizes(keyed, blockers, link_type=link_type)
        parts.append(
            _key_join(keyed, sizes, link_type=link_type, salt_above=salt_above)
        )
    windows = {
        i: blockers[i].window  # type: ignore[attr-defined]
        for i in run
        if isinstance(blockers[i], SortedNeighbourhood)
    }
    if windows:
        parts.append(_sorted_neighbourhood(keyed, windows, link_type=link_type))
    for i in run:
        if not joined_by_keys(blockers[i]):
            parts.append(
                _driver_pairs(records, blockers[i], link_type=link_type).select(
                    F.lit(i).alias(RULE), schema.ROW_L, schema.ROW_R
                )
            )
    out = parts[0]
    for part in parts[1:]:
        out = out.unionByName(part)
    return out


def _key_join(
    keyed: DataFrame, sizes: DataFrame, *, link_type: LinkType, salt_above: int
) -> DataFrame:
    """Self-join the keys: every pair of records sharing a key, salted where a key is big.

    Skew: a key held by ``n`` records makes ``n²/2`` pairs in one task.
    A key held by more than ``salt_above`` records is split into
    ``ceil(n / salt_above)`` salts: each left record takes one salt (its
    row number modulo the salts) and each right record is copied to every
    salt, so the key's pairs are made by that many tasks of at most about
    ``salt_above`` left records each. The pairs are the same; keys below
    the limit are joined as they are.
    """
    from pyspark.sql import functions as F

    salts = F.greatest(F.lit(1), F.ceil(F.col(_SIZE) / F.lit(salt_above))).cast("int")
    sized = keyed.join(
        sizes.select(RULE, schema.BLOCK_KEY, salts.alias("__salts")),
        [RULE, schema.BLOCK_KEY],
    )
    left = sized.select(
        RULE,
        schema.BLOCK_KEY,
        F.pmod(F.col(schema.ROW), F.col("__salts")).alias(_SALT),
        F.col(schema.ROW).alias(schema.ROW_L),
        F.col(schema.SOURCE).alias("__src_l"),
    )
    right = sized.select(
        RULE,
        schema.BLOCK_KEY,
        F.explode(F.sequence(F.lit(0), F.col("__salts") - 1)).alias(_SALT),
        F.col(schema.ROW).alias(schema.ROW_R),
        F.col(schema.SOURCE).alias("__src_r"),
    )
    joined = left.join(right, [RULE, schema.BLOCK_KEY, _SALT]).where(
        F.col(schema.ROW_L) < F.col(schema.ROW_R)
    )
    if link_type == "link":
        joined = joined.where(F.col("__src_l") != F.col("__src_r"))
    return joined.select(RULE, schema.ROW_L, schema.ROW_R)


def _sorted_neighbourhood(
    keyed: DataFrame, windows: dict[int, int], *, link_type: LinkType
) -> DataFrame:
    """Pair each record with the next ``window - 1`` in (key, row) order, per rule.

    A global sort numbers the records by position (no single-partition
    window function); each position is joined with the next ``window - 1``
    of the same rule.
    """
    from pyspark.sql import functions as F

    ordered = keyed.where(F.col(RULE).isin(list(windows))).orderBy(
        RULE, schema.BLOCK_KEY, schema.ROW
    )
    placed = with_dense_rows(ordered, column="__pos")
    window = F.element_at(
        F.create_map(*[x for i, w in windows.items() for x in (F.lit(i), F.lit(w))]),
        F.col(RULE),
    )
    ahead = placed.select(
        RULE,
        F.col("__pos"),
        F.explode(F.sequence(F.lit(1), window - 1)).alias("__k"),
        F.col(schema.ROW).alias("__a"),
        F.col(schema.SOURCE).alias("__src_a"),
    ).select(RULE, (F.col("__pos") + F.col("__k")).alias("__pos"), "__a", "__src_a")
    here = placed.select(
        RULE,
        "__pos",
        F.col(schema.ROW).alias("__b"),
        F.col(schema.SOURCE).alias("__src_b"),
    )
    joined = ahead.join(here, [RULE, "__pos"])
    if link_type == "link":
        joined = joined.where(F.col("__src_a") != F.col("__src_b"))
    return joined.select(RULE, *_oriented(F.col("__a"), F.col("__b")))


def _oriented(a: Column, b: Column) -> list[Column]:
    from pyspark.sql import functions as F

    return [F.least(a, b).alias(schema.ROW_L), F.greatest(a, b).alias(schema.ROW_R)]


def _collect_for(records: DataFrame, blocker: Blocker) -> pl.DataFrame:
    from pyspark.sql import functions as F

    return to_polars(
        records.select(F.col(schema.ROW), F.col(schema.SOURCE), *blocker.columns)
    )


def _driver_pairs(
    records: DataFrame, blocker: Blocker, *, link_type: LinkType
) -> DataFrame:
    """Run a blocker with neither keys nor a sort key here on the columns it reads.

    Its records' ``_row`` and columns are collected to the driver (rows
    keep their numbers), so its pairs are the polars engine's.
    """
    made = blocker.block(_collect_for(records, blocker), link_type=link_type)
    return to_spark(records.sparkSession, made)


def union(tagged: DataFrame, names: Sequence[str]) -> DataFrame:
    """Return each pair once, ``blocked_by`` the name of its first rule."""
    from pyspark.sql import functions as F

    first = tagged.groupBy(schema.ROW_L, schema.ROW_R).agg(F.min(RULE).alias(RULE))
    label = F.element_at(F.array(*[F.lit(n) for n in names]), F.col(RULE) + 1)
    return first.select(
        schema.ROW_L,
        schema.ROW_R,
        label.alias(schema.BLOCKED_BY, metadata={BLOCKERS: list(names)}),
    )


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

    new = keys(new_records, [blocker]).dropDuplicates([schema.ROW, schema.BLOCK_KEY])
    old = keys(existing_records, [blocker]).dropDuplicates(
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
        joined = joined.where(F.col("__src_l") != F.col("__src_r"))
    return joined.select(schema.ROW_L, schema.ROW_R).dropDuplicates()
