"""A scikit-learn classifier over comparison vectors, with calibrated probabilities."""

from __future__ import annotations

import logging
import os
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from pathlib import Path
from typing import Any, Final, Literal

import numpy as np
import polars as pl
from sklearn.base import BaseEstimator, clone

from er_toolkit import __version__, schema
from er_toolkit.compare import Comparison
from er_toolkit.engines.base import as_engine
from er_toolkit.exceptions import (
    ConfigError,
    LabelError,
    ModelFormatError,
    NotFittedError,
    SchemaError,
)
from er_toolkit.progress import progress_bar
from er_toolkit.score import safe_skops
from er_toolkit.score.base import (
    LinkageData,
    ScorerReport,
    learned_attributes,
    reset_learned,
)
from er_toolkit.score.fellegi_sunter import FellegiSunter
from er_toolkit.score.labels import split_validation, training_pairs
from er_toolkit.score.validation import load_model_json, validate_classifier_dict
from er_toolkit.thresholds import (
    THRESHOLD_STRATEGIES,
    ThresholdStrategy,
    choose_threshold,
    expected_curve,
    pick_threshold,
)

log = logging.getLogger(__name__)

FORMAT_VERSION = 2
READABLE_VERSIONS = (1, 2)
EstimatorName = Literal["gradient_boosting", "logistic_regression", "random_forest"]
ESTIMATORS: Final[tuple[EstimatorName, ...]] = (
    "gradient_boosting",
    "logistic_regression",
    "random_forest",
)
Calibration = Literal["isotonic", "sigmoid"]
ThresholdOn = Literal["labels", "candidates"]
THRESHOLD_ON: Final[tuple[ThresholdOn, ...]] = ("labels", "candidates")
CANDIDATE_SAMPLE: Final = 2_000_000
"""With ``threshold_on="candidates"``: the threshold is chosen on at most this
many candidate pairs (a seeded random sample of them where there are more)."""
CALIBRATIONS: Final[tuple[Calibration, ...]] = ("isotonic", "sigmoid")
FS_WEIGHT: Final = schema.FS_MATCH_WEIGHT
"""Feature name of the Fellegi-Sunter match weight when stacking."""

_P_CLIP = 1e-12
_IMPORTANCE_ROWS = 5_000
LEARNED: Final = frozenset(
    {
        "model_",
        "fellegi_sunter_",
        "feature_names_",
        "n_train_",
        "n_train_matches_",
        "threshold_",
        "threshold_reason_",
        "validation_curve_",
        "cv_metrics_",
        "training_report_",
        "feature_importances_",
        "feature_importances_std_",
    }
)
"""Every attribute fitting learns; a model file's ``fitted`` holds exactly these."""

__all__ = [
    "CALIBRATIONS",
    "ESTIMATORS",
    "THRESHOLD_STRATEGIES",
    "ClassifierScorer",
    "choose_threshold",
    "load_estimator",
]


@contextmanager
def thread_limits(n_jobs: int | None) -> Iterator[None]:
    """Run scikit-learn work with OpenMP at ``n_jobs`` threads and BLAS at one.

    OpenMP (gradient boosting) and OpenBLAS (linear models) each start a
    thread per core by default; together, and beside polars' and rapidfuzz's
    pools, they oversubscribe a small machine badly.
    """
    from threadpoolctl import threadpool_limits

    threads = n_jobs or os.cpu_count() or 1
    with (
        threadpool_limits(limits=threads, user_api="openmp"),
        threadpool_limits(limits=1, user_api="blas"),
    ):
        yield


class ClassifierScorer(BaseEstimator):  # type: ignore[misc]
    """Supervised scoring: a scikit-learn classifier on comparison vectors.

    Features are each comparison's gamma level, its raw similarity where the
    comparison has one (NaN where a value is null) and, when stacked on a
    :class:`FellegiSunter` model, its per-comparison log2 Bayes factors
    ``bf_<name>`` and match weight ``fs_match_weight``. Probabilities are
    calibrated with :class:`sklearn.calibration.CalibratedClassifierCV`; the
    match threshold is chosen on validation data when given, else on
    out-of-fold predictions (:func:`sklearn.model_selection.cross_val_predict`).

    Parameters
    ----------
    comparisons
        The comparisons whose vectors are scored (as in
        :func:`er_toolkit.compare.compare_pairs`).
    estimator
        ``"gradient_boosting"`` (histogram gradient-boosted trees, which take
        NaN as is), ``"logistic_regression"`` (one-hot gamma levels, imputed
        and scaled similarities with missing-value indicators) or
        ``"random_forest"``; or any unfitted scikit-learn classifier or
        :class:`~sklearn.pipeline.Pipeline` ending in one, with
        ``predict_proba`` (it must cope with NaN in the similarities).
    fellegi_sunter
        A Fellegi-Sunter model to stack on: its weights become features. An
        unfitted one is fitted (a clone of it) by :meth:`fit_linkage`; a
        fitted one is used as it is.
    calibration
        ``"isotonic"`` or ``"sigmoid"`` (Platt) calibration.
    threshold_strategy
        ``"max_f1"``: the threshold of highest F1; ``"target_precision"``:
        the lowest threshold (most recall) whose precision reaches
        ``target_precision``; ``"fixed"``: ``threshold`` as given (see
        :func:`er_toolkit.thresholds.pick_threshold`).
    target_precision
        The precision to reach, with ``threshold_strategy="target_precision"``.
    threshold
        The threshold, with ``threshold_strategy="fixed"``.
    threshold_on
        Where :meth:`fit_linkage` applies ``threshold_strategy``:
        ``"labels"`` on the validation pairs or out-of-fold predictions of
        the labelled pairs; ``"candidates"`` on the expected
        precision-recall curve of the candidate pairs
        (:func:`~er_toolkit.thresholds.expected_curve`; at most
        :data:`CANDIDATE_SAMPLE` pairs, a seeded sample beyond), each a
        match with the probability the stacked Fellegi-Sunter model gives
        it (trained on every candidate, without labels), or without a
        stack the classifier's own. Labels an active learner picked are
        mostly uncertain pairs, far from the mix of the candidates the
        threshold is applied to: chosen on them, the threshold is too low
        for the population and clusters chain; the classifier's
        calibration, fitted on those labels, overstates the population's
        borderline pairs too. :meth:`fit` (no candidate pairs) always uses
        the labels.
    cv
        Folds for calibration and for the out-of-fold predictions (fewer
        when a class has too few labelled pairs).
    validation_fraction
        In :meth:`fit_linkage`, the share of labelled pairs held out
        (stratified, seeded) to choose the threshold on; 0 chooses it on
        out-of-fold predictions of all of them.
    n_jobs
        Threads for the estimator (OpenMP, random forest trees); ``None``
        uses every core. BLAS runs on one thread during fitting.
    seed
        Seed of the folds, the estimator and permutation importance.

    Attributes
    ----------
    model_ : sklearn.calibration.CalibratedClassifierCV
        The fitted, calibrated classifier.
    fellegi_sunter_ : FellegiSunter or None
        The fitted Fellegi-Sunter model the features stack on.
    feature_names_ : list[str]
        The feature columns, in the model's order.
    threshold_ : float
        Match probability at or above which a pair is a match.
    threshold_reason_ : str
        How the threshold was chosen, with the precision / recall it gave.
    cv_metrics_ : dict[str, float]
        Out-of-fold precision, recall and F1 at ``threshold_``, average
        precision, Brier score and ROC AUC, and the training counts.
    training_report_ : dict[str, float]
        From :meth:`fit_linkage`: training pairs, matches among them, and
        labelled matches blocking missed (empty after :meth:`fit`).
    feature_importances_, feature_importances_std_ : numpy.ndarray
        Permutation importance (drop in average precision) of each feature,
        on the validation pairs when given, else on the training pairs.
    validation_curve_ : polars.DataFrame
        ``threshold``, ``precision``, ``recall``, ``f1`` over the pairs the
        threshold was chosen on.

    Examples
    --------
    >>> from er_toolkit.compare import Comparison, SimilarityLevel
    >>> name = Comparison("name", "name", (SimilarityLevel("jaro_winkler", 0.9),))
    >>> rng = np.random.default_rng(0)
    >>> sim = np.r_[rng.uniform(0.85, 1, 60), rng.uniform(0, 0.9, 140)]
    >>> vectors = pl.DataFrame({
    ...     "_row_l": np.arange(200), "_row_r": np.arange(200) + 1000,
    ...     "gamma_name": (sim >= 0.9).astype(np.int8),
    ...     "sim_name": sim.astype(np.float32)})
    >>> y = np.r_[np.ones(60), np.zeros(140)]
    >>> scorer = ClassifierScorer([name], estimator="logistic_regression",
    ...                           calibration="sigmoid", cv=3).fit(vectors, y)
    >>> scored = scorer.predict(vectors)
    >>> scored.columns
    ['_row_l', '_row_r', 'match_weight', 'match_probability']
    >>> scorer.threshold_reason_.split(" (")[0]
    'max F1 0.8624'
    >>> bool(scored["match_probability"].is_between(0, 1).all())
    True
    """

    def __init__(
        self,
        comparisons: Sequence[Comparison] = (),
        *,
        estimator: EstimatorName | Any = "gradient_boosting",
        fellegi_sunter: FellegiSunter | None = None,
        calibration: Calibration = "isotonic",
        threshold_strategy: ThresholdStrategy = "max_f1",
        target_precision: float | None = None,
        threshold: float = 0.5,
        threshold_on: ThresholdOn = "labels",
        cv: int = 5,
        validation_fraction: float = 0.0,
        n_jobs: int | None = None,
        seed: int = 0,
    ) -> None:
        self.comparisons = comparisons
        self.estimator = estimator
        self.fellegi_sunter = fellegi_sunter
        self.calibration = calibration
        self.threshold_strategy = threshold_strategy
        self.target_precision = target_precision
        self.threshold = threshold
        self.threshold_on = threshold_on
        self.cv = cv
        self.validation_fraction = validation_fraction
        self.n_jobs = n_jobs
        self.seed = seed

    def __sklearn_is_fitted__(self) -> bool:
        """Whether :meth:`fit` has run (scikit-learn's ``check_is_fitted``)."""
        return hasattr(self, "model_")

    @property
    def needs_similarities(self) -> bool:
        """The classifier reads raw similarities as features."""
        return True

    @property
    def supervised(self) -> bool:
        """A classifier needs labelled pairs."""
        return True

    # ------------------------------------------------------------- features
    def _stack(self) -> FellegiSunter | None:
        """Return the Fellegi-Sunter model whose weights are features, if any."""
        if hasattr(self, "fellegi_sunter_"):
            return self.fellegi_sunter_  # type: ignore[no-any-return]
        return self.fellegi_sunter

    @property
    def feature_names(self) -> list[str]:
        """The feature columns these settings build, in order."""
        comps = list(self.comparisons)
        names = [schema.gamma(c.name) for c in comps]
        names += [
            schema.sim(c.name) for c in comps if c.similarity_comparator is not None
        ]
        stack = self._stack()
        if stack is not None:
            names += [schema.bf(c.name) for c in stack.comparisons]
            names.append(FS_WEIGHT)
        return names

    def features(self, vectors: pl.DataFrame) -> pl.DataFrame:
        """Return the feature frame of comparison vectors (Float64, NaN for null).

        Parameters
        ----------
        vectors
            Output of :func:`er_toolkit.compare.compare_pairs` for this
            scorer's comparisons.

        Returns
        -------
        polars.DataFrame
            One column per name in :attr:`feature_names`.
        """
        base = [
            n
            for n in self.feature_names
            if n.startswith((schema.GAMMA_PREFIX, schema.SIM_PREFIX))
        ]
        missing = [n for n in base if n not in vectors.columns]
        if missing:
            raise SchemaError(
                f"The comparison vectors lack column(s) {missing}; its columns are "
                f"{vectors.columns}. Compare the pairs with this model's comparisons "
                "(er_toolkit.compare.compare_pairs)."
            )
        frame = vectors.select(
            *[pl.col(n).cast(pl.Float64).fill_null(np.nan) for n in base]
        )
        stack = self._stack()
        if stack is not None:
            explained = stack.predict(vectors, explain=True)
            bf_cols = [n for n in self.feature_names if n.startswith(schema.BF_PREFIX)]
            frame = frame.with_columns(
                *[explained.get_column(n).cast(pl.Float64) for n in bf_cols],
                explained.get_column(schema.MATCH_WEIGHT)
                .cast(pl.Float64)
                .alias(FS_WEIGHT),
            )
        return frame

    def _matrix(self, vectors: pl.DataFrame) -> np.ndarray:
        frame = self.features(vectors)
        if frame.height == 0:
            return np.empty((0, frame.width), dtype=np.float64)
        return frame.to_numpy().astype(np.float64, copy=False)

    def _base_estimator(self) -> Any:
        from sklearn.base import is_classifier

        est = self.estimator
        if not isinstance(est, str):
            if not is_classifier(est) or not hasattr(est, "predict_proba"):
                raise ConfigError(
                    "The 'estimator' parameter of ClassifierScorer must be one of "
                    f"{list(ESTIMATORS)} or a scikit-learn classifier (or Pipeline "
                    f"ending in one) with predict_proba; got {type(est).__name__}."
                )
            return clone(est)
        if est == "gradient_boosting":
            from sklearn.ensemble import HistGradientBoostingClassifier

            return HistGradientBoostingClassifier(random_state=self.seed)
        if est == "random_forest":
            from sklearn.ensemble import RandomForestClassifier

            return RandomForestClassifier(
                n_estimators=100,
                min_samples_leaf=3,
                n_jobs=self.n_jobs,
                random_state=self.seed,
            )
        if est == "logistic_regression":
            from sklearn.compose import ColumnTransformer
            from sklearn.impute import SimpleImputer
            from sklearn.linear_model import LogisticRegression
            from sklearn.pipeline import make_pipeline
            from sklearn.preprocessing import OneHotEncoder, StandardScaler

            names = self.feature_names
            gammas = [i for i, n in enumerate(names) if n.startswith("gamma_")]
            numeric = [i for i, n in enumerate(names) if not n.startswith("gamma_")]
            steps: list[tuple[str, Any, list[int]]] = [
                ("gamma", OneHotEncoder(handle_unknown="ignore"), gammas)
            ]
            if numeric:
                steps.append(
                    (
                        "numeric",
                        make_pipeline(
                            SimpleImputer(strategy="median", add_indicator=True),
                            StandardScaler(),
                        ),
                        numeric,
                    )
                )
            return make_pipeline(
                ColumnTransformer(steps), LogisticRegression(max_iter=2000)
            )
        raise ConfigError(
            f"The 'estimator' parameter of ClassifierScorer must be one of "
            f"{list(ESTIMATORS)} or a scikit-learn classifier; got {est!r}."
        )

    def _validate(self) -> None:
        if not list(self.comparisons):
            raise ConfigError(
                "ClassifierScorer needs at least one comparison; got none."
            )
        if self.calibration not in CALIBRATIONS:
            raise ConfigError(
                f"The 'calibration' parameter of ClassifierScorer must be one of "
                f"{list(CALIBRATIONS)}; got {self.calibration!r}."
            )
        if self.threshold_strategy not in THRESHOLD_STRATEGIES:
            raise ConfigError(
                "The 'threshold_strategy' parameter of ClassifierScorer must be one "
                f"of {list(THRESHOLD_STRATEGIES)}; got {self.threshold_strategy!r}."
            )
        tp = self.target_precision
        if self.threshold_on not in THRESHOLD_ON:
            raise ConfigError(
                "The 'threshold_on' parameter of ClassifierScorer must be one of "
                f"{list(THRESHOLD_ON)}; got {self.threshold_on!r}."
            )
        if self.threshold_strategy == "target_precision" and (
            tp is None or isinstance(tp, bool) or not 0.0 < tp <= 1.0
        ):
            raise ConfigError(
                "threshold_strategy='target_precision' needs 'target_precision' in "
                f"(0, 1]; got {tp!r}."
            )
        if not 0.0 <= self.threshold <= 1.0:
            raise ConfigError(
                f"The 'threshold' parameter of ClassifierScorer must be in [0, 1]; "
                f"got {self.threshold!r}."
            )
        if isinstance(self.cv, bool) or not isinstance(self.cv, int) or self.cv < 2:
            raise ConfigError(
                f"The 'cv' parameter of ClassifierScorer must be an int >= 2; got "
                f"{self.cv!r}."
            )
        if not 0.0 <= self.validation_fraction < 1.0:
            raise ConfigError(
                "The 'validation_fraction' parameter of ClassifierScorer must be in "
                f"[0, 1); got {self.validation_fraction!r}."
            )

    # ------------------------------------------------------------------ fit
    def fit_linkage(self, data: LinkageData) -> ClassifierScorer:
        """Build the labelled training pairs, fit the stack, then the classifier.

        The labels are ``data.labels`` (true pairs, or reviewed pairs with
        ``is_match``: only they train), else ``data.truth`` (complete truth:
        every candidate pair is labelled). The threshold is chosen on
        ``data.validation`` when given. Labelled matches blocking missed
        are added to the training pairs and counted in
        ``training_report_``. An unfitted ``fellegi_sunter`` is cloned and
        fitted on the records, unsupervised.

        Returns
        -------
        ClassifierScorer
            self, fitted.
        """
        self._validate()
        engine = as_engine(data.engine)
        truth: pl.DataFrame | None = None
        reviewed: pl.DataFrame | None = None
        if data.labels is not None and schema.IS_MATCH in data.labels.columns:
            reviewed = data.labels
        elif data.labels is not None:
            truth = data.labels
        else:
            truth = data.truth
        candidates = engine.collect(
            data.candidate_pairs,
            columns=[schema.ROW_L, schema.ROW_R, schema.BLOCKED_BY],
        )
        train = training_pairs(candidates, true_pairs=truth, labelled_pairs=reviewed)
        if train.labelled_matches_missed_by_blocking:
            log.warning(
                "%d labelled match(es) are not among the candidate pairs: blocking "
                "missed them, so no threshold can link them",
                train.labelled_matches_missed_by_blocking,
            )
        stack = self.fellegi_sunter
        fit_stack = stack is not None and not stack.__sklearn_is_fitted__()
        with progress_bar(total=2 + fit_stack, desc="fit", unit="step") as bar:
            if stack is not None and fit_stack:
                bar.describe("Fellegi-Sunter to stack on")
                stack = clone(stack).fit_linkage(
                    LinkageData(
                        records=data.records,
                        candidate_pairs=data.candidate_pairs,
                        link_type=data.link_type,
                        candidate_vectors=data.candidate_vectors,
                        n_jobs=self.n_jobs or data.n_jobs,
                        engine=engine,
                    )
                )
                bar.update()
            bar.describe("compare labelled pairs")
            vectors = engine.vectors_of(
                data.records,
                train.pairs,
                self.comparisons,
                workers=self.n_jobs or data.n_jobs,
            )
            bar.update()
            y = train.y
            validation = None
            if data.validation is not None:
                held = data.validation
                validation = (
                    engine.vectors_of(
                        data.records,
                        held.select(schema.ROW_L, schema.ROW_R),
                        self.comparisons,
                        workers=self.n_jobs or data.n_jobs,
                    ),
                    held.get_column(schema.IS_MATCH).to_numpy().astype(bool),
                )
            elif self.validation_fraction:
                fit_rows, valid_rows = split_validation(
                    y.size, y, fraction=self.validation_fraction, seed=self.seed
                )
                validation = (vectors[valid_rows], y[valid_rows])
                vectors, y = vectors[fit_rows], y[fit_rows]
            bar.describe("train, calibrate, choose the threshold")
            self._fit(vectors, y, validation=validation, stack=stack)
            if self.threshold_on == "candidates":
                self._threshold_on_candidates(data, candidates)
            bar.update()
        self.training_report_ = train.report
        return self

    def _threshold_on_candidates(
        self, data: LinkageData, candidates: pl.DataFrame
    ) -> None:
        """Choose the threshold on the candidate pairs' expected curve (``threshold_on="candidates"``)."""
        engine = as_engine(data.engine)
        vectors = data.candidate_vectors
        n = candidates.height
        if n > CANDIDATE_SAMPLE:
            picked = np.sort(
                np.random.default_rng(self.seed).choice(
                    n, CANDIDATE_SAMPLE, replace=False
                )
            )
        else:
            picked = None
        if isinstance(vectors, pl.DataFrame) and vectors.height == n:
            if picked is not None:
                vectors = vectors[picked]
        else:
            pairs = candidates.select(schema.ROW_L, schema.ROW_R)
            vectors = engine.vectors_of(
                data.records,
                pairs if picked is None else pairs[picked],
                self.comparisons,
                workers=self.n_jobs or data.n_jobs,
            )
        if vectors.height == 0:
            return
        p = self.predict_proba(vectors)
        stack = self._stack()
        if stack is not None:
            q = stack.predict(vectors).get_column(schema.MATCH_PROBABILITY).to_numpy()
            by = "Fellegi-Sunter"
        else:
            q, by = p, "calibrated"
        curve = expected_curve(np.asarray(q, dtype=np.float64), p)
        where = (
            f"{vectors.height:,} candidate pairs (expected, each a match with its "
            f"{by} probability)"
        )
        self.threshold_, self.threshold_reason_ = pick_threshold(
            curve,
            strategy=self.threshold_strategy,
            target_precision=self.target_precision,
            threshold=self.threshold,
            where=where,
        )
        self.validation_curve_ = curve
        target, oof = self._oof
        self.cv_metrics_.update(_metrics(target, oof, self.threshold_))
        log.info(
            "ClassifierScorer: threshold %.4f on the candidates (%s)",
            self.threshold_,
            self.threshold_reason_,
        )

    def fit(
        self,
        vectors: pl.DataFrame,
        y: Sequence[bool] | np.ndarray | pl.Series,
        *,
        validation: tuple[pl.DataFrame, Sequence[bool] | np.ndarray | pl.Series]
        | None = None,
    ) -> ClassifierScorer:
        """Train, calibrate and choose the threshold on labelled comparison vectors.

        Parameters
        ----------
        vectors
            Comparison vectors of the labelled training pairs.
        y
            Whether each pair of ``vectors`` is a match (bool or 0/1).
        validation
            Comparison vectors and labels of held-out pairs, to choose the
            threshold and measure feature importance on. Without it the
            threshold is chosen on out-of-fold predictions.

        Returns
        -------
        ClassifierScorer
            self, fitted.

        Raises
        ------
        NotFittedError
            If ``fellegi_sunter`` is given but not fitted (use
            :meth:`fit_linkage`, which fits it).
        LabelError
            If the labels are not one per pair, or a class has fewer than 4
            pairs.
        """
        self._validate()
        stack = self.fellegi_sunter
        if stack is not None and not stack.__sklearn_is_fitted__():
            raise NotFittedError(
                "The 'fellegi_sunter' model to stack on is not fitted; fit it first, "
                "or train with fit_linkage, which fits it."
            )
        return self._fit(vectors, y, validation=validation, stack=stack)

    def _fit(
        self,
        vectors: pl.DataFrame,
        y: Sequence[bool] | np.ndarray | pl.Series,
        *,
        validation: tuple[pl.DataFrame, Sequence[bool] | np.ndarray | pl.Series] | None,
        stack: FellegiSunter | None,
    ) -> ClassifierScorer:
        from sklearn.calibration import CalibratedClassifierCV
        from sklearn.inspection import permutation_importance
        from sklearn.model_selection import StratifiedKFold, cross_val_predict

        reset_learned(self)
        self.fellegi_sunter_ = stack
        self.training_report_ = {}
        target = _labels(y, n=vectors.height, name="y")
        X = self._matrix(vectors)
        n_pos = int(target.sum())
        n_neg = int(target.size - n_pos)
        if min(n_pos, n_neg) < 4:
            raise LabelError(
                "ClassifierScorer needs at least 4 labelled matches and 4 labelled "
                f"non-matches; got {n_pos} match(es) and {n_neg} non-match(es). "
                "Label more pairs (python -m er_toolkit label) or check the labels."
            )
        folds = min(self.cv, max(2, min(n_pos, n_neg) // 2))
        splitter = StratifiedKFold(n_splits=folds, shuffle=True, random_state=self.seed)
        # ensemble=False: one estimator fitted on every pair, its calibrator
        # fitted on cross-validated predictions (one model to store and run).
        calibrated = CalibratedClassifierCV(
            self._base_estimator(),
            method=self.calibration,
            cv=splitter,
            ensemble=False,
        )
        with thread_limits(self.n_jobs):
            oof = cross_val_predict(
                clone(calibrated), X, target, cv=splitter, method="predict_proba"
            )[:, 1]
            self.model_ = calibrated.fit(X, target)
        self.feature_names_ = list(self.feature_names)
        self.n_train_ = int(target.size)
        self.n_train_matches_ = n_pos

        if validation is not None:
            v_vectors, v_y = validation
            v_target = _labels(v_y, n=v_vectors.height, name="validation labels")
            if v_target.all() or not v_target.any():
                raise LabelError(
                    "The validation pairs need both matches and non-matches; got "
                    f"{int(v_target.sum())} match(es) of {v_target.size}."
                )
            v_X = self._matrix(v_vectors)
            with thread_limits(self.n_jobs):
                v_p = self.model_.predict_proba(v_X)[:, 1]
            where = f"{v_target.size:,} validation pairs"
            eval_X, eval_y, eval_p = v_X, v_target, v_p
        else:
            where = f"out-of-fold predictions ({folds} folds)"
            eval_X, eval_y, eval_p = X, target, oof
        self.threshold_, self.threshold_reason_, self.validation_curve_ = (
            choose_threshold(
                eval_y,
                eval_p,
                strategy=self.threshold_strategy,
                target_precision=self.target_precision,
                threshold=self.threshold,
                where=where,
            )
        )
        self._oof = (target, oof)
        self.cv_metrics_ = _metrics(target, oof, self.threshold_)
        self.cv_metrics_.update(
            {"n_train": float(target.size), "n_train_matches": float(n_pos)}
        )
        rows = eval_y.size
        with thread_limits(self.n_jobs):
            importance = permutation_importance(
                self.model_,
                eval_X,
                eval_y,
                scoring="average_precision",
                n_repeats=3,
                random_state=self.seed,
                max_samples=min(rows, _IMPORTANCE_ROWS),
            )
        self.feature_importances_ = np.asarray(importance.importances_mean)
        self.feature_importances_std_ = np.asarray(importance.importances_std)
        log.info(
            "ClassifierScorer: %d pairs (%d matches), threshold %.4f (%s)",
            target.size,
            n_pos,
            self.threshold_,
            self.threshold_reason_,
        )
        return self

    # -------------------------------------------------------------- predict
    def _check_fitted(self) -> None:
        if not hasattr(self, "model_"):
            raise NotFittedError(
                "This ClassifierScorer is not fitted yet; call fit(vectors, y) or "
                "load a saved model first."
            )

    def predict_proba(self, vectors: pl.DataFrame) -> np.ndarray:
        """Return the calibrated match probability of each pair (float64)."""
        self._check_fitted()
        X = self._matrix(vectors)
        if X.shape[0] == 0:
            return np.empty(0, dtype=np.float64)
        with thread_limits(self.n_jobs):
            return np.asarray(self.model_.predict_proba(X)[:, 1], dtype=np.float64)

    def predict(self, vectors: pl.DataFrame, *, explain: bool = False) -> pl.DataFrame:
        """Score comparison vectors.

        Parameters
        ----------
        vectors
            Output of :func:`er_toolkit.compare.compare_pairs` for this
            model's comparisons.
        explain
            Also return the features the classifier saw (gamma levels,
            similarities and, when stacked, the Fellegi-Sunter ``bf_``
            contributions and ``fs_match_weight``).

        Returns
        -------
        polars.DataFrame
            The pair columns (``_row_l``, ``_row_r``, ``blocked_by`` where
            present), ``match_weight`` (log2 odds of the calibrated
            probability, clipped at about ±40 bits) and ``match_probability``.
        """
        probability = self.predict_proba(vectors)
        clipped = np.clip(probability, _P_CLIP, 1.0 - _P_CLIP)
        weight = np.log2(clipped) - np.log2(1.0 - clipped)
        keep = [
            c
            for c in (schema.ROW_L, schema.ROW_R, schema.BLOCKED_BY)
            if c in vectors.columns
        ]
        out = vectors.select(keep).with_columns(
            pl.Series(schema.MATCH_WEIGHT, weight, dtype=pl.Float64),
            pl.Series(schema.MATCH_PROBABILITY, probability, dtype=pl.Float64),
        )
        if explain:
            out = out.with_columns(self.features(vectors))
        return out

    def feature_importance_table(self) -> pl.DataFrame:
        """Return ``feature``, ``importance``, ``std``, most important first."""
        self._check_fitted()
        return pl.DataFrame(
            {
                "feature": self.feature_names_,
                "importance": self.feature_importances_.astype(np.float64),
                "std": self.feature_importances_std_.astype(np.float64),
            }
        ).sort("importance", descending=True)

    def estimator_params(self) -> dict[str, str]:
        """Return the base estimator's scalar parameters, as strings (for MLflow)."""
        self._check_fitted()
        params = self.model_.estimator.get_params(deep=True)
        return {
            k: str(v)
            for k, v in sorted(params.items())
            if v is None or isinstance(v, (bool, int, float, str))
        }

    def report(self) -> ScorerReport:
        """Return the cross-validated metrics, threshold, importances and stack."""
        self._check_fitted()
        metrics = {f"cv_{k}": v for k, v in self.cv_metrics_.items()}
        metrics.update(self.training_report_)
        metrics["threshold"] = self.threshold_
        curve = self.validation_curve_
        if curve.height:
            # the F1 the threshold was chosen by: on the validation pairs, out of
            # fold, or (threshold_on="candidates") expected over the candidates
            metrics["validation_f1"] = float(curve.get_column("f1").max())  # type: ignore[arg-type]
        tables: dict[str, pl.DataFrame] = {
            "feature_importance": self.feature_importance_table(),
            "threshold_curve": self.validation_curve_,
        }
        stack = self.fellegi_sunter_
        if stack is not None:
            inner = stack.report()
            tables.update(inner.tables)
            metrics["probability_two_random_records_match"] = (
                stack.probability_two_random_records_match_
            )
        params = {f"estimator.{k}": v for k, v in self.estimator_params().items()}
        params["classifier.threshold_reason"] = self.threshold_reason_
        return ScorerReport(
            metrics=metrics,
            params=params,
            tags={
                "threshold": f"{self.threshold_:.6g}",
                "threshold_reason": self.threshold_reason_,
            },
            tables=tables,
        )

    # -------------------------------------------------------------- display
    def _estimator_name(self) -> str:
        if isinstance(self.estimator, str):
            return self.estimator
        return type(self.estimator).__name__

    def __repr__(self, N_CHAR_MAX: int = 700) -> str:
        stacked = (
            ", stacked on FellegiSunter" if self.fellegi_sunter is not None else ""
        )
        head = (
            f"ClassifierScorer({self._estimator_name()}, {self.calibration}, "
            f"{len(self.comparisons)} comparisons{stacked}"
        )
        if not self.__sklearn_is_fitted__():
            return head + ", not fitted)"
        return (
            f"{head}, fitted on {self.n_train_:,} pairs: threshold "
            f"{self.threshold_:.4g}, cross-validated F1 {self.cv_metrics_['f1']:.4f})"
        )

    def _repr_html_(self) -> str:
        from sklearn.utils import estimator_html_repr

        from er_toolkit.display import html_summary

        details = [("estimator parameters", estimator_html_repr(self))]
        facts: list[tuple[str, object]] = [
            ("estimator", self._estimator_name()),
            ("calibration", self.calibration),
            ("threshold strategy", self.threshold_strategy),
            ("comparisons", ", ".join(c.name for c in self.comparisons)),
            ("stacked on Fellegi-Sunter", self.fellegi_sunter is not None),
        ]
        if not self.__sklearn_is_fitted__():
            facts.append(("state", "not fitted"))
            return html_summary("ClassifierScorer (not fitted)", facts, details=details)
        facts += [
            ("threshold", self.threshold_),
            ("threshold chosen by", self.threshold_reason_),
            (
                "labelled pairs (matches)",
                f"{self.n_train_:,} ({self.n_train_matches_:,})",
            ),
        ]
        cv = pl.DataFrame(
            {
                "metric": list(self.cv_metrics_),
                "value": [float(v) for v in self.cv_metrics_.values()],
            }
        )
        stack = self.fellegi_sunter_
        flagged = stack._suspicious_lines() if stack is not None else []
        return html_summary(
            "ClassifierScorer (fitted)",
            facts,
            warnings=[f"stacked Fellegi-Sunter: {line}" for line in flagged],
            tables=[
                ("cross-validated (out-of-fold) metrics", cv),
                ("permutation importance", self.feature_importance_table().head(12)),
            ],
            details=details,
        )

    def _repr_mimebundle_(self, **kwargs: Any) -> dict[str, str]:
        """Jupyter's display: the fitted summary, not only scikit-learn's diagram."""
        return {"text/plain": repr(self), "text/html": self._repr_html_()}

    # ---------------------------------------------------------- persistence
    def to_dict(self) -> dict[str, Any]:
        """Return the fitted model as a JSON-ready dict.

        The calibrated estimator is serialised with :func:`skops.io.dumps`
        (never pickle) and embedded base64-encoded; every other learned
        attribute is stored as plain JSON.
        """
        self._check_fitted()
        name = self.estimator if isinstance(self.estimator, str) else "custom"
        fitted: dict[str, Any] = {}
        for attr in learned_attributes(self):
            value = getattr(self, attr)
            if attr == "model_":
                value = safe_skops.dump_estimator(value)
            elif attr == "fellegi_sunter_":
                value = None if value is None else value.to_dict()
            elif attr == "validation_curve_":
                value = value.to_dict(as_series=False)
            elif isinstance(value, np.ndarray):
                value = value.tolist()
            fitted[attr] = value
        return {
            "format_version": FORMAT_VERSION,
            "kind": "ClassifierScorer",
            "er_toolkit_version": __version__,
            "comparisons": [c.to_dict() for c in self.comparisons],
            "params": {
                "estimator": name,
                "calibration": self.calibration,
                "threshold_strategy": self.threshold_strategy,
                "target_precision": self.target_precision,
                "threshold": self.threshold,
                "threshold_on": self.threshold_on,
                "cv": self.cv,
                "validation_fraction": self.validation_fraction,
                "seed": self.seed,
            },
            "fitted": fitted,
        }

    @classmethod
    def from_dict(
        cls, data: dict[str, Any], *, trusted: Sequence[str] = ()
    ) -> ClassifierScorer:
        """Rebuild a fitted scorer from :meth:`to_dict`'s output.

        Parameters
        ----------
        data
            The dict.
        trusted
            Full type names to trust beyond
            :data:`~er_toolkit.score.safe_skops.TRUSTED_TYPES`, for a model
            with a custom estimator (see ``SECURITY.md``).

        Raises
        ------
        ModelFormatError
            If a field is missing, of the wrong type or out of range, or the
            embedded estimator holds a type a classifier model does not need.
        """
        validate_classifier_dict(data)
        version = data.get("format_version") if isinstance(data, dict) else None
        kind = data.get("kind") if isinstance(data, dict) else type(data).__name__
        if kind != "ClassifierScorer" or version not in READABLE_VERSIONS:
            raise ModelFormatError(
                f"Expected a ClassifierScorer model of format_version "
                f"{list(READABLE_VERSIONS)}; got kind={kind!r}, "
                f"format_version={version!r}."
            )
        params = data["params"]
        fitted = dict(data["fitted"])
        if version == 1:
            fitted = {
                "model_": fitted["estimator_skops"],
                "fellegi_sunter_": data.get("fellegi_sunter"),
                "threshold_": fitted["threshold"],
                "threshold_reason_": fitted["threshold_reason"],
                "cv_metrics_": fitted["cv_metrics"],
                "feature_names_": fitted["feature_names"],
                "feature_importances_": fitted["feature_importances"],
                "feature_importances_std_": fitted["feature_importances_std"],
                "n_train_": fitted["n_train"],
                "n_train_matches_": fitted["n_train_matches"],
                "training_report_": {},
            }
        unknown = sorted(set(fitted) - LEARNED)
        if unknown:
            raise ModelFormatError(
                f"The model file's 'fitted' holds unknown field(s) {unknown}; expected "
                f"only {sorted(LEARNED)}."
            )
        if "model_" not in fitted:
            raise ModelFormatError(
                "The model file's 'fitted' lacks the field 'model_' (the estimator)."
            )
        model_ = load_estimator(fitted.pop("model_"), trusted=trusted)
        fs_data = fitted.pop("fellegi_sunter_", None)
        stack = None if fs_data is None else FellegiSunter.from_dict(fs_data)
        estimator = params["estimator"]
        scorer = cls(
            tuple(Comparison.from_dict(c) for c in data["comparisons"]),
            estimator=estimator if estimator in ESTIMATORS else model_.estimator,
            fellegi_sunter=stack,
            calibration=params["calibration"],
            threshold_strategy=params["threshold_strategy"],
            target_precision=params["target_precision"],
            threshold=params["threshold"],
            threshold_on=params.get("threshold_on", "labels"),
            cv=params["cv"],
            validation_fraction=params.get("validation_fraction", 0.0),
            seed=params["seed"],
        )
        scorer.model_ = model_
        scorer.fellegi_sunter_ = stack
        for attr, value in fitted.items():
            if attr in ("feature_importances_", "feature_importances_std_"):
                value = np.asarray(value, dtype=np.float64)
            elif attr == "validation_curve_":
                value = pl.DataFrame(value, schema={c: pl.Float64 for c in value})
            elif attr == "cv_metrics_":
                value = {k: float(v) for k, v in value.items()}
            setattr(scorer, attr, value)
        scorer.threshold_ = float(scorer.threshold_)
        if scorer.feature_names_ != scorer.feature_names:
            raise ModelFormatError(
                f"The saved feature names {scorer.feature_names_} do not match the "
                f"model's comparisons ({scorer.feature_names}); the file is corrupt."
            )
        return scorer

    def save(self, path: str | os.PathLike[str]) -> Path:
        """Write the model as JSON to ``path`` (atomically)."""
        from er_toolkit.io import write_json_atomic

        return write_json_atomic(self.to_dict(), path)

    @classmethod
    def load(
        cls, path: str | os.PathLike[str], *, trusted: Sequence[str] = ()
    ) -> ClassifierScorer:
        """Read a model written by :meth:`save` (``trusted`` as in :meth:`from_dict`)."""
        return cls.from_dict(load_model_json(path), trusted=trusted)


# --------------------------------------------------------------------------- #
# helpers
# --------------------------------------------------------------------------- #
def load_estimator(encoded: str, *, trusted: Sequence[str] = ()) -> Any:
    """Load a base64 skops payload; see :func:`er_toolkit.score.safe_skops.load_estimator`."""
    return safe_skops.load_estimator(encoded, trusted=trusted)


def _labels(
    y: Sequence[bool] | np.ndarray | pl.Series, *, n: int, name: str
) -> np.ndarray:
    arr = y.to_numpy() if isinstance(y, pl.Series) else np.asarray(y)
    if arr.ndim != 1 or arr.size != n:
        raise LabelError(
            f"{name} must hold one label per pair ({n}); got shape {arr.shape}."
        )
    if arr.dtype != bool:
        try:
            values = arr.astype(np.float64)
        except (TypeError, ValueError) as exc:
            raise LabelError(
                f"{name} must be booleans or 0/1; got dtype {arr.dtype}."
            ) from exc
        if not np.isin(values, (0.0, 1.0)).all():
            raise LabelError(
                f"{name} must be booleans or 0/1; got values "
                f"{sorted(set(np.unique(values).tolist()) - {0.0, 1.0})[:5]}."
            )
        arr = values == 1.0
    return arr.astype(np.int8)


def _metrics(y: np.ndarray, p: np.ndarray, threshold: float) -> dict[str, float]:
    from sklearn.metrics import (
        average_precision_score,
        brier_score_loss,
        precision_recall_fscore_support,
        roc_auc_score,
    )

    predicted = (p >= threshold).astype(np.int8)
    precision, recall, f1, _ = precision_recall_fscore_support(
        y, predicted, average="binary", zero_division=0.0
    )
    return {
        "precision": float(precision),
        "recall": float(recall),
        "f1": float(f1),
        "average_precision": float(average_precision_score(y, p)),
        "brier": float(brier_score_loss(y, p)),
        "roc_auc": float(roc_auc_score(y, p)),
    }
