"""Vectorised similarity and distance functions over aligned value arrays."""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import Any, Final, Literal

import numpy as np
import polars as pl
from rapidfuzz import distance, process

StringComparator = Literal[
    "jaro_winkler",
    "jaro",
    "levenshtein",
    "damerau_levenshtein",
    "token_jaccard",
    "character_jaccard",
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
STRING_COMPARATORS: Final = (*_SIMILARITY, "token_jaccard", "character_jaccard")
_WINKLER_PREFIX: Final = 4
_WINKLER_SCALE: Final = 0.1
_WINKLER_FROM: Final = 0.7
DISTANCE_COMPARATORS: Final = tuple(_DISTANCE)
_PYTHON_SETS: Final = 4096
"""Up to this many pairs, token sets are made in Python: a polars query costs more."""


def similarity(
    comparator: str,
    left: Sequence[str] | np.ndarray,
    right: Sequence[str] | np.ndarray,
    *,
    score_cutoff: float | None = None,
    workers: int = -1,
    dtype: type[np.floating[Any]] = np.float32,
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
    dtype
        ``numpy.float32`` (the ``sim_`` columns) or ``numpy.float64``: the
        similarities as SQL engines compute them, bit for bit what DuckDB's
        ``jaro_similarity``, ``jaro_winkler_similarity`` and ``jaccard``
        return (Jaro-Winkler's prefix boost rounded once, as DuckDB's fused
        multiply-add does; rapidfuzz rounds twice and differs in the last
        bit on about one pair in two thousand). ``score_cutoff`` is ignored.

    Returns
    -------
    numpy.ndarray
        The similarities, of ``dtype``.

    Examples
    --------
    >>> similarity("jaro_winkler", ["martha"], ["marhta"]).astype(float).round(3).tolist()
    [0.961]
    >>> similarity("token_jaccard", ["acme corp ltd"], ["acme ltd"]).tolist()
    [0.6666666865348816]
    >>> similarity("character_jaccard", ["josé"], ["jose"], dtype=np.float64).tolist()
    [0.6]
    """
    precise = np.dtype(dtype) == np.float64
    if len(left) == 0:
        return np.empty(0, dtype=np.float64 if precise else np.float32)
    if comparator == "token_jaccard":
        return token_jaccard(left, right, dtype=dtype)
    if comparator == "character_jaccard":
        return character_jaccard(left, right, dtype=dtype)
    if precise and comparator == "jaro_winkler":
        return _jaro_winkler_fused(left, right, workers=workers)
    scorer = _SIMILARITY[comparator]
    return process.cpdist(
        left,
        right,
        scorer=scorer,
        score_cutoff=None if precise else score_cutoff,
        workers=workers,
        dtype=np.float64 if precise else np.float32,
    )


def _jaro_winkler_fused(
    left: Sequence[str] | np.ndarray,
    right: Sequence[str] | np.ndarray,
    *,
    workers: int,
) -> np.ndarray:
    """Jaro-Winkler as DuckDB computes it: ``fma(prefix * 0.1, 1 - jaro, jaro)``.

    The Jaro similarity is rapidfuzz's (the same double as DuckDB's); the
    prefix boost is added with one rounding, emulated exactly with
    error-free transformations.
    """
    jaro = process.cpdist(
        left, right, scorer=distance.Jaro.similarity, workers=workers, dtype=np.float64
    )
    lhs = pl.Series(list(left), dtype=pl.String)
    rhs = pl.Series(list(right), dtype=pl.String)
    shorter = np.minimum(
        lhs.str.len_chars().to_numpy(), rhs.str.len_chars().to_numpy()
    ).astype(np.int64)
    prefix = np.zeros(len(jaro), dtype=np.int64)
    for k in range(1, _WINKLER_PREFIX + 1):
        same = (lhs.str.slice(0, k) == rhs.str.slice(0, k)).to_numpy()
        prefix += same & (shorter >= k)
    boost = prefix.astype(np.float64) * _WINKLER_SCALE
    fused = np.minimum(fused_multiply_add(boost, 1.0 - jaro, jaro), 1.0)
    return np.where(jaro > _WINKLER_FROM, fused, jaro)


def _two_sum(a: np.ndarray, b: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Return ``a + b`` rounded, and its rounding error (Knuth's exact TwoSum)."""
    s = a + b
    bb = s - a
    return s, (a - (s - bb)) + (b - bb)


def _two_product(a: np.ndarray, b: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Return ``a * b`` rounded, and its rounding error (Dekker's exact product)."""
    split = 134217729.0  # 2**27 + 1
    p = a * b
    ca, cb = split * a, split * b
    a_hi = ca - (ca - a)
    b_hi = cb - (cb - b)
    a_lo, b_lo = a - a_hi, b - b_hi
    err = ((a_hi * b_hi - p) + a_hi * b_lo + a_lo * b_hi) + a_lo * b_lo
    return p, err


def fused_multiply_add(a: np.ndarray, b: np.ndarray, c: np.ndarray) -> np.ndarray:
    """Return ``a * b + c`` rounded once to float64, as a hardware FMA does.

    Exact for finite inputs whose product neither overflows nor underflows:
    the product and sums are split into error-free parts, and the one case
    where adding the parts would round twice (a sum landing exactly half way
    between two doubles) is resolved by the sign of the remainder.

    Examples
    --------
    >>> from fractions import Fraction
    >>> a, b, c = 0.30000000000000004, 0.25675211618411, 0.74324788381589
    >>> exact = float(Fraction(a) * Fraction(b) + Fraction(c))
    >>> fused = float(fused_multiply_add(np.array([a]), np.array([b]), np.array([c]))[0])
    >>> fused == exact, a * b + c == exact
    (True, False)
    """
    a, b, c = (np.asarray(x, dtype=np.float64) for x in (a, b, c))
    hi, lo = _two_product(a, b)
    s, t = _two_sum(hi, c)
    u, w = _two_sum(t, lo)
    r, e = _two_sum(s, u)
    # exact value: r + e + w, with |w| far below half an ulp of r
    towards = np.where(e > 0, np.inf, -np.inf)
    neighbour = np.nextafter(r, towards)
    tie = (e != 0) & (w != 0) & (2.0 * np.abs(e) == np.abs(neighbour - r))
    return np.where(tie & (np.sign(w) == np.sign(e)), neighbour, r)


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
    left: Sequence[str] | np.ndarray,
    right: Sequence[str] | np.ndarray,
    *,
    dtype: type[np.floating[Any]] = np.float32,
) -> np.ndarray:
    """Return the Jaccard similarity of the whitespace-token sets of each pair."""
    return _set_jaccard(
        left,
        right,
        lambda col: col.str.split(" ").list.eval(
            pl.element().filter(pl.element() != "")
        ),
        dtype=dtype,
        python=lambda text: set(text.split(" ")) - {""},
    )


def character_jaccard(
    left: Sequence[str] | np.ndarray,
    right: Sequence[str] | np.ndarray,
    *,
    dtype: type[np.floating[Any]] = np.float32,
) -> np.ndarray:
    """Return the Jaccard similarity of the character sets of each pair.

    What DuckDB's ``jaccard`` (and so Splink's ``JaccardLevel``) computes:
    characters (Unicode code points, case-sensitive, spaces included) shared
    by both values over those in either.

    Examples
    --------
    >>> character_jaccard(["martha", "ab"], ["marhta", "abc"], dtype=np.float64).tolist()
    [1.0, 0.6666666666666666]
    """
    return _set_jaccard(left, right, lambda col: col.str.split(""), dtype=dtype)


def _set_jaccard(
    left: Sequence[str] | np.ndarray,
    right: Sequence[str] | np.ndarray,
    elements: Callable[[pl.Expr], pl.Expr],
    *,
    dtype: type[np.floating[Any]],
    python: Callable[[str], set[str]] | None = None,
) -> np.ndarray:
    precise = np.dtype(dtype) == np.float64
    work: type[np.floating[Any]] = np.float64 if precise else np.float32
    if python is not None and len(left) <= _PYTHON_SETS:
        pairs = list(zip(left, right, strict=True))
        if all(isinstance(a, str) and isinstance(b, str) for a, b in pairs):
            # a few pairs (a lookup): Python sets, the same counts, no query;
            # each distinct value split once (a lookup's query value is on
            # the left of every pair)
            split = {text: python(text) for text in {*left, *right}}
            sets = [(split[a], split[b]) for a, b in pairs]
            counts = np.array(
                [(len(a & b), len(a | b)) for a, b in sets], dtype=np.int64
            ).reshape(-1, 2)
            return _jaccard(counts[:, 0].astype(work), counts[:, 1].astype(work))
    frame = pl.DataFrame(
        {"l": list(left), "r": list(right)}, schema={"l": pl.String, "r": pl.String}
    )
    set_l = elements(pl.col("l")).list.unique()
    set_r = elements(pl.col("r")).list.unique()
    out = frame.select(
        inter=set_l.list.set_intersection(set_r).list.len(),
        union=set_l.list.set_union(set_r).list.len(),
    )
    inter: np.ndarray = out.get_column("inter").to_numpy().astype(work)
    union: np.ndarray = out.get_column("union").to_numpy().astype(work)
    return _jaccard(inter, union)


def _jaccard(inter: np.ndarray, union: np.ndarray) -> np.ndarray:
    """Return shared over all elements (1 where both sets are empty), in their dtype."""
    work = inter.dtype
    with np.errstate(invalid="ignore", divide="ignore"):
        sim = np.where(union > 0, inter / np.maximum(union, 1), 1.0)
    return sim.astype(work)


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
