"""Vectorised similarity and distance functions over aligned value arrays."""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import Final, Literal

import numpy as np
import polars as pl
from rapidfuzz import distance, process

StringComparator = Literal[
    "jaro_winkler", "jaro", "levenshtein", "damerau_levenshtein", "token_jaccard"
]
DistanceComparator = Literal["levenshtein", "damerau_levenshtein"]

_SIMILARITY: Final[dict[str, Callable[..., float]]] = {
    "jaro_winkler": distance.JaroWinkler.normalized_similarity,
    "jaro": distance.Jaro.normalized_similarity,
    "levenshtein": distance.Levenshtein.normalized_similarity,
    "damerau_levenshtein": distance.DamerauLevenshtein.normalized_similarity,
}
_DISTANCE: Final[dict[str, Callable[..., int]]] = {
    "levenshtein": distance.Levenshtein.distance,
    "damerau_levenshtein": distance.DamerauLevenshtein.distance,
}
STRING_COMPARATORS: Final = (*_SIMILARITY, "token_jaccard")
DISTANCE_COMPARATORS: Final = tuple(_DISTANCE)


def similarity(
    comparator: str,
    left: Sequence[str] | np.ndarray,
    right: Sequence[str] | np.ndarray,
    *,
    score_cutoff: float | None = None,
    workers: int = -1,
) -> np.ndarray:
    """Return the element-wise similarity in [0, 1] of two aligned string lists.

    Parameters
    ----------
    comparator
        One of ``STRING_COMPARATORS``.
    left, right
        Strings of equal length, no nulls.
    score_cutoff
        Similarities below it may be returned as 0, which is faster. rapidfuzz
        tests it on the normalised distance, so a similarity equal to it can
        come back as 0 too (``1 - 0.8`` is not ``0.2`` in floating point):
        pass a cutoff strictly below the lowest similarity of interest.
    workers
        Threads rapidfuzz uses; -1 uses every core.

    Returns
    -------
    numpy.ndarray
        Float32 similarities.

    Examples
    --------
    >>> similarity("jaro_winkler", ["martha"], ["marhta"]).astype(float).round(3).tolist()
    [0.961]
    >>> similarity("token_jaccard", ["acme corp ltd"], ["acme ltd"]).tolist()
    [0.6666666865348816]
    """
    if len(left) == 0:
        return np.empty(0, dtype=np.float32)
    if comparator == "token_jaccard":
        return token_jaccard(left, right)
    scorer = _SIMILARITY[comparator]
    return process.cpdist(
        left,
        right,
        scorer=scorer,
        score_cutoff=score_cutoff,
        workers=workers,
        dtype=np.float32,
    )


def edit_distance(
    comparator: str,
    left: Sequence[str] | np.ndarray,
    right: Sequence[str] | np.ndarray,
    *,
    score_cutoff: int | None = None,
    workers: int = -1,
) -> np.ndarray:
    """Return the element-wise edit distance of two aligned string lists.

    Distances above ``score_cutoff`` (when given) come back as
    ``score_cutoff + 1``, which is faster. ``workers`` is the number of
    threads rapidfuzz uses (-1: every core).

    Examples
    --------
    >>> edit_distance("damerau_levenshtein", ["smith"], ["simth"]).tolist()
    [1]
    >>> edit_distance("levenshtein", ["smith"], ["simth"]).tolist()
    [2]
    """
    if len(left) == 0:
        return np.empty(0, dtype=np.int32)
    scorer = _DISTANCE[comparator]
    return process.cpdist(
        left,
        right,
        scorer=scorer,
        score_cutoff=score_cutoff,
        workers=workers,
        dtype=np.int32,
    )


def token_jaccard(
    left: Sequence[str] | np.ndarray, right: Sequence[str] | np.ndarray
) -> np.ndarray:
    """Return the Jaccard similarity of the whitespace-token sets of each pair."""
    frame = pl.DataFrame(
        {"l": list(left), "r": list(right)}, schema={"l": pl.String, "r": pl.String}
    )
    tokens_l = (
        pl.col("l")
        .str.split(" ")
        .list.eval(pl.element().filter(pl.element() != ""))
        .list.unique()
    )
    tokens_r = (
        pl.col("r")
        .str.split(" ")
        .list.eval(pl.element().filter(pl.element() != ""))
        .list.unique()
    )
    out = frame.select(
        inter=tokens_l.list.set_intersection(tokens_r).list.len(),
        union=tokens_l.list.set_union(tokens_r).list.len(),
    )
    inter = out.get_column("inter").to_numpy().astype(np.float32)
    union = out.get_column("union").to_numpy().astype(np.float32)
    with np.errstate(invalid="ignore", divide="ignore"):
        sim = np.where(union > 0, inter / np.maximum(union, 1), 1.0)
    return sim.astype(np.float32)
