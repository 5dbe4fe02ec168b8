"""Choosing a match threshold on a precision-recall curve: one rule for every caller."""

from __future__ import annotations

import warnings
from typing import Final, Literal

import numpy as np
import polars as pl

from er_toolkit.exceptions import ConfigError, EmptyInputError, SchemaError

__all__ = [
    "THRESHOLD_STRATEGIES",
    "ThresholdStrategy",
    "choose_threshold",
    "curve_from_labels",
    "expected_curve",
    "pick_threshold",
]

ThresholdStrategy = Literal["max_f1", "target_precision", "fixed"]
THRESHOLD_STRATEGIES: Final[tuple[ThresholdStrategy, ...]] = (
    "max_f1",
    "target_precision",
    "fixed",
)
_CURVE = ("threshold", "precision", "recall", "f1")


def curve_from_labels(y: np.ndarray, p: np.ndarray) -> pl.DataFrame:
    """Return the precision-recall curve of labelled, scored pairs.

    Parameters
    ----------
    y
        True labels (0/1 or bool).
    p
        Scores (match probabilities).

    Returns
    -------
    polars.DataFrame
        ``threshold``, ``precision``, ``recall``, ``f1``, one row per distinct
        score, highest threshold first (the same shape as
        :func:`er_toolkit.evaluate.precision_recall_curve`).

    Examples
    --------
    >>> curve_from_labels(np.array([1, 0, 1]), np.array([0.9, 0.5, 0.2]))["f1"].round(3).to_list()
    [0.667, 0.5, 0.8]
    """
    from sklearn.metrics import precision_recall_curve

    precision, recall, thresholds = precision_recall_curve(y, p)
    P, R = precision[:-1], recall[:-1]
    denominator = P + R
    F = np.divide(2 * P * R, denominator, out=np.zeros_like(P), where=denominator > 0)
    return pl.DataFrame(
        {
            "threshold": thresholds.astype(np.float64),
            "precision": P.astype(np.float64),
            "recall": R.astype(np.float64),
            "f1": F.astype(np.float64),
        }
    ).reverse()


def expected_curve(q: np.ndarray, p: np.ndarray) -> pl.DataFrame:
    """Return the expected precision-recall curve of scored pairs whose labels are unknown.

    Each pair is a match with probability ``q`` (soft labels: a calibrated
    model's match probability); at threshold ``t`` the expected true
    positives are the sum of ``q`` over the pairs scoring ``p >= t``,
    the expected matches the sum of ``q`` over every pair. Chosen on the
    whole candidate population, a threshold fits the pairs it will be
    applied to, where one chosen on actively picked (mostly uncertain)
    labelled pairs fits those.

    Parameters
    ----------
    q
        Each pair's probability of being a match, in [0, 1].
    p
        Each pair's score (the one the threshold applies to).

    Returns
    -------
    polars.DataFrame
        ``threshold``, ``precision``, ``recall``, ``f1``, one row per
        distinct score, highest threshold first (as :func:`curve_from_labels`).

    Raises
    ------
    SchemaError
        If ``q`` and ``p`` differ in length.

    Examples
    --------
    >>> curve = expected_curve(np.array([1.0, 0.5, 0.0]), np.array([0.9, 0.6, 0.2]))
    >>> curve["precision"].round(3).to_list(), curve["recall"].round(3).to_list()
    ([1.0, 0.75, 0.5], [0.667, 1.0, 1.0])
    """
    q = np.asarray(q, dtype=np.float64)
    p = np.asarray(p, dtype=np.float64)
    if q.shape != p.shape:
        raise SchemaError(
            f"expected one soft label per score; got {q.size} labels and {p.size} "
            "scores."
        )
    if p.size == 0:
        return pl.DataFrame(schema=dict.fromkeys(_CURVE, pl.Float64))
    order = np.argsort(-p, kind="stable")
    scores = p[order]
    tp = np.cumsum(q[order])
    predicted = np.arange(1, p.size + 1, dtype=np.float64)
    # one row per distinct score: the last pair at each score
    last = np.flatnonzero(np.r_[scores[1:] != scores[:-1], True])
    total = float(tp[-1])
    P = tp[last] / predicted[last]
    R = tp[last] / total if total > 0 else np.zeros(last.size)
    denominator = P + R
    F = np.divide(2 * P * R, denominator, out=np.zeros_like(P), where=denominator > 0)
    return pl.DataFrame(
        {
            "threshold": scores[last].astype(np.float64),
            "precision": P,
            "recall": R,
            "f1": F,
        }
    )


def pick_threshold(
    curve: pl.DataFrame,
    *,
    strategy: ThresholdStrategy = "max_f1",
    target_precision: float | None = None,
    threshold: float = 0.5,
    where: str = "validation",
) -> tuple[float, str]:
    """Choose a threshold on a precision-recall curve.

    Parameters
    ----------
    curve
        ``threshold`` and ``f1`` (and ``precision``, ``recall`` for the
        reason and ``"target_precision"``), one row per distinct score, in
        any order.
    strategy
        ``"max_f1"``: the threshold of highest F1, ties to the highest
        threshold (fewest predicted matches); ``"target_precision"``: the
        lowest threshold (most recall) whose precision reaches
        ``target_precision``, or, when none does, the one of highest
        precision with a warning; ``"fixed"``: ``threshold`` as given.
    target_precision
        The precision to reach, for ``"target_precision"``.
    threshold
        The threshold, for ``"fixed"``.
    where
        Names the pairs in the reason.

    Returns
    -------
    tuple
        The threshold and the reason in words. Any threshold between the
        chosen score and the next lower score selects the same pairs; the
        midpoint is returned, so that scores that move a little on new pairs
        (isotonic calibration gives plateaus) do not fall on the wrong side.

    Raises
    ------
    EmptyInputError
        If the curve has no rows (and the strategy is not ``"fixed"``).

    Examples
    --------
    >>> curve = pl.DataFrame({"threshold": [0.9, 0.6, 0.2], "precision": [1.0, 0.8, 0.5],
    ...                       "recall": [0.4, 0.9, 1.0], "f1": [0.57, 0.85, 0.67]})
    >>> pick_threshold(curve)
    (0.4, 'max F1 0.8500 (precision 0.8000, recall 0.9000) on validation')
    """
    missing = [c for c in ("threshold", "f1") if c not in curve.columns]
    if missing:
        raise SchemaError(
            f"curve lacks column(s) {missing}; its columns are {curve.columns}."
        )
    if strategy not in THRESHOLD_STRATEGIES:
        raise ConfigError(
            f"threshold strategy must be one of {list(THRESHOLD_STRATEGIES)}; got "
            f"{strategy!r}."
        )
    ordered = curve.sort("threshold", descending=True, nulls_last=True)
    n = ordered.height
    t = ordered.get_column("threshold").to_numpy().astype(np.float64)

    def column(name: str) -> np.ndarray:
        if name in ordered.columns:
            return ordered.get_column(name).to_numpy().astype(np.float64)
        return np.full(n, np.nan)

    P, R, F = column("precision"), column("recall"), column("f1")

    def at(i: int) -> str:
        return f"(precision {P[i]:.4f}, recall {R[i]:.4f}) on {where}"

    def midway(i: int) -> float:
        lower = float(t[i + 1]) if i + 1 < n else 0.0
        return (lower + float(t[i])) / 2.0

    if strategy == "fixed":
        below = np.flatnonzero(t >= threshold)
        if below.size:
            return float(threshold), f"fixed at {threshold:g} {at(int(below[-1]))}"
        return float(threshold), f"fixed at {threshold:g}"
    if n == 0:
        raise EmptyInputError(
            "The curve has no rows (no scored pairs); expected at least one."
        )
    if strategy == "max_f1":
        i = int(np.nanargmax(np.nan_to_num(F, nan=-1.0)))  # first = highest threshold
        return midway(i), f"max F1 {F[i]:.4f} {at(i)}"
    if target_precision is None or not 0.0 < target_precision <= 1.0:
        raise ConfigError(
            "threshold strategy 'target_precision' needs target_precision in (0, 1]; "
            f"got {target_precision!r}."
        )
    reached = np.flatnonzero(target_precision <= P)
    if reached.size:
        i = int(reached[-1])
        reason = f"lowest threshold reaching precision {target_precision:g} {at(i)}"
        return midway(i), reason
    i = int(np.nanargmax(np.nan_to_num(P, nan=-1.0)))
    reason = (
        f"target precision {target_precision:g} not reached; highest precision {at(i)}"
    )
    warnings.warn(reason, UserWarning, stacklevel=3)
    return midway(i), reason


def choose_threshold(
    y: np.ndarray,
    p: np.ndarray,
    *,
    strategy: ThresholdStrategy,
    target_precision: float | None = None,
    threshold: float = 0.5,
    where: str = "validation",
) -> tuple[float, str, pl.DataFrame]:
    """Choose a match-probability threshold on labelled, scored pairs.

    The curve of ``y`` and ``p`` (:func:`curve_from_labels`) and then
    :func:`pick_threshold`'s rule.

    Returns
    -------
    tuple
        The threshold, the reason in words, and the curve (``threshold``,
        ``precision``, ``recall``, ``f1``, highest threshold first).

    Examples
    --------
    >>> y = np.array([1, 1, 0, 1, 0, 0])
    >>> p = np.array([0.9, 0.8, 0.7, 0.6, 0.2, 0.1])
    >>> t, why, _ = choose_threshold(y, p, strategy="max_f1")
    >>> round(t, 6), why
    (0.4, 'max F1 0.8571 (precision 0.7500, recall 1.0000) on validation')
    >>> choose_threshold(y, p, strategy="target_precision", target_precision=1.0)[0]
    0.75
    """
    curve = curve_from_labels(y, p)
    chosen, reason = pick_threshold(
        curve,
        strategy=strategy,
        target_precision=target_precision,
        threshold=threshold,
        where=where,
    )
    return chosen, reason, curve
