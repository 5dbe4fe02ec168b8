"""Pair frames: one pair key, pair counts and match labels, defined once."""

from __future__ import annotations

from typing import Final

import numpy as np
import polars as pl

from er_toolkit import schema
from er_toolkit.exceptions import SchemaError
from er_toolkit.schema import LinkType

__all__ = [
    "MATCH_WORDS",
    "NON_MATCH_WORDS",
    "is_match_expr",
    "pack_pair_keys",
    "pair_count_expr",
    "pair_key",
    "possible_pairs",
    "rows_from_key",
    "unpack_pair_keys",
]

_SHIFT: Final = 32
_LOW: Final = np.uint64(0xFFFFFFFF)

MATCH_WORDS: Final = ("1", "true", "t", "yes", "y", "match")
"""Text labels read as a match (case and surrounding spaces ignored)."""
NON_MATCH_WORDS: Final = ("0", "false", "f", "no", "n", "non-match", "nonmatch")
"""Text labels read as a non-match; any other text (``unsure``) is no label."""


def pair_key(
    left: str | pl.Expr = schema.ROW_L,
    right: str | pl.Expr = schema.ROW_R,
    *,
    ordered: bool = False,
) -> pl.Expr:
    """Return one UInt64 per pair: ``min(l, r) * 2**32 + max(l, r)``.

    The key is the same for (a, b) and (b, a), so it joins and de-duplicates
    pairs whatever their orientation.

    Parameters
    ----------
    left, right
        Columns or expressions holding the two row numbers (< 2**32).
    ordered
        The caller knows ``left < right`` on every row (a blocker's pairs):
        the key is packed without the min/max, several fewer full-length
        intermediate columns at tens of millions of pairs. Wrong keys if
        that does not hold.

    Returns
    -------
    polars.Expr
        A UInt64 expression named ``__pair_key``.

    Examples
    --------
    >>> df = pl.DataFrame({"_row_l": [1, 2], "_row_r": [2, 1]})
    >>> df.select(pair_key()).to_series().to_list()
    [4294967298, 4294967298]
    """
    lhs = (pl.col(left) if isinstance(left, str) else left).cast(pl.UInt64)
    rhs = (pl.col(right) if isinstance(right, str) else right).cast(pl.UInt64)
    if ordered:
        return (lhs * (1 << _SHIFT) + rhs).alias(schema.PAIR_KEY)
    lo = pl.min_horizontal(lhs, rhs)
    hi = pl.max_horizontal(lhs, rhs)
    return (lo * (1 << _SHIFT) + hi).alias(schema.PAIR_KEY)


def rows_from_key(key: str | pl.Expr = schema.PAIR_KEY) -> list[pl.Expr]:
    """Return ``_row_l`` and ``_row_r`` (UInt32) unpacked from a pair key column.

    Examples
    --------
    >>> df = pl.DataFrame({"__pair_key": [4294967298]}, schema={"__pair_key": pl.UInt64})
    >>> df.select(rows_from_key()).rows()
    [(1, 2)]
    """
    k = pl.col(key) if isinstance(key, str) else key
    return [
        (k // (1 << _SHIFT)).cast(pl.UInt32).alias(schema.ROW_L),
        (k % (1 << _SHIFT)).cast(pl.UInt32).alias(schema.ROW_R),
    ]


def pack_pair_keys(left: np.ndarray, right: np.ndarray) -> np.ndarray:
    """Return the pair keys of oriented row arrays (``left < right``) as uint64.

    Examples
    --------
    >>> pack_pair_keys(np.array([1]), np.array([2])).tolist()
    [4294967298]
    """
    return (left.astype(np.uint64) << np.uint64(_SHIFT)) | right.astype(np.uint64)


def unpack_pair_keys(keys: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Return ``(left, right)`` uint32 row arrays of uint64 pair keys.

    Examples
    --------
    >>> [a.tolist() for a in unpack_pair_keys(np.array([4294967298], np.uint64))]
    [[1], [2]]
    """
    keys = keys.astype(np.uint64, copy=False)
    return (
        (keys >> np.uint64(_SHIFT)).astype(np.uint32),
        (keys & _LOW).astype(np.uint32),
    )


def possible_pairs(records: pl.DataFrame, *, link_type: LinkType) -> int:
    """Return how many record pairs a link type compares without blocking.

    Every pair of records, or in a ``link`` job every pair across sources.

    Examples
    --------
    >>> recs = pl.DataFrame({"source": ["a", "a", "b"]})
    >>> possible_pairs(recs, link_type="dedupe"), possible_pairs(recs, link_type="link")
    (3, 2)
    """
    n = records.height
    if link_type != "link" or schema.SOURCE not in records.columns:
        return n * (n - 1) // 2
    counts = records.get_column(schema.SOURCE).value_counts().get_column("count")
    sizes = counts.to_numpy().astype(np.int64)
    return int((sizes.sum() ** 2 - (sizes**2).sum()) // 2)


def pair_count_expr(count: pl.Expr, squares: pl.Expr | None = None) -> pl.Expr:
    """Return how many pairs a group of records holds, as an Int64 expression.

    ``count`` records hold ``count * (count - 1) / 2`` pairs; with ``squares``
    (the sum over the group's sources of each source's count squared) only
    the pairs across sources count: ``(count**2 - squares) / 2``.

    Examples
    --------
    >>> df = pl.DataFrame({"n": [3, 4], "sq": [5, 16]})
    >>> df.select(pair_count_expr(pl.col("n"))).to_series().to_list()
    [3, 6]
    >>> df.select(pair_count_expr(pl.col("n"), pl.col("sq"))).to_series().to_list()
    [2, 0]
    """
    n = count.cast(pl.Int64)
    if squares is None:
        return n * (n - 1) // 2
    return (n * n - squares.cast(pl.Int64)) // 2


def is_match_expr(labels: pl.DataFrame | pl.Schema) -> pl.Expr:
    """Parse the ``is_match`` column of labelled pairs into True, False or null.

    Booleans stay as they are; numbers are matches when 1 and non-matches
    when 0; text is read case-blind against :data:`MATCH_WORDS` and
    :data:`NON_MATCH_WORDS`. Anything else (``unsure``, blank, null, 0.5) is
    null: no label.

    Raises
    ------
    SchemaError
        If the column is missing, or of a type that holds no labels.

    Examples
    --------
    >>> df = pl.DataFrame({"is_match": ["Y", "n", "match", "unsure", None]})
    >>> df.select(is_match_expr(df)).to_series().to_list()
    [True, False, True, None, None]
    """
    columns = labels.schema if isinstance(labels, pl.DataFrame) else labels
    if schema.IS_MATCH not in columns:
        raise SchemaError(
            f"The labels need an {schema.IS_MATCH!r} column (1/0, true/false, y/n); "
            f"their columns are {list(columns)}."
        )
    dtype = columns[schema.IS_MATCH]
    col = pl.col(schema.IS_MATCH)
    if dtype == pl.Boolean:
        return col
    if dtype.is_numeric():
        number = col.cast(pl.Float64)
        return pl.when(number == 1).then(True).when(number == 0).then(False)
    if dtype in (pl.String, pl.Categorical) or isinstance(dtype, pl.Enum):
        text = col.cast(pl.String).str.strip_chars().str.to_lowercase()
        return (
            pl.when(text.is_in(MATCH_WORDS))
            .then(True)
            .when(text.is_in(NON_MATCH_WORDS))
            .then(False)
        )
    raise SchemaError(
        f"The labels column {schema.IS_MATCH!r} must be boolean, 0/1 or text "
        f"(y/n, true/false, match/non-match); got dtype {dtype}."
    )


MAGELLAN_COLUMNS: Final = {
    "ltable_id": schema.RECORD_ID_L,
    "rtable_id": schema.RECORD_ID_R,
    "label": schema.IS_MATCH,
}
"""Column names of Magellan/DeepMatcher pair splits, and the names they are read as."""


def standard_pair_columns(pairs: pl.DataFrame) -> pl.DataFrame:
    """Rename a Magellan/DeepMatcher pair list (``ltable_id``, ``rtable_id``, ``label``).

    Pair files use ``record_id_l``, ``record_id_r`` and ``is_match``; the
    fixed train / valid / test splits of the Magellan benchmarks name them
    ``ltable_id``, ``rtable_id`` and ``label``, and are read as they are.
    Other frames are returned unchanged.

    Examples
    --------
    >>> df = pl.DataFrame({"ltable_id": [1], "rtable_id": [7], "label": [0]})
    >>> standard_pair_columns(df).columns
    ['record_id_l', 'record_id_r', 'is_match']
    """
    rename = {
        old: new
        for old, new in MAGELLAN_COLUMNS.items()
        if old in pairs.columns and new not in pairs.columns
    }
    if schema.RECORD_ID_L in pairs.columns or set(rename) >= {"ltable_id", "rtable_id"}:
        return pairs.rename(rename)
    return pairs
