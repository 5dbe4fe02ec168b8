"""Comparison levels: small declarations that say when a pair is at a level."""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass
from typing import (
    Any,
    ClassVar,
    Literal,
    Protocol,
    TypeVar,
    get_args,
    runtime_checkable,
)

import numpy as np
import polars as pl

from er_toolkit.compare.comparators import DISTANCE_COMPARATORS, STRING_COMPARATORS
from er_toolkit.compare.pair_values import PairValues, ValueKind
from er_toolkit.exceptions import ConfigError


@runtime_checkable
class Level(Protocol):
    """A comparison level: decides, for every pair, whether it is at this level.

    ``reads`` says how the level reads the values: ``"text"``, ``"number"``
    or ``"date"``. A comparison with a level reading numbers or dates gives
    a pair the null level when either value is not one, whatever its other
    levels (nulls are nulls: an unreadable value is unknown, not a
    disagreement).
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
        Adjust the weight by the value's frequency.
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
    tf_weight: float = 1.0
    tf_min_u: float | None = None
    precision: Precision = "float32"
    extract: str | None = None

    def __post_init__(self) -> None:
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
        return label


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
    precision: Precision = "float32"
    extract: str | None = None

    def __post_init__(self) -> None:
        _check_comparator(self.comparator, STRING_COMPARATORS, "similarity")
        check_range("min_similarity", self.min_similarity, 0.0, 1.0, "similarity")
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
        return f"{self.comparator}{on} >= {self.min_similarity:g}"


@dataclass(frozen=True)
class DistanceLevel:
    """Edit distance at most ``max_distance``."""

    kind: ClassVar[str] = "distance"
    reads: ClassVar[ValueKind] = "text"
    comparator: str = "levenshtein"
    max_distance: int = 1

    def __post_init__(self) -> None:
        _check_comparator(self.comparator, DISTANCE_COMPARATORS, "distance")
        if not isinstance(self.max_distance, int) or self.max_distance < 0:
            raise ConfigError(
                "The 'max_distance' of a distance level must be an int >= 0; got "
                f"{self.max_distance!r}."
            )

    def matches(self, values: PairValues) -> np.ndarray:
        """Return whether each pair's edit distance is within the limit."""
        return values.distance(self.comparator) <= self.max_distance

    def similarity(self, values: PairValues) -> np.ndarray:
        """Return the raw similarity (``sim_``): the comparator's normalised similarity."""
        return values.similarity(self.comparator)

    @property
    def label(self) -> str:
        """Describe the level."""
        return f"{self.comparator} <= {self.max_distance}"


@dataclass(frozen=True)
class NumericDifferenceLevel:
    """Numbers within ``max_difference`` (absolute, or relative to the larger)."""

    kind: ClassVar[str] = "numeric_difference"
    reads: ClassVar[ValueKind] = "number"
    max_difference: float = 0.0
    relative: bool = False

    def __post_init__(self) -> None:
        hi = 1.0 if self.relative else float("inf")
        check_range(
            "max_difference", self.max_difference, 0.0, hi, "numeric_difference"
        )

    def matches(self, values: PairValues) -> np.ndarray:
        """Return whether each pair's numbers are close enough."""
        diff = values.numeric_difference(relative=self.relative)
        return ~values.numeric_null & (diff <= self.max_difference)

    @property
    def label(self) -> str:
        """Describe the level."""
        what = "relative difference" if self.relative else "difference"
        return f"{what} <= {self.max_difference:g}"


@dataclass(frozen=True)
class DateDifferenceLevel:
    """Dates within ``max_days`` of each other."""

    kind: ClassVar[str] = "date_difference"
    reads: ClassVar[ValueKind] = "date"
    max_days: int = 0

    def __post_init__(self) -> None:
        if not isinstance(self.max_days, int) or self.max_days < 0:
            raise ConfigError(
                "The 'max_days' of a date_difference level must be an int >= 0; got "
                f"{self.max_days!r}."
            )

    def matches(self, values: PairValues) -> np.ndarray:
        """Return whether each pair's dates are close enough."""
        return values.date_difference() <= self.max_days

    @property
    def label(self) -> str:
        """Describe the level."""
        return f"within {self.max_days} days"


@dataclass(frozen=True)
class DateSwapLevel:
    """Same year with day and month swapped (03/04 against 04/03)."""

    kind: ClassVar[str] = "date_swap"
    reads: ClassVar[ValueKind] = "date"

    def matches(self, values: PairValues) -> np.ndarray:
        """Return whether each pair's dates have day and month swapped."""
        return values.date_swapped()

    @property
    def label(self) -> str:
        """Describe the level."""
        return "day/month swapped"


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
    kind = getattr(cls, "kind", None)
    if not isinstance(kind, str) or not kind:
        raise ConfigError(
            f"A level class needs a non-empty string 'kind' to be registered; "
            f"{cls.__name__} has {kind!r}."
        )
    if getattr(cls, "reads", None) not in get_args(ValueKind):
        raise ConfigError(
            f"A level class needs 'reads', one of {list(get_args(ValueKind))}; "
            f"{cls.__name__} has {getattr(cls, 'reads', None)!r}."
        )
    held = LEVEL_KINDS.get(kind)
    if held is not None and held is not cls:
        raise ConfigError(
            f"Level kind {kind!r} is already registered to {held.__name__}; choose "
            f"another kind for {cls.__name__}."
        )
    LEVEL_KINDS[kind] = cls
    return cls


def level_to_dict(level: Level) -> dict[str, Any]:
    """Return the declaration of ``level`` as a plain dict.

    Examples
    --------
    >>> level_to_dict(SimilarityLevel(comparator="jaro", min_similarity=0.8))
    {'kind': 'similarity', 'comparator': 'jaro', 'min_similarity': 0.8}
    """
    fields = dataclasses.asdict(level)  # type: ignore[call-overload]
    # options added after model files existed are written only when set, so
    # the declarations of earlier models stay byte for byte what they were
    defaults = {f.name: f.default for f in dataclasses.fields(level)}  # type: ignore[arg-type]
    for name in getattr(level, "omit_defaults", ()):
        if fields.get(name) == defaults.get(name):
            del fields[name]
    return {"kind": level.kind, **fields}


def level_from_dict(spec: dict[str, Any]) -> Level:
    """Build a level from its declaration (the inverse of :func:`level_to_dict`).

    Examples
    --------
    >>> level_from_dict({"kind": "distance", "max_distance": 2})
    DistanceLevel(comparator='levenshtein', max_distance=2)
    """
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
    level: Level = cls(**options)
    return level
