"""Expectation maximisation over distinct comparison patterns."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np
import polars as pl

from er_toolkit import schema

PROBABILITY_FLOOR = 1e-12
_FLOOR = PROBABILITY_FLOOR


@dataclass(frozen=True)
class Patterns:
    """Distinct gamma patterns and how many pairs show each.

    Attributes
    ----------
    gammas
        Int8 array, one row per distinct pattern, one column per comparison
        (-1 for null).
    counts
        How many pairs show each pattern.
    names
        The comparison names, in column order.
    """

    gammas: np.ndarray
    counts: np.ndarray
    names: tuple[str, ...]

    @classmethod
    def from_vectors(cls, vectors: pl.DataFrame, names: Sequence[str]) -> Patterns:
        """Group comparison vectors into distinct patterns with counts.

        Each pair's levels are packed into one integer and counted with
        numpy's bincount (patterns in the order :meth:`from_counts` sorts
        them); a hash group-by is left for level ranges too wide to pack.

        Examples
        --------
        >>> v = pl.DataFrame({"gamma_a": [1, 0, 1, -1], "gamma_b": [2, 2, 2, 0]},
        ...                  schema={"gamma_a": pl.Int8, "gamma_b": pl.Int8})
        >>> p = Patterns.from_vectors(v, ["a", "b"])
        >>> p.gammas.tolist(), p.counts.tolist()
        ([[-1, 0], [0, 2], [1, 2]], [1.0, 1.0, 2.0])
        """
        cols = [schema.gamma(n) for n in names]
        packed = _packed(vectors, cols)
        if packed is None:
            grouped = vectors.group_by(cols).agg(pl.len().alias("_n"))
            return cls.from_counts(grouped, names)
        codes, radices = packed
        counts = np.bincount(codes, minlength=1)
        present = np.flatnonzero(counts)
        gammas = np.empty((len(present), len(cols)), dtype=np.int8)
        rest = present
        for k in range(len(cols) - 1, -1, -1):
            gammas[:, k] = rest % radices[k] - 1
            rest = rest // radices[k]
        return cls(
            gammas=gammas,
            counts=counts[present].astype(np.float64),
            names=tuple(names),
        )

    @classmethod
    def from_counts(cls, grouped: pl.DataFrame, names: Sequence[str]) -> Patterns:
        """Build from distinct patterns already counted (``gamma_`` columns and ``_n``).

        What an engine that groups the vectors itself (Spark) hands over;
        the patterns are sorted, so EM sums them in the same order whoever
        counted them.
        """
        cols = [schema.gamma(n) for n in names]
        grouped = grouped.sort(cols)
        gammas = (
            grouped.select(cols).to_numpy().astype(np.int8)
            if grouped.height
            else np.empty((0, len(cols)), dtype=np.int8)
        )
        counts = grouped.get_column("_n").to_numpy().astype(np.float64)
        return cls(gammas=gammas, counts=counts, names=tuple(names))

    def level_counts(self, name: str, n_levels: int) -> np.ndarray:
        """Return how many pairs reach each level 0 .. ``n_levels - 1`` of one comparison (nulls left out).

        Examples
        --------
        >>> p = Patterns(np.array([[0], [2], [-1]], dtype=np.int8), np.array([3.0, 1.0, 5.0]), ("a",))
        >>> p.level_counts("a", 3).tolist()
        [3.0, 0.0, 1.0]
        """
        g = self.gammas[:, self.names.index(name)].astype(np.int64)
        ok = g >= 0
        return np.bincount(g[ok], weights=self.counts[ok], minlength=n_levels)


_MAX_PACKED = 1 << 24
"""Most distinct packed patterns counted by bincount (an array of this many counts)."""


def _packed(
    vectors: pl.DataFrame, cols: Sequence[str]
) -> tuple[np.ndarray, list[int]] | None:
    """Return each row's levels packed into one code (first column most significant), or None.

    Levels are shifted by one (null, -1, becomes 0). None when a column
    holds nulls or levels below -1, or the codes would pass :data:`_MAX_PACKED`.
    """
    arrays = []
    radices = []
    for col in cols:
        series = vectors.get_column(col)
        if series.null_count():
            return None
        values = series.to_numpy()
        low = int(values.min()) if len(values) else -1
        if low < -1:
            return None
        arrays.append(values)
        radices.append((int(values.max()) if len(values) else -1) + 2)
    if int(np.prod(radices, dtype=np.float64)) > _MAX_PACKED:
        return None
    codes = np.zeros(vectors.height, dtype=np.int64)
    for values, radix in zip(arrays, radices, strict=True):
        codes *= radix
        codes += values.astype(np.int64) + 1
    return codes, radices


def log_bayes_factors(
    gammas: np.ndarray, m: Sequence[np.ndarray], u: Sequence[np.ndarray]
) -> np.ndarray:
    """Return log2(m/u) for each pattern and comparison (0 where null)."""
    out = np.zeros(gammas.shape, dtype=np.float64)
    for k, (mk, uk) in enumerate(zip(m, u, strict=True)):
        g = gammas[:, k]
        ok = g >= 0
        idx = np.where(ok, g, 0)
        ratio = np.log2(np.maximum(mk[idx], _FLOOR)) - np.log2(
            np.maximum(uk[idx], _FLOOR)
        )
        out[:, k] = np.where(ok, ratio, 0.0)
    return out


@dataclass
class EMResult:
    """What one EM run learned."""

    m: list[np.ndarray]
    probability_match: float
    n_iter: int
    converged: bool


def run_em(
    patterns: Patterns,
    *,
    m_init: Sequence[np.ndarray],
    u: Sequence[np.ndarray],
    probability_match_init: float,
    fixed: Sequence[bool],
    max_iter: int = 100,
    tol: float = 1e-5,
) -> EMResult:
    """Estimate m probabilities (u held fixed) and the match share by EM.

    Parameters
    ----------
    patterns
        Distinct gamma patterns with counts.
    m_init, u
        Per comparison, probabilities indexed by gamma level.
    probability_match_init
        Starting share of matches among the pairs.
    fixed
        Per comparison, True to keep its m as given (a comparison on the
        fields the pairs were blocked on tells nothing about matches).
    max_iter, tol
        Stop after ``max_iter`` iterations or when no m and the match share
        move by more than ``tol``.

    Returns
    -------
    EMResult
        The m probabilities, the match share, the iterations and whether it
        converged.
    """
    m = [np.asarray(x, dtype=np.float64).copy() for x in m_init]
    lam = float(np.clip(probability_match_init, 1e-9, 1 - 1e-9))
    gammas, counts = patterns.gammas, patterns.counts
    converged = False
    n_iter = 0
    if counts.sum() == 0:
        return EMResult(m=m, probability_match=lam, n_iter=0, converged=True)
    for n_iter in range(1, max_iter + 1):  # noqa: B007 - n_iter is reported
        weights = log_bayes_factors(gammas, m, u).sum(axis=1)
        prior = np.log2(lam) - np.log2(1 - lam)
        posterior = 1.0 / (1.0 + np.exp2(-(weights + prior)))
        expected = counts * posterior
        new_lam = float(np.clip(expected.sum() / counts.sum(), 1e-9, 1 - 1e-9))
        change = abs(new_lam - lam)
        new_m = []
        for k, mk in enumerate(m):
            if fixed[k]:
                new_m.append(mk)
                continue
            g = gammas[:, k]
            ok = g >= 0
            totals = np.bincount(g[ok], weights=expected[ok], minlength=len(mk))
            denom = totals.sum()
            updated = totals / denom if denom > 0 else mk
            updated = np.maximum(updated, _FLOOR)
            updated = updated / updated.sum()
            change = max(change, float(np.abs(updated - mk).max()))
            new_m.append(updated)
        m, lam = new_m, new_lam
        if change < tol:
            converged = True
            break
    return EMResult(m=m, probability_match=lam, n_iter=n_iter, converged=converged)
