"""Seeded random record pairs, for estimating u probabilities."""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
import polars as pl

from er_toolkit import schema
from er_toolkit.blocking.base import PAIR_SCHEMA, source_codes
from er_toolkit.pairs import possible_pairs as total_pairs
from er_toolkit.schema import LinkType

__all__ = [
    "agreement_counts",
    "agreement_share",
    "agreement_share_from_codes",
    "agreement_share_from_counts",
    "completeness",
    "exact_agreement_share",
    "record_sample_mask",
    "sample_pairs",
    "sample_row_pairs",
    "total_pairs",
]

_PROB_FLOOR = 1e-9


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
    return sample_row_pairs(
        records.height,
        source_codes(records),
        possible=total_pairs(records, link_type=link_type),
        n_pairs=n_pairs,
        link_type=link_type,
        seed=seed,
    )


def sample_row_pairs(
    n: int,
    sources: np.ndarray,
    *,
    possible: int,
    n_pairs: int,
    link_type: LinkType,
    seed: int,
) -> pl.DataFrame:
    """Draw :func:`sample_pairs`' pairs from the row count and sources alone.

    Any engine draws the same sample from the same ``n``, sources and seed
    (the draw is integers on one machine; the engine joins the records).

    Parameters
    ----------
    n
        How many records (rows ``0 .. n - 1``).
    sources
        Each row's source as an integer code (only compared for equality;
        read in a ``link`` job).
    possible
        :func:`total_pairs` of the records.
    n_pairs, link_type, seed
        As :func:`sample_pairs`.

    Examples
    --------
    >>> codes = np.zeros(4, dtype=np.int32)
    >>> sample_row_pairs(4, codes, possible=6, n_pairs=10, link_type="dedupe", seed=0).height
    6
    """
    if possible == 0:
        return pl.DataFrame(schema=PAIR_SCHEMA)
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


def record_sample_mask(n: int, *, share: float, seed: int) -> np.ndarray:
    """Return which of ``n`` records a seeded sample of about ``share`` keeps.

    Each record is kept with probability ``share``, so each pair with
    ``share**2``: the pairs a blocker makes of the sample are a uniform
    sample of its pairs. The same ``n``, share and seed keep the same rows
    in every engine.

    Examples
    --------
    >>> record_sample_mask(5, share=1.0, seed=0).tolist()
    [True, True, True, True, True]
    """
    rng = np.random.default_rng(seed)
    return rng.random(n) < share


def agreement_share(
    *,
    n: int,
    link_type: LinkType,
    same_value_pairs: float,
    value_squares: float = 0.0,
    same_source_squares: float = 0.0,
    source_squares: float = 0.0,
) -> float:
    """Return the share of random non-null pairs whose values agree, from counts.

    Parameters
    ----------
    n
        Records with a value.
    link_type
        In a ``link`` job only pairs across sources count.
    same_value_pairs
        Sum over values of ``c * (c - 1)`` (``c`` records hold the value):
        the ordered pairs that agree (not a ``link`` job).
    value_squares, same_source_squares, source_squares
        ``link`` jobs: sums of ``c**2`` over values, over (value, source)
        and of each source's count of records with a value.

    Examples
    --------
    >>> agreement_share(n=4, link_type="dedupe", same_value_pairs=4.0)
    0.3333333333333333
    """
    if n < 2:
        return 0.5
    if link_type != "link":
        share = same_value_pairs / (n * (n - 1))
    else:
        cross_total = n * n - source_squares
        agree = value_squares - same_source_squares
        share = agree / cross_total if cross_total > 0 else 0.5
    return float(np.clip(share, _PROB_FLOOR, 1 - _PROB_FLOOR))


def agreement_values(values: pl.Series) -> pl.Series:
    """Return the values as an exact level's agreement sees them: trimmed text, blanks null."""
    text = values.cast(pl.String).str.strip_chars()
    return pl.select(pl.when(text.str.len_chars() > 0).then(text)).to_series()


def exact_agreement_share(
    records: pl.DataFrame,
    columns: str | Sequence[str],
    *,
    link_type: LinkType,
    given: str | None = None,
) -> float:
    """Share of random pairs whose values agree on every column, from value counts.

    Among the pairs where both records hold column ``given`` (default: the
    first column); a pair agrees when both hold every column and the values
    are equal (trimmed text, blanks null).

    Examples
    --------
    >>> recs = pl.DataFrame({"s": ["a", "a", "b", "b"]})
    >>> exact_agreement_share(recs, "s", link_type="dedupe")
    0.3333333333333333
    """
    names = [columns] if isinstance(columns, str) else list(columns)
    given = names[0] if given is None else given
    return agreement_share_from_counts(
        agreement_counts(records, names, given=given),
        n_keys=len(names),
        link_type=link_type,
    )


def agreement_counts(
    records: pl.DataFrame, columns: Sequence[str], *, given: str
) -> pl.DataFrame:
    """Count the records holding ``given`` per agreement value of ``columns`` and source.

    Returns
    -------
    polars.DataFrame
        ``v0 .. v<k-1>`` (the columns' :func:`agreement_values`), ``s`` (the
        source) and ``c`` (records), one row per distinct combination.
    """
    keys = {
        f"v{i}": agreement_values(records.get_column(c)) for i, c in enumerate(columns)
    }
    frame = pl.DataFrame(
        {
            **keys,
            "g": agreement_values(records.get_column(given)),
            "s": records.get_column(schema.SOURCE).cast(pl.String)
            if schema.SOURCE in records.columns
            else pl.Series(["0"] * records.height, dtype=pl.String),
        }
    ).drop_nulls("g")
    return frame.group_by([*keys, "s"]).agg(pl.len().cast(pl.Float64).alias("c"))


def agreement_share_from_counts(
    counts: pl.DataFrame, *, n_keys: int, link_type: LinkType
) -> float:
    """Return :func:`exact_agreement_share` from :func:`agreement_counts`.

    Every engine counts where its records are and computes the share here.
    """
    key = [f"v{i}" for i in range(n_keys)]
    n = int(counts.get_column("c").sum()) if counts.height else 0
    if n < 2:
        return 0.5
    present = counts.drop_nulls(key)
    per_value = present.group_by(key).agg(pl.col("c").sum())
    if link_type != "link":
        agree = per_value.select((pl.col("c") * (pl.col("c") - 1)).sum()).item()
        return agreement_share(n=n, link_type=link_type, same_value_pairs=agree)
    sizes = counts.group_by("s").agg(pl.col("c").sum())
    return agreement_share(
        n=n,
        link_type=link_type,
        same_value_pairs=0.0,
        value_squares=per_value.select((pl.col("c") ** 2).sum()).item(),
        same_source_squares=present.group_by([*key, "s"])
        .agg(pl.col("c").sum())
        .select((pl.col("c") ** 2).sum())
        .item(),
        source_squares=sizes.select((pl.col("c") ** 2).sum()).item(),
    )


def agreement_share_from_codes(
    keys: Sequence[np.ndarray],
    given: np.ndarray,
    sources: np.ndarray,
    *,
    link_type: LinkType,
) -> float:
    """Return :func:`exact_agreement_share` from value codes, no group-by.

    What an engine that already holds each column's dense value codes
    (-1 for null, as :class:`~er_toolkit.compare.pair_values.ColumnEncoding`
    gives them) computes with numpy's bincount instead of counting values.

    Parameters
    ----------
    keys
        Per agreement column, each record's value code.
    given
        Each record's code of the ``given`` column (which records count).
    sources
        Each record's source code (read in a ``link`` job).
    link_type
        As :func:`exact_agreement_share`.

    Examples
    --------
    >>> codes = np.array([0, 0, 1, 1])
    >>> agreement_share_from_codes([codes], codes, np.zeros(4, np.int32), link_type="dedupe")
    0.3333333333333333
    """
    holds = given >= 0
    n = int(holds.sum())
    if n < 2:
        return 0.5
    present = holds.copy()
    for codes in keys:
        present &= codes >= 0
    key = np.asarray(keys[0], dtype=np.int64)
    for codes in keys[1:]:
        # Dense again after each column, so the combined key never overflows.
        combined = key * (int(codes.max(initial=0)) + 1) + np.maximum(codes, 0)
        key = np.zeros(len(given), dtype=np.int64)
        key[present] = np.unique(combined[present], return_inverse=True)[1].reshape(-1)
    per_value = np.bincount(key[present]).astype(np.float64)
    if link_type != "link":
        return agreement_share(
            n=n,
            link_type=link_type,
            same_value_pairs=float((per_value * (per_value - 1)).sum()),
        )
    src = np.unique(sources, return_inverse=True)[1].reshape(-1).astype(np.int64)
    n_src = int(src.max(initial=0)) + 1
    per_value_source = np.bincount(
        key[present] * n_src + src[present], minlength=len(per_value) * n_src
    ).astype(np.float64)
    sizes = np.bincount(src[holds], minlength=n_src).astype(np.float64)
    return agreement_share(
        n=n,
        link_type=link_type,
        same_value_pairs=0.0,
        value_squares=float((per_value**2).sum()),
        same_source_squares=float((per_value_source**2).sum()),
        source_squares=float((sizes**2).sum()),
    )


def completeness(records: pl.DataFrame, column: str) -> float:
    """Return the share of records with a value in ``column`` (blank text is missing).

    Examples
    --------
    >>> completeness(pl.DataFrame({"s": ["a", " ", None, "b"]}), "s")
    0.5
    """
    values = records.get_column(column)
    if values.dtype == pl.String:
        values = values.str.strip_chars().replace("", None)
    return 1.0 - values.null_count() / max(records.height, 1)
