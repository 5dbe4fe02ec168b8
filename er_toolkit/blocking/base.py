"""The Blocker protocol and helpers shared by blockers."""

from __future__ import annotations

import re
from collections.abc import Iterator
from typing import Protocol, runtime_checkable

import numpy as np
import polars as pl

from er_toolkit import schema
from er_toolkit.exceptions import ConfigError
from er_toolkit.schema import LinkType

PAIR_SCHEMA = {schema.ROW_L: pl.UInt32, schema.ROW_R: pl.UInt32}

_KEY = re.compile(r"^(?P<col>[^\[\]]+?)(?:\[:(?P<n>\d+)\])?$")


@runtime_checkable
class Blocker(Protocol):
    """Anything that turns a records frame into candidate pairs.

    A blocker returns a frame of ``_row_l`` < ``_row_r`` (UInt32 row numbers of
    the records frame), each pair once, no self-pairs; in a ``link`` job only
    pairs across sources.
    """

    @property
    def name(self) -> str:
        """The blocker's name, written to ``blocked_by``."""
        ...

    def block(self, records: pl.DataFrame, *, link_type: LinkType) -> pl.DataFrame:
        """Return the candidate pairs of ``records``."""
        ...


def key_expr(spec: str) -> pl.Expr:
    """Compile a blocking key such as ``"surname"`` or ``"surname[:3]"``.

    Parameters
    ----------
    spec
        A column name, optionally followed by ``[:n]`` for its first ``n``
        characters.

    Returns
    -------
    polars.Expr
        The key, as a string; empty strings become null.

    Examples
    --------
    >>> df = pl.DataFrame({"s": ["smith", ""]})
    >>> df.select(key_expr("s[:3]")).to_series().to_list()
    ['smi', None]
    """
    match = _KEY.match(spec.strip())
    if match is None:
        raise ConfigError(
            f"A blocking key must be a column name or 'column[:n]'; got {spec!r}."
        )
    expr = pl.col(match["col"]).cast(pl.String).str.strip_chars()
    if match["n"] is not None:
        expr = expr.str.slice(0, int(match["n"]))
    return pl.when(expr.str.len_chars() > 0).then(expr).alias(spec)


def key_column(spec: str) -> str:
    """Return the column a blocking key reads."""
    match = _KEY.match(spec.strip())
    if match is None:
        raise ConfigError(
            f"A blocking key must be a column name or 'column[:n]'; got {spec!r}."
        )
    return match["col"]


def orient_pairs(
    rows_a: np.ndarray,
    rows_b: np.ndarray,
    sources: np.ndarray | None,
    *,
    link_type: LinkType,
) -> pl.DataFrame:
    """Turn two arrays of row numbers into an oriented, valid pair frame.

    Self-pairs are dropped, each pair is put as (smaller, larger), and in a
    ``link`` job pairs within one source are dropped.
    """
    lo = np.minimum(rows_a, rows_b).astype(np.uint32, copy=False)
    hi = np.maximum(rows_a, rows_b).astype(np.uint32, copy=False)
    keep = lo != hi
    if link_type == "link" and sources is not None:
        keep &= sources[lo] != sources[hi]
    return pl.DataFrame(
        {schema.ROW_L: lo[keep], schema.ROW_R: hi[keep]}, schema=PAIR_SCHEMA
    )


def source_codes(records: pl.DataFrame) -> np.ndarray:
    """Return each record's source as a small integer, indexed by ``_row``."""
    if schema.SOURCE not in records.columns:
        return np.zeros(records.height, dtype=np.int32)
    codes = records.get_column(schema.SOURCE).cast(pl.Categorical).to_physical()
    return codes.to_numpy().astype(np.int32)


def block_pair_positions(
    block: np.ndarray,
    sources: np.ndarray | None = None,
    *,
    chunk_pairs: int = 4_000_000,
) -> Iterator[tuple[np.ndarray, np.ndarray]]:
    """Yield every pair of positions within each run of equal ``block`` values.

    Parameters
    ----------
    block
        Block numbers of records sorted by block (equal values adjacent).
    sources
        Each position's source, when pairs within one source are to be left
        out (a ``link`` job); None keeps them.
    chunk_pairs
        Roughly how many pairs to yield at a time (one position's partners
        are never split), so memory holds one chunk, not every pair at once.

    Yields
    ------
    tuple of numpy.ndarray
        Positions ``i < j`` (int64) of pairs in the same block.

    Examples
    --------
    >>> [(i.tolist(), j.tolist()) for i, j in block_pair_positions(np.array([0, 0, 0, 1]))]
    [([0, 0, 1], [1, 2, 2])]
    """
    n = len(block)
    if n < 2:
        return
    starts = np.flatnonzero(np.r_[True, block[1:] != block[:-1]])
    ends = np.r_[starts[1:], n]
    # partners of each position: the rest of its block after it
    sizes = ends - starts
    after = np.repeat(ends, sizes) - np.arange(n) - 1
    cumulative = np.cumsum(after)
    first = 0
    while first < n:
        limit = (cumulative[first - 1] if first else 0) + chunk_pairs
        last = int(np.searchsorted(cumulative, limit, side="right"))
        last = min(max(last, first + 1), n)
        counts = after[first:last]
        total = int(counts.sum())
        if total:
            left = np.repeat(np.arange(first, last), counts)
            offset = np.arange(total) - np.repeat(np.cumsum(counts) - counts, counts)
            right = left + 1 + offset
            del offset
            if sources is not None:
                keep = sources[left] != sources[right]
                left, right = left[keep], right[keep]
            yield left, right
        first = last
