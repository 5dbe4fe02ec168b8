"""Pairs from blocking keys: within one frame, and between a new batch and stored records."""

from __future__ import annotations

import numpy as np
import polars as pl

from er_toolkit import schema
from er_toolkit.blocking.base import PAIR_SCHEMA, KeyBlocker, pairs_of_blocks
from er_toolkit.exceptions import SchemaError
from er_toolkit.schema import LinkType

_KEY_COLUMNS = (schema.ROW, schema.BLOCK_KEY)


def _check_key_frame(keys: pl.DataFrame, what: str) -> pl.LazyFrame:
    missing = [c for c in _KEY_COLUMNS if c not in keys.columns]
    if missing:
        raise SchemaError(
            f"{what} must have columns {list(_KEY_COLUMNS)}; it lacks {missing} "
            f"(it has {keys.columns})."
        )
    return keys.lazy().select(
        pl.col(schema.ROW).cast(pl.UInt32), pl.col(schema.BLOCK_KEY).cast(pl.String)
    )


class KeyedBlocks:
    """What a key blocker's ``block`` and ``count_pairs`` are, from its ``block_keys``.

    A key blocker class (a frozen dataclass with ``max_block_size`` and
    ``block_keys``) inherits from this and writes neither: its pairs are
    :func:`block_by_keys` over its keys, and its count is
    :func:`count_key_pairs` (exact when each record has one key, an upper
    bound when a pair can share several).
    """

    max_block_size: int | None

    def block_keys(self, records: pl.DataFrame) -> pl.DataFrame:
        """Return ``_row`` and ``_block_key``, one row per (record, key)."""
        raise NotImplementedError

    def count_pairs(self, records: pl.DataFrame, *, link_type: LinkType) -> int:
        """Return the pairs per key, summed (an upper bound when pairs share keys)."""
        return count_key_pairs(
            self.block_keys(records),
            records,
            link_type=link_type,
            max_block_size=self.max_block_size,
        )

    def block(self, records: pl.DataFrame, *, link_type: LinkType) -> pl.DataFrame:
        """Return the pairs sharing a key held by at most ``max_block_size`` records."""
        return block_by_keys(
            self.block_keys(records),
            records,
            link_type=link_type,
            max_block_size=self.max_block_size,
        )


def _largest(max_block_size: int | None) -> int:
    return int(np.iinfo(np.int64).max) if max_block_size is None else max_block_size


def block_by_keys(
    keys: pl.DataFrame,
    records: pl.DataFrame,
    *,
    link_type: LinkType,
    max_block_size: int | None = None,
) -> pl.DataFrame:
    """Return the pairs of records that share a key.

    What a :class:`~er_toolkit.blocking.KeyBlocker`'s ``block`` returns:
    a new key blocker can write ``block`` as
    ``block_by_keys(self.block_keys(records), records, ...)``.

    Parameters
    ----------
    keys
        ``_row`` and ``_block_key``, one row per (record, key), as
        ``block_keys`` returns them.
    records
        The records frame (its ``source`` column, in a ``link`` job).
    link_type
        ``"dedupe"``, ``"link"`` (only pairs across sources) or
        ``"link_and_dedupe"``.
    max_block_size
        Keys held by more records than this pair none of them; None: no
        limit.

    Returns
    -------
    polars.DataFrame
        ``_row_l`` < ``_row_r`` (UInt32), each pair once even when its
        records share several keys.

    Examples
    --------
    >>> recs = pl.DataFrame({"_row": [0, 1, 2]}, schema={"_row": pl.UInt32})
    >>> keys = pl.DataFrame({"_row": [0, 1, 1, 2], "_block_key": ["x", "x", "y", "y"]})
    >>> sorted(block_by_keys(keys, recs, link_type="dedupe").rows())
    [(0, 1), (1, 2)]
    """
    frame = _check_key_frame(keys, "keys")
    # With at most one key per record (an exact rule) every pair comes from
    # one block only: nothing to de-duplicate, which at a million records
    # saves a hash pass over millions of pairs.
    several = bool(
        frame.select(pl.col(schema.ROW).is_duplicated().any()).collect().item()
    )
    if several:
        frame = frame.unique()
    cross = link_type == "link" and schema.SOURCE in records.columns
    if cross:
        frame = frame.join(_source_ranks(records), on=schema.ROW, how="inner")
    size = pl.col(schema.ROW).list.len()
    blocks = (
        frame.group_by(schema.BLOCK_KEY)
        .agg(
            pl.col(schema.ROW).sort(),
            *([pl.col("_src").sort_by(schema.ROW)] if cross else []),
        )
        .filter(size.is_between(2, _largest(max_block_size)))
        .select(pl.exclude(schema.BLOCK_KEY))
        .collect()
    )
    pairs = pairs_of_blocks(blocks)
    if pairs.height == 0:
        return pl.DataFrame(schema=PAIR_SCHEMA)
    return pairs.unique() if several else pairs


def count_key_pairs(
    keys: pl.DataFrame,
    records: pl.DataFrame,
    *,
    link_type: LinkType,
    max_block_size: int | None = None,
) -> int:
    """Return the pairs :func:`block_by_keys` makes, counted block by block.

    Exact when each record has at most one key; otherwise an upper bound
    (two records sharing two keys are counted twice).

    Examples
    --------
    >>> recs = pl.DataFrame({"_row": [0, 1, 2]}, schema={"_row": pl.UInt32})
    >>> keys = pl.DataFrame({"_row": [0, 1, 2], "_block_key": ["x", "x", "x"]})
    >>> count_key_pairs(keys, recs, link_type="dedupe")
    3
    """
    frame = _check_key_frame(keys, "keys").unique()
    cross = link_type == "link" and schema.SOURCE in records.columns
    if cross:
        frame = frame.join(_source_ranks(records), on=schema.ROW, how="inner")
    frame = frame.filter(pl.len().over(schema.BLOCK_KEY) <= _largest(max_block_size))
    if cross:
        per = frame.group_by(schema.BLOCK_KEY, "_src").agg(
            pl.len().cast(pl.Int64).alias("c")
        )
        out = per.group_by(schema.BLOCK_KEY).agg(
            ((pl.col("c").sum() ** 2 - (pl.col("c") ** 2).sum()) // 2).alias("p")
        )
    else:
        out = frame.group_by(schema.BLOCK_KEY).agg(
            (pl.len().cast(pl.Int64) * (pl.len().cast(pl.Int64) - 1) // 2).alias("p")
        )
    return int(out.select(pl.col("p").sum()).collect().item() or 0)


def pairs_between(
    left_keys: pl.DataFrame,
    right_keys: pl.DataFrame,
    *,
    max_block_size: int | None = None,
) -> pl.DataFrame:
    """Return the pairs of a left and a right record that share a key: an equi-join.

    The left and right frames number their records separately (a new batch
    and the records stored before it, say), so a pair is a left row and a
    right row, never put in order.

    Parameters
    ----------
    left_keys, right_keys
        ``_row`` and ``_block_key``, one row per (record, key), of one key
        blocker over each frame.
    max_block_size
        Keys held by more records than this, the two sides together, pair
        none of them (as the blocker would over both frames at once); None:
        no limit.

    Returns
    -------
    polars.DataFrame
        ``_row_l`` (a row of the left frame) and ``_row_r`` (of the right),
        UInt32, each pair once.

    Examples
    --------
    >>> new = pl.DataFrame({"_row": [0, 1], "_block_key": ["x", "y"]})
    >>> stored = pl.DataFrame({"_row": [0, 1, 2], "_block_key": ["y", "y", "z"]})
    >>> sorted(pairs_between(new, stored).rows())
    [(1, 0), (1, 1)]
    """
    left = _check_key_frame(left_keys, "left_keys").unique()
    right = _check_key_frame(right_keys, "right_keys").unique()
    if max_block_size is not None:
        sizes = (
            pl.concat([left.select(schema.BLOCK_KEY), right.select(schema.BLOCK_KEY)])
            .group_by(schema.BLOCK_KEY)
            .agg(pl.len().alias("_n"))
            .filter(pl.col("_n") > max_block_size)
            .select(schema.BLOCK_KEY)
        )
        left = left.join(sizes, on=schema.BLOCK_KEY, how="anti")
        right = right.join(sizes, on=schema.BLOCK_KEY, how="anti")
    return (
        left.join(right, on=schema.BLOCK_KEY, how="inner", suffix=schema.RIGHT)
        .select(
            pl.col(schema.ROW).alias(schema.ROW_L),
            pl.col(schema.ROW + schema.RIGHT).alias(schema.ROW_R),
        )
        .unique()
        .collect()
    )


def block_against(
    blocker: KeyBlocker,
    new_records: pl.DataFrame,
    existing_records: pl.DataFrame,
    *,
    link_type: LinkType,
) -> pl.DataFrame:
    """Return the pairs of a new record and an existing one that ``blocker`` makes.

    The pairs :meth:`blocker.block` would make between the two frames if it
    ran over both at once (block purging counting both), without blocking
    the existing records again: for incremental matching of a batch against
    stored records. Pairs among the new records are ``blocker.block``'s.

    Parameters
    ----------
    blocker
        A key blocker (one with ``block_keys``).
    new_records, existing_records
        Two records frames, each numbered by its own ``_row``.
    link_type
        In a ``link`` job only pairs across sources are kept.

    Returns
    -------
    polars.DataFrame
        ``_row_l`` (a row of ``new_records``) and ``_row_r`` (a row of
        ``existing_records``), UInt32, each pair once.

    Examples
    --------
    >>> from er_toolkit.blocking import ExactRule
    >>> new = pl.DataFrame({"_row": [0], "s": ["li"]})
    >>> old = pl.DataFrame({"_row": [0, 1, 2], "s": ["ng", "li", "li"]})
    >>> sorted(block_against(ExactRule(("s",)), new, old, link_type="dedupe").rows())
    [(0, 1), (0, 2)]
    """
    pairs = pairs_between(
        blocker.block_keys(new_records),
        blocker.block_keys(existing_records),
        max_block_size=blocker.max_block_size,
    )
    if (
        link_type == "link"
        and schema.SOURCE in new_records.columns
        and schema.SOURCE in existing_records.columns
    ):
        new_source = new_records.select(
            pl.col(schema.ROW).cast(pl.UInt32).alias(schema.ROW_L),
            pl.col(schema.SOURCE).cast(pl.String).alias("_src_l"),
        )
        old_source = existing_records.select(
            pl.col(schema.ROW).cast(pl.UInt32).alias(schema.ROW_R),
            pl.col(schema.SOURCE).cast(pl.String).alias("_src_r"),
        )
        pairs = (
            pairs.join(new_source, on=schema.ROW_L)
            .join(old_source, on=schema.ROW_R)
            .filter(pl.col("_src_l") != pl.col("_src_r"))
            .select(schema.ROW_L, schema.ROW_R)
        )
    return pairs


def _source_ranks(records: pl.DataFrame) -> pl.LazyFrame:
    return records.lazy().select(
        pl.col(schema.ROW).cast(pl.UInt32),
        pl.col(schema.SOURCE).rank("dense").alias("_src"),
    )
