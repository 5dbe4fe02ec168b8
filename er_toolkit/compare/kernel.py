"""The compare kernel: one batch of aligned left/right values to gamma levels."""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from typing import TYPE_CHECKING, Any

import numpy as np
import polars as pl

from er_toolkit import schema
from er_toolkit.compare.levels import level_matches
from er_toolkit.compare.pair_values import (
    SMALL_ENCODING,
    ColumnEncoding,
    PairColumns,
    PairValues,
)
from er_toolkit.compare.text_values import (
    DocumentFrequencies,
    check_document_frequencies,
)
from er_toolkit.exceptions import ConfigError, SchemaError

if TYPE_CHECKING:
    from er_toolkit.compare.comparison import Comparison

TF_PREFIX = schema.TF_PREFIX
tf = schema.tf


Encoded = Callable[[str, str], tuple[ColumnEncoding, np.ndarray, np.ndarray]]
"""``(left column, right column) -> (encoding, left positions, right positions)``:
how an engine hands the kernel the values of one column pair."""


def compare_encoded(
    comparison: Comparison,
    encoded: Encoded,
    size: int,
    *,
    term_frequency: np.ndarray | None = None,
    raw_similarity: bool = True,
    workers: int = -1,
) -> dict[str, np.ndarray]:
    """Return one comparison's gamma (and sim, tf) arrays over encoded values.

    The one implementation of levels and nulls that every engine runs: the
    polars engine passes encodings of whole records columns,
    :func:`compare_batch` those of one batch.

    Parameters
    ----------
    comparison
        The comparison.
    encoded
        For each column pair a level reads (a column with itself, or one
        column against another), its values encoded and the positions of
        each pair's left and right value in that encoding.
    size
        The number of pairs.
    term_frequency
        The left value's frequency per pair, for a comparison with a
        term-frequency adjusted exact level.
    raw_similarity
        Return ``sim_<name>``; without it comparators may stop early below
        the loosest threshold (the gamma levels are the same either way).
    workers
        Threads each rapidfuzz call uses; -1 uses every core.

    Returns
    -------
    dict
        ``gamma_<name>`` (int8, -1 where either value of the comparison's
        own column is null or, for a comparison with number or date levels,
        not a number or date; with ``null_columns``, where that holds of
        every one of them); ``sim_<name>`` (float32, NaN where gamma is
        -1) where the comparison has a string comparator and
        ``raw_similarity`` is set; ``tf_<name>`` (float32, or float64 for a
        level of that precision) where it has a
        term-frequency adjusted exact level.
    """
    cutoffs = {} if raw_similarity else comparison.cutoffs

    def make(left: str, right: str) -> PairValues:
        encoding, rows_l, rows_r = encoded(left, right)
        sims, dists = cutoffs.get((left, right), ({}, {}))
        return PairValues(
            encoding,
            rows_l,
            rows_r,
            min_similarity=sims,
            max_distance=dists,
            workers=workers,
        )

    columns = PairColumns(make, size)
    main = comparison.column
    n_levels = len(comparison.levels)
    gamma = np.zeros(size, dtype=np.int8)
    undecided = np.ones(size, dtype=bool)
    for i, level in enumerate(comparison.levels):
        hit = undecided & level_matches(level, columns, main=main)
        gamma[hit] = n_levels - i
        undecided &= ~hit
    values = columns.get(main)
    null = values.null_as(comparison.reads)
    for other in comparison.null_columns:
        if other != main:
            null = null & columns.get(other).null
    gamma[null] = schema.NULL_LEVEL
    out: dict[str, np.ndarray] = {schema.gamma(comparison.name): gamma}
    scored = comparison.similarity_level
    if scored is not None and raw_similarity:
        sim = scored.similarity(values).astype(np.float32)
        if comparison.reads - {"text"}:
            sim = np.where(null, np.float32(np.nan), sim)
        out[schema.sim(comparison.name)] = sim
    if comparison.tf_gamma is not None:
        if term_frequency is None:
            raise SchemaError(
                f"Comparison {comparison.name!r} has a term-frequency level, so it "
                "needs the left values' term frequencies; got none."
            )
        tf_level = comparison.tf_level
        precise = tf_level is not None and tf_level.precision == "float64"
        out[tf(comparison.name)] = np.asarray(
            term_frequency, dtype=np.float64 if precise else np.float32
        )
    return out


def compare_batch(
    comparisons: Sequence[Comparison],
    left: Mapping[str, Any],
    right: Mapping[str, Any],
    *,
    term_frequencies: Mapping[str, Any] | None = None,
    document_frequencies: Mapping[str, DocumentFrequencies] | None = None,
    raw_similarity: bool = True,
    workers: int = -1,
) -> dict[str, np.ndarray]:
    """Compare one batch of aligned left/right values.

    The engine-neutral contract: pair ``i`` is ``left[c][i]`` against
    ``right[c][i]`` for every column ``c``. Nothing outside the batch is
    read, so any engine can call it on any split of the pairs (Spark from
    ``mapInArrow``, one Arrow record batch at a time) and get what
    :func:`er_toolkit.compare.compare_pairs` gives for the same pairs.

    Parameters
    ----------
    comparisons
        The comparisons to compute.
    left, right
        Per records column the comparisons read, the pairs' left and right
        values: numpy, Arrow or polars arrays (or lists) of one length, of
        the column's type. numpy holds nulls only as None (object arrays),
        NaN (floats, read as null) or NaT; pass nullable integers as Arrow
        or polars.
    term_frequencies
        Per comparison name with a term-frequency adjusted exact level, the
        left value's frequency over the whole column
        (:func:`er_toolkit.compare.term_frequencies`, looked up per pair);
        frequencies within a batch would be wrong. NaN where the left value
        is null.
    raw_similarity
        Return the ``sim_`` arrays (slower: no early stop below thresholds).
    workers
        Threads each rapidfuzz call uses; -1 uses every core.

    Returns
    -------
    dict of numpy.ndarray
        Per comparison ``gamma_<name>`` (int8), and ``sim_<name>`` (float32,
        NaN for null) and ``tf_<name>`` (float32, float64 at that precision) where they apply.

    Raises
    ------
    SchemaError
        A column or term frequency is missing, or the arrays differ in length.

    Examples
    --------
    >>> from er_toolkit.compare import Comparison, DateDifferenceLevel, ExactLevel
    >>> dob = Comparison("dob", "dob", (ExactLevel(), DateDifferenceLevel(max_days=31)))
    >>> out = compare_batch(
    ...     [dob],
    ...     {"dob": ["2001-01-02", "2001-01-02", "2001-01-02", None]},
    ...     {"dob": ["2001-01-02", "2001-01-30", "not a date", "2001-01-02"]},
    ... )
    >>> out["gamma_dob"].tolist()
    [2, 1, -1, -1]
    """
    names = [c.name for c in comparisons]
    if len(set(names)) != len(names):
        raise ConfigError(f"Comparison names must be unique; got {names}.")
    frequencies = dict(term_frequencies or {})
    documents = dict(document_frequencies or {})
    encodings: dict[tuple[str, str, str | None], ColumnEncoding] = {}
    sizes: dict[str, int] = {}
    for comparison in comparisons:
        for column in comparison.columns:
            if column not in sizes:
                sizes[column] = _size(comparison, column, left, right)
    n = next(iter(sizes.values()), 0)
    for column, size in sizes.items():
        if size != n:
            raise SchemaError(
                f"Every compare_batch column must hold one value per pair; "
                f"column {column!r} holds {size}, another {n}."
            )
    rows = np.arange(n, dtype=np.int64)
    if 2 * n <= SMALL_ENCODING:  # a few pairs: every column's strings in one query
        for comparison in comparisons:
            for l_col, r_col in comparison.column_pairs:
                key = (l_col, r_col, comparison.date_format)
                if key not in encodings:
                    values = _stacked(l_col, r_col, left, right)
                    encodings[key] = ColumnEncoding(
                        values, date_format=comparison.date_format
                    )
        ColumnEncoding.prepare(list(encodings.values()))
    out: dict[str, np.ndarray] = {}
    for comparison in comparisons:
        date_format = comparison.date_format

        def encoded(
            l_col: str, r_col: str, *, date_format: str | None = date_format
        ) -> tuple[ColumnEncoding, np.ndarray, np.ndarray]:
            key = (l_col, r_col, date_format)
            if key not in encodings:
                values = _stacked(l_col, r_col, left, right)
                encodings[key] = ColumnEncoding(values, date_format=date_format)
            return encodings[key], rows, rows + n

        tokens = comparison.tfidf_tokens
        if tokens is not None:
            if comparison.name not in documents:
                raise SchemaError(
                    f"Comparison {comparison.name!r} has a tfidf_cosine level; "
                    f"compare_batch needs document_frequencies[{comparison.name!r}], "
                    "the token counts of the whole column; got keys "
                    f"{sorted(documents)}."
                )
            own, _, _ = encoded(comparison.column, comparison.column)
            own.document_frequencies[tokens] = check_document_frequencies(
                documents[comparison.name], comparison.name, tokens
            )
        freq = None
        if comparison.tf_gamma is not None:
            own, _, _ = encoded(comparison.column, comparison.column)
            freq = _left_frequencies(comparison, frequencies, own, n)
        out.update(
            compare_encoded(
                comparison,
                encoded,
                n,
                term_frequency=freq,
                raw_similarity=raw_similarity,
                workers=workers,
            )
        )
    return out


def _series(name: str, values: Any) -> pl.Series:
    """Return ``values`` (numpy, Arrow, polars, list) as a polars Series."""
    if isinstance(values, pl.Series):
        return values.alias(name)
    series = pl.Series(name, values)
    if series.dtype == pl.Object:  # a numpy object array, e.g. all None
        series = pl.Series(name, series.to_list())
    return series


def _size(
    comparison: Comparison,
    column: str,
    left: Mapping[str, Any],
    right: Mapping[str, Any],
) -> int:
    """Return how many pairs ``column`` holds, checking both sides hold it alike."""
    for side, values in (("left", left), ("right", right)):
        if column not in values:
            raise SchemaError(
                f"Comparison {comparison.name!r} needs column {column!r} on the "
                f"{side}; the batch has {sorted(values)}."
            )
    n_l, n_r = len(_series(column, left[column])), len(_series(column, right[column]))
    if n_l != n_r:
        raise SchemaError(
            f"Column {column!r} must hold one left and one right value per pair; "
            f"got {n_l} left and {n_r} right values."
        )
    return n_l


def _stacked(
    l_col: str, r_col: str, left: Mapping[str, Any], right: Mapping[str, Any]
) -> pl.Series:
    """Return the left values of ``l_col`` followed by the right ones of ``r_col``."""
    lhs, rhs = _series(l_col, left[l_col]), _series(l_col, right[r_col])
    if lhs.dtype == rhs.dtype:  # no supertype to find: one cheap append, not a query
        return lhs.clone().append(rhs)
    try:
        return pl.concat(
            [lhs.to_frame(), rhs.to_frame()], how="vertical_relaxed"
        ).to_series()
    except pl.exceptions.PolarsError as exc:
        what = (
            f"The left and right values of column {l_col!r}"
            if l_col == r_col
            else f"The left values of column {l_col!r} and the right values of "
            f"column {r_col!r} (compared with each other)"
        )
        raise SchemaError(
            f"{what} must share a type; got {lhs.dtype} and {rhs.dtype}."
        ) from exc


def _left_frequencies(
    comparison: Comparison,
    frequencies: Mapping[str, Any],
    encoding: ColumnEncoding,
    n: int,
) -> np.ndarray:
    """Return the given term frequencies of the left values, NaN where null."""
    if comparison.name not in frequencies:
        raise SchemaError(
            f"Comparison {comparison.name!r} has a term-frequency level; "
            f"compare_batch needs term_frequencies[{comparison.name!r}], the left "
            f"values' frequencies over the whole column; got keys "
            f"{sorted(frequencies)}."
        )
    given = frequencies[comparison.name]
    if isinstance(given, np.ndarray) and given.dtype.kind == "f":
        out = given.astype(np.float64)  # NaN is null already
    else:
        freq = _series(comparison.name, given)
        out = freq.cast(pl.Float64).fill_null(np.nan).to_numpy().copy()
    if len(out) != n:
        raise SchemaError(
            f"term_frequencies[{comparison.name!r}] must hold one value per pair "
            f"({n}); got {len(out)}."
        )
    out[encoding.codes[:n] < 0] = np.nan
    return out
