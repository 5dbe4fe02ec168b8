"""Sorted-neighbourhood blocking over a sort key."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, ClassVar

import numpy as np
import polars as pl

from er_toolkit import schema
from er_toolkit.blocking.base import (
    PAIR_SCHEMA,
    check_keys,
    key_column,
    key_expr,
    orient_pairs,
    register_blocker,
    source_codes,
)
from er_toolkit.exceptions import ConfigError
from er_toolkit.schema import LinkType


@register_blocker
@dataclass(frozen=True)
class SortedNeighbourhood:
    """Pair each record with the next ``window - 1`` records in key order.

    Records are sorted by the key (then by row number, so the order is
    deterministic); records with a null key take no part. Declared in a
    config as ``[[blocking.blockers]] kind = "sorted_neighbourhood"`` with
    ``keys`` and ``window`` (and optionally ``name``).

    Parameters
    ----------
    keys
        Columns (or ``"column[:n]"`` prefixes) concatenated into the sort key.
    window
        Size of the sliding window, at least 2.
    name
        The rule's name in ``blocked_by``.
    """

    kind: ClassVar[str] = "sorted_neighbourhood"
    keys: tuple[str, ...]
    window: int = 5
    name: str = ""

    def __post_init__(self) -> None:
        object.__setattr__(self, "keys", check_keys(self.keys, "SortedNeighbourhood"))
        if not isinstance(self.name, str):
            raise ConfigError(
                "The 'name' of SortedNeighbourhood must be a string; got "
                f"{self.name!r}."
            )
        if (
            isinstance(self.window, bool)
            or not isinstance(self.window, int)
            or self.window < 2
        ):
            raise ConfigError(
                f"The 'window' of SortedNeighbourhood must be an int >= 2; got "
                f"{self.window!r}."
            )
        if not self.name:
            object.__setattr__(
                self, "name", f"sn({'&'.join(self.keys)},w={self.window})"
            )

    @property
    def columns(self) -> tuple[str, ...]:
        """Columns the rule reads."""
        return tuple(dict.fromkeys(key_column(k) for k in self.keys))

    def to_dict(self) -> dict[str, Any]:
        """Return the declaration (a default name is left out).

        Examples
        --------
        >>> SortedNeighbourhood(("dob",), window=3).to_dict()
        {'kind': 'sorted_neighbourhood', 'keys': ['dob'], 'window': 3}
        """
        out: dict[str, Any] = {
            "kind": self.kind,
            "keys": list(self.keys),
            "window": self.window,
        }
        if self.name != f"sn({'&'.join(self.keys)},w={self.window})":
            out["name"] = self.name
        return out

    def sort_keys(self, records: pl.DataFrame) -> pl.DataFrame:
        r"""Return each record's sort key: ``_row`` and ``_block_key``, null keys left out.

        Records are in key order, then row order, within ``window``; an
        engine that sorts them itself (Spark) reads the keys from here.

        Examples
        --------
        >>> recs = pl.DataFrame({"_row": [0, 1], "a": ["x", None], "b": ["1", "2"]})
        >>> SortedNeighbourhood(("a", "b")).sort_keys(recs).rows()
        [(0, 'x\x1f1')]
        """
        key = pl.concat_str([key_expr(k) for k in self.keys], separator="\x1f")
        return (
            records.lazy()
            .select(schema.ROW, key.alias(schema.BLOCK_KEY))
            .drop_nulls(schema.BLOCK_KEY)
            .collect()
        )

    def _sorted_rows(self, records: pl.DataFrame) -> np.ndarray:
        ordered = self.sort_keys(records).sort([schema.BLOCK_KEY, schema.ROW])
        return ordered.get_column(schema.ROW).to_numpy()

    def count_pairs(self, records: pl.DataFrame, *, link_type: LinkType) -> int:
        """Return an upper bound on the pairs :meth:`block` produces.

        Every window position's pairs, before the pairs within one source
        of a ``link`` job are dropped.
        """
        n = len(self._sorted_rows(records))
        return sum(max(n - k, 0) for k in range(1, self.window))

    def block(self, records: pl.DataFrame, *, link_type: LinkType) -> pl.DataFrame:
        """Return pairs of records within ``window`` positions in key order."""
        rows = self._sorted_rows(records)
        sources = source_codes(records)
        parts = [
            orient_pairs(rows[:-k], rows[k:], sources, link_type=link_type)
            for k in range(1, self.window)
            if k < len(rows)
        ]
        if not parts:
            return pl.DataFrame(schema=PAIR_SCHEMA)
        return pl.concat(parts)
