"""One column's values seen pairwise, with comparisons done once per value pair."""

from __future__ import annotations

from functools import cached_property

import numpy as np
import polars as pl

from er_toolkit.compare import comparators
from er_toolkit.exceptions import SchemaError


class PairValues:
    """The left and right values of one column over a set of pairs.

    String comparators run once per distinct (left value, right value) pair,
    not once per record pair, and their results are cached, so several levels
    over one comparator cost one pass.

    Parameters
    ----------
    values
        The column over all records, indexed by ``_row``.
    rows_l, rows_r
        Row numbers of each pair's two records.
    date_format
        ``strptime`` format for string dates; ``None`` for ISO or Date values.
    """

    def __init__(
        self,
        values: pl.Series,
        rows_l: np.ndarray,
        rows_r: np.ndarray,
        *,
        date_format: str | None = None,
    ) -> None:
        self.values = values
        self.rows_l = rows_l
        self.rows_r = rows_r
        self.date_format = date_format
        self._sim_cache: dict[str, np.ndarray] = {}
        self._dist_cache: dict[str, np.ndarray] = {}

    @cached_property
    def _strings(self) -> pl.Series:
        s = self.values
        if s.dtype != pl.String:
            s = s.cast(pl.String)
        s = s.str.strip_chars()
        return pl.select(pl.when(s.str.len_chars() > 0).then(s)).to_series()

    @cached_property
    def _codes(self) -> tuple[np.ndarray, list[str]]:
        """Dense codes per record (-1 for null) and the distinct strings."""
        s = self._strings
        codes = s.rank("dense").fill_null(0).cast(pl.Int64).to_numpy() - 1
        uniques = s.drop_nulls().unique().sort().to_list()
        return codes, uniques

    @cached_property
    def codes_l(self) -> np.ndarray:
        """Value code of each pair's left record (-1 for null)."""
        return self._codes[0][self.rows_l]

    @cached_property
    def codes_r(self) -> np.ndarray:
        """Value code of each pair's right record (-1 for null)."""
        return self._codes[0][self.rows_r]

    @cached_property
    def null(self) -> np.ndarray:
        """Whether either side of each pair is null."""
        return (self.codes_l < 0) | (self.codes_r < 0)

    @cached_property
    def exact(self) -> np.ndarray:
        """Whether both sides are equal (and non-null)."""
        return (self.codes_l == self.codes_r) & (self.codes_l >= 0)

    @cached_property
    def _distinct(self) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        """Distinct non-null (left code, right code) pairs and the inverse map."""
        ok = ~((self.codes_l < 0) | (self.codes_r < 0))
        n = max(len(self._codes[1]), 1)
        key = self.codes_l[ok] * n + self.codes_r[ok]
        uniq, inverse = np.unique(key, return_inverse=True)
        return uniq // n, uniq % n, inverse

    def _per_pair(self, distinct_values: np.ndarray, fill: float) -> np.ndarray:
        ok = ~((self.codes_l < 0) | (self.codes_r < 0))
        out = np.full(len(self.codes_l), fill, dtype=distinct_values.dtype)
        out[ok] = distinct_values[self._distinct[2]]
        return out

    def _distinct_strings(self) -> tuple[list[str], list[str]]:
        left, right, _ = self._distinct
        uniques = np.asarray(self._codes[1], dtype=object)
        return uniques[left].tolist(), uniques[right].tolist()

    def similarity(self, comparator: str) -> np.ndarray:
        """Similarity in [0, 1] per pair (NaN where either side is null)."""
        if comparator not in self._sim_cache:
            left, right = self._distinct_strings()
            sims = comparators.similarity(comparator, left, right)
            self._sim_cache[comparator] = self._per_pair(sims, np.nan)
        return self._sim_cache[comparator]

    def distance(self, comparator: str) -> np.ndarray:
        """Edit distance per pair (a large number where either side is null)."""
        if comparator not in self._dist_cache:
            left, right = self._distinct_strings()
            dists = comparators.edit_distance(comparator, left, right)
            self._dist_cache[comparator] = self._per_pair(
                dists.astype(np.int32), np.iinfo(np.int32).max
            )
        return self._dist_cache[comparator]

    @cached_property
    def _numbers(self) -> np.ndarray:
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

    def numeric_difference(self, *, relative: bool) -> np.ndarray:
        """Absolute (or relative to the larger magnitude) difference per pair."""
        a = self._numbers[self.rows_l]
        b = self._numbers[self.rows_r]
        diff = np.abs(a - b)
        if relative:
            scale = np.maximum(np.abs(a), np.abs(b))
            with np.errstate(invalid="ignore", divide="ignore"):
                diff = np.where(scale > 0, diff / scale, 0.0)
        return diff

    @cached_property
    def numeric_null(self) -> np.ndarray:
        """Whether either side of each pair is not a number."""
        return np.isnan(self._numbers[self.rows_l]) | np.isnan(
            self._numbers[self.rows_r]
        )

    @cached_property
    def _dates(self) -> pl.DataFrame:
        s = self.values
        if s.dtype == pl.Datetime:
            s = s.dt.date()
        elif s.dtype != pl.Date:
            s = self._strings.str.to_date(self.date_format, strict=False)
        return pl.DataFrame({"d": s}).select(
            days=pl.col("d").cast(pl.Int32),
            y=pl.col("d").dt.year(),
            m=pl.col("d").dt.month(),
            dd=pl.col("d").dt.day(),
        )

    @cached_property
    def _date_null(self) -> np.ndarray:
        days = self._dates.get_column("days").is_null().to_numpy()
        return days[self.rows_l] | days[self.rows_r]

    def date_difference(self) -> np.ndarray:
        """Absolute difference in days per pair (large where null)."""
        days = self._dates.get_column("days").fill_null(0).to_numpy().astype(np.int64)
        diff = np.abs(days[self.rows_l] - days[self.rows_r])
        return np.where(self._date_null, np.iinfo(np.int32).max, diff)

    def date_swapped(self) -> np.ndarray:
        """Whether day and month are swapped (same year, day != month)."""
        d = self._dates.fill_null(0)
        y = d.get_column("y").to_numpy()
        m = d.get_column("m").to_numpy()
        dd = d.get_column("dd").to_numpy()
        rl, rr = self.rows_l, self.rows_r
        return (
            ~self._date_null
            & (y[rl] == y[rr])
            & (m[rl] == dd[rr])
            & (dd[rl] == m[rr])
            & (m[rl] != dd[rl])
        )
