"""Scorers that turn comparison vectors into match weights and probabilities."""

from er_toolkit.score.base import (
    SCORER_KINDS,
    LinkageData,
    Scorer,
    ScorerReport,
    register_scorer,
    scorer_from_dict,
)
from er_toolkit.score.classifier import ClassifierScorer
from er_toolkit.score.em import Patterns, run_em
from er_toolkit.score.fellegi_sunter import FellegiSunter
from er_toolkit.score.sampling import sample_pairs, total_pairs

__all__ = [
    "SCORER_KINDS",
    "ClassifierScorer",
    "FellegiSunter",
    "LinkageData",
    "Patterns",
    "Scorer",
    "ScorerReport",
    "register_scorer",
    "run_em",
    "sample_pairs",
    "scorer_from_dict",
    "total_pairs",
]
