"""Levels over text: TF-IDF cosine, item-set overlap, numbers in text, geographic distance."""

from __future__ import annotations

from dataclasses import dataclass
from typing import ClassVar

import numpy as np

from er_toolkit.compare import text_values
from er_toolkit.compare.levels import check_range, register_level
from er_toolkit.compare.pair_values import PairValues, ValueKind
from er_toolkit.compare.text_values import SET_MEASURES, SetMeasure
from er_toolkit.exceptions import ConfigError
from er_toolkit.tokens import TokenKind, check_tokens


def _reaches(sim: np.ndarray, min_similarity: float) -> np.ndarray:
    return np.nan_to_num(sim, nan=-1.0) >= np.float32(min_similarity)


def _check_measure(measure: object, level: str) -> None:
    if measure not in SET_MEASURES:
        raise ConfigError(
            f"The 'measure' of a {level} level must be one of {list(SET_MEASURES)}; "
            f"got {measure!r}."
        )


@register_level
@dataclass(frozen=True)
class TfidfCosineLevel:
    """Cosine similarity of the values' TF-IDF token vectors at or above ``min_similarity``.

    Tokens shared by few records weigh more than common ones (``"inc"``,
    ``"the"``, a brand on every product), so long texts that share their
    rare words score high. The inverse document frequency is
    ``ln((1 + N) / (1 + df)) + 1`` over the whole records column: the
    polars engine counts it from the column it encodes; an engine comparing
    one batch at a time passes :func:`~er_toolkit.compare.document_frequencies`
    of the whole column to :func:`~er_toolkit.compare.compare_batch`.
    Its raw similarity is the cosine.

    Parameters
    ----------
    min_similarity
        The cosine a pair needs, in [0, 1].
    tokens, q
        Word tokens or q-grams of length ``q`` (see
        :func:`~er_toolkit.tokens.explode_tokens`). Every TF-IDF level of
        one comparison must use the same tokens.
    """

    kind: ClassVar[str] = "tfidf_cosine"
    reads: ClassVar[ValueKind] = "text"
    min_similarity: float = 0.5
    tokens: TokenKind = "word"
    q: int = 3

    def __post_init__(self) -> None:
        check_range("min_similarity", self.min_similarity, 0.0, 1.0, "tfidf_cosine")
        check_tokens(self.tokens, self.q, "a tfidf_cosine level")

    def similarity(self, values: PairValues) -> np.ndarray:
        """Return the TF-IDF cosine per pair (1 for equal values, NaN for null)."""
        return text_values.tfidf_cosine(values, self.tokens, self.q)

    def matches(self, values: PairValues) -> np.ndarray:
        """Return whether each pair's cosine reaches the threshold."""
        return _reaches(self.similarity(values), self.min_similarity)

    @property
    def label(self) -> str:
        """Describe the level."""
        what = "" if self.tokens == "word" else f" ({self.q}-grams)"
        return f"tf-idf cosine{what} >= {self.min_similarity:g}"


@register_level
@dataclass(frozen=True)
class SetOverlapLevel:
    """The values as sets of items split at ``separator``, overlapping at least ``min_similarity``.

    For lists held in one text field: ``"tv, audio; hdmi"`` split at ``","``
    (items trimmed, blank items dropped, case kept; standardise first to
    fold case). ``measure`` is the Jaccard coefficient (shared over all
    items), the overlap coefficient (shared over the smaller set's items)
    or Dice's (twice the shared over the sum of both sizes). Its raw
    similarity is that coefficient.
    """

    kind: ClassVar[str] = "set_overlap"
    reads: ClassVar[ValueKind] = "text"
    separator: str = ","
    measure: SetMeasure = "jaccard"
    min_similarity: float = 0.5

    def __post_init__(self) -> None:
        if not isinstance(self.separator, str) or not self.separator:
            raise ConfigError(
                "The 'separator' of a set_overlap level must be non-empty text; got "
                f"{self.separator!r}."
            )
        _check_measure(self.measure, "set_overlap")
        check_range("min_similarity", self.min_similarity, 0.0, 1.0, "set_overlap")

    def similarity(self, values: PairValues) -> np.ndarray:
        """Return the set coefficient per pair (NaN for null)."""
        return text_values.item_set_similarity(values, self.separator, self.measure)

    def matches(self, values: PairValues) -> np.ndarray:
        """Return whether each pair's sets overlap enough."""
        return _reaches(self.similarity(values), self.min_similarity)

    @property
    def label(self) -> str:
        """Describe the level."""
        return f"{self.measure} of {self.separator!r}-items >= {self.min_similarity:g}"


@register_level
@dataclass(frozen=True)
class NumberSetLevel:
    """The numbers in the two texts, as sets, overlapping at least ``min_similarity``.

    Numbers are runs of digits with an optional decimal part (``"DSC-W55
    7.2MP"`` holds 55 and 7.2); ``"05"`` and ``"5.0"`` are the same number.
    The comparison reads ``"numbers_in_text"``: a value holding no number
    is null (unknown), not a disagreement, for every level of the
    comparison. Its raw similarity is the coefficient.
    """

    kind: ClassVar[str] = "number_set"
    reads: ClassVar[ValueKind] = "numbers_in_text"
    measure: SetMeasure = "jaccard"
    min_similarity: float = 1.0

    def __post_init__(self) -> None:
        _check_measure(self.measure, "number_set")
        check_range("min_similarity", self.min_similarity, 0.0, 1.0, "number_set")

    def similarity(self, values: PairValues) -> np.ndarray:
        """Return the coefficient of the number sets per pair (NaN without numbers)."""
        return text_values.number_set_similarity(values, self.measure)

    def matches(self, values: PairValues) -> np.ndarray:
        """Return whether each pair's number sets overlap enough."""
        return _reaches(self.similarity(values), self.min_similarity)

    @property
    def label(self) -> str:
        """Describe the level."""
        if self.min_similarity == 1.0:
            return "same numbers"
        return f"numbers {self.measure} >= {self.min_similarity:g}"


@register_level
@dataclass(frozen=True)
class FirstNumberLevel:
    """The first number of each text within ``max_difference`` (absolute, or relative).

    Reads ``"numbers_in_text"`` (a value holding no number is null), like
    :class:`NumberSetLevel`: a price in ``"$1,299.00 incl. VAT"`` reads as
    1 (the comma splits it), so standardise such values first.
    """

    kind: ClassVar[str] = "first_number"
    reads: ClassVar[ValueKind] = "numbers_in_text"
    max_difference: float = 0.0
    relative: bool = False

    def __post_init__(self) -> None:
        hi = 1.0 if self.relative else float("inf")
        check_range("max_difference", self.max_difference, 0.0, hi, "first_number")

    def matches(self, values: PairValues) -> np.ndarray:
        """Return whether each pair's first numbers are close enough."""
        diff = text_values.first_number_difference(values, relative=self.relative)
        return diff <= self.max_difference

    @property
    def label(self) -> str:
        """Describe the level."""
        what = "relative difference" if self.relative else "difference"
        return f"first number {what} <= {self.max_difference:g}"


@register_level
@dataclass(frozen=True)
class GeoDistanceLevel:
    """Two points within ``max_km`` kilometres of each other (great-circle distance).

    The column holds each point as one text ``"lat,lon"`` in decimal
    degrees (also ``"lat lon"`` or ``"lat;lon"``); the comparison reads
    ``"point"``: a value that is not a point (missing, unparseable, out of
    range) is null. Keep latitude and longitude in one column (a derived
    column ``concat(lat, ",", lon)``) until comparisons read several columns.
    """

    kind: ClassVar[str] = "geo_distance"
    reads: ClassVar[ValueKind] = "point"
    max_km: float = 1.0

    def __post_init__(self) -> None:
        check_range("max_km", self.max_km, 0.0, 20_050.0, "geo_distance")

    def matches(self, values: PairValues) -> np.ndarray:
        """Return whether each pair's points are within ``max_km``."""
        return text_values.haversine_km(values) <= self.max_km

    @property
    def label(self) -> str:
        """Describe the level."""
        return f"within {self.max_km:g} km"
