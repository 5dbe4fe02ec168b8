"""A Comparison: ordered levels over one column, compiled to gamma arrays."""

from __future__ import annotations

import os
from collections.abc import Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from typing import Any

import numpy as np
import polars as pl

from er_toolkit import schema
from er_toolkit.compare.levels import (
    DistanceLevel,
    ExactLevel,
    Level,
    SimilarityLevel,
    level_from_dict,
    level_to_dict,
)
from er_toolkit.compare.pair_values import ColumnEncoding, PairValues, RecordEncoding
from er_toolkit.exceptions import ConfigError, SchemaError

TF_PREFIX = "tf_"


def tf(name: str) -> str:
    """Return the term-frequency column name of comparison ``name``."""
    return TF_PREFIX + name


@dataclass(frozen=True)
class Comparison:
    """Ordered levels over one column, most similar first.

    A pair gets gamma ``len(levels)`` at the first level, counting down to 1
    at the last; 0 when no level applies ("else"); -1 when either value is
    null.

    Parameters
    ----------
    name
        Used in column names (``gamma_<name>``, ``sim_<name>``).
    column
        The records column compared.
    levels
        The levels, most similar first.
    date_format
        ``strptime`` format of string dates, for date levels.
    """

    name: str
    column: str
    levels: tuple[Level, ...]
    date_format: str | None = None

    def __post_init__(self) -> None:
        object.__setattr__(self, "levels", tuple(self.levels))
        if not self.levels:
            raise ConfigError(f"Comparison {self.name!r} needs at least one level.")
        if not self.name.isidentifier():
            raise ConfigError(
                f"A comparison's name must be an identifier (letters, digits, _); "
                f"got {self.name!r}."
            )

    @property
    def n_levels(self) -> int:
        """Number of non-null levels, the else level included."""
        return len(self.levels) + 1

    @property
    def level_labels(self) -> list[str]:
        """Label of each gamma value 0 .. ``len(levels)`` (else first)."""
        return ["else", *[lvl.label for lvl in reversed(self.levels)]]

    @property
    def tf_gamma(self) -> int | None:
        """The gamma value of the term-frequency adjusted exact level, if any."""
        for i, lvl in enumerate(self.levels):
            if isinstance(lvl, ExactLevel) and lvl.term_frequency:
                return len(self.levels) - i
        return None

    @property
    def similarity_comparator(self) -> str | None:
        """The string comparator whose raw similarity is reported, if any."""
        for lvl in self.levels:
            if isinstance(lvl, (SimilarityLevel, DistanceLevel)):
                return lvl.comparator
        return None

    def _cutoffs(self) -> tuple[dict[str, float], dict[str, int]]:
        """Return the loosest similarity and distance any level asks about."""
        sims: dict[str, float] = {}
        dists: dict[str, int] = {}
        for lvl in self.levels:
            if isinstance(lvl, SimilarityLevel):
                sims[lvl.comparator] = min(
                    sims.get(lvl.comparator, 1.0), lvl.min_similarity
                )
            elif isinstance(lvl, DistanceLevel):
                dists[lvl.comparator] = max(
                    dists.get(lvl.comparator, 0), lvl.max_distance
                )
        return sims, dists

    def compare(
        self,
        records: pl.DataFrame,
        rows_l: np.ndarray,
        rows_r: np.ndarray,
        *,
        encoding: RecordEncoding | None = None,
        raw_similarity: bool = True,
    ) -> dict[str, np.ndarray]:
        """Return gamma (and sim, tf where they apply) arrays for the pairs.

        Parameters
        ----------
        records
            The records frame, indexed by ``_row``.
        rows_l, rows_r
            Row numbers of each pair's records.
        encoding
            Column encodings of ``records`` to reuse across calls.
        raw_similarity
            Return ``sim_<name>``; without it, comparators may stop early
            below the loosest threshold, which is faster.

        Returns
        -------
        dict
            ``gamma_<name>`` (int8), and ``sim_<name>`` (float32) where the
            comparison has a string comparator and ``raw_similarity`` is set,
            ``tf_<name>`` (float64) where it has a term-frequency adjusted
            exact level.
        """
        if self.column not in records.columns:
            raise SchemaError(
                f"Comparison {self.name!r} needs column {self.column!r}; the records "
                f"have {records.columns}."
            )
        if encoding is None:
            encoding = RecordEncoding(records)
        column = encoding.column(self.column, date_format=self.date_format)
        comparator = self.similarity_comparator
        sims, dists = ({}, {}) if raw_similarity else self._cutoffs()
        values = PairValues(
            column, rows_l, rows_r, min_similarity=sims, max_distance=dists
        )
        gamma = np.zeros(len(rows_l), dtype=np.int8)
        undecided = np.ones(len(rows_l), dtype=bool)
        for i, level in enumerate(self.levels):
            hit = undecided & level.matches(values)
            gamma[hit] = len(self.levels) - i
            undecided &= ~hit
        gamma[values.null] = schema.NULL_LEVEL
        out = {schema.gamma(self.name): gamma}
        if comparator is not None and raw_similarity:
            out[schema.sim(self.name)] = values.similarity(comparator).astype(
                np.float32
            )
        if self.tf_gamma is not None:
            out[tf(self.name)] = column.term_frequency[rows_l].astype(np.float32)
        return out

    def to_dict(self) -> dict[str, Any]:
        """Return the declaration as a plain dict (JSON and TOML friendly)."""
        out: dict[str, Any] = {
            "name": self.name,
            "column": self.column,
            "levels": [level_to_dict(lvl) for lvl in self.levels],
        }
        if self.date_format is not None:
            out["date_format"] = self.date_format
        return out

    @classmethod
    def from_dict(cls, spec: dict[str, Any]) -> Comparison:
        """Build a comparison from :meth:`to_dict`'s output or a config table."""
        valid = {"name", "column", "levels", "date_format"}
        unknown = sorted(set(spec) - valid)
        if unknown:
            raise ConfigError(
                f"Unknown key(s) {unknown} in a comparison; valid keys are "
                f"{sorted(valid)}."
            )
        missing = [k for k in ("name", "levels") if k not in spec]
        if missing:
            raise ConfigError(f"A comparison needs {missing}; got {sorted(spec)}.")
        return cls(
            name=spec["name"],
            column=spec.get("column", spec["name"]),
            levels=tuple(level_from_dict(lvl) for lvl in spec["levels"]),
            date_format=spec.get("date_format"),
        )


def term_frequencies(values: pl.Series) -> np.ndarray:
    """Return each record's value frequency among the non-null values (NaN if null).

    Examples
    --------
    >>> term_frequencies(pl.Series(["a", "a", "b", None])).round(3).tolist()
    [0.667, 0.667, 0.333, nan]
    """
    return ColumnEncoding(values).term_frequency


def compare_pairs(
    records: pl.DataFrame,
    pairs: pl.DataFrame,
    comparisons: Sequence[Comparison],
    *,
    encoding: RecordEncoding | None = None,
    raw_similarity: bool = True,
    chunk_size: int = 2_000_000,
    workers: int | None = None,
) -> pl.DataFrame:
    """Return the comparison vectors of ``pairs``.

    Parameters
    ----------
    records
        The records frame (``_row`` dense from 0).
    pairs
        Candidate pairs with ``_row_l`` and ``_row_r``; other columns are kept.
    comparisons
        The comparisons to compute.
    encoding
        Column encodings of ``records``, to reuse across calls.
    raw_similarity
        Return the ``sim_`` columns (slower: no early stop below thresholds).
    chunk_size
        Pairs compared at a time: the working arrays (value codes, masks,
        distinct value pairs) are those of one chunk, so memory beyond the
        result stays bounded however many pairs there are.
    workers
        Chunks compared at once, in threads (numpy, polars and rapidfuzz
        release the GIL); ``None`` uses every core. Each thread holds one
        chunk's working arrays.

    Returns
    -------
    polars.DataFrame
        ``pairs`` plus a ``gamma_`` column per comparison, and ``sim_`` and
        ``tf_`` columns where they apply.
    """
    names = [c.name for c in comparisons]
    if len(set(names)) != len(names):
        raise ConfigError(f"Comparison names must be unique; got {names}.")
    if chunk_size < 1:
        raise ConfigError(f"chunk_size must be a positive int; got {chunk_size!r}.")
    if encoding is None:
        encoding = RecordEncoding(records)
    if workers is not None and workers < 1:
        raise ConfigError(f"workers must be a positive int or None; got {workers!r}.")

    def chunk(start: int) -> pl.DataFrame:
        return _compare_chunk(
            records,
            pairs.slice(start, chunk_size),
            comparisons,
            encoding,
            raw_similarity,
        )

    starts = range(0, pairs.height, chunk_size)
    if len(starts) <= 1:
        return chunk(0)
    # The first chunk runs alone: it fills the encoding's caches (codes,
    # distinct values, frequencies) that the threads then only read.
    parts = [chunk(0)]
    threads = min(workers or os.cpu_count() or 1, len(starts) - 1)
    with ThreadPoolExecutor(max_workers=threads) as pool:
        parts.extend(pool.map(chunk, starts[1:]))
    return pl.concat(parts)


def _compare_chunk(
    records: pl.DataFrame,
    pairs: pl.DataFrame,
    comparisons: Sequence[Comparison],
    encoding: RecordEncoding,
    raw_similarity: bool,
) -> pl.DataFrame:
    rows_l = pairs.get_column(schema.ROW_L).to_numpy()
    rows_r = pairs.get_column(schema.ROW_R).to_numpy()
    columns: dict[str, np.ndarray] = {}
    for comparison in comparisons:
        columns.update(
            comparison.compare(
                records,
                rows_l,
                rows_r,
                encoding=encoding,
                raw_similarity=raw_similarity,
            )
        )
    return pairs.with_columns(
        [
            pl.Series(name, array).fill_nan(None)
            if name.startswith(schema.SIM_PREFIX)
            else pl.Series(name, array)
            for name, array in columns.items()
        ]
    )
