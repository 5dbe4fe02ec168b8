"""Scorers that turn comparison vectors into match weights and probabilities.

:class:`ClassifierScorer` is imported on first use (PEP 562): its module
imports scikit-learn, which a Fellegi-Sunter job never needs.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from er_toolkit.score.base import (
    SCORER_KINDS,
    LinkageData,
    Scorer,
    ScorerReport,
    register_scorer,
    scorer_from_dict,
)
from er_toolkit.score.em import Patterns, run_em
from er_toolkit.score.fellegi_sunter import FellegiSunter
from er_toolkit.score.sampling import sample_pairs, total_pairs

if TYPE_CHECKING:
    from er_toolkit.score.classifier import ClassifierScorer

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


def __getattr__(name: str) -> Any:
    """Import ``ClassifierScorer`` (and scikit-learn with it) when first asked for."""
    if name != "ClassifierScorer":
        raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
    from er_toolkit.score.classifier import ClassifierScorer

    globals()[name] = ClassifierScorer
    return ClassifierScorer
