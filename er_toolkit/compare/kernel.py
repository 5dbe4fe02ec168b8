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
    term_frequencies: Mapping[str, np.ndarray] | None = None,
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
    term_frequencies
        Per column in :attr:`~er_toolkit.compare.Comparison.tf_columns`
        (the columns of its term-frequency adjusted exact levels), the left
        value's frequency in that column per pair.
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
        not a number or date (unless ``unparsed="text"``); with ``null_columns``, where that holds of
        every one of them); ``sim_<name>`` (float32, NaN where gamma is
        -1) where the comparison has a string comparator and
        ``raw_similarity`` is set; ``tf_<name>`` (float32, or float64 where
        a TF level has that precision) where it has term-frequency adjusted
        exact levels: per pair, the left value's frequency in the column of
        the TF level the pair is at, or (a pair at no TF level) in the first
        TF level's column.
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
    null = values.null_as(comparison.known_as)
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
    if comparison.tf_levels:
        frequencies = dict(term_frequencies or {})
        missing = [c for c in comparison.tf_columns if c not in frequencies]
        if missing:
            raise SchemaError(
                f"Comparison {comparison.name!r} has term-frequency levels, so it "
                f"needs the left values' term frequencies of column(s) {missing}; "
                f"got those of {sorted(frequencies)}."
            )
        out[tf(comparison.name)] = pair_term_frequencies(comparison, gamma, frequencies)
    return out


def pair_term_frequencies(
    comparison: Comparison,
    gamma: np.ndarray,
    frequencies: Mapping[str, np.ndarray],
    *,
    dtype: Any = None,
) -> np.ndarray:
    """Return a comparison's ``tf_<name>``: each pair's frequency at its TF level.

    Parameters
    ----------
    comparison
        A comparison with term-frequency adjusted exact levels.
    gamma
        The pairs' gamma levels of it.
    frequencies
        Per column of :attr:`~er_toolkit.compare.Comparison.tf_columns`, the
        left value's frequency per pair.
    dtype
        Of the result; ``None``: float64 where a TF level has that
        precision, else float32.

    Returns
    -------
    numpy.ndarray
        The frequency in the column of the TF level each pair is at, and for
        a pair at no TF level that of the first TF level's column.

    Examples
    --------
    >>> from er_toolkit.compare import Comparison, ExactLevel
    >>> names = Comparison(
    ...     "names", "first",
    ...     (ExactLevel(column="sur", term_frequency=True), ExactLevel(term_frequency=True)),
    ... )
    >>> gamma = np.array([2, 1, 0])
    >>> freqs = {"sur": np.array([0.1, 0.2, 0.3]), "first": np.array([0.5, 0.6, 0.7])}
    >>> pair_term_frequencies(names, gamma, freqs, dtype=np.float64).tolist()
    [0.1, 0.6, 0.3]
    """
    levels = comparison.tf_levels
    if dtype is None:
        precise = any(lvl.precision == "float64" for _, lvl, _ in levels)
        dtype = np.float64 if precise else np.float32
    first = levels[0][2]
    out = np.array(frequencies[first], dtype=dtype)  # a copy: written below
    for top, _, column in levels[1:]:
        if column != first:
            at = gamma == top
            out[at] = np.asarray(frequencies[column], dtype=dtype)[at]
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
        Per comparison name with term-frequency adjusted exact levels, the
        left value's frequency over the whole column
        (:func:`er_toolkit.compare.term_frequencies`, looked up per pair);
        frequencies within a batch would be wrong. NaN where the left value
        is null. A comparison with TF levels on several columns
        (:attr:`~er_toolkit.compare.Comparison.tf_columns`) takes a mapping
        from each of those columns to its frequencies; one on a single
        column takes either.
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

    def encoding(l_col: str, r_col: str, date_format: str | None) -> ColumnEncoding:
        key = (l_col, r_col, date_format)
        if key not in encodings:
            values = _stacked(l_col, r_col, left, right)
            encodings[key] = ColumnEncoding(values, date_format=date_format)
        return encodings[key]

    return compare_encodings(
        comparisons,
        encoding,
        rows,
        rows + n,
        term_frequencies=frequencies,
        document_frequencies=documents,
        raw_similarity=raw_similarity,
        workers=workers,
    )


EncodingOf = Callable[[str, str, "str | None"], ColumnEncoding]
"""``(left column, right column, date format) -> encoding``: the values of one
column pair, left and right values in one encoding."""


def compare_encodings(
    comparisons: Sequence[Comparison],
    encoding: EncodingOf,
    rows_l: np.ndarray,
    rows_r: np.ndarray,
    *,
    term_frequencies: Mapping[str, Any] | None = None,
    document_frequencies: Mapping[str, DocumentFrequencies] | None = None,
    raw_similarity: bool = True,
    workers: int = -1,
) -> dict[str, np.ndarray]:
    """Compare aligned pairs of values already encoded: :func:`compare_batch`'s loop.

    Pair ``i`` is position ``rows_l[i]`` against position ``rows_r[i]`` of
    each column pair's encoding. :func:`compare_batch` encodes its left
    values followed by its right ones; a caller holding the values already
    (a lookup: its query records followed by their candidates, each value
    once) hands them over as they are.

    Parameters
    ----------
    comparisons
        The comparisons to compute.
    encoding
        ``(left column, right column, date format) -> ColumnEncoding``
        holding both sides' values of that column pair; called once or
        more per column pair a comparison reads (cache them).
    rows_l, rows_r
        Each pair's left and right position in the encodings.
    term_frequencies, document_frequencies, raw_similarity, workers
        As :func:`compare_batch` takes them (one term frequency per pair).

    Returns
    -------
    dict of numpy.ndarray
        What :func:`compare_batch` returns for the same pairs.

    Examples
    --------
    >>> from er_toolkit.compare import Comparison, ExactLevel
    >>> names = Comparison("name", "name", (ExactLevel(),))
    >>> values = ColumnEncoding(pl.Series("name", ["ann", "bob", "ann", None]))
    >>> out = compare_encodings(
    ...     [names], lambda l, r, f: values, np.array([0, 0, 1]), np.array([2, 3, 2])
    ... )
    >>> out["gamma_name"].tolist()
    [1, -1, 0]
    """
    frequencies = dict(term_frequencies or {})
    documents = dict(document_frequencies or {})
    size = int(rows_l.size)
    out: dict[str, np.ndarray] = {}
    for comparison in comparisons:
        date_format = comparison.date_format

        def encoded(
            l_col: str, r_col: str, *, date_format: str | None = date_format
        ) -> tuple[ColumnEncoding, np.ndarray, np.ndarray]:
            return encoding(l_col, r_col, date_format), rows_l, rows_r

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
        freqs = {
            column: _left_frequencies(
                comparison, column, frequencies, encoded(column, column)[0], rows_l
            )
            for column in comparison.tf_columns
        }
        out.update(
            compare_encoded(
                comparison,
                encoded,
                size,
                term_frequencies=freqs,
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
    column: str,
    frequencies: Mapping[str, Any],
    encoding: ColumnEncoding,
    rows_l: np.ndarray,
) -> np.ndarray:
    """Return the given term frequencies of the left values of ``column``, NaN where null."""
    n = int(rows_l.size)
    name = comparison.name
    if name not in frequencies:
        raise SchemaError(
            f"Comparison {name!r} has a term-frequency level; "
            f"compare_batch needs term_frequencies[{name!r}], the left "
            f"values' frequencies over the whole column; got keys "
            f"{sorted(frequencies)}."
        )
    given = frequencies[name]
    where = f"term_frequencies[{name!r}]"
    if isinstance(given, Mapping):
        if column not in given:
            raise SchemaError(
                f"Comparison {name!r} has term-frequency levels on columns "
                f"{list(comparison.tf_columns)}; {where} needs the left values' "
                f"frequencies of each; got columns {sorted(given)}."
            )
        given, where = given[column], f"{where}[{column!r}]"
    elif len(comparison.tf_columns) > 1:
        raise SchemaError(
            f"Comparison {name!r} has term-frequency levels on columns "
            f"{list(comparison.tf_columns)}; {where} must map each of them to the "
            f"left values' frequencies; got one {type(given).__name__}."
        )
    if isinstance(given, np.ndarray) and given.dtype.kind == "f":
        out = given.astype(np.float64)  # NaN is null already
    else:
        out = _series(name, given).cast(pl.Float64).fill_null(np.nan).to_numpy().copy()
    if len(out) != n:
        raise SchemaError(
            f"{where} must hold one value per pair ({n}); got {len(out)}."
        )
    out[encoding.codes[rows_l] < 0] = np.nan
    return out
