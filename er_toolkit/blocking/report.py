"""Blocking analysis: pairs per blocker and cumulative, pair completeness, reduction ratio, largest blocks."""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
import polars as pl

from er_toolkit import schema
from er_toolkit.blocking.analysis import BlockingReport
from er_toolkit.blocking.base import Blocker, KeyBlocker
from er_toolkit.blocking.union import block_pairs
from er_toolkit.exceptions import SchemaError
from er_toolkit.pairs import pair_key, possible_pairs
from er_toolkit.schema import LinkType

__all__ = [
    "analyse_blocking",
    "largest_blocks",
    "possible_pairs",
    "sorted_pair_keys",
]


def sorted_pair_keys(pairs: pl.DataFrame) -> np.ndarray:
    """Return the distinct pair keys of a frame of pairs, sorted (uint64)."""
    for column in (schema.ROW_L, schema.ROW_R):
        if column not in pairs.columns:
            raise SchemaError(
                f"A pair frame needs {schema.ROW_L!r} and {schema.ROW_R!r}; it has "
                f"{pairs.columns}."
            )
    keys = pairs.select(pair_key().unique().sort()).to_series().to_numpy()
    return keys.astype(np.uint64, copy=False)


def contains(sorted_keys: np.ndarray, keys: np.ndarray) -> np.ndarray:
    """Return whether each of ``keys`` is in ``sorted_keys`` (a sorted uint64 array)."""
    if sorted_keys.size == 0:
        return np.zeros(keys.size, dtype=bool)
    at = np.minimum(np.searchsorted(sorted_keys, keys), sorted_keys.size - 1)
    return np.asarray(sorted_keys[at] == keys)


def largest_blocks(
    blocker: KeyBlocker, records: pl.DataFrame, *, n: int = 5
) -> pl.DataFrame:
    """Return a key blocker's ``n`` largest blocks: ``_block_key``, ``records``, ``pairs``.

    Blocks over the blocker's ``max_block_size`` are listed too (they are
    the ones it purges), with ``purged`` set.

    Examples
    --------
    >>> from er_toolkit.blocking import ExactRule
    >>> recs = pl.DataFrame({"_row": [0, 1, 2], "s": ["li", "li", "ng"]})
    >>> largest_blocks(ExactRule(("s",)), recs, n=1).rows()
    [('li', 2, 1, False)]
    """
    limit = blocker.max_block_size
    return (
        blocker.block_keys(records)
        .lazy()
        .unique()
        .group_by(schema.BLOCK_KEY)
        .agg(pl.len().cast(pl.Int64).alias("records"))
        .sort(["records", schema.BLOCK_KEY], descending=[True, False])
        .head(n)
        .with_columns(
            (pl.col("records") * (pl.col("records") - 1) // 2).alias("pairs"),
            (pl.lit(False) if limit is None else pl.col("records") > limit).alias(
                "purged"
            ),
        )
        .collect()
    )


def analyse_blocking(
    records: pl.DataFrame,
    blockers: Sequence[Blocker],
    *,
    link_type: LinkType,
    truth: pl.DataFrame | None = None,
    n_largest: int = 5,
) -> BlockingReport:
    """Run the blockers and report pairs, pair completeness and reduction ratio.

    Parameters
    ----------
    records
        The records frame (``_row``, ``source``, the blocked columns).
    blockers
        The blockers, in priority order (as ``[blocking]`` compiles them).
    link_type
        The job's link type.
    truth
        True pairs (``_row_l``, ``_row_r``), e.g. ``Linker.true_pairs``: with
        them the report has matches and pair completeness per rule.
    n_largest
        Largest blocks listed per key blocker.

    Returns
    -------
    BlockingReport

    Examples
    --------
    >>> from er_toolkit.blocking import ExactRule
    >>> recs = pl.DataFrame(
    ...     {"_row": [0, 1, 2, 3], "s": ["li", "li", "ng", "ng"], "d": ["1", "2", "2", "3"]},
    ...     schema_overrides={"_row": pl.UInt32},
    ... )
    >>> truth = pl.DataFrame({"_row_l": [0, 1], "_row_r": [1, 3]})
    >>> report = analyse_blocking(
    ...     recs, [ExactRule(("s",)), ExactRule(("d",))], link_type="dedupe", truth=truth
    ... )
    >>> report.rules.select("blocked_by", "new_pairs", "cumulative_matches").rows()
    [('s', 2, 1), ('d', 1, 1)]
    >>> report.pair_completeness, round(report.reduction_ratio, 3)
    (0.5, 0.5)
    """
    pairs = block_pairs(records, blockers, link_type=link_type, max_pairs_per_rule=None)
    possible = possible_pairs(records, link_type=link_type)
    true_keys = None if truth is None else sorted_pair_keys(truth)
    found = None if true_keys is None else np.zeros(true_keys.size, dtype=bool)
    rows = []
    cumulative = 0
    for blocker in blockers:
        own = sorted_pair_keys(blocker.block(records, link_type=link_type))
        new = pairs.filter(pl.col(schema.BLOCKED_BY) == blocker.name).height
        cumulative += new
        row: dict[str, object] = {
            schema.BLOCKED_BY: blocker.name,
            "pairs": int(own.size),
            "new_pairs": new,
            "cumulative_pairs": cumulative,
            "reduction_ratio": 1.0 - cumulative / possible if possible else 1.0,
        }
        if true_keys is not None and found is not None:
            hit = contains(own, true_keys)
            row["matches"] = int(hit.sum())
            row["new_matches"] = int((hit & ~found).sum())
            found |= hit
            row["cumulative_matches"] = int(found.sum())
            row["pair_completeness"] = float(found.mean()) if true_keys.size else 0.0
        rows.append(row)
    largest = [
        largest_blocks(b, records, n=n_largest).select(
            pl.lit(b.name).alias(schema.BLOCKED_BY), pl.all()
        )
        for b in blockers
        if isinstance(b, KeyBlocker)
    ]
    blocks = (
        pl.concat(largest)
        if largest
        else pl.DataFrame(
            schema={
                schema.BLOCKED_BY: pl.String,
                schema.BLOCK_KEY: pl.String,
                "records": pl.Int64,
                "pairs": pl.Int64,
                "purged": pl.Boolean,
            }
        )
    )
    table = pl.DataFrame(rows)
    completeness = (
        float(table.get_column("pair_completeness")[-1])
        if "pair_completeness" in table.columns and table.height
        else None
    )
    return BlockingReport(
        table,
        n_records=records.height,
        link_type=link_type,
        possible_pairs=possible,
        candidate_pairs=pairs.height,
        recall=completeness,
        largest_blocks=blocks,
        true_pairs=None if true_keys is None else int(true_keys.size),
    )
