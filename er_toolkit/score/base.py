"""The Scorer protocol the pipeline calls, what scorers learn from, and their registry."""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import Any, Protocol, runtime_checkable

import polars as pl

from er_toolkit.exceptions import ModelFormatError
from er_toolkit.schema import LinkType

__all__ = [
    "SCORER_KINDS",
    "LinkageData",
    "Scorer",
    "ScorerReport",
    "SklearnParams",
    "learned_attributes",
    "register_scorer",
    "reset_learned",
    "scorer_from_dict",
]


class SklearnParams:
    """scikit-learn's estimator parameters, without importing scikit-learn to define a class.

    A scorer that subclassed ``sklearn.base.BaseEstimator`` would import
    scikit-learn (and scipy.stats, pandas, pyarrow under it: seconds and
    about 60 MB) with its module, though a Fellegi-Sunter job never calls
    it. This mixin gives the same estimator contract by calling
    ``BaseEstimator``'s own methods when they are first used, which only a
    caller already using scikit-learn does: ``get_params``, ``set_params``
    (nested ``a__b`` keys too), ``clone`` and ``check_is_fitted`` work as
    for any estimator. Subclasses name their parameters in ``__init__``
    (keyword arguments stored as attributes of the same name), as
    scikit-learn requires.

    Examples
    --------
    >>> class Scorer(SklearnParams):
    ...     def __init__(self, *, seed: int = 0) -> None:
    ...         self.seed = seed
    >>> from sklearn.base import clone
    >>> copy = clone(Scorer(seed=3).set_params(seed=5))
    >>> copy.get_params()
    {'seed': 5}
    """

    @classmethod
    def _get_param_names(cls) -> list[str]:
        from sklearn.base import BaseEstimator

        names: list[str] = BaseEstimator._get_param_names.__func__(cls)
        return names

    def get_params(self, deep: bool = True) -> dict[str, Any]:
        """Return the constructor parameters (``BaseEstimator.get_params``)."""
        from sklearn.base import BaseEstimator

        params: dict[str, Any] = BaseEstimator.get_params(self, deep=deep)
        return params

    def set_params(self, **params: Any) -> Any:
        """Set constructor parameters and return self (``BaseEstimator.set_params``)."""
        from sklearn.base import BaseEstimator

        return BaseEstimator.set_params(self, **params)

    def __sklearn_tags__(self) -> Any:
        """scikit-learn's tags of a plain estimator (read by ``check_is_fitted``)."""
        from sklearn.base import BaseEstimator

        return BaseEstimator.__sklearn_tags__(self)


@dataclass(frozen=True)
class LinkageData:
    """Everything a scorer may learn from, as the pipeline hands it over.

    Attributes
    ----------
    records
        The records frame (``_row``, ``record_id``, ``source``, features).
    candidate_pairs
        The blocked pairs (``_row_l``, ``_row_r``, ``blocked_by``).
    link_type
        ``"dedupe"``, ``"link"`` or ``"link_and_dedupe"``.
    candidate_vectors
        The candidate pairs' comparison vectors, when already made.
    labels
        Training labels the user gave: true pairs (``_row_l``, ``_row_r``),
        or reviewed pairs with an ``is_match`` column. An unsupervised
        scorer may use them (Fellegi-Sunter counts m from them); a
        supervised one trains on them.
    truth
        Complete truth from the evaluation labels (every true pair). Only a
        supervised scorer without ``labels`` falls back on it; it never
        reaches an unsupervised one.
    n_jobs
        Threads the scorer may use.
    engine
        Where the records and pairs live and the stages run
        (:class:`~er_toolkit.engines.Engine`); None is the polars engine.
        With another engine, ``records`` and the pair frames are that
        engine's frames (Spark DataFrames), and ``labels`` and ``truth``
        stay polars frames.
    validation
        Reviewed pairs (``_row_l``, ``_row_r``, ``is_match``) of a fixed
        validation split: a supervised scorer chooses its threshold on them.
    """

    records: Any
    candidate_pairs: Any
    link_type: LinkType
    candidate_vectors: Any = None
    labels: pl.DataFrame | None = None
    truth: pl.DataFrame | None = None
    n_jobs: int | None = None
    engine: Any = None
    validation: pl.DataFrame | None = None


@dataclass(frozen=True)
class ScorerReport:
    """What a fitted scorer tells a training run: numbers, words and tables.

    Attributes
    ----------
    metrics
        Numbers to print and log (``lambda``, cross-validated F1, ...).
    params
        Words to log as run parameters (the estimator's settings).
    tags
        Short strings to tag the run with (how the threshold was chosen).
    tables
        Aggregate tables (m and u per level, EM sessions, importances);
        never record values.
    """

    metrics: Mapping[str, float] = field(default_factory=dict)
    params: Mapping[str, str] = field(default_factory=dict)
    tags: Mapping[str, str] = field(default_factory=dict)
    tables: Mapping[str, pl.DataFrame] = field(default_factory=dict)


@runtime_checkable
class Scorer(Protocol):
    """Turns comparison vectors into ``match_weight`` and ``match_probability``.

    The pipeline calls only these: it never asks which kind of scorer it
    holds.
    """

    threshold_: float
    """Match probability at or above which a pair links two records."""

    @property
    def needs_similarities(self) -> bool:
        """Whether :meth:`predict` reads the raw ``sim_`` columns."""
        ...

    @property
    def supervised(self) -> bool:
        """Whether fitting needs labels (then evaluation truth may stand in)."""
        ...

    def fit_linkage(self, data: LinkageData) -> Scorer:
        """Learn from records, candidate pairs and labels; return self."""
        ...

    def predict(self, vectors: pl.DataFrame, *, explain: bool = False) -> pl.DataFrame:
        """Score comparison vectors (pair columns, weight, probability)."""
        ...

    def report(self) -> ScorerReport:
        """Return what the fit found, for summaries and tracking."""
        ...

    def to_dict(self) -> dict[str, Any]:
        """Return the fitted model as a JSON-ready dict with its ``kind``."""
        ...


SCORER_KINDS: dict[str, Callable[[dict[str, Any]], Any]] = {}
"""Model-file ``kind`` -> the function rebuilding a fitted scorer from its dict."""


def register_scorer(kind: str, from_dict: Callable[[dict[str, Any]], Any]) -> None:
    """Register how to rebuild scorers whose model dict says ``kind``."""
    SCORER_KINDS[kind] = from_dict


def _register_builtin() -> None:
    if SCORER_KINDS:
        return
    from er_toolkit.score.fellegi_sunter import FellegiSunter

    register_scorer("FellegiSunter", FellegiSunter.from_dict)
    register_scorer("ClassifierScorer", _classifier_from_dict)


def _classifier_from_dict(data: dict[str, Any]) -> Any:
    """``ClassifierScorer.from_dict``, its module (and scikit-learn) imported when called."""
    from er_toolkit.score.classifier import ClassifierScorer

    return ClassifierScorer.from_dict(data)


def scorer_from_dict(data: dict[str, Any]) -> Any:
    """Rebuild a fitted scorer of any registered kind from its ``to_dict`` output.

    Raises
    ------
    ModelFormatError
        If the dict names no kind er_toolkit knows.
    """
    _register_builtin()
    kind = data.get("kind") if isinstance(data, dict) else None
    if kind not in SCORER_KINDS:
        raise ModelFormatError(
            f"Unknown scorer kind {kind!r}; expected one of {sorted(SCORER_KINDS)}."
        )
    return SCORER_KINDS[str(kind)](data)


def learned_attributes(estimator: object) -> list[str]:
    """Return the names of an estimator's learned attributes (ending in ``_``).

    Examples
    --------
    >>> class Est:
    ...     def __init__(self):
    ...         self.alpha = 1
    ...         self.coef_ = 2
    ...         self._cache = 3
    >>> learned_attributes(Est())
    ['coef_']
    """
    return sorted(
        k for k in vars(estimator) if k.endswith("_") and not k.startswith("_")
    )


def reset_learned(estimator: object) -> None:
    """Forget everything a previous ``fit`` learned (and private caches)."""
    for name in list(vars(estimator)):
        if (name.endswith("_") and not name.startswith("__")) or name.startswith("_"):
            delattr(estimator, name)
