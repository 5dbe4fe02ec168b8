"""One column's values seen pairwise, with comparisons done once per value pair."""

from __future__ import annotations

from collections.abc import Callable, Collection, Mapping
from functools import cached_property
from typing import Any, Final, Literal

import numpy as np
import polars as pl

from er_toolkit.compare import comparators, limits
from er_toolkit.exceptions import SchemaError

_NULL_DISTANCE = np.iinfo(np.int32).max
ISO_DATE: Final = "%Y-%m-%d"
"""The date format read when a comparison names none."""

ValueKind = Literal["text", "number", "date", "numbers_in_text", "point"]
"""How a level reads a column's values: as text, a number, a date, text holding
numbers, or a ``"lat,lon"`` point. Values that do not read as the kind are null."""


SMALL_ENCODING: Final = 4096
"""Up to this many values, a :class:`ColumnEncoding` finds its distinct values
and codes in Python and numpy, not polars: the same codes, without a polars
query's fixed cost (a few-record lookup compares a handful to a few hundred
pairs; at a thousand values Python still takes less CPU than the queries)."""


def _distinct(key: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Return the sorted distinct ``key`` values and each key's index into them."""
    if key.size <= SMALL_ENCODING:
        uniq, inverse = np.unique(key, return_inverse=True)
        return uniq, inverse.astype(np.int64).reshape(-1)
    packed = _packed_distinct(key)
    if packed is not None:
        return packed
    inverse, uniq = _dense_inverse(pl.Series(key))
    return uniq, inverse


def _packed_distinct(key: np.ndarray) -> tuple[np.ndarray, np.ndarray] | None:
    """Return :func:`_distinct` of non-negative int64 keys by one sort of keys packed with their positions.

    Each key is shifted left and given its position in the low bits, so one
    plain sort of int64 values (numpy's vectorised sort, several times
    faster than an argsort or a dense rank) orders the keys and says where
    each came from; the distinct keys are where the sorted keys change.
    None when a key is negative or the packed values would not fit in 63
    bits.

    Examples
    --------
    >>> uniq, inverse = _packed_distinct(np.array([7, 3, 7, 5], dtype=np.int64))
    >>> uniq.tolist(), inverse.tolist()
    ([3, 5, 7], [2, 0, 2, 1])
    """
    size = key.size
    if size == 0:
        return key.astype(np.int64), np.zeros(0, dtype=np.int64)
    shift = (size - 1).bit_length()
    low, high = int(key.min()), int(key.max())
    if low < 0 or high.bit_length() + shift > 63:
        return None
    packed = key.astype(np.int64) << shift
    packed |= np.arange(size, dtype=np.int64)
    packed.sort()
    keys = packed >> shift
    first = np.empty(size, dtype=bool)
    first[0] = True
    np.not_equal(keys[1:], keys[:-1], out=first[1:])
    inverse = np.empty(size, dtype=np.int64)
    packed &= (1 << shift) - 1  # the positions, in key order
    inverse[packed] = np.cumsum(first) - 1
    return keys[first], inverse


def score_cutoff(min_similarity: float) -> float:
    """Return a rapidfuzz cutoff that keeps every similarity a level can accept.

    Levels compare float32 similarities with the float32 threshold, whether
    the raw similarities are wanted or not. A double a hair below the
    threshold can round up to it in float32, and rapidfuzz tests its cutoff
    on the normalised distance, so it may drop a similarity exactly at the
    cutoff (``1 - 0.8`` is ``0.19999999999999996``, below a distance of
    ``0.2``). Cutting one float32 step below the threshold keeps both.

    Examples
    --------
    >>> score_cutoff(0.8) < 0.8 <= float(np.float32(0.8))
    True
    >>> score_cutoff(0.0)
    0.0
    """
    below = np.nextafter(np.float32(min_similarity), np.float32(-np.inf))
    return max(float(below), 0.0)


def _dense_inverse(key: pl.Series) -> tuple[np.ndarray, np.ndarray]:
    """Return each key's index among the sorted distinct keys, and those keys (np.unique's inverse and values).

    polars' parallel dense rank is np.unique's inverse, several times
    faster; the distinct keys are scattered back from it (no second sort).

    Examples
    --------
    >>> inverse, uniq = _dense_inverse(pl.Series([7, 3, 7, 5], dtype=pl.Int64))
    >>> inverse.tolist(), uniq.tolist()
    ([2, 0, 2, 1], [3, 5, 7])
    """
    inverse = key.rank("dense").to_numpy().astype(np.int64) - 1
    values = key.to_numpy()
    uniq = np.empty(int(inverse.max()) + 1 if len(inverse) else 0, dtype=values.dtype)
    uniq[inverse] = values
    return inverse, uniq


class ColumnEncoding:
    """One records column encoded once, for any number of pair sets.

    Holds a dense code per record (-1 for null or blank), the distinct
    trimmed strings, and, computed when first asked for, value frequencies,
    numbers and date parts.

    Parameters
    ----------
    values
        The column over all records, indexed by ``_row``.
    date_format
        ``strptime`` format of string dates; ``None`` reads ISO
        ``YYYY-MM-DD``. Date and Datetime values need none.
    max_compared_length
        Characters of a value the string comparators read (see
        :data:`~er_toolkit.compare.limits.DEFAULT_MAX_COMPARED_LENGTH`).

    Notes
    -----
    Everything here is a function of each value alone (term frequencies
    aside), so an encoding of any subset of the values (one batch of pairs)
    gives each value the same text, number and date as the whole column.
    """

    def __init__(
        self,
        values: pl.Series,
        *,
        date_format: str | None = None,
        max_compared_length: int | None = None,
        document_frequencies: Mapping[tuple[str, int], Any] | None = None,
        trim: bool = True,
    ) -> None:
        self.values = values
        self.date_format = date_format
        self.max_compared_length = limits.max_compared_length(max_compared_length)
        self.trim = trim
        self.document_frequencies: dict[tuple[str, int], Any] = dict(
            document_frequencies or {}
        )
        """Given document frequencies by (tokens, q), for TF-IDF levels; the
        column's own when absent (:mod:`er_toolkit.compare.text_values`)."""
        self.derived: dict[Any, Any] = {}
        """Per-value statistics of levels, made on first use (token vectors, numbers)."""
        self._halves_cache: dict[int, tuple[np.ndarray, np.ndarray]] = {}
        self._value_maps: dict[str, np.ndarray] = {}
        self._parts: dict[str, ColumnEncoding] = {}

    @cached_property
    def strings(self) -> pl.Series:
        """The values as trimmed strings (``trim``); empty strings and NaN as null."""
        if self._set_python_strings():
            return self.__dict__["strings"]
        # one query: every eager Series method is a query of its own
        return pl.select(self._strings_expr(pl.lit(self.values))).to_series()

    def _set_python_strings(self) -> bool:
        """Set :attr:`strings` of a few text or date values made in Python; False where polars must.

        What :meth:`_strings_expr` gives, without a polars query's fixed
        cost: text kept as it is where no value has white space at its ends
        (Python's white space includes polars', so a value Python would not
        strip polars would not either), dates of four-digit years in ISO
        form, empty text as null.
        """
        if not self.small:
            return False
        dtype = self.values.dtype
        texts: list[Any]
        if dtype == pl.String or dtype == pl.Null:
            texts = self.values.to_list()
            if self.trim and texts != [t if t is None else t.strip() for t in texts]:
                return False
            texts = [t or None for t in texts]
        elif dtype == pl.Date:
            dates = self.values.to_list()
            if any(d is not None and not 1000 <= d.year <= 9999 for d in dates):
                return False
            texts = [None if d is None else d.isoformat() for d in dates]
        else:
            return False
        self.__dict__["_string_list"] = texts
        self.__dict__["strings"] = pl.Series(self.values.name, texts, dtype=pl.String)
        return True

    def _strings_expr(self, value: pl.Expr) -> pl.Expr:
        """Return the expression of :attr:`strings` over ``value`` (the values)."""
        dtype = self.values.dtype
        if dtype.is_float():
            value = value.fill_nan(None)
        if dtype != pl.String:
            value = value.cast(pl.String)
        if self.trim:
            value = value.str.strip_chars()
        return pl.when(value.str.len_chars() > 0).then(value)

    @staticmethod
    def prepare(encodings: Collection[ColumnEncoding]) -> None:
        """Compute the :attr:`strings` of equally long encodings in one query.

        What each encoding's own :attr:`strings` gives; for batches so small
        that a polars query's fixed cost is most of the work.
        """
        todo = [
            e
            for e in encodings
            if "strings" not in e.__dict__ and not e._set_python_strings()
        ]
        if len(todo) < 2 or len({len(e.values) for e in todo}) != 1:
            return
        frame = pl.DataFrame([e.values.alias(f"c{i}") for i, e in enumerate(todo)])
        out = frame.select(
            e._strings_expr(pl.col(f"c{i}")).alias(f"c{i}") for i, e in enumerate(todo)
        )
        for i, e in enumerate(todo):
            e.__dict__["strings"] = out.get_column(f"c{i}").alias(e.values.name)

    @property
    def small(self) -> bool:
        """Whether the column is short enough to encode in Python (see :data:`SMALL_ENCODING`)."""
        return len(self.values) <= SMALL_ENCODING

    @cached_property
    def _string_list(self) -> list[str | None]:
        return self.strings.to_list()

    def part(self, pattern: str) -> ColumnEncoding:
        """Return the encoding of each value's first match of regex ``pattern``.

        The match is read from the value as compared (trimmed) and kept as
        matched (not trimmed again); no match, or an empty one, is null.
        What SQL's ``NULLIF(regexp_extract(value, pattern, 0), '')`` gives.

        Examples
        --------
        >>> enc = ColumnEncoding(pl.Series(["ann@x.org", "@x.org", None]))
        >>> enc.part("^[^@]+").strings.to_list()
        ['ann', None, None]
        """
        if pattern not in self._parts:
            self._parts[pattern] = ColumnEncoding(
                self._trimmed().str.extract(pattern, 0),
                max_compared_length=self.max_compared_length,
                trim=False,
            )
        return self._parts[pattern]

    @cached_property
    def _unique_list(self) -> list[str]:
        # code point order: what polars' sort of UTF-8 bytes gives
        return sorted({v for v in self._string_list if v is not None})

    @cached_property
    def _sorted_uniques(self) -> pl.Series:
        if self.small:
            return pl.Series(self.strings.name, self._unique_list, dtype=pl.String)
        return self.strings.drop_nulls().unique().sort()

    @property
    def uniques_series(self) -> pl.Series:
        """The distinct strings, indexed by code, as a polars Series."""
        return self._sorted_uniques

    @cached_property
    def codes(self) -> np.ndarray:
        """Dense code of each record's value (-1 for null), in sorted value order."""
        if self.small:
            code = {v: i for i, v in enumerate(self._unique_list)}
            return np.array(
                [-1 if v is None else code[v] for v in self._string_list],
                dtype=np.int32,
            )
        uniques = self._sorted_uniques
        strings = self._trimmed()
        # The codes and distinct values hold what the trimmed copy of every
        # record's value did (tens of MiB a column at 1M records, most of it
        # views): it is dropped now, and the rare later reader (a regex part,
        # text dates) trims the values again.
        self.__dict__.pop("strings", None)
        if uniques.is_empty():
            return np.full(len(strings), -1, dtype=np.int32)
        # a hash lookup of each value's position: much faster than a dense rank
        return (
            strings.replace_strict(
                uniques,
                pl.int_range(len(uniques), dtype=pl.Int32, eager=True),
                return_dtype=pl.Int32,
            )
            .fill_null(-1)
            .to_numpy()
        )

    def _trimmed(self) -> pl.Series:
        """Return :attr:`strings`, kept if already made, else made now and not kept."""
        kept = self.__dict__.get("strings")
        if isinstance(kept, pl.Series):
            return kept
        return pl.select(self._strings_expr(pl.lit(self.values))).to_series()

    @property
    def n_uniques(self) -> int:
        """How many distinct non-null values the column holds."""
        return len(self._sorted_uniques)

    @cached_property
    def _lengths(self) -> np.ndarray:
        if self.small:  # characters (code points), as str.len_chars counts
            return np.array([len(v) for v in self._unique_list], dtype=np.int64)
        return self._sorted_uniques.str.len_chars().to_numpy().astype(np.int64)

    def _halves(self, width: int) -> tuple[np.ndarray, np.ndarray]:
        """Hashes of each distinct value's first and last ``width`` characters."""
        cache = self._halves_cache
        if width not in cache:
            u = self._sorted_uniques
            cache[width] = (
                u.str.slice(0, width).hash().to_numpy(),
                u.str.slice(-width).hash().to_numpy(),
            )
        return cache[width]

    def may_be_one_edit_apart(self, left: np.ndarray, right: np.ndarray) -> np.ndarray:
        """Whether two different values (by code) can be one edit apart.

        A necessary condition, not the distance: one insertion, deletion,
        substitution or swap of neighbours leaves the lengths within one,
        and leaves intact either the first or the last ``(m - 1) // 2``
        characters (``m`` the shorter length). Pairs failing it are more
        than one edit apart without computing anything; hash collisions only
        let extra pairs through to the real comparator.

        Examples
        --------
        >>> enc = ColumnEncoding(pl.Series(["0701234567", "0701234576", "0799999999"]))
        >>> enc.may_be_one_edit_apart(np.array([0, 0]), np.array([1, 2])).tolist()
        [True, False]
        """
        la, lb = self._lengths[left], self._lengths[right]
        maybe = np.abs(la - lb) <= 1
        width = (np.minimum(la, lb) - 1) // 2
        # the widths present (a handful), without sorting millions of pairs
        present = np.flatnonzero(np.bincount(np.maximum(width[maybe], 0)))
        for w in present:
            if w <= 0:
                continue
            at = np.flatnonzero(maybe & (width == w))
            first, last = self._halves(int(w))
            a, b = left[at], right[at]
            maybe[at] = (first[a] == first[b]) | (last[a] == last[b])
        return maybe

    def value_map(
        self, key: str, function: Callable[[pl.Series], np.ndarray]
    ) -> np.ndarray:
        """Return ``function`` of the distinct values (indexed by code), made once.

        ``function`` takes the distinct strings as a polars Series and
        returns one value each; ``key`` names it in the cache (one key, one
        function).
        """
        if key not in self._value_maps:
            self._value_maps[key] = np.asarray(function(self._sorted_uniques))
        return self._value_maps[key]

    @cached_property
    def uniques(self) -> np.ndarray:
        """The distinct strings, indexed by code, cut at ``max_compared_length``."""
        most = self.max_compared_length
        if self.small:
            values = self._unique_list
            cut = np.flatnonzero(self._lengths > most)
            capped = [v[:most] for v in values] if cut.size else values
        else:
            series, cut = limits.cap_lengths(self._sorted_uniques, most)
            capped = series.to_list()
        if cut.size:
            limits.warn_cut(self.values.name, cut, self.codes, most)
        out = np.empty(len(capped), dtype=object)
        out[:] = capped
        return out

    @cached_property
    def term_frequency(self) -> np.ndarray:
        """Each record's value frequency among non-null values (NaN if null)."""
        codes = self.codes
        ok = codes >= 0
        counts = np.bincount(codes[ok], minlength=self.n_uniques)
        counts = counts.astype(np.float64)
        out = np.full(len(codes), np.nan)
        out[ok] = counts[codes[ok]] / max(int(ok.sum()), 1)
        return out

    @cached_property
    def numbers(self) -> np.ndarray:
        """The values as float64 (NaN where not a number)."""
        s = self.values
        if s.dtype == pl.String:
            s = s.str.strip_chars().cast(pl.Float64, strict=False)
        try:
            return s.cast(pl.Float64).fill_null(np.nan).to_numpy()
        except pl.exceptions.InvalidOperationError as exc:
            raise SchemaError(
                f"Column {self.values.name!r} must be numeric for a numeric "
                f"comparison; got {self.values.dtype}."
            ) from exc

    @cached_property
    def dates(self) -> dict[str, np.ndarray]:
        """Days since epoch, year, month and day per record, and a null mask."""
        s = self.values
        if s.dtype == pl.Date and self.small:  # a few dates: numpy, no query
            return _date_parts(s.to_numpy())
        if s.dtype == pl.Datetime:
            s = s.dt.date()
        elif s.dtype != pl.Date:
            # An explicit format: inferring one from the first value would make
            # a value's date depend on which values share its batch.
            s = self._trimmed().str.to_date(self.date_format or ISO_DATE, strict=False)
        parts = pl.DataFrame({"d": s}).select(
            null=pl.col("d").is_null(),
            days=pl.col("d").cast(pl.Int64).fill_null(0),
            y=pl.col("d").dt.year().fill_null(0),
            m=pl.col("d").dt.month().fill_null(0),
            dd=pl.col("d").dt.day().fill_null(0),
        )
        return {c: parts.get_column(c).to_numpy() for c in parts.columns}


def _date_parts(days: np.ndarray) -> dict[str, np.ndarray]:
    """Return :attr:`ColumnEncoding.dates` of ``datetime64[D]`` values (NaT as null), as polars has them.

    Examples
    --------
    >>> parts = _date_parts(np.array(["1999-12-31", "NaT"], dtype="datetime64[D]"))
    >>> [parts[k].tolist() for k in ("null", "days", "y", "m", "dd")]
    [[False, True], [10956, 0], [1999, 0], [12, 0], [31, 0]]
    """
    null = np.isnat(days)
    years = days.astype("datetime64[Y]")
    months = days.astype("datetime64[M]")
    year = years.astype(np.int64) + 1970
    month = (months - years.astype("datetime64[M]")).astype(np.int64) + 1
    day = (days - months.astype("datetime64[D]")).astype(np.int64) + 1
    return {
        "null": null,
        "days": np.where(null, 0, days.astype(np.int64)),
        "y": np.where(null, 0, year).astype(np.int32),
        "m": np.where(null, 0, month).astype(np.int8),
        "dd": np.where(null, 0, day).astype(np.int8),
    }


class PairValues:
    """The left and right values of one column over a set of pairs.

    String comparators skip equal and null values, run once per distinct
    (left value, right value) pair, and are cached, so several levels over one
    comparator cost one pass.

    Parameters
    ----------
    encoding
        The column, encoded.
    rows_l, rows_r
        Row numbers of each pair's two records.
    min_similarity
        Per comparator, the lowest similarity any level asks about; when
        given, similarities whose float32 is below it may come back as 0
        (faster), so only pass it when raw similarities are not wanted. Those
        at or above it are the same either way (:func:`score_cutoff`).
    max_distance
        Per comparator, the largest distance any level asks about; larger
        distances may come back as that limit plus one.
    workers
        Threads each rapidfuzz call uses; -1 uses every core.
    """

    def __init__(
        self,
        encoding: ColumnEncoding,
        rows_l: np.ndarray,
        rows_r: np.ndarray,
        *,
        min_similarity: Mapping[str, float] | None = None,
        max_distance: Mapping[str, int] | None = None,
        workers: int = -1,
    ) -> None:
        self.encoding = encoding
        self.workers = workers
        self.rows_l = rows_l
        self.rows_r = rows_r
        self.min_similarity = dict(min_similarity or {})
        self.max_distance = dict(max_distance or {})
        self._sim_cache: dict[tuple[str, bool], np.ndarray] = {}
        self._dist_cache: dict[str, np.ndarray] = {}
        self._parts: dict[str, PairValues] = {}
        self.derived: dict[Any, np.ndarray] = {}
        """Per-pair arrays of levels, made on first use (TF-IDF cosines, distances)."""

    def part(self, pattern: str) -> PairValues:
        """Return the pairs' values reduced to their first match of ``pattern``.

        See :meth:`ColumnEncoding.part`; no cutoffs apply to the parts.
        """
        if pattern not in self._parts:
            self._parts[pattern] = PairValues(
                self.encoding.part(pattern),
                self.rows_l,
                self.rows_r,
                workers=self.workers,
            )
        return self._parts[pattern]

    @cached_property
    def codes_l(self) -> np.ndarray:
        """Value code of each pair's left record (-1 for null)."""
        return self.encoding.codes[self.rows_l]

    @cached_property
    def codes_r(self) -> np.ndarray:
        """Value code of each pair's right record (-1 for null)."""
        return self.encoding.codes[self.rows_r]

    @cached_property
    def null(self) -> np.ndarray:
        """Whether either side of each pair is null."""
        return (self.codes_l < 0) | (self.codes_r < 0)

    def null_as(self, kinds: Collection[ValueKind]) -> np.ndarray:
        """Whether either side is null, or does not read as one of ``kinds``.

        A value that is not a number (for ``"number"``) or not a date (for
        ``"date"``) is as unknown as a missing one.
        """
        from er_toolkit.compare import text_values

        null = self.null
        if "number" in kinds:
            null = null | self.numeric_null
        if "date" in kinds:
            null = null | self.date_null
        if "numbers_in_text" in kinds:
            null = null | text_values.no_number(self)
        if "point" in kinds:
            null = null | text_values.no_point(self)
        return null

    @cached_property
    def exact(self) -> np.ndarray:
        """Whether both sides are equal (and non-null)."""
        return (self.codes_l == self.codes_r) & (self.codes_l >= 0)

    @cached_property
    def _differ(self) -> np.ndarray:
        """Pairs with two different non-null values: the only ones to compute."""
        return ~self.null & (self.codes_l != self.codes_r)

    @cached_property
    def _distinct_codes(self) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        """Distinct differing (left, right) value codes, and the map back to pairs."""
        differ = self._differ
        n = max(self.encoding.n_uniques, 1)
        uniq, inverse = _distinct(
            self.codes_l[differ].astype(np.int64) * n + self.codes_r[differ]
        )
        return uniq // n, uniq % n, inverse

    @cached_property
    def _distinct_differing(self) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        """Distinct differing (left, right) strings, and the map back to pairs."""
        left, right, inverse = self._distinct_codes
        uniques = self.encoding.uniques
        return uniques[left], uniques[right], inverse

    @property
    def distinct_codes(self) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        """Distinct differing (left, right) value codes, and each pair's index into them.

        Pairs with a null side or equal values have no entry; levels compute
        once per distinct pair and spread the result with :meth:`fill`.
        """
        return self._distinct_codes

    def fill(self, differing: np.ndarray, *, same: float, null: float) -> np.ndarray:
        """Spread values of the differing pairs over all pairs: ``same`` where equal, ``null`` where null."""
        return self._fill(differing, same=same, null=null)

    def _fill(self, differing: np.ndarray, *, same: float, null: float) -> np.ndarray:
        out = np.full(len(self.codes_l), null, dtype=differing.dtype)
        out[self.exact] = same
        out[self._differ] = differing
        return out

    def similarity(self, comparator: str, *, precise: bool = False) -> np.ndarray:
        """Similarity in [0, 1] per pair (NaN where either side is null).

        Equal values score 1 without computing; the comparator runs once per
        distinct pair of differing values. Float32 by default, with a
        ``min_similarity`` for the comparator similarities whose float32 is
        below it may be 0; ``precise`` gives float64 similarities as SQL
        engines compute them (see
        :func:`~er_toolkit.compare.comparators.similarity`), never cut off.
        """
        key = (comparator, precise)
        if key not in self._sim_cache:
            left, right, inverse = self._distinct_differing
            cutoff = None if precise else self.min_similarity.get(comparator)
            sims = comparators.similarity(
                comparator,
                left,
                right,
                score_cutoff=None if cutoff is None else score_cutoff(cutoff),
                workers=self.workers,
                dtype=np.float64 if precise else np.float32,
            )[inverse]
            self._sim_cache[key] = self._fill(
                sims.astype(np.float64 if precise else np.float32),
                same=1.0,
                null=np.nan,
            )
        return self._sim_cache[key]

    def compute(
        self, function: Callable[[np.ndarray, np.ndarray], np.ndarray]
    ) -> np.ndarray:
        """Apply a vectorised test once per distinct (left, right) pair of values.

        ``function`` takes the left and the right strings of the distinct
        value pairs (object arrays, equal pairs included) and returns one
        boolean each; pairs with a null get False. The levels reading one
        column against another (``contains``) are built on it.
        """
        both = ~self.null
        n = max(self.encoding.n_uniques, 1)
        uniq, inverse = _distinct(
            self.codes_l[both].astype(np.int64) * n + self.codes_r[both]
        )
        uniques = self.encoding.uniques
        out = np.zeros(len(self.codes_l), dtype=bool)
        if len(uniq):
            found = np.asarray(function(uniques[uniq // n], uniques[uniq % n]), bool)
            out[both] = found[inverse]
        return out

    def per_value(
        self, key: str, function: Callable[[pl.Series], np.ndarray]
    ) -> tuple[np.ndarray, np.ndarray]:
        """Return ``function`` of each pair's left and right value, made per distinct value.

        See :meth:`ColumnEncoding.value_map`; where a side is null its entry
        is that of an arbitrary value: mask with :attr:`null`.
        """
        values = self.encoding.value_map(key, function)
        if len(values) == 0:
            empty = np.zeros((len(self.codes_l), *values.shape[1:]), dtype=np.int64)
            return empty, empty
        return (
            values[np.maximum(self.codes_l, 0)],
            values[np.maximum(self.codes_r, 0)],
        )

    def distance(self, comparator: str) -> np.ndarray:
        """Edit distance per pair (a large number where either side is null)."""
        if comparator not in self._dist_cache:
            cutoff = self.max_distance.get(comparator)
            if cutoff == 1:
                dists = self._within_one_edit(comparator)  # one per differing pair
            else:
                left, right, inverse = self._distinct_differing
                dists = comparators.edit_distance(
                    comparator,
                    left,
                    right,
                    score_cutoff=cutoff,
                    workers=self.workers,
                )[inverse]
            self._dist_cache[comparator] = self._fill(
                dists.astype(np.int32), same=0, null=_NULL_DISTANCE
            )
        return self._dist_cache[comparator]

    def _within_one_edit(self, comparator: str) -> np.ndarray:
        """Distances cut off at 1 (2 meaning more), computed only where they can be 1.

        The necessary condition (:meth:`ColumnEncoding.may_be_one_edit_apart`)
        is tested on every differing pair by code (a few gathers), and only
        the pairs passing it are made distinct and compared: at millions of
        pairs of dates or phone numbers, a few in a hundred pass.
        """
        differ = self._differ
        left, right = self.codes_l[differ], self.codes_r[differ]
        maybe = self.encoding.may_be_one_edit_apart(left, right)
        dists = np.full(len(left), 2, dtype=np.int32)
        if maybe.any():
            n = max(self.encoding.n_uniques, 1)
            key = left[maybe].astype(np.int64) * n + right[maybe]
            distinct, inverse = _distinct(key)
            uniques = self.encoding.uniques
            dists[maybe] = comparators.edit_distance(
                comparator,
                uniques[distinct // n],
                uniques[distinct % n],
                score_cutoff=1,
                workers=self.workers,
            )[inverse]
        return dists

    def numeric_difference(self, *, relative: bool) -> np.ndarray:
        """Absolute (or relative to the larger magnitude) difference per pair."""
        a = self.encoding.numbers[self.rows_l]
        b = self.encoding.numbers[self.rows_r]
        diff = np.abs(a - b)
        if relative:
            scale = np.maximum(np.abs(a), np.abs(b))
            with np.errstate(invalid="ignore", divide="ignore"):
                diff = np.where(scale > 0, diff / scale, 0.0)
        return diff

    @cached_property
    def numeric_null(self) -> np.ndarray:
        """Whether either side of each pair is not a number."""
        numbers = self.encoding.numbers
        return np.isnan(numbers[self.rows_l]) | np.isnan(numbers[self.rows_r])

    @cached_property
    def date_null(self) -> np.ndarray:
        """Whether either side of each pair is not a date."""
        null = self.encoding.dates["null"]
        return null[self.rows_l] | null[self.rows_r]

    def date_difference(self) -> np.ndarray:
        """Absolute difference in days per pair (large where null)."""
        days = self.encoding.dates["days"]
        diff = np.abs(days[self.rows_l] - days[self.rows_r])
        return np.where(self.date_null, _NULL_DISTANCE, diff)

    def date_swapped(self) -> np.ndarray:
        """Whether day and month are swapped (same year, day != month)."""
        d = self.encoding.dates
        y, m, dd = d["y"], d["m"], d["dd"]
        rl, rr = self.rows_l, self.rows_r
        return (
            ~self.date_null
            & (y[rl] == y[rr])
            & (m[rl] == dd[rr])
            & (dd[rl] == m[rr])
            & (m[rl] != dd[rl])
        )

    def year_typo_difference(self) -> np.ndarray:
        """Days between the dates once the years agree, where the years are one typo apart.

        One digit of the (four-digit) year differs, or two adjacent digits
        are swapped (1973 / 1983, 1975 / 1957); the right date is moved to
        the left one's year and the days between them counted. Large where
        the years are not one typo apart or a side is not a date.
        """
        d = self.encoding.dates
        rl, rr = self.rows_l, self.rows_r
        y_l, y_r = d["y"][rl], d["y"][rr]
        digits_l = np.stack([(y_l // 10**k) % 10 for k in range(4)])
        digits_r = np.stack([(y_r // 10**k) % 10 for k in range(4)])
        differ = digits_l != digits_r
        n_differ = differ.sum(axis=0)
        swapped = np.zeros(y_l.shape, dtype=bool)
        for k in range(3):
            swapped |= (
                (n_differ == 2)
                & differ[k]
                & differ[k + 1]
                & (digits_l[k] == digits_r[k + 1])
                & (digits_l[k + 1] == digits_r[k])
            )
        typo = ((n_differ == 1) | swapped) & ~self.date_null
        # the right month and day in the left year, as days since the epoch
        month = (y_l - 1970).astype("datetime64[Y]").astype("datetime64[M]")
        moved = (month + (d["m"][rr] - 1)).astype("datetime64[D]") + (d["dd"][rr] - 1)
        diff = np.abs(d["days"][rl] - moved.astype(np.int64))
        return np.where(typo, diff, _NULL_DISTANCE)


ColumnPair = tuple[str, str]
"""A left column and a right column: ``("surname", "surname")`` compares a
column with itself; ``("first_name", "surname")`` compares each pair's left
first name with its right surname."""


class PairColumns:
    """The pairs' values of every column pair a comparison reads.

    An engine makes one per comparison and set of pairs: ``make`` returns
    the :class:`PairValues` of a left column against a right column (the
    engine decides how the values are encoded), and each is made once.

    Parameters
    ----------
    make
        ``(left column, right column) -> PairValues``.
    size
        The number of pairs.
    """

    def __init__(self, make: Callable[[str, str], PairValues], size: int) -> None:
        self._make = make
        self.size = size
        self._cache: dict[ColumnPair, PairValues] = {}

    def get(self, left: str, right: str | None = None) -> PairValues:
        """Return the values of ``left`` (on the left) against ``right`` (default: itself)."""
        key = (left, left if right is None else right)
        if key not in self._cache:
            self._cache[key] = self._make(*key)
        return self._cache[key]
