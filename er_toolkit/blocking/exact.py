"""Exact multi-column blocking rules."""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import polars as pl

from er_toolkit import schema
from er_toolkit.blocking.base import (
    PAIR_SCHEMA,
    block_pair_positions,
    key_column,
    key_expr,
)
from er_toolkit.exceptions import ConfigError
from er_toolkit.schema import LinkType


@dataclass(frozen=True)
class ExactRule:
    """Pair records that agree exactly on every key; nulls never match.

    Parameters
    ----------
    keys
        Column names, each optionally ``"column[:n]"`` for a prefix.
    name
        The rule's name in ``blocked_by``; defaults to the keys joined by
        ``&``.
    max_block_size
        Skip blocks of more records than this ("block purging"): a key value
        shared by thousands of records (a common surname) says little, costs
        quadratic pairs, and its true matches are usually found by other
        rules. ``None`` keeps every block.

    Examples
    --------
    >>> recs = pl.DataFrame({"_row": [0, 1, 2], "surname": ["li", "li", None]})
    >>> ExactRule(("surname",)).block(
    ...     recs.with_columns(pl.col("_row").cast(pl.UInt32)), link_type="dedupe"
    ... ).rows()
    [(0, 1)]
    """

    keys: tuple[str, ...]
    name: str = ""
    max_block_size: int | None = None

    def __post_init__(self) -> None:
        object.__setattr__(self, "keys", tuple(self.keys))
        size = self.max_block_size
        if size is not None and (
            isinstance(size, bool) or not isinstance(size, int) or size < 2
        ):
            raise ConfigError(
                f"The 'max_block_size' of ExactRule must be an int >= 2 or None; "
                f"got {size!r}."
            )
        if not self.name:
            object.__setattr__(self, "name", "&".join(self.keys))

    @property
    def columns(self) -> tuple[str, ...]:
        """Columns the rule reads."""
        return tuple(dict.fromkeys(key_column(k) for k in self.keys))

    def _keyed(self, records: pl.DataFrame) -> pl.LazyFrame:
        cols = [schema.ROW]
        if schema.SOURCE in records.columns:
            cols.append(schema.SOURCE)
        keyed = (
            records.lazy()
            .select(*cols, *[key_expr(k) for k in self.keys])
            .drop_nulls(list(self.keys))
        )
        if self.max_block_size is not None:
            keyed = keyed.filter(pl.len().over(list(self.keys)) <= self.max_block_size)
        return keyed

    def count_pairs(self, records: pl.DataFrame, *, link_type: LinkType) -> int:
        """Return how many pairs :meth:`block` would produce, without making them."""
        keyed = self._keyed(records)
        keys = list(self.keys)
        if link_type == "link" and schema.SOURCE in records.columns:
            per = keyed.group_by([*keys, schema.SOURCE]).agg(pl.len().alias("c"))
            out = per.group_by(keys).agg(
                (
                    (
                        pl.col("c").sum().cast(pl.Int64) ** 2
                        - (pl.col("c").cast(pl.Int64) ** 2).sum()
                    )
                    // 2
                ).alias("p")
            )
        else:
            out = (
                keyed.group_by(keys)
                .agg(pl.len().cast(pl.Int64).alias("c"))
                .select((pl.col("c") * (pl.col("c") - 1) // 2).alias("p"))
            )
        total = out.select(pl.col("p").sum()).collect().item()
        return int(total or 0)

    def largest_blocks(self, records: pl.DataFrame, *, n: int = 5) -> pl.DataFrame:
        """Return the ``n`` largest blocks: key values and record counts."""
        return (
            self._keyed(records)
            .group_by(list(self.keys))
            .agg(pl.len().alias("records"))
            .sort("records", descending=True)
            .head(n)
            .collect()
        )

    def block(self, records: pl.DataFrame, *, link_type: LinkType) -> pl.DataFrame:
        """Return pairs agreeing on every key, ``_row_l`` < ``_row_r``.

        Records are grouped by their keys (a hash group-by, no sort of the
        key strings) into blocks of sorted row numbers; each block's pairs
        are then written straight from the block boundaries with numpy, a
        bounded number of pairs at a time, so no self-join ever holds the c²
        rows of a block.
        """
        keys = list(self.keys)
        cross = link_type == "link" and schema.SOURCE in records.columns
        carried = [pl.col(schema.ROW).cast(pl.UInt32)]
        if cross:
            carried.append(pl.col(schema.SOURCE).rank("dense").alias("_src"))
        size = pl.col(schema.ROW).list.len()
        largest = self.max_block_size or np.iinfo(np.int64).max
        blocks = (
            records.lazy()
            .select(*carried, *[key_expr(k) for k in self.keys])
            .drop_nulls(keys)
            .group_by(keys)
            .agg(
                pl.col(schema.ROW).sort(),
                *([pl.col("_src").sort_by(schema.ROW)] if cross else []),
            )
            .filter(size.is_between(2, largest))
            .select(pl.exclude(keys))
            .collect()
        )
        sizes = blocks.get_column(schema.ROW).list.len().to_numpy()
        rows = blocks.get_column(schema.ROW).explode().to_numpy()
        sources = blocks.get_column("_src").explode().to_numpy() if cross else None
        del blocks
        block = np.repeat(np.arange(len(sizes)), sizes)
        parts = [
            pl.DataFrame({schema.ROW_L: rows[i], schema.ROW_R: rows[j]})
            for i, j in block_pair_positions(block, sources)
        ]
        if not parts:
            return pl.DataFrame(schema=PAIR_SCHEMA)
        return pl.concat(parts, rechunk=False)
