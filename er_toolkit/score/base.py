"""The interface every scorer offers, and loading either scorer from its dict."""

from __future__ import annotations

from typing import Any, Protocol, runtime_checkable

import polars as pl

from er_toolkit.exceptions import ModelFormatError


@runtime_checkable
class Scorer(Protocol):
    """Turns comparison vectors into ``match_weight`` and ``match_probability``."""

    def predict(self, vectors: pl.DataFrame, *, explain: bool = False) -> pl.DataFrame:
        """Score comparison vectors (pair columns, weight, probability)."""
        ...

    def to_dict(self) -> dict[str, Any]:
        """Return the fitted model as a JSON-ready dict with its ``kind``."""
        ...


def scorer_from_dict(data: dict[str, Any]) -> Any:
    """Rebuild a fitted scorer of any kind from its ``to_dict`` output.

    Raises
    ------
    ModelFormatError
        If the dict names no kind er_toolkit knows.
    """
    from er_toolkit.score.classifier import ClassifierScorer
    from er_toolkit.score.fellegi_sunter import FellegiSunter

    kinds = {"FellegiSunter": FellegiSunter, "ClassifierScorer": ClassifierScorer}
    kind = data.get("kind") if isinstance(data, dict) else None
    if kind not in kinds:
        raise ModelFormatError(
            f"Unknown scorer kind {kind!r}; expected one of {sorted(kinds)}."
        )
    return kinds[kind].from_dict(data)
