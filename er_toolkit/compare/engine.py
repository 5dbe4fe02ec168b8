"""The polars engine's compare: whole-frame encodings, chunks of pairs, threads."""

from __future__ import annotations

import os
from collections.abc import Sequence
from concurrent.futures import ThreadPoolExecutor
from typing import TYPE_CHECKING, Any

import numpy as np
import polars as pl

from er_toolkit import schema
from er_toolkit.compare import limits
from er_toolkit.compare.pair_values import ColumnEncoding
from er_toolkit.exceptions import ConfigError, SchemaError
from er_toolkit.progress import progress_bar

if TYPE_CHECKING:
    from er_toolkit.compare.comparison import Comparison


class RecordEncoding:
    """Column encodings of one whole records frame, made on first use and kept.

    The polars engine's cache: each column's distinct values, codes and term
    frequencies are made once, for every chunk and call that compares pairs
    of these records.
    """

    def __init__(
        self, records: pl.DataFrame, *, max_compared_length: int | None = None
    ) -> None:
        self.records = records
        self.max_compared_length = limits.max_compared_length(max_compared_length)
        self._columns: dict[tuple[str, str | None], ColumnEncoding] = {}
        self._pairs: dict[tuple[str, str, str | None], ColumnEncoding] = {}
        self.shape = (records.height, tuple(records.columns))
        """Rows and column names of the records when encoded."""
        self.pair_counts: dict[Any, int] = {}
        """Blockers' pair counts over these records, by (blocker, link type)."""

    def column(self, name: str, *, date_format: str | None = None) -> ColumnEncoding:
        """Return the encoding of column ``name``."""
        key = (name, date_format)
        if key not in self._columns:
            self._columns[key] = ColumnEncoding(
                self.records.get_column(name),
                date_format=date_format,
                max_compared_length=self.max_compared_length,
            )
        return self._columns[key]

    def pair(
        self, left: str, right: str, *, date_format: str | None = None
    ) -> ColumnEncoding:
        """Return one encoding of column ``left`` followed by column ``right``.

        Row ``i`` of ``left`` is position ``i``, row ``i`` of ``right`` is
        ``i + len(records)``: a level comparing one column against another
        (``columns_reversed``, ``contains``) reads both in one code space.
        """
        key = (left, right, date_format)
        if key not in self._pairs:
            frames = [self.records.select(pl.col(c).alias("v")) for c in (left, right)]
            try:
                stacked = pl.concat(frames, how="vertical_relaxed").to_series()
            except pl.exceptions.PolarsError as exc:
                raise SchemaError(
                    f"Columns {left!r} and {right!r} are compared with each other, so "
                    f"they must share a type; got {self.records.schema[left]} and "
                    f"{self.records.schema[right]}."
                ) from exc
            self._pairs[key] = ColumnEncoding(stacked, date_format=date_format)
        return self._pairs[key]


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

    The in-process engine over :func:`er_toolkit.compare.kernel.compare_encoded`:
    each records column is encoded once (distinct values, codes, term
    frequencies over the whole frame) and pairs are compared in chunks, in
    threads. :func:`er_toolkit.compare.compare_batch` gives the same arrays
    for the same pairs from their values alone.

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
        release the GIL), and the threads of each rapidfuzz call; ``None``
        uses every core for both. Each thread holds one chunk's working
        arrays.

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

    rapidfuzz_workers = -1 if workers is None else workers

    def chunk(start: int, rapidfuzz_workers: int = rapidfuzz_workers) -> pl.DataFrame:
        return _compare_chunk(
            records,
            pairs.slice(start, chunk_size),
            comparisons,
            encoding,
            raw_similarity,
            rapidfuzz_workers,
        )

    starts = range(0, pairs.height, chunk_size)
    with progress_bar(total=pairs.height, desc="compare", unit="pair") as bar:
        if len(starts) <= 1:
            out = chunk(0)
            bar.update(pairs.height)
            return out
        # The first chunk runs alone: it fills the encoding's caches (codes,
        # distinct values, frequencies) that the threads then only read.
        parts = [chunk(0)]
        bar.update(parts[0].height)
        threads = min(workers or os.cpu_count() or 1, len(starts) - 1)
        # Chunks in parallel threads each call rapidfuzz single-threaded, so
        # the threads never number more than the cores (or ``workers``).
        inner = rapidfuzz_workers if threads == 1 else 1
        with ThreadPoolExecutor(max_workers=threads) as pool:
            for part in pool.map(lambda start: chunk(start, inner), starts[1:]):
                parts.append(part)
                bar.update(part.height)
    return pl.concat(parts)


def _compare_chunk(
    records: pl.DataFrame,
    pairs: pl.DataFrame,
    comparisons: Sequence[Comparison],
    encoding: RecordEncoding,
    raw_similarity: bool,
    workers: int,
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
                workers=workers,
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
