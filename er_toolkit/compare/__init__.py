"""Pair comparison: levels, comparisons and vectorised comparators."""

from er_toolkit.compare.comparison import Comparison, term_frequencies
from er_toolkit.compare.engine import RecordEncoding, compare_pairs
from er_toolkit.compare.kernel import compare_batch
from er_toolkit.compare.levels import (
    LEVEL_KINDS,
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
    YearTypoLevel,
    level_from_dict,
    level_to_dict,
    register_level,
)
from er_toolkit.compare.name_levels import NicknameLevel, nickname_pairs, related_names
from er_toolkit.compare.text_levels import (
    FirstNumberLevel,
    GeoDistanceLevel,
    NumberSetLevel,
    SetOverlapLevel,
    TfidfCosineLevel,
)
from er_toolkit.compare.text_values import DocumentFrequencies, document_frequencies

__all__ = [
    "LEVEL_KINDS",
    "AndLevel",
    "ColumnsReversedLevel",
    "Comparison",
    "ContainsLevel",
    "DateDifferenceLevel",
    "DateSwapLevel",
    "DistanceLevel",
    "DocumentFrequencies",
    "ExactLevel",
    "FirstNumberLevel",
    "GeoDistanceLevel",
    "InitialLevel",
    "Level",
    "NicknameLevel",
    "NotLevel",
    "NumberSetLevel",
    "NumericDifferenceLevel",
    "OrLevel",
    "RecordEncoding",
    "SetOverlapLevel",
    "SimilarityLevel",
    "TfidfCosineLevel",
    "TransliteratedLevel",
    "YearTypoLevel",
    "compare_batch",
    "compare_pairs",
    "document_frequencies",
    "level_from_dict",
    "level_to_dict",
    "nickname_pairs",
    "register_level",
    "related_names",
    "term_frequencies",
]
