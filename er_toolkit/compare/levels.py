"""Comparison levels: small declarations that say when a pair is at a level."""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass
from typing import Any, ClassVar, Protocol, TypeVar, get_args, runtime_checkable

import numpy as np

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


@dataclass(frozen=True)
class ExactLevel:
    """Both values equal (after trimming); optionally term-frequency adjusted.

    With ``term_frequency=True`` the match weight of an exact agreement uses
    how common the shared value is: agreeing on a rare surname counts more
    than agreeing on a common one.
    """

    kind: ClassVar[str] = "exact"
    reads: ClassVar[ValueKind] = "text"
    term_frequency: bool = False

    def matches(self, values: PairValues) -> np.ndarray:
        """Return whether each pair's values are equal."""
        return values.exact

    @property
    def label(self) -> str:
        """Describe the level."""
        return "exact" + (" (tf)" if self.term_frequency else "")


@dataclass(frozen=True)
class SimilarityLevel:
    """String similarity at or above ``min_similarity``.

    Compared in float32, the precision of the ``sim_`` columns: a pair is at
    the level exactly when its reported similarity reaches the threshold
    (also float32), with or without raw similarities requested.
    """

    kind: ClassVar[str] = "similarity"
    reads: ClassVar[ValueKind] = "text"
    comparator: str = "jaro_winkler"
    min_similarity: float = 0.9

    def __post_init__(self) -> None:
        _check_comparator(self.comparator, STRING_COMPARATORS, "similarity")
        check_range("min_similarity", self.min_similarity, 0.0, 1.0, "similarity")

    def matches(self, values: PairValues) -> np.ndarray:
        """Return whether each pair's similarity reaches the threshold."""
        sim = values.similarity(self.comparator)
        return np.nan_to_num(sim, nan=-1.0) >= np.float32(self.min_similarity)

    def similarity(self, values: PairValues) -> np.ndarray:
        """Return the raw similarity (``sim_``): the comparator's, in [0, 1]."""
        return values.similarity(self.comparator)

    @property
    def label(self) -> str:
        """Describe the level."""
        return f"{self.comparator} >= {self.min_similarity:g}"


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
