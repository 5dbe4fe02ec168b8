"""Exact multi-column blocking rules."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, ClassVar

import numpy as np
import polars as pl

from er_toolkit import schema
from er_toolkit.blocking.base import (
    check_keys,
    key_column,
    key_expr,
    pairs_of_blocks,
    register_blocker,
)
from er_toolkit.exceptions import ConfigError
from er_toolkit.schema import LinkType


@register_blocker
@dataclass(frozen=True)
class ExactRule:
    """Pair records that agree exactly on every key; nulls never match.

    Declared in a config as ``[[blocking.blockers]] kind = "exact"`` with
    ``keys`` (and optionally ``name``, ``max_block_size``). A key blocker
    (:class:`~er_toolkit.blocking.KeyBlocker`): :meth:`block_keys` gives each
    record's key, so stored records can be paired by a join.

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

    kind: ClassVar[str] = "exact"
    keys: tuple[str, ...]
    name: str = ""
    max_block_size: int | None = None

    def __post_init__(self) -> None:
        object.__setattr__(self, "keys", check_keys(self.keys, "ExactRule"))
        if not isinstance(self.name, str):
            raise ConfigError(
                f"The 'name' of ExactRule must be a string; got {self.name!r}."
            )
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

    @property
    def on_plain_columns(self) -> bool:
        """Whether every key is a whole column (no ``[:n]`` prefix)."""
        return all(key_column(k) == k.strip() for k in self.keys)

    def to_dict(self) -> dict[str, Any]:
        """Return the declaration (options left at their defaults are left out).

        Examples
        --------
        >>> ExactRule(("surname", "dob[:4]")).to_dict()
        {'kind': 'exact', 'keys': ['surname', 'dob[:4]']}
        """
        out: dict[str, Any] = {"kind": self.kind, "keys": list(self.keys)}
        if self.name != "&".join(self.keys):
            out["name"] = self.name
        if self.max_block_size is not None:
            out["max_block_size"] = self.max_block_size
        return out

    def block_keys(self, records: pl.DataFrame) -> pl.DataFrame:
        """Return each record's key: ``_row`` and ``_block_key``, records with a null key left out.

        With several keys the parts are written length-prefixed
        (``"5:smith3:joh"``), so two different tuples never give the same
        key.

        Examples
        --------
        >>> recs = pl.DataFrame({"_row": [0, 1], "s": ["li", None], "d": ["1990", "1991"]})
        >>> ExactRule(("s", "d[:3]")).block_keys(recs).rows()
        [(0, '2:li3:199')]
        """
        return (
            records.lazy()
            .select(
                pl.col(schema.ROW).cast(pl.UInt32),
                self.key_expression().alias(schema.BLOCK_KEY),
            )
            .drop_nulls(schema.BLOCK_KEY)
            .collect()
        )

    def key_expression(self) -> pl.Expr:
        """Return the expression of each record's key (null where a key part is null).

        What :meth:`block_keys` selects; a caller keying many rules at once
        (a few-record lookup) selects them all in one query.

        Examples
        --------
        >>> recs = pl.DataFrame({"s": ["li", None], "d": ["1990", "1991"]})
        >>> recs.select(ExactRule(("s", "d[:3]")).key_expression()).to_series().to_list()
        ['2:li3:199', None]
        """
        parts = [key_expr(k) for k in self.keys]
        if len(parts) == 1:
            return parts[0]
        return pl.concat_str(
            [
                piece
                for part in parts
                for piece in (
                    part.str.len_chars().cast(pl.String),
                    pl.lit(":"),
                    part,
                )
            ]
        )

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
        """Return how many pairs :meth:`block` would produce (exactly), without making them."""
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
        return pairs_of_blocks(blocks)
