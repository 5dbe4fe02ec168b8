"""Seeded random record pairs, for estimating u probabilities."""

from __future__ import annotations

import numpy as np
import polars as pl

from er_toolkit import schema
from er_toolkit.blocking.base import PAIR_SCHEMA, source_codes
from er_toolkit.pairs import possible_pairs as total_pairs
from er_toolkit.schema import LinkType

__all__ = ["sample_pairs", "total_pairs"]


def sample_pairs(
    records: pl.DataFrame, *, n_pairs: int, link_type: LinkType, seed: int
) -> pl.DataFrame:
    """Draw up to ``n_pairs`` random record pairs, uniformly.

    When there are far more possible pairs than ``n_pairs`` the draw is with
    replacement (a repeat is then too rare to matter, and finding repeats
    costs a sort); otherwise the pairs are distinct.

    Pairs are drawn with a seeded generator, so the same records and seed give
    the same sample. In a ``link`` job only pairs across sources are drawn.

    Returns
    -------
    polars.DataFrame
        ``_row_l`` < ``_row_r``; every possible pair when there are fewer
        than ``n_pairs``.
    """
    n = records.height
    possible = total_pairs(records, link_type=link_type)
    if possible == 0:
        return pl.DataFrame(schema=PAIR_SCHEMA)
    sources = source_codes(records)
    if possible <= n_pairs:
        i, j = np.triu_indices(n, k=1)
        keep = (
            sources[i] != sources[j] if link_type == "link" else np.ones(len(i), bool)
        )
        return pl.DataFrame(
            {schema.ROW_L: i[keep], schema.ROW_R: j[keep]}, schema=PAIR_SCHEMA
        )
    rng = np.random.default_rng(seed)
    share = possible / (n * (n - 1) / 2)
    draw = int(n_pairs / share * 1.2) + 100
    a = rng.integers(0, n, size=draw, dtype=np.int64)
    b = rng.integers(0, n, size=draw, dtype=np.int64)
    lo, hi = np.minimum(a, b), np.maximum(a, b)
    keep = lo != hi
    if link_type == "link":
        keep &= sources[lo] != sources[hi]
    key = lo[keep] * n + hi[keep]
    if possible < 50 * n_pairs:
        # Repeats are common enough to matter: draw without replacement.
        key = rng.permutation(np.unique(key))
    key = key[:n_pairs]
    return pl.DataFrame(
        {schema.ROW_L: key // n, schema.ROW_R: key % n}, schema=PAIR_SCHEMA
    )
