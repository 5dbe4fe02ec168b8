"""Comparison levels: small declarations that say when a pair is at a level."""

from __future__ import annotations

import dataclasses
import functools
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import (
    Any,
    ClassVar,
    Final,
    Literal,
    Protocol,
    TypeVar,
    get_args,
    runtime_checkable,
)

import numpy as np
import polars as pl

from er_toolkit.compare.comparators import (
    DISTANCE_COMPARATORS,
    STRING_COMPARATORS,
    initial_codes,
    transliteration_codes,
)
from er_toolkit.compare.pair_values import (
    ColumnPair,
    PairColumns,
    PairValues,
    ValueKind,
)
from er_toolkit.config_values import register_kind
from er_toolkit.exceptions import ConfigError, SchemaError


@runtime_checkable
class Level(Protocol):
    """A comparison level: decides, for every pair, whether it is at this level.

    ``reads`` says how the level reads the values: ``"text"``, ``"number"``
    or ``"date"``. A comparison with a level reading numbers or dates gives
    a pair the null level when either value is not one, whatever its other
    levels (nulls are nulls: an unreadable value is unknown, not a
    disagreement).

    A level reads the comparison's own column unless its ``column`` names
    another of the records' columns; levels over several columns
    (``and``, ``or``, ``not``, ``columns_reversed``, ``contains``) have a
    ``matches_columns(values, main=...)`` method instead, given every column
    pair they read (see :func:`level_matches`).
    """

    kind: ClassVar[str]
    reads: ClassVar[ValueKind]

    def matches(self, values: PairValues) -> np.ndarray:
        """Return a boolean array: is each pair at this level."""
        ...

    @property
    def label(self) -> str:
        """A short human-readable description."""
        ...


def _on(column: str | None, label: str) -> str:
    return label if column is None else f"{column} {label}"


def _check_column(column: object, level: str) -> None:
    if column is not None and (not isinstance(column, str) or not column):
        raise ConfigError(
            f"The 'column' of a {level} level must be a column name (or left out for "
            f"the comparison's own column); got {column!r}."
        )


def _check_comparator(comparator: str, valid: tuple[str, ...], level: str) -> None:
    if comparator not in valid:
        raise ConfigError(
            f"The 'comparator' of a {level} level must be one of {list(valid)}; "
            f"got {comparator!r}."
        )


def check_range(name: str, value: float, lo: float, hi: float, level: str) -> None:
    """Raise a ConfigError unless option ``name`` of a ``level`` level is a number in [lo, hi]."""
    if not isinstance(value, (int, float)) or not lo <= value <= hi:
        raise ConfigError(
            f"The {name!r} of a {level} level must be a number in [{lo}, {hi}]; "
            f"got {value!r}."
        )


Precision = Literal["float32", "float64"]


def _check_precision(precision: str, level: str) -> None:
    if precision not in get_args(Precision):
        raise ConfigError(
            f"The 'precision' of a {level} level must be one of "
            f"{list(get_args(Precision))}; got {precision!r}."
        )


def _check_extract(pattern: str | None, level: str) -> None:
    """Refuse a regex the polars engine cannot compile."""
    if pattern is None:
        return
    if not isinstance(pattern, str) or not pattern:
        raise ConfigError(
            f"The 'extract' of a {level} level must be a regular expression (text); "
            f"got {pattern!r}."
        )
    try:
        pl.Series([""], dtype=pl.String).str.extract(pattern, 0)
    except pl.exceptions.PolarsError as exc:
        raise ConfigError(
            f"The 'extract' of a {level} level is not a valid regular expression: "
            f"{pattern!r} ({exc})."
        ) from exc


@dataclass(frozen=True)
class ExactLevel:
    """Both values equal (after trimming); optionally term-frequency adjusted.

    With ``term_frequency=True`` the match weight of an exact agreement uses
    how common the shared value is: agreeing on a rare surname counts more
    than agreeing on a common one. The level's Bayes factor becomes
    ``m / u * (u / max(f, tf_min_u)) ** tf_weight`` for a value of frequency
    ``f`` (Splink's term-frequency adjustment): with the defaults
    (``tf_weight`` 1, ``tf_min_u`` None, meaning ``1 / n_records`` of the
    fit) that is ``m / max(f, 1 / n_records)``.

    Parameters
    ----------
    term_frequency
        Adjust the weight by the value's frequency (in the level's own
        column: several exact levels of one comparison, on different
        columns, may each be adjusted by theirs).
    column
        The column compared; None: the comparison's own.
    tf_weight
        How much of the adjustment to apply (0 to 1; 1 is all of it).
    tf_min_u
        The smallest frequency used; None: one over the records trained on.
    precision
        Of the term frequencies (the ``tf_`` column): ``"float32"``, or
        ``"float64"`` for weights equal to Splink's to the last bits.
    extract
        A regular expression: compare each value's first match of it
        instead of the whole value; a pair where either value has no (or an
        empty) match is not at this level. The email user name is
        ``"^[^@]+"``.
    """

    kind: ClassVar[str] = "exact"
    reads: ClassVar[ValueKind] = "text"
    omit_defaults: ClassVar[tuple[str, ...]] = (
        "tf_weight",
        "tf_min_u",
        "precision",
        "extract",
    )
    term_frequency: bool = False
    column: str | None = None
    tf_weight: float = 1.0
    tf_min_u: float | None = None
    precision: Precision = "float32"
    extract: str | None = None

    def __post_init__(self) -> None:
        _check_column(self.column, "exact")
        check_range("tf_weight", self.tf_weight, 0.0, 1.0, "exact")
        if self.tf_min_u is not None:
            check_range("tf_min_u", self.tf_min_u, 0.0, 1.0, "exact")
        _check_extract(self.extract, "exact")
        _check_precision(self.precision, "exact")
        if not self.term_frequency and (
            self.tf_weight != 1.0
            or self.tf_min_u is not None
            or self.precision != "float32"
        ):
            raise ConfigError(
                "An exact level's 'tf_weight', 'tf_min_u' and 'precision' apply only "
                "with term_frequency = true; set it, or remove them."
            )
        if self.term_frequency and self.extract is not None:
            raise ConfigError(
                "An exact level with 'extract' compares parts of values, whose "
                "frequencies are not counted: term_frequency must be false."
            )

    def matches(self, values: PairValues) -> np.ndarray:
        """Return whether each pair's values (or extracted parts) are equal."""
        if self.extract is not None:
            return values.part(self.extract).exact
        return values.exact

    @property
    def label(self) -> str:
        """Describe the level."""
        label = "exact" if self.extract is None else f"exact on /{self.extract}/"
        if self.term_frequency:
            label += " (tf)" if self.tf_weight == 1.0 else f" (tf x{self.tf_weight:g})"
        return _on(self.column, label)


@dataclass(frozen=True)
class SimilarityLevel:
    """String similarity at or above ``min_similarity``.

    With ``precision="float32"`` (the default) the similarity is compared in
    float32, the precision of the ``sim_`` columns: a pair is at the level
    exactly when its reported similarity reaches the threshold (also
    float32), with or without raw similarities requested. With
    ``"float64"`` the double-precision similarity, computed as DuckDB
    computes it (see :func:`~er_toolkit.compare.comparators.similarity`), is
    compared with the threshold as written: the levels a SQL engine (Splink)
    gives, pair for pair.

    Parameters
    ----------
    comparator
        One of :data:`~er_toolkit.compare.comparators.STRING_COMPARATORS`.
    min_similarity
        The threshold, in [0, 1].
    precision
        ``"float32"`` or ``"float64"``.
    extract
        A regular expression: compare each value's first match of it (see
        :class:`ExactLevel`); a pair where either has none is not at this
        level.
    """

    kind: ClassVar[str] = "similarity"
    reads: ClassVar[ValueKind] = "text"
    omit_defaults: ClassVar[tuple[str, ...]] = ("precision", "extract")
    comparator: str = "jaro_winkler"
    min_similarity: float = 0.9
    column: str | None = None
    precision: Precision = "float32"
    extract: str | None = None

    def __post_init__(self) -> None:
        _check_comparator(self.comparator, STRING_COMPARATORS, "similarity")
        check_range("min_similarity", self.min_similarity, 0.0, 1.0, "similarity")
        _check_column(self.column, "similarity")
        _check_precision(self.precision, "similarity")
        _check_extract(self.extract, "similarity")

    def matches(self, values: PairValues) -> np.ndarray:
        """Return whether each pair's similarity reaches the threshold."""
        if self.extract is not None:
            values = values.part(self.extract)
        if self.precision == "float64":
            sim64 = values.similarity(self.comparator, precise=True)
            return np.nan_to_num(sim64, nan=-1.0) >= self.min_similarity
        sim = values.similarity(self.comparator)
        return np.nan_to_num(sim, nan=-1.0) >= np.float32(self.min_similarity)

    def similarity(self, values: PairValues) -> np.ndarray:
        """Return the raw similarity (``sim_``): the comparator's, in [0, 1]."""
        return values.similarity(self.comparator)

    @property
    def label(self) -> str:
        """Describe the level."""
        on = "" if self.extract is None else f" on /{self.extract}/"
        return _on(self.column, f"{self.comparator}{on} >= {self.min_similarity:g}")


@dataclass(frozen=True)
class DistanceLevel:
    """Edit distance at most ``max_distance``."""

    kind: ClassVar[str] = "distance"
    reads: ClassVar[ValueKind] = "text"
    comparator: str = "levenshtein"
    max_distance: int = 1
    column: str | None = None

    def __post_init__(self) -> None:
        _check_comparator(self.comparator, DISTANCE_COMPARATORS, "distance")
        if not isinstance(self.max_distance, int) or self.max_distance < 0:
            raise ConfigError(
                "The 'max_distance' of a distance level must be an int >= 0; got "
                f"{self.max_distance!r}."
            )
        _check_column(self.column, "distance")

    def matches(self, values: PairValues) -> np.ndarray:
        """Return whether each pair's edit distance is within the limit."""
        return values.distance(self.comparator) <= self.max_distance

    def similarity(self, values: PairValues) -> np.ndarray:
        """Return the raw similarity (``sim_``): the comparator's normalised similarity."""
        return values.similarity(self.comparator)

    @property
    def label(self) -> str:
        """Describe the level."""
        return _on(self.column, f"{self.comparator} <= {self.max_distance}")


@dataclass(frozen=True)
class NumericDifferenceLevel:
    """Numbers within ``max_difference`` (absolute, or relative to the larger)."""

    kind: ClassVar[str] = "numeric_difference"
    reads: ClassVar[ValueKind] = "number"
    max_difference: float = 0.0
    relative: bool = False
    column: str | None = None

    def __post_init__(self) -> None:
        hi = 1.0 if self.relative else float("inf")
        check_range(
            "max_difference", self.max_difference, 0.0, hi, "numeric_difference"
        )
        _check_column(self.column, "numeric_difference")

    def matches(self, values: PairValues) -> np.ndarray:
        """Return whether each pair's numbers are close enough."""
        diff = values.numeric_difference(relative=self.relative)
        return ~values.numeric_null & (diff <= self.max_difference)

    @property
    def label(self) -> str:
        """Describe the level."""
        what = "relative difference" if self.relative else "difference"
        return _on(self.column, f"{what} <= {self.max_difference:g}")


@dataclass(frozen=True)
class DateDifferenceLevel:
    """Dates within ``max_days`` of each other."""

    kind: ClassVar[str] = "date_difference"
    reads: ClassVar[ValueKind] = "date"
    max_days: int = 0
    column: str | None = None

    def __post_init__(self) -> None:
        if not isinstance(self.max_days, int) or self.max_days < 0:
            raise ConfigError(
                "The 'max_days' of a date_difference level must be an int >= 0; got "
                f"{self.max_days!r}."
            )
        _check_column(self.column, "date_difference")

    def matches(self, values: PairValues) -> np.ndarray:
        """Return whether each pair's dates are close enough."""
        return values.date_difference() <= self.max_days

    @property
    def label(self) -> str:
        """Describe the level."""
        return _on(self.column, f"within {self.max_days} days")


@dataclass(frozen=True)
class DateSwapLevel:
    """Same year with day and month swapped (03/04 against 04/03)."""

    kind: ClassVar[str] = "date_swap"
    reads: ClassVar[ValueKind] = "date"
    column: str | None = None

    def __post_init__(self) -> None:
        _check_column(self.column, "date_swap")

    def matches(self, values: PairValues) -> np.ndarray:
        """Return whether each pair's dates have day and month swapped."""
        return values.date_swapped()

    @property
    def label(self) -> str:
        """Describe the level."""
        return _on(self.column, "day/month swapped")


@dataclass(frozen=True)
class YearTypoLevel:
    """Years one typo apart, month and day within ``max_days``.

    One digit of the year mistyped (1973 / 1983) or two adjacent digits
    swapped (1975 / 1957), the rest of the date equal or close: the right
    date moved into the left one's year is within ``max_days`` days of it
    (``max_days = 0``: same month and day). A mistyped year is otherwise
    years apart, where a ``date_difference`` level says little.

    Examples
    --------
    >>> from er_toolkit.compare import Comparison, compare_batch
    >>> dob = Comparison("dob", "dob", (YearTypoLevel(max_days=31),))
    >>> out = compare_batch(
    ...     [dob],
    ...     {"dob": ["1973-10-27", "1975-01-02", "1973-10-27", "1973-10-27"]},
    ...     {"dob": ["1983-11-24", "1957-01-02", "1993-12-27", "1984-10-27"]},
    ... )
    >>> out["gamma_dob"].tolist()
    [1, 1, 0, 0]
    """

    kind: ClassVar[str] = "year_typo"
    reads: ClassVar[ValueKind] = "date"
    max_days: int = 0
    column: str | None = None

    def __post_init__(self) -> None:
        if (
            isinstance(self.max_days, bool)
            or not isinstance(self.max_days, int)
            or self.max_days < 0
        ):
            raise ConfigError(
                "The 'max_days' of a year_typo level must be an int >= 0; got "
                f"{self.max_days!r}."
            )
        _check_column(self.column, "year_typo")

    def matches(self, values: PairValues) -> np.ndarray:
        """Return whether each pair's years are one typo apart and the rest close."""
        return values.year_typo_difference() <= self.max_days

    @property
    def label(self) -> str:
        """Describe the level."""
        return _on(self.column, f"year typo, within {self.max_days} days")


@dataclass(frozen=True)
class InitialLevel:
    """One value is the initial of the other ("J" or "J." against "John")."""

    kind: ClassVar[str] = "initial"
    reads: ClassVar[ValueKind] = "text"
    column: str | None = None

    def __post_init__(self) -> None:
        _check_column(self.column, "initial")

    def matches(self, values: PairValues) -> np.ndarray:
        """Return whether one side of each pair is an initial of the other."""
        (init_l, first_l), (init_r, first_r) = (
            side.T for side in values.per_value("initial", initial_codes)
        )
        agree = ((init_l >= 0) & (init_l == first_r)) | (
            (init_r >= 0) & (init_r == first_l)
        )
        return agree & ~values.null

    @property
    def label(self) -> str:
        """Describe the level."""
        return _on(self.column, "initial")


@dataclass(frozen=True)
class TransliteratedLevel:
    """The values agree once transliterated: Müller, Mueller and MULLER.

    Compares :func:`~er_toolkit.compare.comparators.transliteration_key`
    of both values: accents dropped and the ASCII digraphs for them
    (``ue``, ``oe``, ``ae``, ``ss``, ``ij``) folded.
    """

    kind: ClassVar[str] = "transliterated"
    reads: ClassVar[ValueKind] = "text"
    column: str | None = None

    def __post_init__(self) -> None:
        _check_column(self.column, "transliterated")

    def matches(self, values: PairValues) -> np.ndarray:
        """Return whether each pair's transliteration keys agree."""
        left, right = values.per_value("transliteration", transliteration_codes)
        return (left == right) & (left >= 0) & ~values.null

    @property
    def label(self) -> str:
        """Describe the level."""
        return _on(self.column, "transliterated")


def _is_level(value: Any) -> bool:
    return dataclasses.is_dataclass(value) and isinstance(
        getattr(value, "kind", None), str
    )


def _nested(spec: Any, where: str) -> Level:
    if isinstance(spec, Mapping):
        return level_from_dict(spec)
    if _is_level(spec):
        level: Level = spec
        return level
    raise ConfigError(
        f"The {where} of a composite level must be level tables ({{kind = ...}}); "
        f"got {type(spec).__name__}."
    )


def _parse_levels(levels: Any, kind: str) -> tuple[Level, ...]:
    if isinstance(levels, (Mapping, str)) or not isinstance(levels, Sequence):
        raise ConfigError(
            f"The 'levels' of an {kind!r} level must be a list of level tables; got "
            f"{type(levels).__name__}."
        )
    parsed = tuple(_nested(lvl, "'levels'") for lvl in levels)
    if not parsed:
        raise ConfigError(f"An {kind!r} level needs at least one level; got none.")
    return parsed


class _OneColumn:
    """:class:`PairColumns` of one column's values: composites on that column alone."""

    def __init__(self, values: PairValues) -> None:
        self.values = values
        self.size = len(values.rows_l)

    def get(self, left: str, right: str | None = None) -> PairValues:
        if left != _MAIN or (right is not None and right != _MAIN):
            raise SchemaError(
                "This level reads other columns than the comparison's own; evaluate "
                "it with level_matches and the PairColumns of every column it reads."
            )
        return self.values


_MAIN: Final = "\x00main"


def _on_one_column(level: Any, values: PairValues) -> np.ndarray:
    return level_matches(level, _OneColumn(values), main=_MAIN)  # type: ignore[arg-type]


@dataclass(frozen=True)
class AndLevel:
    """Every one of ``levels`` holds: a conjunction, possibly over several columns.

    ``{kind = "and", levels = [{kind = "exact", column = "surname"},
    {kind = "exact", column = "postcode"}]}`` is one piece of evidence
    ("same surname at the same postcode") where two comparisons would count
    the household's shared surname and postcode as two.
    """

    kind: ClassVar[str] = "and"
    reads: ClassVar[ValueKind] = "text"
    levels: tuple[Level, ...] = ()

    def __post_init__(self) -> None:
        object.__setattr__(self, "levels", _parse_levels(self.levels, self.kind))

    def matches(self, values: PairValues) -> np.ndarray:
        """Return whether each pair is at the level, all of it on one column."""
        return _on_one_column(self, values)

    def matches_columns(self, values: PairColumns, *, main: str) -> np.ndarray:
        """Return whether each pair is at every one of the levels."""
        out = np.ones(values.size, dtype=bool)
        for level in self.levels:
            out &= level_matches(level, values, main=main)
        return out

    @property
    def label(self) -> str:
        """Describe the level."""
        return " & ".join(f"({lvl.label})" for lvl in self.levels)


@dataclass(frozen=True)
class OrLevel:
    """Any one of ``levels`` holds."""

    kind: ClassVar[str] = "or"
    reads: ClassVar[ValueKind] = "text"
    levels: tuple[Level, ...] = ()

    def __post_init__(self) -> None:
        object.__setattr__(self, "levels", _parse_levels(self.levels, self.kind))

    def matches(self, values: PairValues) -> np.ndarray:
        """Return whether each pair is at the level, all of it on one column."""
        return _on_one_column(self, values)

    def matches_columns(self, values: PairColumns, *, main: str) -> np.ndarray:
        """Return whether each pair is at any of the levels."""
        out = np.zeros(values.size, dtype=bool)
        for level in self.levels:
            out |= level_matches(level, values, main=main)
        return out

    @property
    def label(self) -> str:
        """Describe the level."""
        return " | ".join(f"({lvl.label})" for lvl in self.levels)


@dataclass(frozen=True)
class NotLevel:
    """``level`` does not hold (a null counts as not holding, so its negation holds).

    With :class:`AndLevel` it states conditions such as "the same date of
    birth but another first name"; wrap the negated level in an ``and`` with
    an exact level on its column to leave nulls out.
    """

    kind: ClassVar[str] = "not"
    reads: ClassVar[ValueKind] = "text"
    level: Level = None  # type: ignore[assignment]

    def __post_init__(self) -> None:
        if self.level is None:
            raise ConfigError("A 'not' level needs a 'level' to negate; got none.")
        object.__setattr__(self, "level", _nested(self.level, "'level'"))

    def matches(self, values: PairValues) -> np.ndarray:
        """Return whether each pair is at the level, all of it on one column."""
        return _on_one_column(self, values)

    def matches_columns(self, values: PairColumns, *, main: str) -> np.ndarray:
        """Return whether each pair is not at the level."""
        return ~level_matches(self.level, values, main=main)

    @property
    def label(self) -> str:
        """Describe the level."""
        return f"not ({self.level.label})"


def _two_columns(columns: Any, level: str) -> tuple[str, str]:
    if (
        isinstance(columns, str)
        or not isinstance(columns, Sequence)
        or len(columns) != 2
        or not all(isinstance(c, str) and c for c in columns)
        or columns[0] == columns[1]
    ):
        raise ConfigError(
            f"The 'columns' of a {level} level must be two different column names; "
            f"got {columns!r}."
        )
    return (columns[0], columns[1])


@dataclass(frozen=True)
class ColumnsReversedLevel:
    """Two columns swapped between the records: first name and surname transposed.

    The left record's ``columns[0]`` against the right one's ``columns[1]``
    and the other way round, each exact, or with ``comparator`` at or above
    ``min_similarity`` (compared in float32, or with ``precision="float64"``
    as DuckDB computes it, as :class:`SimilarityLevel` does).
    """

    kind: ClassVar[str] = "columns_reversed"
    reads: ClassVar[ValueKind] = "text"
    omit_defaults: ClassVar[tuple[str, ...]] = ("precision",)
    columns: tuple[str, str] = ("", "")
    comparator: str | None = None
    min_similarity: float = 0.9
    precision: Precision = "float32"

    def __post_init__(self) -> None:
        object.__setattr__(
            self, "columns", _two_columns(self.columns, "columns_reversed")
        )
        _check_precision(self.precision, "columns_reversed")
        if self.comparator is not None:
            _check_comparator(self.comparator, STRING_COMPARATORS, "columns_reversed")
            check_range(
                "min_similarity", self.min_similarity, 0.0, 1.0, "columns_reversed"
            )
        elif self.precision != "float32":
            raise ConfigError(
                "A columns_reversed level's 'precision' applies only with a "
                "'comparator'; set one, or remove it."
            )

    def _agree(self, values: PairValues) -> np.ndarray:
        if self.comparator is None:
            return values.exact
        if self.precision == "float64":
            sim64 = values.similarity(self.comparator, precise=True)
            return np.nan_to_num(sim64, nan=-1.0) >= self.min_similarity
        sim = values.similarity(self.comparator)
        return np.nan_to_num(sim, nan=-1.0) >= np.float32(self.min_similarity)

    def matches_columns(self, values: PairColumns, *, main: str) -> np.ndarray:
        """Return whether each pair's two columns agree crosswise."""
        a, b = self.columns
        return self._agree(values.get(a, b)) & self._agree(values.get(b, a))

    @property
    def label(self) -> str:
        """Describe the level."""
        how = (
            "exact"
            if self.comparator is None
            else f"{self.comparator} >= {self.min_similarity:g}"
        )
        return f"{self.columns[0]}/{self.columns[1]} reversed ({how})"


ContainsMode = Literal["tokens", "substring", "token_share"]
CONTAINS_MODES: Final[tuple[ContainsMode, ...]] = ("tokens", "substring", "token_share")
_NOT_ALPHANUMERIC: Final = r"[^\p{L}\p{N}]"


def _contained(
    needles: np.ndarray,
    hays: np.ndarray,
    *,
    mode: str,
    min_length: int,
    min_share: float = 1.0,
    squash: bool = False,
) -> np.ndarray:
    """Whether each needle is in its hay (all its words, as a substring, or a share of its words)."""
    frame = pl.DataFrame(
        {"n": list(needles), "h": list(hays)}, schema={"n": pl.String, "h": pl.String}
    )
    if squash:
        frame = frame.with_columns(
            pl.col("h").str.replace_all(_NOT_ALPHANUMERIC, ""),
            pl.col("n").str.replace_all(r"[^\p{L}\p{N} ]", ""),
        )
    if mode == "token_share":
        words = (
            frame.with_row_index("i")
            .with_columns(pl.col("n").str.split(" "))
            .explode("n")
            .filter(pl.col("n").str.len_chars() >= min_length)
        )
        share = words.group_by("i").agg(
            pl.col("h").str.contains(pl.col("n"), literal=True).mean().alias("share")
        )
        found = np.zeros(frame.height, dtype=bool)
        hit = share.filter(pl.col("share") >= min_share).get_column("i").to_numpy()
        found[hit] = True
        return found
    if mode == "substring":
        found_expr = pl.col("h").str.contains(pl.col("n"), literal=True)
        long_enough = pl.col("n").str.len_chars() >= min_length
    else:
        words_n = (
            pl.col("n")
            .str.split(" ")
            .list.eval(pl.element().filter(pl.element() != ""))
        )
        words_h = (
            pl.col("h")
            .str.split(" ")
            .list.eval(pl.element().filter(pl.element() != ""))
        )
        found_expr = (words_n.list.set_difference(words_h).list.len() == 0) & (
            words_n.list.len() > 0
        )
        long_enough = words_n.list.eval(pl.element().str.len_chars()).list.max() >= (
            min_length
        )
    out = frame.select((found_expr & long_enough).fill_null(False)).to_series()
    return out.to_numpy()


@dataclass(frozen=True)
class ContainsLevel:
    """One record's ``column`` inside the other record's ``other`` column.

    A model number in one source's ``model`` column found in the other
    source's ``title``, in either direction: every word of it among the
    other column's words (``mode="tokens"``), as a substring
    (``"substring"``), or at least ``min_share`` of its words (those of
    ``min_length`` characters or more) each a substring of the other column
    (``"token_share"``: a list of part codes, some of which the other
    listing names). Needles shorter than ``min_length`` characters (their
    longest word, with tokens) never count, so a stray "a" finds nothing.
    With ``squash`` every character but letters and digits is removed first
    (from the words of the needle and the whole of the other column), so
    that ``"p502025"`` is found in ``"video cable p502 025"`` and
    ``"kx-tg1034s"`` in ``"kx tg1034s"``.

    Examples
    --------
    >>> from er_toolkit.compare import Comparison, compare_pairs
    >>> records = pl.DataFrame({"_row": [0, 1], "codes": ["p502025 hd15m", None],
    ...     "name": ["tripp lite monitor cable", "tripp lite video cable p502 025"]})
    >>> pairs = pl.DataFrame({"_row_l": [0], "_row_r": [1]})
    >>> level = ContainsLevel(other="name", column="codes", mode="token_share",
    ...                       min_share=0.5, squash=True)
    >>> comparison = Comparison("codes_in_name", "name", (level,))
    >>> compare_pairs(records, pairs, [comparison])["gamma_codes_in_name"].to_list()
    [1]
    """

    kind: ClassVar[str] = "contains"
    reads: ClassVar[ValueKind] = "text"
    omit_defaults: ClassVar[tuple[str, ...]] = ("min_share", "squash")
    other: str = ""
    column: str | None = None
    mode: ContainsMode = "tokens"
    min_length: int = 3
    min_share: float = 1.0
    squash: bool = False

    def __post_init__(self) -> None:
        _check_column(self.column, "contains")
        if not isinstance(self.other, str) or not self.other:
            raise ConfigError(
                "The 'other' of a contains level must be the column searched; got "
                f"{self.other!r}."
            )
        if self.mode not in CONTAINS_MODES:
            raise ConfigError(
                "The 'mode' of a contains level must be one of "
                f"{list(CONTAINS_MODES)}; got {self.mode!r}."
            )
        if (
            isinstance(self.min_length, bool)
            or not isinstance(self.min_length, int)
            or self.min_length < 1
        ):
            raise ConfigError(
                "The 'min_length' of a contains level must be an int >= 1; got "
                f"{self.min_length!r}."
            )
        if self.mode == "token_share":
            if self.min_share == 0:
                raise ConfigError(
                    "The 'min_share' of a contains level must be in (0, 1]; got 0 "
                    "(every pair would hold)."
                )
            check_range("min_share", self.min_share, 0.0, 1.0, "contains")
        elif self.min_share != 1.0:
            raise ConfigError(
                "A contains level's 'min_share' applies only with mode = "
                f"'token_share'; got mode {self.mode!r} and min_share "
                f"{self.min_share!r}."
            )
        if not isinstance(self.squash, bool):
            raise ConfigError(
                "The 'squash' of a contains level must be true or false; got "
                f"{self.squash!r}."
            )

    def matches_columns(self, values: PairColumns, *, main: str) -> np.ndarray:
        """Return whether either record's column is inside the other's ``other``."""
        column = self.column or main
        find = functools.partial(
            _contained,
            mode=self.mode,
            min_length=self.min_length,
            min_share=self.min_share,
            squash=self.squash,
        )

        def left_in_right(left: np.ndarray, right: np.ndarray) -> np.ndarray:
            return find(left, right)

        def right_in_left(left: np.ndarray, right: np.ndarray) -> np.ndarray:
            return find(right, left)

        forward = values.get(column, self.other).compute(left_in_right)
        backward = values.get(self.other, column).compute(right_in_left)
        return forward | backward

    @property
    def label(self) -> str:
        """Describe the level."""
        how: str = self.mode
        if self.mode == "token_share":
            how = f"share of words >= {self.min_share:g}"
        if self.squash:
            how += ", letters and digits only"
        return _on(self.column, f"inside the other's {self.other} ({how})")


@runtime_checkable
class ScoredLevel(Level, Protocol):
    """A level with a raw similarity, reported as ``sim_<comparison>``.

    A comparison reports the raw similarity of its first scored level; a
    classifier reads it as a feature.
    """

    def similarity(self, values: PairValues) -> np.ndarray:
        """Return each pair's similarity (float32; NaN where a side is null)."""
        ...


LEVEL_KINDS: dict[str, type[Any]] = {
    cls.kind: cls
    for cls in (
        ExactLevel,
        SimilarityLevel,
        DistanceLevel,
        NumericDifferenceLevel,
        DateDifferenceLevel,
        DateSwapLevel,
        YearTypoLevel,
        InitialLevel,
        TransliteratedLevel,
        AndLevel,
        OrLevel,
        NotLevel,
        ColumnsReversedLevel,
        ContainsLevel,
    )
}
"""Every level kind a comparison can name, by its ``kind``."""

_L = TypeVar("_L", bound=type[Any])


def register_level(cls: _L) -> _L:
    """Register a level class under its ``kind`` (usable as a decorator).

    Raises
    ------
    ConfigError
        When ``cls`` has no string ``kind`` or ``reads``, or another class
        holds the kind.
    """
    if getattr(cls, "reads", None) not in get_args(ValueKind):
        raise ConfigError(
            f"A level class needs 'reads', one of {list(get_args(ValueKind))}; "
            f"{cls.__name__} has {getattr(cls, 'reads', None)!r}."
        )
    register_kind(LEVEL_KINDS, cls, what="level")
    return cls


_COMPOSITES: Final = (AndLevel, OrLevel, NotLevel)


def sub_levels(level: Level) -> tuple[Level, ...]:
    """Return the levels a composite level (``and``, ``or``, ``not``) combines."""
    if isinstance(level, (AndLevel, OrLevel)):
        return level.levels
    if isinstance(level, NotLevel):
        return (level.level,)
    return ()


def level_column_pairs(level: Level, *, main: str) -> tuple[ColumnPair, ...]:
    """Return the (left column, right column) pairs ``level`` reads.

    ``main`` is the comparison's own column, read by levels that name none.

    Examples
    --------
    >>> level_column_pairs(ExactLevel(column="dob"), main="name")
    (('dob', 'dob'),)
    >>> level_column_pairs(ColumnsReversedLevel(columns=("f", "s")), main="f")
    (('f', 's'), ('s', 'f'))
    """
    if isinstance(level, _COMPOSITES):
        pairs = [
            p for sub in sub_levels(level) for p in level_column_pairs(sub, main=main)
        ]
        return tuple(dict.fromkeys(pairs))
    if isinstance(level, ColumnsReversedLevel):
        a, b = level.columns
        return ((a, b), (b, a))
    column = getattr(level, "column", None) or main
    if isinstance(level, ContainsLevel):
        return ((column, level.other), (level.other, column))
    return ((column, column),)


def level_reads(level: Level, *, main: str) -> frozenset[ValueKind]:
    """Return how ``level`` reads the comparison's own column ``main``.

    Only levels on ``main`` count: the comparison's null level (and which
    values read as numbers or dates) is about its own column.
    """
    if isinstance(level, _COMPOSITES):
        return frozenset().union(
            *(level_reads(s, main=main) for s in sub_levels(level))
        )
    if isinstance(level, (ColumnsReversedLevel, ContainsLevel)):
        return frozenset()
    column = getattr(level, "column", None) or main
    return frozenset({level.reads}) if column == main else frozenset()


def level_matches(level: Level, values: PairColumns, *, main: str) -> np.ndarray:
    """Return whether each pair is at ``level``, reading the columns it names.

    The one place levels are evaluated: a level of one column gets that
    column's :class:`~er_toolkit.compare.pair_values.PairValues` (its own
    ``column``, or the comparison's ``main``); a level of several columns
    gets them all.
    """
    several = getattr(level, "matches_columns", None)
    if several is not None:
        hit: np.ndarray = several(values, main=main)
        return hit
    column = getattr(level, "column", None) or main
    return level.matches(values.get(column))


def exact_columns(level: Level, *, main: str) -> tuple[str, ...] | None:
    """Return the columns ``level`` asks to be equal, when that is all it asks.

    An exact level, or an ``and`` of exact levels: u of such a level is a
    share of value-count products, computed exactly rather than sampled.

    Examples
    --------
    >>> exact_columns(AndLevel(levels=(ExactLevel(column="a"), ExactLevel())), main="m")
    ('a', 'm')
    >>> exact_columns(SimilarityLevel(), main="m") is None
    True
    """
    if isinstance(level, ExactLevel):
        return (level.column or main,)
    if isinstance(level, AndLevel):
        columns: list[str] = []
        for sub in level.levels:
            found = exact_columns(sub, main=main)
            if found is None:
                return None
            columns += found
        return tuple(dict.fromkeys(columns))
    return None


def level_to_dict(level: Level) -> dict[str, Any]:
    """Return the declaration of ``level`` as a plain dict.

    Options left at None (a level on the comparison's own column) are left
    out; composite levels write their levels as nested declarations.

    Examples
    --------
    >>> level_to_dict(SimilarityLevel(comparator="jaro", min_similarity=0.8))
    {'kind': 'similarity', 'comparator': 'jaro', 'min_similarity': 0.8}
    >>> level_to_dict(NotLevel(ExactLevel(column="dob")))
    {'kind': 'not', 'level': {'kind': 'exact', 'term_frequency': False, 'column': 'dob'}}
    """
    out: dict[str, Any] = {"kind": level.kind}
    # options added after model files existed are written only when set, so
    # the declarations of earlier models stay what they were
    omit = set(getattr(level, "omit_defaults", ()))
    for field in dataclasses.fields(level):  # type: ignore[arg-type]
        value = getattr(level, field.name)
        if value is None or (field.name in omit and value == field.default):
            continue
        if isinstance(value, tuple) and value and _is_level(value[0]):
            value = [level_to_dict(v) for v in value]
        elif _is_level(value):
            value = level_to_dict(value)
        elif isinstance(value, tuple):
            value = list(value)
        out[field.name] = value
    return out


def level_from_dict(spec: Mapping[str, Any]) -> Level:
    """Build a level from its declaration (the inverse of :func:`level_to_dict`).

    Examples
    --------
    >>> level_from_dict({"kind": "distance", "max_distance": 2})
    DistanceLevel(comparator='levenshtein', max_distance=2, column=None)
    """
    if not isinstance(spec, Mapping):
        raise ConfigError(
            f"A comparison level must be a table with a 'kind'; got "
            f"{type(spec).__name__}."
        )
    options = dict(spec)
    kind = options.pop("kind", None)
    if kind not in LEVEL_KINDS:
        raise ConfigError(
            f"A comparison level's 'kind' must be one of {sorted(LEVEL_KINDS)}; "
            f"got {kind!r}."
        )
    cls = LEVEL_KINDS[kind]
    valid = {f.name for f in dataclasses.fields(cls)}
    unknown = sorted(set(options) - valid)
    if unknown:
        raise ConfigError(
            f"Unknown option(s) {unknown} for a {kind!r} level; valid options are "
            f"{sorted(valid)}."
        )
    if "levels" in options and isinstance(options["levels"], list):
        options["levels"] = tuple(options["levels"])
    if "columns" in options and isinstance(options["columns"], list):
        options["columns"] = tuple(options["columns"])
    level: Level = cls(**options)
    return level
