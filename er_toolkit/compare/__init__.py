"""Pair comparison: levels, comparisons and vectorised comparators."""

from er_toolkit.compare.comparison import Comparison, term_frequencies
from er_toolkit.compare.engine import RecordEncoding, compare_pairs
from er_toolkit.compare.kernel import compare_batch
from er_toolkit.compare.levels import (
    AndLevel,
    ColumnsReversedLevel,
    ContainsLevel,
    DateDifferenceLevel,
    DateSwapLevel,
    DistanceLevel,
    ExactLevel,
    InitialLevel,
    Level,
    NotLevel,
    NumericDifferenceLevel,
    OrLevel,
    SimilarityLevel,
    TransliteratedLevel,
    level_from_dict,
    level_to_dict,
)

__all__ = [
    "AndLevel",
    "ColumnsReversedLevel",
    "Comparison",
    "ContainsLevel",
    "DateDifferenceLevel",
    "DateSwapLevel",
    "DistanceLevel",
    "ExactLevel",
    "InitialLevel",
    "Level",
    "NotLevel",
    "NumericDifferenceLevel",
    "OrLevel",
    "RecordEncoding",
    "SimilarityLevel",
    "TransliteratedLevel",
    "compare_batch",
    "compare_pairs",
    "level_from_dict",
    "level_to_dict",
    "term_frequencies",
]
