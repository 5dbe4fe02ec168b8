"""The ``[model]`` and ``[training]`` tables, and the scorer they declare."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any, Final, Literal, get_args

from er_toolkit.blocking import Blocker, as_blocker
from er_toolkit.compare import Comparison
from er_toolkit.config_values import (
    check_keys,
    choice,
    flag,
    limit,
    number,
    whole,
)
from er_toolkit.exceptions import ConfigError
from er_toolkit.schema import LinkType
from er_toolkit.score.base import Scorer
from er_toolkit.thresholds import THRESHOLD_STRATEGIES, ThresholdStrategy

__all__ = ["MODEL_KINDS", "ModelConfig", "ModelKind", "TrainingConfig"]

ModelKind = Literal["fellegi_sunter", "classifier"]
MODEL_KINDS: Final[tuple[ModelKind, ...]] = get_args(ModelKind)
MAX_SEED: Final = 2**32 - 1
"""The largest seed numpy's and scikit-learn's random states accept."""
_ESTIMATORS: Final = ("gradient_boosting", "logistic_regression", "random_forest")
_CALIBRATIONS: Final = ("isotonic", "sigmoid")
_FS_KEYS: Final = {
    "kind",
    "training_rules",
    "deterministic_rules",
    "deterministic_recall",
    "probability_two_random_records_match",
    "u_sample_size",
    "max_iter",
    "max_pairs_per_session",
    "seed",
}
_CLASSIFIER_KEYS: Final = {
    "estimator",
    "stack",
    "calibration",
    "threshold_strategy",
    "target_precision",
    "threshold_on",
    "cv",
}


@dataclass(frozen=True)
class ModelConfig:
    """Scorer settings (the ``[model]`` table).

    ``kind = "fellegi_sunter"`` (the default) or ``"classifier"``. The
    Fellegi-Sunter keys are those of :class:`~er_toolkit.score.FellegiSunter`
    (``max_pairs_per_session``: ``"none"`` for no cap); the classifier keys
    (``estimator``, ``stack``, ``calibration``, ``threshold_strategy``,
    ``target_precision``, ``threshold_on``, ``cv``) those of
    :class:`~er_toolkit.score.ClassifierScorer`. With ``stack = true`` a
    Fellegi-Sunter model of the other keys is fitted first and its weights
    become features.
    """

    kind: ModelKind = "fellegi_sunter"
    training_rules: tuple[Blocker, ...] = ()
    deterministic_rules: tuple[Blocker, ...] = ()
    deterministic_recall: float = 0.9
    probability_two_random_records_match: float | None = None
    u_sample_size: int = 1_000_000
    max_iter: int = 100
    max_pairs_per_session: int | None = 2_000_000
    seed: int = 0
    estimator: Literal["gradient_boosting", "logistic_regression", "random_forest"] = (
        "gradient_boosting"
    )
    stack: bool = True
    calibration: Literal["isotonic", "sigmoid"] = "isotonic"
    threshold_strategy: ThresholdStrategy = "max_f1"
    target_precision: float | None = None
    threshold_on: Literal["labels", "candidates"] = "labels"
    cv: int = 5

    def __post_init__(self) -> None:
        for key in ("training_rules", "deterministic_rules"):
            rules = getattr(self, key)
            if isinstance(rules, (str, Mapping)) or not isinstance(rules, Sequence):
                raise ConfigError(
                    f"[model] {key} must be a list of blockers (column lists or "
                    f"blocker tables); got {type(rules).__name__}."
                )
            blockers = tuple(
                as_blocker(r, where=f"[model] {key} number {i + 1}")
                for i, r in enumerate(rules)
            )
            object.__setattr__(self, key, blockers)

    @classmethod
    def from_dict(cls, spec: Mapping[str, Any]) -> ModelConfig:
        """Build from the ``[model]`` table, checking every value's type and range."""
        kind = choice(spec.get("kind", "fellegi_sunter"), "[model] kind", MODEL_KINDS)
        valid = set(_FS_KEYS)
        if kind == "classifier":
            valid |= _CLASSIFIER_KEYS
        elif set(spec) & _CLASSIFIER_KEYS:
            raise ConfigError(
                f"[model] key(s) {sorted(set(spec) & _CLASSIFIER_KEYS)} apply only to "
                "kind = 'classifier'; add kind = 'classifier' or remove them."
            )
        check_keys(spec, valid, "[model]")
        lam = spec.get("probability_two_random_records_match")
        target = spec.get("target_precision")
        strategy = choice(
            spec.get("threshold_strategy", "max_f1"),
            "[model] threshold_strategy",
            THRESHOLD_STRATEGIES,
        )
        if strategy == "target_precision":
            number(target, "[model] target_precision", low=0, high=1, low_open=True)
        return cls(
            kind=kind,
            training_rules=_rules(spec.get("training_rules", ()), "training_rules"),
            deterministic_rules=_rules(
                spec.get("deterministic_rules", ()), "deterministic_rules"
            ),
            deterministic_recall=number(
                spec.get("deterministic_recall", 0.9),
                "[model] deterministic_recall",
                low=0,
                high=1,
                low_open=True,
            ),
            probability_two_random_records_match=(
                None
                if lam is None
                else number(
                    lam,
                    "[model] probability_two_random_records_match",
                    low=0,
                    high=1,
                    low_open=True,
                    high_open=True,
                )
            ),
            u_sample_size=whole(
                spec.get("u_sample_size", 1_000_000), "[model] u_sample_size", minimum=1
            ),
            max_iter=whole(spec.get("max_iter", 100), "[model] max_iter", minimum=1),
            max_pairs_per_session=limit(
                spec.get("max_pairs_per_session", 2_000_000),
                "[model] max_pairs_per_session",
            ),
            seed=whole(spec.get("seed", 0), "[model] seed", maximum=MAX_SEED),
            estimator=choice(
                spec.get("estimator", "gradient_boosting"),
                "[model] estimator",
                _ESTIMATORS,
            ),
            stack=flag(spec.get("stack", True), "[model] stack"),
            calibration=choice(
                spec.get("calibration", "isotonic"),
                "[model] calibration",
                _CALIBRATIONS,
            ),
            threshold_strategy=strategy,
            target_precision=None if target is None else float(target),
            threshold_on=choice(
                spec.get("threshold_on", "labels"),
                "[model] threshold_on",
                ("labels", "candidates"),
            ),
            cv=whole(spec.get("cv", 5), "[model] cv", minimum=2),
        )

    def to_dict(self) -> dict[str, Any]:
        """Return the ``[model]`` table (JSON: ``None`` for no limit)."""
        out: dict[str, Any] = {
            "kind": self.kind,
            "training_rules": [b.to_dict() for b in self.training_rules],
            "deterministic_rules": [b.to_dict() for b in self.deterministic_rules],
            "deterministic_recall": self.deterministic_recall,
            "u_sample_size": self.u_sample_size,
            "max_iter": self.max_iter,
            "max_pairs_per_session": self.max_pairs_per_session,
            "seed": self.seed,
        }
        if self.probability_two_random_records_match is not None:
            out["probability_two_random_records_match"] = (
                self.probability_two_random_records_match
            )
        if self.kind == "classifier":
            out.update(
                estimator=self.estimator,
                stack=self.stack,
                calibration=self.calibration,
                threshold_strategy=self.threshold_strategy,
                cv=self.cv,
            )
            if self.threshold_on != "labels":
                out["threshold_on"] = self.threshold_on
            if self.target_precision is not None:
                out["target_precision"] = self.target_precision
        return out

    def fellegi_sunter(
        self,
        comparisons: Sequence[Comparison],
        *,
        link_type: LinkType,
        threshold: float,
        default_training_rules: Sequence[Any] = (),
        n_jobs: int | None = None,
    ) -> Any:
        """Return the unfitted :class:`~er_toolkit.score.FellegiSunter` these keys declare."""
        from er_toolkit.score.fellegi_sunter import FellegiSunter

        return FellegiSunter(
            tuple(comparisons),
            link_type=link_type,
            training_rules=self.training_rules or tuple(default_training_rules),
            deterministic_rules=self.deterministic_rules,
            deterministic_recall=self.deterministic_recall,
            probability_two_random_records_match=self.probability_two_random_records_match,
            u_sample_size=self.u_sample_size,
            max_iter=self.max_iter,
            max_pairs_per_session=self.max_pairs_per_session,
            threshold=threshold,
            n_jobs=n_jobs,
            seed=self.seed,
        )

    def scorer(
        self,
        comparisons: Sequence[Comparison],
        *,
        link_type: LinkType,
        threshold: float,
        default_training_rules: Sequence[Any] = (),
        validation_fraction: float = 0.0,
        n_jobs: int | None = None,
    ) -> Scorer:
        """Return the unfitted scorer of ``kind``, ready for ``fit_linkage``."""
        fs = self.fellegi_sunter(
            comparisons,
            link_type=link_type,
            threshold=threshold,
            default_training_rules=default_training_rules,
            n_jobs=n_jobs,
        )
        if self.kind == "fellegi_sunter":
            scorer: Scorer = fs
            return scorer
        from er_toolkit.score.classifier import ClassifierScorer

        return ClassifierScorer(
            tuple(comparisons),
            estimator=self.estimator,
            fellegi_sunter=fs if self.stack else None,
            calibration=self.calibration,
            threshold_strategy=self.threshold_strategy,
            target_precision=self.target_precision,
            threshold=threshold,
            threshold_on=self.threshold_on,
            cv=self.cv,
            validation_fraction=validation_fraction,
            n_jobs=n_jobs,
            seed=self.seed,
        )


def _rules(value: Any, name: str) -> tuple[Any, ...]:
    """Read a list of rules: column lists or blocker declaration tables."""
    if isinstance(value, (str, Mapping)) or not isinstance(value, Sequence):
        raise ConfigError(
            f"[model] {name} must be a list of blockers (column lists or blocker "
            f"tables); got {type(value).__name__}."
        )
    return tuple(value)


@dataclass(frozen=True)
class TrainingConfig:
    """Labels for a supervised scorer (the ``[training]`` table).

    Without this table a classifier trains on the ``[evaluation]`` labels
    (complete truth: every blocked pair is labelled).

    Parameters
    ----------
    labels_path
        A reviewed pair list (``record_id_l``, ``record_id_r``, ``is_match``;
        optionally ``source_l`` / ``source_r``), relative to the config file,
        as ``python -m er_toolkit label`` writes it. Only its pairs train the
        classifier (partial labels); they override ``[evaluation]`` labels
        where both label a pair.
    validation_fraction
        Share of the labelled pairs held out (stratified, seeded) to choose
        the threshold on; 0 (the default) chooses it on out-of-fold
        predictions of all of them.
    validation_path
        A labelled pair list (as ``labels_path``; Magellan's ``ltable_id,
        rtable_id, label`` is read too) to choose the threshold on instead:
        a fixed validation split. Not with ``validation_fraction``.
    """

    labels_path: str | None = None
    validation_fraction: float = 0.0
    validation_path: str | None = None

    @classmethod
    def from_dict(cls, spec: Mapping[str, Any]) -> TrainingConfig:
        """Build from the ``[training]`` table."""
        check_keys(
            spec,
            {"labels_path", "validation_fraction", "validation_path"},
            "[training]",
        )
        fraction = number(
            spec.get("validation_fraction", 0.0),
            "[training] validation_fraction",
            low=0,
            high=1,
            high_open=True,
        )
        path = spec.get("labels_path")
        validation = spec.get("validation_path")
        for key, value in (("labels_path", path), ("validation_path", validation)):
            if value is not None and not isinstance(value, str):
                raise ConfigError(
                    f"[training] {key} must be a path (text); got {value!r}."
                )
        if validation is not None and fraction:
            raise ConfigError(
                "[training] takes one of validation_path (a fixed validation split) "
                f"and validation_fraction; got both ({fraction})."
            )
        return cls(
            labels_path=path, validation_fraction=fraction, validation_path=validation
        )

    def to_dict(self) -> dict[str, Any]:
        """Return the ``[training]`` table (empty when all defaults)."""
        out: dict[str, Any] = {}
        if self.labels_path is not None:
            out["labels_path"] = self.labels_path
        if self.validation_fraction:
            out["validation_fraction"] = self.validation_fraction
        if self.validation_path is not None:
            out["validation_path"] = self.validation_path
        return out
