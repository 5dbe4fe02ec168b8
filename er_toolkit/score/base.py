"""The interface every scorer offers, and loading either scorer from its dict."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any, Protocol, runtime_checkable

import polars as pl

from er_toolkit.exceptions import ModelFormatError

if TYPE_CHECKING:
    from er_toolkit.score.classifier import ClassifierScorer
    from er_toolkit.score.fellegi_sunter import FellegiSunter


@runtime_checkable
class Scorer(Protocol):
    """Turns comparison vectors into ``match_weight`` and ``match_probability``."""

    def predict(self, vectors: pl.DataFrame, *, explain: bool = False) -> pl.DataFrame:
        """Score comparison vectors (pair columns, weight, probability)."""
        ...

    def to_dict(self) -> dict[str, Any]:
        """Return the fitted model as a JSON-ready dict with its ``kind``."""
        ...


def scorer_from_dict(data: dict[str, Any]) -> FellegiSunter | ClassifierScorer:
    """Rebuild a fitted scorer of any kind from its ``to_dict`` output.

    Raises
    ------
    ModelFormatError
        If the dict names no kind er_toolkit knows.
    """
    from er_toolkit.score.classifier import ClassifierScorer
    from er_toolkit.score.fellegi_sunter import FellegiSunter

    kind = data.get("kind") if isinstance(data, dict) else None
    if kind == "FellegiSunter":
        return FellegiSunter.from_dict(data)
    if kind == "ClassifierScorer":
        return ClassifierScorer.from_dict(data)
    raise ModelFormatError(
        f"Unknown scorer kind {kind!r}; expected one of "
        "['ClassifierScorer', 'FellegiSunter']."
    )
