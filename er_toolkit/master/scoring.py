"""Score pairs of stored and new records with the store's model and its frozen term frequencies."""

from __future__ import annotations

import hashlib
import threading
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from functools import cached_property
from typing import Any, Final

import duckdb
import numpy as np
import polars as pl

from er_toolkit import schema
from er_toolkit.compare import RecordEncoding, compare_pairs
from er_toolkit.compare.comparison import Comparison
from er_toolkit.compare.kernel import pair_term_frequencies
from er_toolkit.compare.pair_values import ColumnEncoding
from er_toolkit.exceptions import SchemaError
from er_toolkit.master.db import quiet

__all__ = [
    "TermFrequencies",
    "frozen_pair_frequencies",
    "score_pairs",
    "tf_key",
    "value_hashes",
]

HASH: Final = "value_hash"
COUNT: Final = "count"
COMPARISON: Final = "comparison"
_SMALL: Final = 64
"""Up to this many values are hashed in Python, more in DuckDB."""
_LOCK = threading.Lock()
_HASHER: list[duckdb.DuckDBPyConnection] = []


def value_hashes(values: pl.Series) -> pl.Series:
    """Return a stable 64-bit hash (the low half of MD5) of each value's text; null stays null.

    Stable across versions and machines, unlike polars' or DuckDB's own
    hash, so it can be stored: the store keeps term frequencies under these
    hashes, never the values themselves.

    Examples
    --------
    >>> value_hashes(pl.Series(["a", None])).to_list()
    [7000413967451013937, None]
    >>> value_hashes(pl.Series(["a"] * 100)).unique().to_list()  # DuckDB's MD5
    [7000413967451013937]
    """
    texts = values.cast(pl.String)
    if len(texts) <= _SMALL:
        # a few values (a lookup): hashlib gives the same numbers without a query
        return pl.Series(
            HASH,
            [
                None
                if v is None
                else int.from_bytes(hashlib.md5(v.encode()).digest()[8:], "little")
                for v in texts.to_list()
            ],
            dtype=pl.UInt64,
        )
    arrow = pl.DataFrame({"v": texts}).to_arrow()
    with _LOCK:
        if not _HASHER:
            con = duckdb.connect(config={"threads": 1})
            quiet(con)
            _HASHER.append(con)
        con = _HASHER[0]
        con.register("__values", arrow)
        try:
            out = con.sql("SELECT md5_number_lower(v) AS h FROM __values").pl()
        finally:
            con.unregister("__values")
    return out.get_column("h").cast(pl.UInt64).alias(HASH)


def _texts(values: pl.Series) -> pl.Series:
    """Return the values as the compare kernel reads them for exact matches."""
    return ColumnEncoding(values).strings


def tf_key(comparison: Comparison, column: str) -> str:
    """Name the frozen frequencies of one TF column of a comparison.

    The comparison's name for its first TF column (what stores made before
    several TF columns per comparison hold), ``<name>:<column>`` for others.
    """
    if column == comparison.tf_columns[0]:
        return comparison.name
    return f"{comparison.name}:{column}"


def frozen_pair_frequencies(
    comparison: Comparison,
    gamma: np.ndarray,
    per_record: Mapping[str, np.ndarray],
    rows_l: np.ndarray,
) -> np.ndarray | None:
    """Return a comparison's ``tf_`` column from frozen frequencies (None: none frozen)."""
    keys = [tf_key(comparison, column) for column in comparison.tf_columns]
    if not keys or not all(k in per_record for k in keys):
        return None
    given = {
        column: per_record[k][rows_l]
        for column, k in zip(comparison.tf_columns, keys, strict=True)
    }
    return pair_term_frequencies(comparison, gamma, given, dtype=np.float32)


@dataclass(frozen=True)
class TermFrequencies:
    """Frozen value frequencies of the comparisons with a term-frequency level.

    Counted once, over a reference set of records (by default the store's
    first batch; on a new model version, every record then stored), and
    kept fixed: a pair's score then depends on its two records alone, never
    on which batch brought them, so applying records in batches gives the
    clusters of one run over all of them (with the same reference), and
    stored scores never go stale. Values are kept as hashes
    (:func:`value_hashes`) with their counts, and only those seen at
    least twice: a value seen once, or never, has frequency ``1 / n``.

    Attributes
    ----------
    columns
        :func:`tf_key` (the comparison's name, or ``<name>:<column>`` for its
        second and further TF columns) -> the column counted.
    counts
        ``comparison``, ``value_hash``, ``count`` (count >= 2).
    totals
        Key (as in ``columns``) -> how many reference records had a value.
    """

    columns: Mapping[str, str] = field(default_factory=dict)
    counts: pl.DataFrame = field(
        default_factory=lambda: pl.DataFrame(
            schema={COMPARISON: pl.String, HASH: pl.UInt64, COUNT: pl.Int64}
        )
    )
    totals: Mapping[str, int] = field(default_factory=dict)

    @classmethod
    def from_records(
        cls, records: pl.DataFrame, comparisons: Sequence[Comparison]
    ) -> TermFrequencies:
        """Count the values of ``records`` for each term-frequency comparison."""
        columns = {
            tf_key(c, column): column for c in comparisons for column in c.tf_columns
        }
        parts = []
        totals: dict[str, int] = {}
        for name, column in columns.items():
            if column not in records.columns:
                raise SchemaError(
                    f"Comparison {name.split(':')[0]!r} needs column {column!r}; the "
                    "records have "
                    f"{records.columns}."
                )
            texts = _texts(records.get_column(column)).drop_nulls()
            totals[name] = texts.len()
            counted = (
                texts.value_counts(name="__n")
                .filter(pl.col("__n") >= 2)
                .select(pl.col(texts.name).alias("v"), pl.col("__n"))
            )
            parts.append(
                pl.DataFrame(
                    {
                        COMPARISON: pl.repeat(name, counted.height, eager=True),
                        HASH: value_hashes(counted.get_column("v")),
                        COUNT: counted.get_column("__n").cast(pl.Int64),
                    }
                )
            )
        counts = (pl.concat(parts) if parts else cls().counts).cast(
            {COMPARISON: pl.String, HASH: pl.UInt64, COUNT: pl.Int64}
        )
        return cls(columns=columns, counts=counts, totals=totals)

    def to_dict(self) -> dict[str, Any]:
        """Return the columns and totals (the counts are stored as a table)."""
        return {"columns": dict(self.columns), "totals": dict(self.totals)}

    @classmethod
    def from_parts(
        cls, spec: Mapping[str, Any], counts: pl.DataFrame
    ) -> TermFrequencies:
        """Rebuild from :meth:`to_dict` and the stored counts."""
        return cls(
            columns=dict(spec["columns"]),
            counts=counts.cast(
                {COMPARISON: pl.String, HASH: pl.UInt64, COUNT: pl.Int64}
            ),
            totals={k: int(v) for k, v in spec["totals"].items()},
        )

    @cached_property
    def _tables(self) -> dict[str, dict[int, int]]:
        """Per comparison, value hash -> count (made at the first small look-up)."""
        return {
            name: dict(
                self.counts.filter(pl.col(COMPARISON) == name)
                .select(HASH, COUNT)
                .iter_rows()
            )
            for name in self.columns
        }

    def per_record(self, records: pl.DataFrame) -> dict[str, np.ndarray]:
        """Return each record's frozen frequency per key of ``columns`` (NaN where null)."""
        out: dict[str, np.ndarray] = {}
        for name, column in self.columns.items():
            texts = _texts(records.get_column(column))
            n = max(int(self.totals.get(name, 0)), 1)
            if len(texts) <= _SMALL:  # a lookup: dictionary look-ups, no joins
                table = self._tables[name]
                values = texts.to_list()
                hashes = value_hashes(texts).to_list()
                out[name] = np.array(
                    [
                        np.nan if v is None else table.get(h, 1) / n
                        for v, h in zip(values, hashes, strict=True)
                    ],
                    dtype=np.float64,
                )
                continue
            mine = self.counts.filter(pl.col(COMPARISON) == name).select(HASH, COUNT)
            distinct = texts.drop_nulls().unique()
            known = (
                pl.DataFrame({"v": distinct, HASH: value_hashes(distinct)})
                .join(mine, on=HASH, how="left")
                .select("v", pl.col(COUNT).fill_null(1))
            )
            counts = (
                texts.to_frame("v")
                .join(known, on="v", how="left", maintain_order="left")
                .get_column(COUNT)
                .to_numpy()
            )
            freq = np.full(len(texts), np.nan)
            ok = texts.is_not_null().to_numpy()
            freq[ok] = counts[ok].astype(np.float64) / n
            out[name] = freq
        return out


def score_pairs(
    linker: Any,
    records: pl.DataFrame,
    pairs: pl.DataFrame,
    frequencies: TermFrequencies,
    *,
    explain: bool = False,
    min_probability: float = 0.0,
    chunk_size: int = 2_000_000,
    encoding: RecordEncoding | None = None,
) -> pl.DataFrame:
    """Compare and score ``pairs`` of ``records`` with the frozen term frequencies.

    The pipeline's compare and score (:func:`er_toolkit.compare.compare_pairs`,
    the fitted scorer's ``predict``), with each pair's ``tf_`` column taken
    from ``frequencies`` instead of from ``records`` themselves.

    Parameters
    ----------
    linker
        The fitted :class:`~er_toolkit.pipeline.Linker`.
    records
        The records (``_row`` dense from 0) the pairs refer to.
    pairs
        ``_row_l``, ``_row_r``.
    frequencies
        The store's term frequencies.
    explain
        Add each comparison's contribution and gamma level.
    min_probability
        Keep only pairs scoring at least this. With a Fellegi-Sunter model
        (and no ``explain``) each chunk's comparisons are computed cheapest
        first, and a pair is dropped once its weight so far plus the most
        the comparisons left could add is below the threshold
        (:func:`_score_bounded`): most candidate pairs never reach the
        costly string similarities. The pairs kept, and their scores, are
        those of comparing everything.
    chunk_size
        Pairs compared and scored at a time.
    encoding
        Column encodings of ``records`` to reuse.

    Returns
    -------
    polars.DataFrame
        ``_row_l``, ``_row_r``, ``match_weight``, ``match_probability`` (and
        the explanation columns).
    """
    scorer = linker.scorer_
    comparisons = linker.config.comparisons
    if encoding is None:
        encoding = RecordEncoding(records)
    tf_rec = frequencies.per_record(records) if frequencies.columns else {}
    pairs = pairs.select(
        pl.col(schema.ROW_L).cast(pl.UInt32), pl.col(schema.ROW_R).cast(pl.UInt32)
    )
    parts = []
    bounded = (
        min_probability > 0
        and not explain
        and _bounded_scorer(scorer, comparisons)
        and pairs.height > 0
    )
    order = _cheapest_first(records, comparisons) if bounded else []
    for start in range(0, max(pairs.height, 1), chunk_size):
        chunk = pairs.slice(start, chunk_size)
        if bounded:
            parts.append(
                _score_bounded(
                    scorer,
                    records,
                    chunk,
                    comparisons,
                    tf_rec,
                    order=order,
                    encoding=encoding,
                    min_probability=min_probability,
                    workers=linker.n_jobs,
                )
            )
            continue
        vectors = compare_pairs(
            records,
            chunk,
            comparisons,
            encoding=encoding,
            raw_similarity=explain or scorer.needs_similarities,
            workers=linker.n_jobs,
        )
        if tf_rec:
            rows_l = chunk.get_column(schema.ROW_L).to_numpy()
            frozen = {
                c.name: frozen_pair_frequencies(
                    c,
                    vectors.get_column(schema.gamma(c.name)).to_numpy(),
                    tf_rec,
                    rows_l,
                )
                for c in comparisons
            }
            vectors = vectors.with_columns(
                pl.Series(schema.tf(name), freq)
                for name, freq in frozen.items()
                if freq is not None
            )
        scored = scorer.predict(vectors, explain=explain)
        if min_probability > 0:
            scored = scored.filter(pl.col(schema.MATCH_PROBABILITY) >= min_probability)
        parts.append(scored)
    return pl.concat(parts)


_CHEAP_KINDS: Final = frozenset(
    {
        "exact",
        "distance",
        "date_swap",
        "date_difference",
        "numeric_difference",
        "year_typo",
    }
)
"""Level kinds compared first by :func:`_score_bounded`: no string similarity."""
_BOUND_MARGIN: Final = 1e-3
"""Bits of slack in a pair's bound (float32 frequencies, summation order)."""


def _bounded_scorer(scorer: Any, comparisons: Sequence[Comparison]) -> bool:
    """Whether :func:`_score_bounded` can score for ``scorer``: a Fellegi-Sunter model of these comparisons."""
    from er_toolkit.score.fellegi_sunter import FellegiSunter

    if not isinstance(scorer, FellegiSunter) or scorer.needs_similarities:
        return False
    own = [c.name for c in scorer.comparisons]
    return own == [c.name for c in comparisons] and all(
        c.name in scorer.m_ and c.name in scorer.u_ for c in comparisons
    )


def _cheapest_first(
    records: pl.DataFrame, comparisons: Sequence[Comparison]
) -> list[int]:
    """Order the comparisons by their likely cost: without string similarities first, then by value length.

    A string similarity costs more the longer the values (a street address
    against a first name); the mean length of the comparison's column in
    ``records`` stands for it. Scoring the costliest last lets
    :func:`_score_bounded` drop most pairs before it.
    """

    def cost(k: int) -> tuple[bool, float, int]:
        comparison = comparisons[k]
        cheap = all(
            getattr(level, "kind", "") in _CHEAP_KINDS for level in comparison.levels
        )
        length = 0.0
        column = comparison.column
        if column in records.columns and records.schema[column] == pl.String:
            mean = records.get_column(column).str.len_bytes().mean()
            length = float(mean) if isinstance(mean, (int, float)) else 0.0
        return (not cheap, length, k)

    return sorted(range(len(comparisons)), key=cost)


def _weight_bound(
    scorer: Any,
    comparison: Comparison,
    tf_rec: Mapping[str, np.ndarray],
    rows_l: np.ndarray,
) -> np.ndarray | float:
    """Return the most a comparison can add to each pair's match weight, in bits.

    The largest of 0 (a null), every level's weight and, at a
    term-frequency level, the weight the left record's frozen frequency
    gives (the frequency a pair at that level is scored with); the
    scorer's own arithmetic (:meth:`FellegiSunter.level_weights`,
    :meth:`FellegiSunter.tf_level_weights`).
    """
    table = scorer.level_weights(comparison.name)
    levels = comparison.tf_levels
    tf_tops = {top for top, _, _ in levels}
    fixed = [0.0] + [float(table[g]) for g in range(table.size) if g not in tf_tops]
    bound: np.ndarray | float = max(fixed)
    for top, _, column in levels:
        key = tf_key(comparison, column)
        plain = float(table[top])
        # frequencies unknown: the pair's own tf_ column is read, which can be
        # any value; no bound tighter than the floor's (a frequency of 0)
        freq = tf_rec[key][rows_l] if key in tf_rec else np.zeros(rows_l.size)
        known = ~np.isnan(freq)
        with np.errstate(divide="ignore", invalid="ignore"):
            adjusted = scorer.tf_level_weights(
                comparison, top, np.where(known, freq, 1.0)
            )
        at_level = np.where(known, np.maximum(adjusted, plain), plain)
        bound = np.maximum(bound, at_level)
    return bound


def _score_bounded(
    scorer: Any,
    records: pl.DataFrame,
    chunk: pl.DataFrame,
    comparisons: Sequence[Comparison],
    tf_rec: Mapping[str, np.ndarray],
    *,
    order: Sequence[int],
    encoding: RecordEncoding,
    min_probability: float,
    workers: int | None,
) -> pl.DataFrame:
    """Score one chunk of pairs, dropping each pair as soon as it cannot reach ``min_probability``.

    Comparisons go in ``order`` (:func:`_cheapest_first`). After each, a
    pair's weight so far (prior included) plus the bounds of the
    comparisons left (:func:`_weight_bound`) is an upper bound of its
    final weight; a pair whose bound is below the threshold's weight
    (less :data:`_BOUND_MARGIN`) cannot be kept and is compared no
    further. The survivors' vectors are then scored by ``scorer.predict``
    itself, so their weights and probabilities are exactly those of
    comparing every pair.
    """
    n = chunk.height
    own = {c.name: c for c in scorer.comparisons}
    # the state of the pairs still alive, compacted after every comparison
    rows_l = chunk.get_column(schema.ROW_L).to_numpy()
    rows_r = chunk.get_column(schema.ROW_R).to_numpy()
    bounds: dict[int, np.ndarray | float] = {
        k: _weight_bound(scorer, own[c.name], tf_rec, rows_l)
        for k, c in enumerate(comparisons)
    }
    remaining = np.zeros(n)
    for b in bounds.values():
        remaining += b
    weight = np.full(n, float(scorer.prior_weight_))
    p = min(max(min_probability, 1e-300), 1.0)
    cut = (np.log2(p) - np.log2(1.0 - p) if p < 1.0 else np.inf) - _BOUND_MARGIN
    gammas: dict[str, np.ndarray] = {}
    tfs: dict[str, np.ndarray] = {}

    def keep_only(mask: np.ndarray) -> None:
        nonlocal rows_l, rows_r, weight, remaining
        if mask.all():
            return
        rows_l, rows_r = rows_l[mask], rows_r[mask]
        weight, remaining = weight[mask], remaining[mask]
        for store in (gammas, tfs):
            for name in store:
                store[name] = store[name][mask]
        for k, b in bounds.items():
            if isinstance(b, np.ndarray):
                bounds[k] = b[mask]

    def pairs_frame() -> pl.DataFrame:
        return pl.DataFrame(
            {schema.ROW_L: rows_l, schema.ROW_R: rows_r},
            schema={schema.ROW_L: pl.UInt32, schema.ROW_R: pl.UInt32},
        )

    for k in order:
        if rows_l.size == 0:
            break
        comparison = comparisons[k]
        name = comparison.name
        remaining -= bounds.pop(k)
        probe = _exact_probe(comparison)
        vectors: pl.DataFrame
        if probe is not None:
            mask, gamma = _probe_exact(
                scorer,
                records,
                pairs_frame(),
                comparison,
                probe,
                weight + remaining,
                cut,
                encoding=encoding,
                workers=workers,
            )
            keep_only(mask)
            vectors = pl.DataFrame({schema.gamma(name): gamma})
        else:
            vectors = _levels(records, pairs_frame(), comparison, encoding, workers)
            gamma = vectors.get_column(schema.gamma(name)).to_numpy()
            freq = (
                frozen_pair_frequencies(comparison, gamma, tf_rec, rows_l)
                if tf_rec
                else None
            )
            if freq is not None:
                vectors = vectors.with_columns(pl.Series(schema.tf(name), freq))
            if schema.tf(name) in vectors.columns:
                tfs[name] = vectors.get_column(schema.tf(name)).to_numpy()
        gammas[name] = gamma
        weight += scorer.comparison_weights(vectors, own[name])
        keep_only(weight + remaining >= cut)
    if len(gammas) < len(comparisons) or rows_l.size == 0:
        # every pair dropped before the last comparison
        return scorer.predict(
            pairs_frame()
            .head(0)
            .with_columns(
                pl.lit(-1, dtype=pl.Int8).alias(schema.gamma(c.name))
                for c in comparisons
            ),
        )
    survivors = pairs_frame().with_columns(
        *(
            pl.Series(schema.gamma(c.name), gammas[c.name]).cast(pl.Int8)
            for c in comparisons
        ),
        *(pl.Series(schema.tf(name), freq) for name, freq in tfs.items()),
    )
    scored = scorer.predict(survivors)
    return scored.filter(pl.col(schema.MATCH_PROBABILITY) >= min_probability)


def _exact_probe(comparison: Comparison) -> Comparison | None:
    """Return the comparison cut to its first level, when that is a plain exact level, else None.

    A pair equal on the comparison's column is at its first level
    whatever the others say (the first level a pair meets is its level),
    so the exact test, cheap on the encoded values, settles those pairs
    and bounds the rest by the other levels' weights.
    """
    import dataclasses

    from er_toolkit.compare import ExactLevel

    first = comparison.levels[0] if comparison.levels else None
    if (
        len(comparison.levels) < 2
        or comparison.tf_levels
        or not isinstance(first, ExactLevel)
        or first.column is not None
        or first.extract is not None
        or all(getattr(lvl, "kind", "") in _CHEAP_KINDS for lvl in comparison.levels)
        # a level of numbers or dates changes which values count as null
        or any(getattr(lvl, "reads", None) != "text" for lvl in comparison.levels)
    ):
        return None
    return dataclasses.replace(comparison, levels=(first,))


def _probe_exact(
    scorer: Any,
    records: pl.DataFrame,
    pairs: pl.DataFrame,
    comparison: Comparison,
    probe: Comparison,
    upper: np.ndarray,
    cut: float,
    *,
    encoding: RecordEncoding,
    workers: int | None,
) -> tuple[np.ndarray, np.ndarray]:
    """Level ``pairs`` of ``comparison``, comparing in full only the unequal ones that may still match.

    ``upper`` is each pair's bound without this comparison. Returns which
    pairs stay alive (a mask) and their gamma levels of ``comparison``.
    """
    name = comparison.name
    top = len(comparison.levels)
    exact = (
        _levels(records, pairs, probe, encoding, workers)
        .get_column(schema.gamma(name))
        .to_numpy()
    )
    table = scorer.level_weights(name)
    others = max([0.0, *(float(table[g]) for g in range(top))])
    bound = np.where(exact == 1, float(table[top]), np.where(exact < 0, 0.0, others))
    mask = upper + bound >= cut
    exact = exact[mask]
    gamma = np.where(exact == 1, top, -1).astype(np.int8)
    unequal = np.flatnonzero(exact == 0)
    if unequal.size:
        alive = np.flatnonzero(mask)[unequal]
        gamma[unequal] = (
            _levels(records, pairs[alive], comparison, encoding, workers)
            .get_column(schema.gamma(name))
            .to_numpy()
        )
    return mask, gamma


def _levels(
    records: pl.DataFrame,
    pairs: pl.DataFrame,
    comparison: Comparison,
    encoding: RecordEncoding,
    workers: int | None,
) -> pl.DataFrame:
    """Return one comparison's vectors (gamma, and tf where the kernel gives it) of ``pairs``."""
    return compare_pairs(
        records,
        pairs,
        [comparison],
        encoding=encoding,
        raw_similarity=False,
        workers=workers,
    )
