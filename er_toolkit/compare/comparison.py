"""A Comparison: ordered levels over one or more columns, compiled to gamma arrays."""

from __future__ import annotations

from dataclasses import dataclass
from functools import cached_property
from typing import Any, Literal, get_args

import numpy as np
import polars as pl

from er_toolkit.compare.engine import RecordEncoding
from er_toolkit.compare.kernel import TF_PREFIX, compare_encoded, tf
from er_toolkit.compare.levels import (
    ColumnsReversedLevel,
    DistanceLevel,
    ExactLevel,
    Level,
    ScoredLevel,
    SimilarityLevel,
    level_column_pairs,
    level_from_dict,
    level_reads,
    level_to_dict,
    sub_levels,
)
from er_toolkit.compare.pair_values import ColumnEncoding, ColumnPair, ValueKind
from er_toolkit.compare.text_levels import TfidfCosineLevel
from er_toolkit.exceptions import ConfigError, SchemaError

__all__ = ["TF_PREFIX", "Comparison", "Unparsed", "term_frequencies", "tf"]

Unparsed = Literal["null", "text"]
"""What a value that does not parse as a number or date is: unknown, or still text."""


@dataclass(frozen=True)
class Comparison:
    """Ordered levels over one column (or several), most similar first.

    A pair gets gamma ``len(levels)`` at the first level, counting down to 1
    at the last; 0 when no level applies ("else"); -1 when either value of
    the comparison's own ``column`` is null or blank. A comparison with a
    level that reads its column as numbers or dates (``numeric_difference``,
    ``date_difference``, ``date_swap``) reads that column as numbers or dates
    for all its levels: a value that does not parse is null too, so
    ("2001-01-02", "not a date") is -1 even at an exact or edit-distance
    level of the same comparison. With ``unparsed="text"`` such a value
    stays known: the text levels compare it ("1831-87-18" is one edit from
    "1831-07-18") and the number or date levels never match it; only a
    missing value is -1.

    Levels may read other columns: a level's ``column`` names the column it
    compares (default: the comparison's), and the levels of several columns
    (``and``, ``or``, ``not``, ``columns_reversed``, ``contains``) read each
    pair's values across columns. A null in another column only keeps a pair
    off the levels that read it. ``columns`` lists every column the
    comparison reads, its own first; it is worked out from the levels when
    not given.

    Parameters
    ----------
    name
        Used in column names (``gamma_<name>``, ``sim_<name>``).
    column
        The comparison's own column: its nulls are the null level, and it is
        the column of the levels that name none.
    levels
        The levels, most similar first.
    date_format
        ``strptime`` format of string dates, for date levels; ``None`` reads
        ISO ``YYYY-MM-DD``.
    columns
        Every column the levels read, ``column`` first (worked out when empty).
    null_columns
        The columns whose nulls (all of them) make the null level; empty: the
        comparison's own ``column`` alone.
    unparsed
        ``"null"`` (the default): a value of the own column that a number or
        date level cannot read is null, as a missing one is; ``"text"``: it
        is compared by the text levels (a date with a typo in its month).

    Examples
    --------
    >>> from er_toolkit.compare import ColumnsReversedLevel, ExactLevel
    >>> name = Comparison(
    ...     "name", "first_name",
    ...     (ExactLevel(), ColumnsReversedLevel(columns=("first_name", "surname"))),
    ... )
    >>> name.columns
    ('first_name', 'surname')
    >>> both = Comparison(
    ...     "name", "first_name", (ExactLevel(), ExactLevel(column="surname")),
    ...     null_columns=("first_name", "surname"),
    ... )
    >>> both.null_columns
    ('first_name', 'surname')
    >>> from er_toolkit.compare import DateDifferenceLevel, DistanceLevel
    >>> dob = Comparison(
    ...     "dob", "dob",
    ...     (ExactLevel(), DistanceLevel(max_distance=1), DateDifferenceLevel(max_days=31)),
    ...     unparsed="text",
    ... )
    >>> dob.known_as
    frozenset({'text'})
    """

    name: str
    column: str
    levels: tuple[Level, ...]
    date_format: str | None = None
    columns: tuple[str, ...] = ()
    null_columns: tuple[str, ...] = ()
    unparsed: Unparsed = "null"

    def __post_init__(self) -> None:
        object.__setattr__(self, "levels", tuple(self.levels))
        if self.unparsed not in get_args(Unparsed):
            raise ConfigError(
                f"Comparison {self.name!r}: 'unparsed' must be one of "
                f"{list(get_args(Unparsed))}; got {self.unparsed!r}."
            )
        if not self.levels:
            raise ConfigError(f"Comparison {self.name!r} needs at least one level.")
        if not self.name.isidentifier():
            raise ConfigError(
                f"A comparison's name must be an identifier (letters, digits, _); "
                f"got {self.name!r}."
            )
        if not isinstance(self.column, str) or not self.column:
            raise ConfigError(
                f"Comparison {self.name!r} needs a 'column' (a column name); got "
                f"{self.column!r}."
            )
        nulls = self.null_columns
        if (
            isinstance(nulls, str)
            or not isinstance(nulls, (tuple, list))
            or not all(isinstance(c, str) and c for c in nulls)
            or len(set(nulls)) != len(nulls)
        ):
            raise ConfigError(
                f"Comparison {self.name!r}: 'null_columns' must be a list of distinct "
                f"column names; got {nulls!r}."
            )
        nulls = tuple(nulls)
        if nulls == (self.column,):
            nulls = ()  # the default, said out loud
        if nulls and self.column not in nulls:
            raise ConfigError(
                f"Comparison {self.name!r}: 'null_columns' must include its own "
                f"'column' {self.column!r}; got {list(nulls)}."
            )
        object.__setattr__(self, "null_columns", nulls)
        read = [c for pair in self.column_pairs for c in pair]
        columns = tuple(dict.fromkeys([self.column, *self.columns, *read, *nulls]))
        declared = tuple(self.columns)
        if declared and declared[0] != self.column:
            raise ConfigError(
                f"Comparison {self.name!r}: 'columns' must start with its own "
                f"'column' {self.column!r}; got {list(declared)}."
            )
        object.__setattr__(self, "columns", columns)
        tokenisers = {
            (lvl.tokens, lvl.q)
            for lvl in self.levels
            if isinstance(lvl, TfidfCosineLevel)
        }
        if len(tokenisers) > 1:
            raise ConfigError(
                f"The tfidf_cosine levels of comparison {self.name!r} must share "
                f"their tokens (one IDF per comparison); got {sorted(tokenisers)}. "
                "Split them into two comparisons."
            )

    @cached_property  # read per batch of pairs; the dataclass is frozen
    def column_pairs(self) -> tuple[ColumnPair, ...]:
        """Every (left column, right column) pair the levels read."""
        pairs = [
            p for lvl in self.levels for p in level_column_pairs(lvl, main=self.column)
        ]
        nulls = [(c, c) for c in self.null_columns]
        return tuple(dict.fromkeys([(self.column, self.column), *pairs, *nulls]))

    @cached_property  # read per batch of pairs; the dataclass is frozen
    def known_as(self) -> frozenset[ValueKind]:
        """How a value of the own column must read to be known (not the null level).

        :attr:`reads`, less numbers and dates when ``unparsed="text"``.
        """
        reads = self.reads
        if self.unparsed == "text":
            reads = reads - {"number", "date"}
        return reads or frozenset({"text"})

    @property
    def n_levels(self) -> int:
        """Number of non-null levels, the else level included."""
        return len(self.levels) + 1

    @property
    def level_labels(self) -> list[str]:
        """Label of each gamma value 0 .. ``len(levels)`` (else first)."""
        return ["else", *[lvl.label for lvl in reversed(self.levels)]]

    @cached_property  # read per batch of pairs; the dataclass is frozen
    def tf_levels(self) -> tuple[tuple[int, ExactLevel, str], ...]:
        """Each term-frequency adjusted exact level: its gamma, the level, its column.

        A comparison may adjust several exact levels, each by the
        frequencies of the column it compares (a forename-and-surname
        comparison's exact-surname and exact-forename levels).
        """
        n = len(self.levels)
        return tuple(
            (n - i, lvl, lvl.column or self.column)
            for i, lvl in enumerate(self.levels)
            if isinstance(lvl, ExactLevel) and lvl.term_frequency
        )

    @cached_property  # read per batch of pairs; the dataclass is frozen
    def tf_columns(self) -> tuple[str, ...]:
        """The columns whose term frequencies the TF levels read, in level order."""
        return tuple(dict.fromkeys(column for _, _, column in self.tf_levels))

    @property
    def tf_gamma(self) -> int | None:
        """The gamma value of the first term-frequency adjusted exact level, if any."""
        levels = self.tf_levels
        return levels[0][0] if levels else None

    @property
    def tf_level(self) -> ExactLevel | None:
        """The first term-frequency adjusted exact level (the one at :attr:`tf_gamma`)."""
        levels = self.tf_levels
        return levels[0][1] if levels else None

    @cached_property  # read per batch of pairs; the dataclass is frozen
    def similarity_level(self) -> ScoredLevel | None:
        """The first level with a raw similarity on the comparison's own column.

        The one ``sim_<name>`` reports; levels on whole values only (those
        with ``extract`` compare parts).
        """
        for lvl in self.levels:
            if (
                isinstance(lvl, ScoredLevel)
                and getattr(lvl, "column", None) in (None, self.column)
                and getattr(lvl, "extract", None) is None
            ):
                return lvl
        return None

    @property
    def similarity_comparator(self) -> str | None:
        """What the raw similarity is: the string comparator, or the level kind; None if none."""
        lvl = self.similarity_level
        if lvl is None:
            return None
        if isinstance(lvl, (SimilarityLevel, DistanceLevel)):
            return lvl.comparator
        return lvl.kind

    @property
    def tfidf_tokens(self) -> tuple[str, int] | None:
        """The tokens (kind, q) of its TF-IDF levels, whose document frequencies it needs."""
        for lvl in self.levels:
            if isinstance(lvl, TfidfCosineLevel):
                return (lvl.tokens, lvl.q)
        return None

    @cached_property  # read per batch of pairs; the dataclass is frozen
    def reads(self) -> frozenset[ValueKind]:
        """How the levels read the own column (``"text"``, ``"number"``, ``"date"``)."""
        kinds: frozenset[ValueKind] = frozenset()
        for lvl in self.levels:
            kinds |= level_reads(lvl, main=self.column)
        return kinds or frozenset({"text"})

    @property
    def cutoffs(self) -> dict[ColumnPair, tuple[dict[str, float], dict[str, int]]]:
        """Per column pair, the loosest similarity and distance any level asks about.

        Only levels on whole values count, and only float32 similarity
        levels: float64 ones and parts (``extract``) are compared in full.
        """
        out: dict[ColumnPair, tuple[dict[str, float], dict[str, int]]] = {}

        def visit(level: Level) -> None:
            for sub in sub_levels(level):
                visit(sub)
            if (
                isinstance(level, ColumnsReversedLevel)
                and level.comparator
                and level.precision == "float32"
            ):
                a, b = level.columns
                for pair in ((a, b), (b, a)):
                    sims = out.setdefault(pair, ({}, {}))[0]
                    sims[level.comparator] = min(
                        sims.get(level.comparator, 1.0), level.min_similarity
                    )
            if getattr(level, "extract", None) is not None:
                return  # parts are never cut off
            if isinstance(level, SimilarityLevel) and level.precision != "float32":
                return  # float64 similarities are compared in full
            if isinstance(level, (SimilarityLevel, DistanceLevel)):
                column = level.column or self.column
                sims, dists = out.setdefault((column, column), ({}, {}))
                if isinstance(level, SimilarityLevel):
                    sims[level.comparator] = min(
                        sims.get(level.comparator, 1.0), level.min_similarity
                    )
                else:
                    dists[level.comparator] = max(
                        dists.get(level.comparator, 0), level.max_distance
                    )

        for lvl in self.levels:
            visit(lvl)
        return out

    def compare(
        self,
        records: pl.DataFrame,
        rows_l: np.ndarray,
        rows_r: np.ndarray,
        *,
        encoding: RecordEncoding | None = None,
        raw_similarity: bool = True,
        workers: int = -1,
    ) -> dict[str, np.ndarray]:
        """Return gamma (and sim, tf where they apply) arrays for the pairs.

        The polars engine's entry to :func:`~er_toolkit.compare.kernel.compare_encoded`:
        values come from the encoding of the whole records column, so each
        distinct value is encoded once for any number of pair sets.

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
            below the loosest threshold, which is faster (the gamma levels
            are the same).
        workers
            Threads each rapidfuzz call uses; -1 uses every core.

        Returns
        -------
        dict
            ``gamma_<name>`` (int8), and ``sim_<name>`` (float32) where the
            comparison has a string comparator and ``raw_similarity`` is set,
            ``tf_<name>`` (float32) where it has term-frequency adjusted
            exact levels: the left value's frequency in the column of the
            TF level the pair is at (of the first TF level's column for a
            pair at none).
        """
        missing = [c for c in self.columns if c not in records.columns]
        if missing:
            raise SchemaError(
                f"Comparison {self.name!r} needs column(s) {missing}; the records "
                f"have {records.columns}."
            )
        if encoding is None:
            encoding = RecordEncoding(records)
        n_records = records.height

        def encoded(
            left: str, right: str
        ) -> tuple[ColumnEncoding, np.ndarray, np.ndarray]:
            if left == right:
                return (
                    encoding.column(left, date_format=self.date_format),
                    rows_l,
                    rows_r,
                )
            pair = encoding.pair(left, right, date_format=self.date_format)
            return pair, rows_l, rows_r + n_records

        frequencies = {
            column: encoding.column(
                column, date_format=self.date_format
            ).term_frequency[rows_l]
            for column in self.tf_columns
        }
        return compare_encoded(
            self,
            encoded,
            len(rows_l),
            term_frequencies=frequencies or None,
            raw_similarity=raw_similarity,
            workers=workers,
        )

    def to_dict(self) -> dict[str, Any]:
        """Return the declaration as a plain dict (JSON and TOML friendly)."""
        out: dict[str, Any] = {
            "name": self.name,
            "column": self.column,
            "levels": [level_to_dict(lvl) for lvl in self.levels],
        }
        if len(self.columns) > 1:
            out["columns"] = list(self.columns)
        if self.date_format is not None:
            out["date_format"] = self.date_format
        if self.null_columns:
            out["null_columns"] = list(self.null_columns)
        if self.unparsed != "null":
            out["unparsed"] = self.unparsed
        return out

    @classmethod
    def from_dict(cls, spec: dict[str, Any]) -> Comparison:
        """Build a comparison from :meth:`to_dict`'s output or a config table."""
        valid = {
            "name",
            "column",
            "columns",
            "levels",
            "date_format",
            "null_columns",
            "unparsed",
        }
        unknown = sorted(set(spec) - valid)
        if unknown:
            raise ConfigError(
                f"Unknown key(s) {unknown} in a comparison; valid keys are "
                f"{sorted(valid)}."
            )
        missing = [k for k in ("name", "levels") if k not in spec]
        if missing:
            raise ConfigError(f"A comparison needs {missing}; got {sorted(spec)}.")
        columns = spec.get("columns", ())
        if isinstance(columns, str) or not all(isinstance(c, str) for c in columns):
            raise ConfigError(
                f"Comparison {spec['name']!r}: 'columns' must be a list of column "
                f"names; got {columns!r}."
            )
        column = spec.get("column", columns[0] if columns else spec["name"])
        levels = spec["levels"]
        if isinstance(levels, (str, dict)) or not isinstance(levels, (list, tuple)):
            raise ConfigError(
                f"Comparison {spec['name']!r}: 'levels' must be a list of level "
                f"tables; got {type(levels).__name__}."
            )
        return cls(
            name=spec["name"],
            column=column,
            levels=tuple(level_from_dict(lvl) for lvl in levels),
            date_format=spec.get("date_format"),
            columns=tuple(columns),
            null_columns=_names(spec.get("null_columns", ()), spec["name"]),
            unparsed=spec.get("unparsed", "null"),
        )


def _names(value: Any, name: str) -> tuple[str, ...]:
    if isinstance(value, str) or not isinstance(value, (list, tuple)):
        raise ConfigError(
            f"Comparison {name!r}: 'null_columns' must be a list of column names; "
            f"got {value!r}."
        )
    return tuple(value)


def term_frequencies(values: pl.Series) -> np.ndarray:
    """Return each record's value frequency among the non-null values (NaN if null).

    Examples
    --------
    >>> term_frequencies(pl.Series(["a", "a", "b", None])).round(3).tolist()
    [0.667, 0.667, 0.333, nan]
    """
    return ColumnEncoding(values).term_frequency
