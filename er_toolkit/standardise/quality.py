"""Data-quality profiles per source and column, as a frame, a chart and in MLflow."""

from __future__ import annotations

import itertools
import re
import tempfile
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Final

import numpy as np
import polars as pl
import pyarrow as pa

from er_toolkit import schema
from er_toolkit.exceptions import SchemaError
from er_toolkit.standardise.base import (
    BLANK,
    VALUE,
    Standardised,
    Standardiser,
    Steps,
    assemble_frame,
    check_steps,
    column_outputs,
    distinct_codes,
    map_columns,
    standardise_column,
    standardise_columns,
    standardised_frame,
)

if TYPE_CHECKING:
    from matplotlib.figure import Figure

ALL_SOURCES: Final = "all"
"""The source name given to every row when a frame has no source column."""

PROFILE_SCHEMA: Final = {
    "source": pl.String,
    "column": pl.String,
    "rows": pl.UInt32,
    "missing": pl.UInt32,
    "completeness": pl.Float64,
    "distinct": pl.UInt32,
    "uniqueness": pl.Float64,
    "invalid": pl.UInt32,
    "validity": pl.Float64,
    "invalid_reasons": pl.String,
    "length_min": pl.UInt32,
    "length_mean": pl.Float64,
    "length_max": pl.UInt32,
    "top_values": pl.String,
    "top_patterns": pl.String,
}
"""Columns of a profile; :func:`profile_standardisation` adds ``stage`` first."""

_NESTED: Final = (pl.List, pl.Array, pl.Struct, pl.Object)
_INJECTIVE_TEXT: Final = (pl.String, pl.Boolean, pl.Date)
"""Types whose distinct values stay distinct as text."""
_PATTERN_TABLE: Final = np.arange(256, dtype=np.uint8)
_PATTERN_TABLE[ord("a") : ord("z") + 1] = ord("a")
_PATTERN_TABLE[ord("A") : ord("Z") + 1] = ord("A")
_PATTERN_TABLE[ord("0") : ord("9") + 1] = ord("9")
_PATTERN_BYTES: Final = _PATTERN_TABLE.tobytes()
"""The byte table for ``bytes.translate`` (one C loop, quicker than a numpy take)."""
_NUMERIC_INTEGERS: Final = (
    pl.Int8,
    pl.Int16,
    pl.Int32,
    pl.Int64,
    pl.UInt8,
    pl.UInt16,
    pl.UInt32,
)
"""Integer types profiled as numbers (each fits in an Int64)."""
_DIGITS: Final = 19
"""The most digits of an Int64's magnitude."""
_POWERS_OF_TEN: Final = 10 ** np.arange(_DIGITS + 1, dtype=np.uint64)


def value_pattern(values: pl.Expr) -> pl.Expr:
    """Return the shape of each value: upper-case letters → A, others → a, digits → 9.

    Examples
    --------
    >>> pl.select(value_pattern(pl.lit("Flat 3b, SW1A 1AA"))).item()
    'Aaaa 9a, AA9A 9AA'
    """
    return (
        values.str.replace_all(r"[\p{Ll}\p{Lt}\p{Lm}\p{Lo}]", "a")
        .str.replace_all(r"\p{Lu}", "A")
        .str.replace_all(r"\p{N}", "9")
    )


def value_patterns(values: pl.Series) -> pl.Series:
    """:func:`value_pattern` of a string series, by a byte table where it is ASCII.

    In ASCII the letter and digit classes of :func:`value_pattern` are
    ``a-z``, ``A-Z`` and ``0-9``, so an ASCII value maps byte by byte; the
    other values go through the regexes.

    Examples
    --------
    >>> value_patterns(pl.Series(["Flat 3b", "Zoë 7", None])).to_list()
    ['Aaaa 9a', 'Aaa 9', None]
    """
    if values.len() == 0:
        return values
    return pl.Series(values.name, _pattern_array(values))


def _pattern_array(values: pl.Series) -> pa.Array:
    """:func:`value_patterns` as an Arrow array (for its dictionary encoding)."""
    array = values.to_arrow()
    if isinstance(array, pa.ChunkedArray):  # pragma: no cover - one chunk
        array = array.combine_chunks()
    if array.type != pa.large_string():  # pragma: no cover - polars gives large
        array = array.cast(pa.large_string())  # (a cast imports pyarrow.compute)
    validity, offsets, data = array.buffers()
    if data is None:  # pragma: no cover - every value null or empty
        return array
    raw = data.to_pybytes()
    mapped = pa.LargeStringArray.from_buffers(
        len(array),
        offsets,
        pa.py_buffer(raw.translate(_PATTERN_BYTES)),
        validity,
        array.null_count,
        array.offset,
    )
    if raw.isascii():  # every value is ASCII
        return mapped
    other = (values.str.len_bytes() != values.str.len_chars()).fill_null(False)
    if not other.any():  # pragma: no cover - non-ASCII bytes are in values
        return mapped
    rows = other.arg_true()
    slow = values.gather(rows).to_frame("v").select(value_pattern(pl.col("v")))
    return pl.Series(mapped).scatter(rows, slow.to_series()).to_arrow()


def _pattern_codes(text: pl.Series) -> tuple[pl.Series, np.ndarray]:
    """Return the distinct patterns of ``text`` and each value's index among them.

    By Arrow's dictionary encoding of the patterns, exact and in one pass (the
    patterns of many values repeat).
    """
    import pyarrow.compute as pc  # polars imports it to build series from Arrow

    if text.len() == 0:
        return text, np.zeros(0, dtype=np.int64)
    encoded = pc.dictionary_encode(_pattern_array(text), null_encoding="encode")
    shapes = pl.Series(text.name, encoded.dictionary, dtype=pl.String)
    return shapes, encoded.indices.to_numpy()


def _integer_codes(values: pl.Series) -> tuple[pl.Series, np.ndarray]:
    """Return the distinct integers of ``values`` (Int64) and each row's index.

    Integers spanning fewer than four values per row are coded by a table of
    the values seen (no hashing, no sort); others by :func:`distinct_codes`.
    """
    numbers = values.cast(pl.Int64)
    low, high = numbers.min(), numbers.max()
    if not (isinstance(low, int) and isinstance(high, int)) or (
        high - low >= 4 * numbers.len()
    ):
        distinct, codes = distinct_codes(numbers)
        return distinct, codes.to_numpy()
    offset = numbers.fill_null(low).to_numpy() - low
    seen = np.zeros(high - low + 1, dtype=bool)
    null = numbers.is_null().to_numpy() if numbers.null_count() else None
    seen[offset if null is None else offset[~null]] = True
    (present,) = np.nonzero(seen)
    codes = (np.cumsum(seen, dtype=np.int64) - 1)[offset]
    distinct = pl.Series(values.name, present + low, dtype=pl.Int64)
    if null is not None:
        codes[null] = present.size
        distinct = distinct.append(pl.Series([None], dtype=pl.Int64))
    return distinct, codes


@dataclass(frozen=True)
class _Sources:
    """Each row's source, as codes into ``names``."""

    names: pl.Series
    codes: np.ndarray

    @classmethod
    def of(cls, frame: pl.DataFrame, source_column: str | None) -> _Sources:
        if source_column is not None and source_column in frame.columns:
            distinct, codes = distinct_codes(
                frame.get_column(source_column).cast(pl.String)
            )
            return cls(distinct, codes.to_numpy())
        names = pl.Series([ALL_SOURCES] if frame.height else [], dtype=pl.String)
        return cls(names, np.zeros(frame.height, dtype=np.uint32))


@dataclass(frozen=True)
class _Pairs:
    """How many rows hold each code in each source: three aligned arrays."""

    src: np.ndarray
    code: np.ndarray
    n: np.ndarray
    n_sources: int

    @classmethod
    def count(
        cls,
        src: np.ndarray,
        codes: np.ndarray,
        size: int,
        n_sources: int,
        weights: np.ndarray | None = None,
    ) -> _Pairs:
        """Count each (source, code) of ``size`` codes, weighted by ``weights``."""
        size = max(size, 1)
        n_sources = max(n_sources, 1)
        pair = src.astype(np.int64) * size + codes
        if n_sources * size <= max(8 * pair.size, 1 << 20):
            counts = np.bincount(pair, weights=weights, minlength=n_sources * size)
            (where,) = np.nonzero(counts)
            counts = counts[where]
        else:
            where, inverse = np.unique(pair, return_inverse=True)
            counts = np.bincount(inverse, weights=weights)
        n = np.rint(counts).astype(np.int64) if weights is not None else counts
        return cls(where // size, where % size, n, n_sources)

    @classmethod
    def of_rows(cls, sources: _Sources, codes: np.ndarray, size: int) -> _Pairs:
        return cls.count(sources.codes, codes, size, sources.names.len())

    def regroup(self, mapping: np.ndarray, size: int) -> _Pairs:
        """Return the counts per (source, ``mapping[code]``)."""
        return _Pairs.count(self.src, mapping[self.code], size, self.n_sources, self.n)


@dataclass(frozen=True)
class _Coded:
    """A column as its distinct values in text and their rows per source.

    ``reasons`` (when the column has standardisers) holds the reason of each
    distinct *input* value, ``reason_pairs`` their rows per source.
    """

    text: pl.Series
    pairs: _Pairs
    reasons: pl.Series | None = None
    reason_pairs: _Pairs | None = None
    integers: bool = False
    """``text`` holds Int64 integers instead of text (written out where shown)."""


@dataclass(frozen=True)
class _Digits:
    """How integers are written out, for their length, pattern and text order.

    Written out, an integer is ``-`` when negative, then its magnitude's
    digits. Text order puts ``-`` before every digit, then compares digits
    left to right, a prefix first: the order of the magnitudes right-padded
    with zeros to :data:`_DIGITS` digits (``padded``), then of the digit
    counts ("1" < "10" < "100").
    """

    negative: np.ndarray
    digits: np.ndarray
    padded: np.ndarray

    @classmethod
    def of(cls, values: pl.Series) -> _Digits:
        """Measure Int64 ``values`` (a null counts as 0)."""
        signed = values.fill_null(0).to_numpy()
        negative = signed < 0
        magnitude = signed.view(np.uint64).copy()
        np.negative(magnitude, out=magnitude, where=negative)  # modulo 2**64
        digits = np.searchsorted(_POWERS_OF_TEN, magnitude, side="right")
        np.maximum(digits, 1, out=digits)
        padded = magnitude * _POWERS_OF_TEN[_DIGITS - digits]
        return cls(negative, digits, padded)

    @property
    def length(self) -> np.ndarray:
        """Characters written out: the sign and the digits."""
        return self.digits + self.negative

    def smallest(self, rows: np.ndarray, k: int) -> np.ndarray:
        """Return the positions in ``rows`` (distinct values) of the first ``k``.

        Within one sign, the candidates are the values whose ``padded`` is at
        most the ``k``-th smallest: fewer than ``k`` below it, and at most
        one per digit count at it, so sorting them is cheap.
        """
        negative = self.negative[rows]
        groups = (
            (np.flatnonzero(negative), np.flatnonzero(~negative))
            if negative.any()
            else (np.arange(rows.size),)
        )
        picked: list[np.ndarray] = []
        found = 0
        for group in groups:
            need = k - found
            if need <= 0:
                break
            padded = self.padded[rows[group]]
            if group.size > need:
                kth = np.partition(padded, need - 1)[need - 1]
                group = group[padded <= kth]
                padded = self.padded[rows[group]]
            order = np.lexsort((self.digits[rows[group]], padded))[:need]
            picked.append(group[order])
            found += order.size
        return np.concatenate(picked) if picked else np.zeros(0, dtype=np.int64)


def _as_text(distinct: pl.Series) -> tuple[pl.Series, np.ndarray | None]:
    """Distinct values as distinct text, and each value's text code (None: same)."""
    text = distinct.cast(pl.String)
    if distinct.dtype.is_integer() or isinstance(distinct.dtype, _INJECTIVE_TEXT):
        return text, None
    unique, again = distinct_codes(text)
    return unique, again.to_numpy()


def _text_pairs(distinct: pl.Series, pairs: _Pairs) -> tuple[pl.Series, _Pairs]:
    text, mapping = _as_text(distinct)
    if mapping is None:
        return text, pairs
    return text, pairs.regroup(mapping, text.len())


def _code(values: pl.Series, sources: _Sources) -> _Coded:
    if isinstance(values.dtype, _NUMERIC_INTEGERS):
        numbers, number_codes = _integer_codes(values)
        pairs = _Pairs.of_rows(sources, number_codes, numbers.len())
        return _Coded(numbers, pairs, integers=True)
    distinct, codes = distinct_codes(values)
    pairs = _Pairs.of_rows(sources, codes.to_numpy(), distinct.len())
    text, text_pairs = _text_pairs(distinct, pairs)
    return _Coded(text, text_pairs)


def _shapes(text: pl.Series, digits: _Digits | None) -> tuple[pl.Series, np.ndarray]:
    """Return the distinct patterns of ``text`` and each value's index among them.

    ``digits`` measures ``text`` when it holds integers.
    """
    if digits is None:
        return _pattern_codes(text)
    # The pattern of an integer is its sign and one 9 per digit: one value
    # per length and sign stands for all.
    key_np = digits.length * 2 + digits.negative
    if text.null_count():
        key_np[text.is_null().to_numpy()] = 0  # as text: null, never kept
    first = np.full(int(key_np.max(initial=0)) + 1, -1, dtype=np.int64)
    first[key_np[::-1]] = np.arange(key_np.size - 1, -1, -1)
    (used,) = np.nonzero(first >= 0)
    index = np.zeros(first.size, dtype=np.int64)
    index[used] = np.arange(used.size)
    shown = text.gather(first[used]).cast(pl.String)
    return value_patterns(shown), index[key_np]


def _top(counted: pl.DataFrame, top_n: int, name: str) -> pl.DataFrame:
    """Return the ``top_n`` keys of each source by count (ties by key), as one string.

    ``counted`` holds ``src``, ``key`` and ``n``, one row per source and key.
    """
    if counted.height > 64 * max(top_n, 1):
        # Keep the rows that can be in a top list: counts above each
        # source's top_n-th count, and the smallest keys at that count.
        kth = counted.group_by("src").agg(pl.col("n").top_k(top_n).min().alias("kth"))
        counted = counted.join(kth, on="src")
        ties = (
            counted.filter(pl.col("n") == pl.col("kth"))
            .group_by("src")
            .agg(pl.col("key").bottom_k(top_n), pl.col("n").first())
            .explode("key")
        )
        counted = pl.concat(
            [counted.filter(pl.col("n") > pl.col("kth")).drop("kth"), ties],
            how="vertical_relaxed",
        )
    label = pl.format("{} ({})", pl.col("key"), pl.col("n"))
    return (
        counted.sort(["src", "n", "key"], descending=[False, True, False])
        .group_by("src", maintain_order=True)
        .head(top_n)
        .group_by("src", maintain_order=True)
        .agg(label.str.join("; ").alias(name))
    )


def _top_coded(
    src: np.ndarray,
    codes: np.ndarray,
    n: np.ndarray,
    text: pl.Series,
    top_n: int,
    name: str,
    digits: _Digits | None = None,
) -> pl.DataFrame:
    """:func:`_top` of the pairs ``(src, text[codes], n)``, sorted by source.

    The candidates of each source are picked on the counts first; only the
    values tied at the last place need their text compared (by ``digits``
    when ``text`` holds integers).
    """
    import pyarrow.compute as pc  # polars imports it to build series from Arrow

    picked: list[np.ndarray] = []
    bounds = np.searchsorted(src, np.arange(int(src.max(initial=0)) + 2))
    for start, stop in itertools.pairwise(bounds):
        if stop - start <= top_n:
            picked.append(np.arange(start, stop))
            continue
        if top_n <= 0:
            continue
        counts = n[start:stop]
        kth = np.partition(counts, counts.size - top_n)[counts.size - top_n]
        (above,) = np.nonzero(counts > kth)
        (tied,) = np.nonzero(counts == kth)
        need = top_n - above.size
        if tied.size > need and digits is not None:
            tied = tied[digits.smallest(codes[start + tied], need)]
        elif tied.size > need:  # distinct text: Arrow's selection is exact
            keys = text.gather(codes[start + tied]).to_arrow()
            order = pc.select_k_unstable(keys, need, [("key", "ascending")])
            tied = tied[order.to_numpy()]
        picked += [start + above, start + tied]
    rows = np.concatenate(picked) if picked else np.zeros(0, dtype=np.int64)
    counted = pl.DataFrame(
        {
            "src": pl.Series(src[rows], dtype=pl.UInt32),
            "key": text.gather(codes[rows]).cast(pl.String),
            "n": pl.Series(n[rows], dtype=pl.UInt32),
        }
    )
    return _top(counted, top_n, name)


def _source_stats(
    src: np.ndarray, n: np.ndarray, present: np.ndarray, length: np.ndarray
) -> pl.DataFrame:
    """Return the rows, missing rows, distinct values and lengths per source.

    ``src``, ``n``, ``present`` and ``length`` are aligned, one per source and
    distinct value, sorted by source (as :class:`_Pairs` are): each figure is
    one reduction over each source's run. A source without present values
    has null lengths.
    """
    codes = np.arange(int(src[-1]) + 1 if src.size else 0)
    starts = np.searchsorted(src, codes)
    held = np.diff(starts, append=src.size) > 0
    starts, codes = starts[held], codes[held]
    if starts.size == 0:
        return pl.DataFrame(
            schema={
                "src": pl.UInt32,
                **{name: PROFILE_SCHEMA[name] for name in _SOURCE_STATS},
            }
        )
    rows = np.add.reduceat(n, starts)
    kept = np.add.reduceat(np.where(present, n, 0), starts)
    distinct = np.add.reduceat(present.astype(np.int64), starts)
    longest = np.iinfo(np.int64).max
    length_min = np.minimum.reduceat(np.where(present, length, longest), starts)
    length_max = np.maximum.reduceat(np.where(present, length, 0), starts)
    length_sum = np.add.reduceat(np.where(present, length * n, 0), starts)
    has = pl.col("distinct") > 0
    return pl.DataFrame(
        {
            "src": pl.Series(codes, dtype=pl.UInt32),
            "rows": pl.Series(rows, dtype=pl.UInt32),
            "missing": pl.Series(rows - kept, dtype=pl.UInt32),
            "distinct": pl.Series(distinct, dtype=pl.UInt32),
            "length_min": pl.Series(np.where(distinct > 0, length_min, 0)),
            "length_mean": pl.Series(length_sum / np.maximum(kept, 1)),
            "length_max": pl.Series(length_max),
        }
    ).with_columns(
        pl.when(has).then(pl.col(name)).cast(PROFILE_SCHEMA[name]).alias(name)
        for name in ("length_min", "length_mean", "length_max")
    )


_SOURCE_STATS: Final = (
    "rows",
    "missing",
    "distinct",
    "length_min",
    "length_mean",
    "length_max",
)
"""The profile columns of :func:`_source_stats`."""


def _profile_column(
    sources: _Sources, coded: _Coded, column: str, top_n: int
) -> pl.DataFrame:
    """Return the profile rows of one column, one per source (``src`` is its code)."""
    text = coded.text
    digits = _Digits.of(text) if coded.integers else None
    if digits is not None:  # an integer written out is never blank, and ASCII
        present = text.is_not_null().to_numpy()
        length = digits.length
    else:
        blank = text.str.strip_chars() == ""
        present = (text.is_not_null() & ~blank).fill_null(False).to_numpy()
        length = text.str.len_chars().fill_null(0).cast(pl.Int64).to_numpy()
    src, code, n = coded.pairs.src, coded.pairs.code, coded.pairs.n
    present = present[code]
    length = length[code]
    stats = _source_stats(src, n, present, length)
    kept_codes, kept_src, kept_n = code[present], src[present], n[present]
    top_values = _top_coded(
        kept_src, kept_codes, kept_n, text, top_n, "top_values", digits
    )
    # Each distinct value's pattern once; rows per source and pattern.
    shapes, shape_codes = _shapes(text, digits)
    size = max(shapes.len(), 1)
    pair = kept_src.astype(np.int64) * size
    pair += shape_codes[kept_codes]
    weights = np.bincount(pair, weights=kept_n, minlength=1)
    (where,) = np.nonzero(weights)
    patterns = pl.DataFrame(
        {
            "src": pl.Series(where // size, dtype=pl.UInt32),
            "key": shapes.gather(where % size),
            "n": pl.Series(weights[where], dtype=pl.UInt32),
        }
    )
    frames = [
        top_values,
        _top(patterns, top_n, "top_patterns"),
    ]
    if coded.reasons is not None and coded.reason_pairs is not None:
        reasons = coded.reasons
        invalid = (reasons.is_not_null() & (reasons != BLANK)).fill_null(False)
        r_src, r_code, r_n = (
            coded.reason_pairs.src,
            coded.reason_pairs.code,
            coded.reason_pairs.n,
        )
        bad = pl.DataFrame(
            {
                "src": pl.Series(r_src, dtype=pl.UInt32),
                "key": reasons.gather(r_code),
                "n": pl.Series(r_n, dtype=pl.UInt32),
                "invalid": invalid.gather(r_code),
            }
        ).filter("invalid")
        by_reason = bad.group_by("src", "key").agg(pl.col("n").sum().cast(pl.UInt32))
        frames += [
            bad.group_by("src").agg(pl.col("n").sum().cast(pl.UInt32).alias("invalid")),
            _top(by_reason, 1_000, "invalid_reasons"),
        ]
    for extra in frames:
        stats = stats.join(extra, on="src", how="left")
    missing_source = sources.names.is_null().arg_true()
    if missing_source.len():
        # Profiles have always left these empty for rows without a source
        # (a join that does not match null keys): kept so figures stay the same.
        unmatched = pl.col("src") == missing_source[0]
        stats = stats.with_columns(
            pl.when(~unmatched).then(pl.col(name)).alias(name)
            for name in ("top_values", "top_patterns", "invalid", "invalid_reasons")
            if name in stats.columns
        )
    present_n = pl.col("rows") - pl.col("missing")
    out = stats.with_columns(
        pl.lit(column).alias("column"),
        pl.col("distinct").fill_null(0),
        (present_n / pl.col("rows")).alias("completeness"),
    ).with_columns(
        pl.when(present_n > 0).then(pl.col("distinct") / present_n).alias("uniqueness"),
    )
    if coded.reasons is not None:
        out = out.with_columns(
            pl.col("invalid").fill_null(0),
            pl.when(present_n > 0)
            .then(1 - pl.col("invalid").fill_null(0) / present_n)
            .alias("validity"),
        )
    names = out.collect_schema().names()
    return out.select(
        pl.col("src"),
        *(
            pl.col(name).cast(dtype)
            if name in names
            else pl.lit(None, dtype=dtype).alias(name)
            for name, dtype in PROFILE_SCHEMA.items()
            if name != "source"
        ),
    )


def _profile(
    sources: _Sources, coded: Mapping[str, _Coded | pl.DataFrame], top_n: int
) -> pl.DataFrame:
    """Return the profile of the columns of ``coded`` (in order), sorted by source.

    A value that is already a frame is that column's profile (reused).
    """
    if not coded:
        return pl.DataFrame(schema=PROFILE_SCHEMA)
    parts = map_columns(
        lambda item: (
            item[1]
            if isinstance(item[1], pl.DataFrame)
            else _profile_column(sources, item[1], item[0], top_n)
        ),
        list(coded.items()),
        rows=sources.codes.size,
    )
    order = pl.DataFrame({"column": list(coded)}).with_row_index("__order")
    names = sources.names.to_frame("source").with_row_index("src")
    return (
        pl.concat(parts)
        .join(names.with_columns(pl.col("src").cast(pl.UInt32)), on="src")
        .join(order, on="column")
        .sort("source", "__order")
        .select(*PROFILE_SCHEMA)
    )


def _columns(
    frame: pl.DataFrame, columns: Sequence[str] | None, source_column: str | None
) -> list[str]:
    if columns is None:
        return [
            name
            for name, dtype in frame.schema.items()
            if name != source_column and not isinstance(dtype, _NESTED)
        ]
    missing = [name for name in columns if name not in frame.columns]
    if missing:
        raise SchemaError(
            f"Cannot profile missing column(s) {missing}; valid columns: "
            f"{frame.columns}."
        )
    nested = [name for name in columns if isinstance(frame.schema[name], _NESTED)]
    if nested:
        raise SchemaError(
            f"Cannot profile nested column(s) {nested}; profile their fields "
            "after unnesting them."
        )
    return list(columns)


def _raw_pairs(sources: _Sources, done: Standardised) -> _Pairs:
    """Rows per source and distinct input value of a standardised column."""
    return _Pairs.of_rows(sources, done.codes.to_numpy(), done.distinct.len())


def _coded_input(
    frame: pl.DataFrame, name: str, sources: _Sources, done: Standardised | None
) -> _Coded:
    """Code a column to profile before standardisation, with its reasons if any."""
    if done is None:
        return _code(frame.get_column(name), sources)
    pairs = _raw_pairs(sources, done)
    return _Coded(*_text_pairs(done.distinct, pairs), done.reasons(), pairs)


def _code_outputs(column: str, done: Standardised, raw: _Pairs) -> dict[str, _Coded]:
    """Code the output columns (value and parts) of one standardised column.

    ``raw`` holds the rows per source and distinct input value.
    """
    fields = {column: done.tables[-1].get_column(VALUE)}
    for step, table in zip(done.steps, done.tables, strict=True):
        fields.update(
            {f"{column}_{part}": table.get_column(part) for part in step.parts}
        )
    out = {}
    for name, values in fields.items():
        distinct, codes = distinct_codes(values)
        pairs = raw.regroup(codes.to_numpy(), distinct.len())
        out[name] = _Coded(*_text_pairs(distinct, pairs))
    return out


def _coded_outputs(
    columns: Mapping[str, Standardised], raw: Mapping[str, _Pairs], *, rows: int
) -> dict[str, _Coded]:
    """Every output column of standardisation (values and parts), coded."""

    def code(column: str) -> dict[str, _Coded]:
        return _code_outputs(column, columns[column], raw[column])

    coded: dict[str, _Coded] = {}
    for part in map_columns(code, list(columns), rows=rows):
        coded.update(part)
    return coded


def profile_frame(
    frame: pl.DataFrame,
    *,
    source_column: str | None = schema.SOURCE,
    columns: Sequence[str] | None = None,
    validity: Steps | None = None,
    top_n: int = 5,
) -> pl.DataFrame:
    """Profile the data quality of each column, per source.

    Every figure is computed from the counts of each distinct value per
    source, so each distinct value is measured (and its pattern found) once.

    Parameters
    ----------
    frame
        The records.
    source_column
        The column naming each record's source. When None, or when ``frame``
        has no such column, the whole frame is one source called ``"all"``.
    columns
        The columns to profile; default every column but the source column
        (nested columns are skipped).
    validity
        Standardisers by column: a value is valid when it is present and its
        standardiser does not turn it into null.
    top_n
        How many most frequent values and patterns to list.

    Returns
    -------
    polars.DataFrame
        One row per source and column (sorted by source, then in column order),
        with the columns of :data:`PROFILE_SCHEMA`: ``rows``; ``missing`` (null
        or blank); ``completeness`` (share present); ``distinct`` (distinct
        present values) and ``uniqueness`` (``distinct`` / present);
        ``invalid``, ``validity`` (share of present values that are valid) and
        ``invalid_reasons`` (null for columns without a standardiser);
        ``length_min`` / ``length_mean`` / ``length_max`` (in characters);
        ``top_values`` and ``top_patterns`` as ``"value (count); ..."``, where
        a pattern writes upper-case letters as ``A``, other letters as ``a``
        and digits as ``9``.

    Raises
    ------
    SchemaError
        A requested column is missing or nested.

    Examples
    --------
    >>> from er_toolkit.standardise import PhoneStandardiser
    >>> df = pl.DataFrame({"phone": ["020 7946 0958", "020 7946 0958", "n/a", None]})
    >>> p = profile_frame(df, validity={"phone": PhoneStandardiser()}, top_n=1)
    >>> columns = ["source", "completeness", "distinct", "validity", "top_patterns"]
    >>> p.select(columns).with_columns(pl.selectors.float().round(3)).row(0)
    ('all', 0.75, 2, 0.667, '999 9999 9999 (2)')
    """
    names = _columns(frame, columns, source_column)
    checked: dict[str, Standardised] = {}
    if validity:
        unknown = [column for column in validity if column not in frame.columns]
        if unknown:
            raise SchemaError(
                f"Cannot check the validity of missing column(s) {unknown}; valid "
                f"columns: {frame.columns}."
            )
        steps = {column: validity[column] for column in validity if column in names}
        subset = frame.select(list(steps))
        checked = standardise_columns(subset, check_steps(subset, steps, reasons=True))
    sources = _Sources.of(frame, source_column)
    coded = {
        name: _coded_input(frame, name, sources, checked.get(name)) for name in names
    }
    return _profile(sources, coded, top_n)


def profile_standardisation(
    frame: pl.DataFrame,
    steps: Steps,
    *,
    source_column: str | None = schema.SOURCE,
    top_n: int = 5,
) -> tuple[pl.DataFrame, pl.DataFrame]:
    """Standardise ``frame`` and profile its columns before and after.

    Standardisation and both profiles share one pass over each column's
    distinct values; a column no standardiser changes is profiled once.

    Parameters
    ----------
    frame
        The records.
    steps
        Standardisers by column, as for ``apply_standardisers``.
    source_column, top_n
        As for :func:`profile_frame`.

    Returns
    -------
    standardised : polars.DataFrame
        As returned by ``apply_standardisers``.
    profile : polars.DataFrame
        A ``stage`` column (``"before"`` or ``"after"``) then the profile
        columns. Before, validity is that of the standardisers; after, the
        values that could not be standardised are missing, and the extra
        outputs (``<column>_<part>``) are profiled too.

    Examples
    --------
    >>> from er_toolkit.standardise import EmailStandardiser
    >>> df = pl.DataFrame({"email": ["A@x.com", "a@x.com ", "nope"]})
    >>> out, p = profile_standardisation(df, {"email": EmailStandardiser()})
    >>> columns = ["stage", "completeness", "distinct", "validity"]
    >>> p.select(columns).with_columns(pl.selectors.float().round(3)).rows()
    [('before', 1.0, 3, 0.667), ('after', 0.667, 1, None)]
    """
    chains = check_steps(frame, steps, reasons=True)
    sources = _Sources.of(frame, source_column)
    names = _columns(frame, None, source_column)
    if source_column is not None and source_column in chains:
        # the sources themselves change: profile after standardising
        return _profile_standardisation_apart(frame, chains, source_column, top_n)

    def work(name: str) -> _ColumnWork:
        chain = chains.get(name)
        return _work_column(frame, name, chain, sources, top_n, profiled=name in names)

    # Everything about a column in one task (standardise, profile before,
    # code and profile the outputs), so threads wait for each other once;
    # the standardised columns, the longest tasks, go first.
    order = [*chains, *(name for name in names if name not in chains)]
    done = dict(zip(order, map_columns(work, order, rows=frame.height), strict=True))
    standardised = assemble_frame(
        frame,
        [out for column in chains if (out := done[column].outputs) is not None],
    )
    before: dict[str, _Coded | pl.DataFrame] = {}
    for name in names:
        profile = done[name].before
        assert profile is not None  # every profiled column has one
        before[name] = profile
    after: dict[str, _Coded | pl.DataFrame] = {}
    for work_done in done.values():
        after.update(work_done.after)
    for name in names:
        after.setdefault(name, before[name])  # unchanged column
    after_names = _columns(standardised, None, source_column)
    return standardised, _stage_profiles(
        sources, before, sources, {name: after[name] for name in after_names}, top_n
    )


@dataclass(frozen=True)
class _ColumnWork:
    """One column's share of :func:`profile_standardisation`."""

    before: pl.DataFrame | None
    """Its profile before standardisation (None: a column not profiled)."""
    after: dict[str, pl.DataFrame]
    """The profiles of its outputs (value and parts), by output column."""
    outputs: tuple[pl.Series, dict[str, pl.Series]] | None
    """Its rows (see :func:`column_outputs`), when it is standardised."""


def _work_column(
    frame: pl.DataFrame,
    name: str,
    chain: tuple[Standardiser, ...] | None,
    sources: _Sources,
    top_n: int,
    *,
    profiled: bool,
) -> _ColumnWork:
    if chain is None:
        coded = _code(frame.get_column(name), sources)
        return _ColumnWork(_profile_column(sources, coded, name, top_n), {}, None)
    done = standardise_column(frame, name, chain)
    before = None
    raw = _raw_pairs(sources, done)
    if profiled:
        coded = _Coded(*_text_pairs(done.distinct, raw), done.reasons(), raw)
        before = _profile_column(sources, coded, name, top_n)
    after = {
        output: _profile_column(sources, out, output, top_n)
        for output, out in _code_outputs(name, done, raw).items()
    }
    return _ColumnWork(before, after, column_outputs(name, done, reasons=False))


def _stage_profiles(
    sources: _Sources,
    before: Mapping[str, _Coded | pl.DataFrame],
    after_sources: _Sources,
    after: Mapping[str, _Coded | pl.DataFrame],
    top_n: int,
) -> pl.DataFrame:
    return pl.concat(
        [
            _profile(sources, before, top_n).select(
                pl.lit("before").alias("stage"), pl.all()
            ),
            _profile(after_sources, after, top_n).select(
                pl.lit("after").alias("stage"), pl.all()
            ),
        ]
    )


def _profile_standardisation_apart(
    frame: pl.DataFrame,
    chains: Mapping[str, tuple[Standardiser, ...]],
    source_column: str,
    top_n: int,
) -> tuple[pl.DataFrame, pl.DataFrame]:
    """:func:`profile_standardisation` when the source column is standardised."""
    columns = standardise_columns(frame, chains)
    standardised = standardised_frame(frame, columns, reasons=False)
    sources = _Sources.of(frame, source_column)
    names = _columns(frame, None, source_column)
    before: dict[str, _Coded | pl.DataFrame] = {
        name: _coded_input(frame, name, sources, columns.get(name)) for name in names
    }
    after_sources = _Sources.of(standardised, source_column)
    raw = {column: _raw_pairs(after_sources, done) for column, done in columns.items()}
    outputs = _coded_outputs(columns, raw, rows=frame.height)
    after: dict[str, _Coded | pl.DataFrame] = {}
    for name in _columns(standardised, None, source_column):
        if name in outputs:
            after[name] = outputs[name]
        else:
            after[name] = _code(standardised.get_column(name), after_sources)
    return standardised, _stage_profiles(sources, before, after_sources, after, top_n)


def _labels(profile: pl.DataFrame) -> list[str]:
    parts = [pl.col("source"), pl.col("column")]
    if "stage" in profile.columns:
        parts.append(pl.col("stage"))
    return profile.select(pl.concat_str(parts, separator=" · ")).to_series().to_list()


def plot_profile(profile: pl.DataFrame) -> Figure:
    """Draw completeness, validity and uniqueness of each profiled column.

    Parameters
    ----------
    profile
        As returned by :func:`profile_frame` or :func:`profile_standardisation`.

    Returns
    -------
    matplotlib.figure.Figure
        Three bar charts side by side, one bar per row of ``profile`` (grey
        before standardisation, blue after, or blue without stages).

    Examples
    --------
    >>> fig = plot_profile(profile_frame(pl.DataFrame({"a": ["x", None]})))
    >>> [ax.get_title() for ax in fig.axes]
    ['completeness', 'validity', 'uniqueness']
    """
    from matplotlib.figure import Figure

    missing = {"source", "column", "completeness", "validity", "uniqueness"}
    missing -= set(profile.columns)
    if missing:
        raise SchemaError(
            f"plot_profile needs a profile frame; columns {sorted(missing)} are "
            "missing. Make one with profile_frame."
        )
    labels = _labels(profile)
    height = 1.5 + 0.3 * max(len(labels), 1)
    fig = Figure(figsize=(12, height), layout="constrained")
    axes = fig.subplots(1, 3, sharey=True)
    positions = list(range(len(labels)))
    stages = profile.get_column("stage").to_list() if "stage" in profile.columns else []
    colours = ["tab:gray" if stage == "before" else "tab:blue" for stage in stages]
    units = {
        "completeness": "share of rows with a value",
        "validity": "share of values a standardiser accepts",
        "uniqueness": "distinct / present values",
    }
    for ax, metric in zip(
        axes, ("completeness", "validity", "uniqueness"), strict=True
    ):
        raw = profile[metric].to_list()
        values = [v if v is not None else 0.0 for v in raw]
        ax.barh(positions, values, color=colours or "tab:blue")
        ax.set_xlim(0, 1)
        ax.set_title(metric)
        ax.set_xlabel(units[metric], fontsize=8)
        ax.grid(axis="x", alpha=0.3)
        if all(v is None for v in raw):
            ax.text(
                0.5,
                0.5,
                "not measured:\nno column has a standardiser",
                transform=ax.transAxes,
                ha="center",
                va="center",
                color="#555555",
            )
    axes[0].set_yticks(positions, labels)
    axes[0].invert_yaxis()
    if stages:
        fig.suptitle("Data quality per source and column (grey: before standardising)")
    else:
        fig.suptitle("Data quality per source and column")
    return fig


def _metric_name(*parts: str) -> str:
    return ".".join(re.sub(r"[^0-9A-Za-z_\-/ ]", "_", part) for part in parts)


def profile_metrics(profile: pl.DataFrame) -> dict[str, float]:
    """Return a profile's measures as MLflow metrics.

    Named ``profile.[<stage>.]<source>.<column>.<completeness|validity|uniqueness>``;
    a measure that was not taken (None) is left out.

    Examples
    --------
    >>> profile_metrics(profile_frame(pl.DataFrame({"a": ["x", None]})))
    {'profile.all.a.completeness': 0.5, 'profile.all.a.uniqueness': 1.0}
    """
    metrics: dict[str, float] = {}
    has_stage = "stage" in profile.columns
    for row in profile.iter_rows(named=True):
        prefix = ["profile", *([row["stage"]] if has_stage else [])]
        for metric in ("completeness", "validity", "uniqueness"):
            if row[metric] is not None:
                name = _metric_name(*prefix, row["source"], row["column"], metric)
                metrics[name] = float(row[metric])
    return metrics


def write_profile(profile: pl.DataFrame, folder: Path, *, chart: bool = True) -> Path:
    """Write ``profile.csv`` and, when ``chart``, ``profile.png`` into ``folder``.

    Returns the folder (made if missing). matplotlib is imported only for
    the chart.
    """
    folder.mkdir(parents=True, exist_ok=True)
    profile.write_csv(folder / "profile.csv")
    if chart:
        plot_profile(profile).savefig(folder / "profile.png")
    return folder


def log_profile(
    profile: pl.DataFrame, *, artifact_path: str = "profile", chart: bool = True
) -> None:
    """Log a profile to the active MLflow run (starting one if there is none).

    Logs ``<artifact_path>/profile.csv``, the chart as
    ``<artifact_path>/profile.png`` (unless ``chart`` is False), and
    metrics named
    ``profile.[<stage>.]<source>.<column>.<completeness|validity|uniqueness>``
    (:func:`profile_metrics`), in one batch and one artifacts upload.

    Parameters
    ----------
    profile
        As returned by :func:`profile_frame` or :func:`profile_standardisation`.
    artifact_path
        The folder of the run's artifacts to write to.
    chart
        Also draw and log the chart.
    """
    import mlflow

    metrics = profile_metrics(profile)
    if metrics:
        mlflow.log_metrics(metrics)
    with tempfile.TemporaryDirectory() as folder:
        written = write_profile(profile, Path(folder) / "profile", chart=chart)
        mlflow.log_artifacts(str(written), artifact_path=artifact_path)
