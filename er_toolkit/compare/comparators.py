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


_TRANSLITERATIONS: Final = {
    "ß": "ss", "æ": "ae", "ø": "o", "œ": "oe", "ł": "l", "đ": "d", "ı": "i",  # noqa: RUF001
}  # fmt: skip
_DIGRAPHS: Final = {"ae": "a", "oe": "o", "ue": "u", "ss": "s", "ij": "y", "ph": "f"}


def transliteration_key(values: pl.Expr) -> pl.Expr:
    """Return a key under which a name and its ASCII transliterations agree.

    Lower case, accents dropped, then the digraphs that stand for a letter
    written without its diacritic (German ``ue`` for ``ü``, ``ss`` for
    ``ß``, Dutch ``ij`` and ``y``) and ``ph``/``f`` folded; anything but
    letters dropped. ``"Müller"``, ``"Mueller"`` and ``"MULLER"`` share
    ``"muller"``. A key, not a spelling: only compare keys with each other.

    Examples
    --------
    >>> names = pl.Series(["Müller", "MUELLER", "Dijkstra", "Dykstra", "Strauß"])
    >>> pl.select(transliteration_key(pl.lit(names))).to_series().to_list()
    ['muller', 'muller', 'dykstra', 'dykstra', 'straus']
    """
    text = values.str.to_lowercase().str.replace_many(_TRANSLITERATIONS)
    text = text.str.normalize("NFKD").str.replace_all(r"\p{M}+", "")
    text = text.str.replace_all(r"[^\p{L}]+", "")
    return text.str.replace_many(_DIGRAPHS)


def transliteration_codes(values: pl.Series) -> np.ndarray:
    """Return a code per string: equal codes, equal :func:`transliteration_key`.

    An empty key (no letters) gets -1, which agrees with nothing.

    Examples
    --------
    >>> transliteration_codes(pl.Series(["Müller", "mueller", "Miller", "1"])).tolist()
    [1, 1, 0, -1]
    """
    keys = pl.select(transliteration_key(pl.lit(values, dtype=pl.String))).to_series()
    keys = pl.select(pl.when(keys.str.len_chars() > 0).then(keys)).to_series()
    codes = keys.rank("dense").fill_null(0).cast(pl.Int64).to_numpy() - 1
    return codes


def initial_codes(values: pl.Series) -> np.ndarray:
    """Return per string its initial and its first letter, as codes (-1 for none).

    The initial is the letter of a string of one letter (perhaps with a dot),
    the first letter that of any string, lower case; equal codes, equal
    letters. One row per string: ``[initial, first letter]``.

    Examples
    --------
    >>> initial_codes(pl.Series(["J.", "john", "", "k"])).tolist()
    [[0, 0], [-1, 0], [-1, -1], [1, 1]]
    """
    text = pl.lit(values, dtype=pl.String).str.strip_chars().str.to_lowercase()
    initial = text.str.extract(r"^(\p{L})\.?$", 1)
    first = text.str.extract(r"^(\p{L})", 1)
    letters = pl.select(pl.concat([initial, first])).to_series()
    codes = letters.rank("dense").fill_null(0).cast(pl.Int64).to_numpy() - 1
    return codes.reshape(2, len(values)).T.copy()
