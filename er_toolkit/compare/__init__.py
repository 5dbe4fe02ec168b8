"""Pair comparison: levels, comparisons and vectorised comparators."""

from er_toolkit.compare.comparison import Comparison, compare_pairs, term_frequencies
from er_toolkit.compare.levels import (
    DateDifferenceLevel,
    DateSwapLevel,
    DistanceLevel,
    ExactLevel,
    Level,
    NumericDifferenceLevel,
    SimilarityLevel,
    level_from_dict,
    level_to_dict,
)
from er_toolkit.compare.pair_values import RecordEncoding

__all__ = [
    "Comparison",
    "DateDifferenceLevel",
    "DateSwapLevel",
    "DistanceLevel",
    "ExactLevel",
    "Level",
    "NumericDifferenceLevel",
    "RecordEncoding",
    "SimilarityLevel",
    "compare_pairs",
    "level_from_dict",
    "level_to_dict",
    "term_frequencies",
]
