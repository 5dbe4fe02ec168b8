"""Linkage configuration: declarations read from TOML, validated, round-tripped."""

from __future__ import annotations

import dataclasses
import tomllib
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from er_toolkit import schema
from er_toolkit.blocking import Blocker, KeyBlocker, as_blocker, blocker_from_dict
from er_toolkit.compare import Comparison
from er_toolkit.exceptions import ConfigError
from er_toolkit.schema import LinkType
from er_toolkit.standardise import Standardiser, steps_from_dict, steps_to_dict

FORMAT_VERSION = 1
MODEL_KINDS = ("fellegi_sunter", "classifier")


def _check_keys(table: Mapping[str, Any], valid: set[str], where: str) -> None:
    unknown = sorted(set(table) - valid)
    if unknown:
        raise ConfigError(
            f"Unknown key(s) {unknown} in {where}; valid keys are {sorted(valid)}."
        )


@dataclass(frozen=True)
class SourceConfig:
    """Where one source's records come from.

    Exactly one of ``path`` (a CSV or Parquet file, relative to the config
    file) and ``dataset`` (a shipped benchmark, e.g. ``"febrl3"``; with
    ``part`` choosing the file of a two-file set) is given.
    """

    name: str
    id_column: str = schema.RECORD_ID
    path: str | None = None
    dataset: str | None = None
    part: int = 0

    @classmethod
    def from_dict(cls, spec: Mapping[str, Any]) -> SourceConfig:
        """Build from a ``[[sources]]`` table."""
        _check_keys(
            spec, {"name", "id_column", "path", "dataset", "part"}, "[[sources]]"
        )
        if "name" not in spec:
            raise ConfigError(
                f"Each [[sources]] table needs a 'name'; got {dict(spec)}."
            )
        if ("path" in spec) == ("dataset" in spec):
            raise ConfigError(
                f"Source {spec['name']!r} needs exactly one of 'path' and 'dataset'."
            )
        return cls(**spec)


@dataclass(frozen=True)
class BlockingConfig:
    """Blockers, in priority order, and the limits on their pairs (``[blocking]``).

    Each ``[[blocking.blockers]]`` table declares one blocker by its
    ``kind`` (see :data:`~er_toolkit.blocking.BLOCKER_KINDS`) and that
    kind's options::

        [[blocking.blockers]]
        kind = "exact"
        keys = ["surname", "dob[:4]"]

        [[blocking.blockers]]
        kind = "sorted_neighbourhood"
        keys = ["soc_sec_id"]
        window = 5

    The older keys ``rules = [["surname", "dob[:4]"], ...]`` (exact rules)
    and ``sorted_neighbourhood = [{keys = [...], window = 5}]`` are still
    read, as those same declarations (exact rules first); :meth:`to_dict`
    writes the new form.

    ``max_block_size`` (None: no limit) is the default ``max_block_size``
    of every key blocker (an exact rule) that does not set its own: blocks
    of more records are purged (see :class:`~er_toolkit.blocking.ExactRule`).
    ``max_pairs_per_rule`` refuses (``on_explode = "raise"``) or skips with a
    warning (``"warn"``) a blocker that would make more pairs; None: no limit.
    """

    blockers: tuple[Blocker, ...] = ()
    max_pairs_per_rule: int | None = 50_000_000
    on_explode: str = "raise"
    max_block_size: int | None = None

    def __post_init__(self) -> None:
        blockers = tuple(
            as_blocker(b, where=f"[[blocking.blockers]] number {i + 1}")
            for i, b in enumerate(self.blockers)
        )
        object.__setattr__(self, "blockers", blockers)
        names = [b.name for b in blockers]
        doubled = sorted({n for n in names if names.count(n) > 1})
        if doubled:
            raise ConfigError(
                f"Blocker names must be unique; {doubled} name more than one "
                "blocker (give one a 'name')."
            )
        size = self.max_block_size
        if size is not None and (
            isinstance(size, bool) or not isinstance(size, int) or size < 2
        ):
            raise ConfigError(
                f"[blocking] max_block_size must be an int >= 2, or left out for no "
                f"limit; got {size!r}."
            )
        limit = self.max_pairs_per_rule
        if limit is not None and (
            isinstance(limit, bool) or not isinstance(limit, int) or limit < 1
        ):
            raise ConfigError(
                f"[blocking] max_pairs_per_rule must be an int >= 1, or None for no "
                f"limit; got {limit!r}."
            )
        if self.on_explode not in ("raise", "warn"):
            raise ConfigError(
                f"[blocking] on_explode must be 'raise' or 'warn'; got "
                f"{self.on_explode!r}."
            )

    @classmethod
    def from_dict(cls, spec: Mapping[str, Any]) -> BlockingConfig:
        """Build from the ``[blocking]`` table (the new form or the older one)."""
        _check_keys(
            spec,
            {
                "blockers",
                "rules",
                "sorted_neighbourhood",
                "max_pairs_per_rule",
                "on_explode",
                "max_block_size",
            },
            "[blocking]",
        )
        older = [k for k in ("rules", "sorted_neighbourhood") if k in spec]
        if older and "blockers" in spec:
            raise ConfigError(
                f"[blocking] declares blockers both in [[blocking.blockers]] and in "
                f"the older {older}; move them all to [[blocking.blockers]] (whose "
                "order is their priority)."
            )
        declared: list[Blocker] = [
            as_blocker(b, where=f"[[blocking.blockers]] number {i + 1}")
            for i, b in enumerate(spec.get("blockers", ()))
        ]
        for i, rule in enumerate(spec.get("rules", ())):
            if isinstance(rule, Mapping):
                raise ConfigError(
                    f"[blocking] rules must be lists of column names; rule number "
                    f"{i + 1} is a table (declare it in [[blocking.blockers]])."
                )
            declared.append(as_blocker(rule, where=f"[blocking] rule number {i + 1}"))
        for i, item in enumerate(spec.get("sorted_neighbourhood", ())):
            _check_keys(item, {"keys", "window"}, "[[blocking.sorted_neighbourhood]]")
            if "keys" not in item:
                raise ConfigError(
                    "Each [[blocking.sorted_neighbourhood]] table needs 'keys'; got "
                    f"{dict(item)}."
                )
            declared.append(
                blocker_from_dict(
                    {"kind": "sorted_neighbourhood", **item},
                    where=f"[[blocking.sorted_neighbourhood]] number {i + 1}",
                )
            )
        size = spec.get("max_block_size")
        return cls(
            blockers=tuple(declared),
            max_pairs_per_rule=spec.get("max_pairs_per_rule", 50_000_000),
            on_explode=spec.get("on_explode", "raise"),
            # 0 is how files written before None meant "no limit"
            max_block_size=None if size == 0 and not isinstance(size, bool) else size,
        )

    def to_dict(self) -> dict[str, Any]:
        """Return the ``[blocking]`` table, blockers as ``[[blocking.blockers]]``."""
        out: dict[str, Any] = {
            "blockers": [b.to_dict() for b in self.blockers],
            "on_explode": self.on_explode,
            # None (no limit) is written too: left out, from_dict would read
            # back the default limit.
            "max_pairs_per_rule": self.max_pairs_per_rule,
        }
        if self.max_block_size is not None:
            out["max_block_size"] = self.max_block_size
        return out

    def compile(self) -> list[Blocker]:
        """Return the blockers to run, ``max_block_size`` given to key blockers without one."""
        if not self.blockers:
            raise ConfigError(
                "[blocking] needs at least one blocker ([[blocking.blockers]]); got "
                "none."
            )
        purge = self.max_block_size
        return [
            dataclasses.replace(b, max_block_size=purge)  # type: ignore[type-var]
            if purge is not None
            and isinstance(b, KeyBlocker)
            and b.max_block_size is None
            and dataclasses.is_dataclass(b)
            else b
            for b in self.blockers
        ]

    @property
    def columns(self) -> tuple[str, ...]:
        """Every column a blocker reads."""
        return tuple(dict.fromkeys(c for b in self.blockers for c in b.columns))


@dataclass(frozen=True)
class ModelConfig:
    """Scorer settings (the ``[model]`` table).

    ``training_rules`` (the blockers of the EM training sessions) and
    ``deterministic_rules`` (whose pairs are taken as matches to estimate
    λ) are each a list of blockers: a list of column names is an exact rule
    on them (``[["surname", "dob"], ["email"]]``), and a table is any
    blocker's declaration (``[{kind = "sorted_neighbourhood", keys =
    ["dob"], window = 4}]``, or ``[[model.training_rules]]`` tables).
    ``max_pairs_per_session`` caps the pairs of each EM training session
    (0: no cap). ``kind = "fellegi_sunter"`` (the default) or
    ``"classifier"``. The
    classifier keys (``estimator``, ``stack``, ``calibration``,
    ``threshold_strategy``, ``target_precision``, ``cv``) are those of
    :class:`~er_toolkit.score.ClassifierScorer`; with ``stack = true`` a
    Fellegi-Sunter model is fitted first (with the other keys) and its
    weights become features.
    """

    kind: str = "fellegi_sunter"
    training_rules: tuple[Blocker, ...] = ()
    deterministic_rules: tuple[Blocker, ...] = ()
    deterministic_recall: float = 0.9
    probability_two_random_records_match: float | None = None
    u_sample_size: int = 1_000_000
    max_iter: int = 100
    max_pairs_per_session: int = 2_000_000
    seed: int = 0
    estimator: str = "gradient_boosting"
    stack: bool = True
    calibration: str = "isotonic"
    threshold_strategy: str = "max_f1"
    target_precision: float | None = None
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
        """Build from the ``[model]`` table."""
        valid = {
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
        classifier_keys = {
            "estimator",
            "stack",
            "calibration",
            "threshold_strategy",
            "target_precision",
            "cv",
        }
        kind = spec.get("kind", "fellegi_sunter")
        if kind not in MODEL_KINDS:
            raise ConfigError(
                f"[model] kind must be one of {list(MODEL_KINDS)}; got {kind!r}."
            )
        if kind == "classifier":
            _check_classifier(spec)
            valid |= classifier_keys
        elif set(spec) & classifier_keys:
            raise ConfigError(
                f"[model] key(s) {sorted(set(spec) & classifier_keys)} apply only to "
                "kind = 'classifier'; add kind = 'classifier' or remove them."
            )
        _check_keys(spec, valid, "[model]")
        return cls(**spec)

    def to_dict(self) -> dict[str, Any]:
        """Return the ``[model]`` table."""
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
            if self.target_precision is not None:
                out["target_precision"] = self.target_precision
        return out


def _check_classifier(spec: Mapping[str, Any]) -> None:
    """Check the classifier keys of a ``[model]`` table, naming the valid choices."""
    from er_toolkit.score.classifier import (
        CALIBRATIONS,
        ESTIMATORS,
        THRESHOLD_STRATEGIES,
    )

    for key, choices in (
        ("estimator", ESTIMATORS),
        ("calibration", CALIBRATIONS),
        ("threshold_strategy", THRESHOLD_STRATEGIES),
    ):
        if key in spec and spec[key] not in choices:
            raise ConfigError(
                f"[model] {key} must be one of {list(choices)}; got {spec[key]!r}."
            )
    if "stack" in spec and not isinstance(spec["stack"], bool):
        raise ConfigError(
            f"[model] stack must be true or false; got {spec['stack']!r}."
        )
    cv = spec.get("cv", 5)
    if isinstance(cv, bool) or not isinstance(cv, int) or cv < 2:
        raise ConfigError(f"[model] cv must be an integer >= 2; got {cv!r}.")
    target = spec.get("target_precision")
    if spec.get("threshold_strategy") == "target_precision" and (
        isinstance(target, bool)
        or not isinstance(target, (int, float))
        or not 0 < target <= 1
    ):
        raise ConfigError(
            "[model] threshold_strategy = 'target_precision' needs target_precision "
            f"in (0, 1]; got {target!r}."
        )


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
        as ``python -m er_toolkit.label`` writes it. Only its pairs train the
        classifier (partial labels); they override ``[evaluation]`` labels
        where both label a pair.
    validation_fraction
        Share of the labelled pairs held out (stratified, seeded) to choose
        the threshold on; 0 (the default) chooses it on out-of-fold
        predictions of all of them.
    """

    labels_path: str | None = None
    validation_fraction: float = 0.0

    @classmethod
    def from_dict(cls, spec: Mapping[str, Any]) -> TrainingConfig:
        """Build from the ``[training]`` table."""
        _check_keys(spec, {"labels_path", "validation_fraction"}, "[training]")
        fraction = _number(spec.get("validation_fraction", 0.0), "validation_fraction")
        if not 0.0 <= fraction < 1.0:
            raise ConfigError(
                f"[training] validation_fraction must be in [0, 1); got {fraction!r}."
            )
        return cls(labels_path=spec.get("labels_path"), validation_fraction=fraction)

    def to_dict(self) -> dict[str, Any]:
        """Return the ``[training]`` table (empty when all defaults)."""
        out: dict[str, Any] = {}
        if self.labels_path is not None:
            out["labels_path"] = self.labels_path
        if self.validation_fraction:
            out["validation_fraction"] = self.validation_fraction
        return out


@dataclass(frozen=True)
class ClusteringConfig:
    """How scored pairs become clusters (the ``[clustering]`` table).

    See :func:`er_toolkit.cluster.connected_components`: with
    ``prune_weak_links`` a low link that no common neighbour supports is cut
    in components of more than ``min_prune_size`` records, so false links
    do not chain clusters together; ``max_cluster_size`` (0: none) re-cuts
    larger components at stricter thresholds.
    """

    prune_weak_links: bool = False
    keep_above: float = 0.999
    min_prune_size: int = 3
    max_cluster_size: int = 0

    @classmethod
    def from_dict(cls, spec: Mapping[str, Any]) -> ClusteringConfig:
        """Build from the ``[clustering]`` table."""
        _check_keys(
            spec,
            {"prune_weak_links", "keep_above", "min_prune_size", "max_cluster_size"},
            "[clustering]",
        )
        out = cls(**spec)
        if not isinstance(out.prune_weak_links, bool):
            raise ConfigError(
                f"[clustering] prune_weak_links must be true or false; got "
                f"{out.prune_weak_links!r}."
            )
        if not 0.0 <= _number(out.keep_above, "keep_above") <= 1.0:
            raise ConfigError(
                f"[clustering] keep_above must be in [0, 1]; got {out.keep_above!r}."
            )
        if (
            isinstance(out.min_prune_size, bool)
            or not isinstance(out.min_prune_size, int)
            or out.min_prune_size < 2
        ):
            raise ConfigError(
                f"[clustering] min_prune_size must be an int >= 2; got "
                f"{out.min_prune_size!r}."
            )
        return out


@dataclass(frozen=True)
class EvaluationConfig:
    """Where the labels are: an entity-id column, or a file of true pairs."""

    entity_column: str | None = None
    pairs_path: str | None = None

    @classmethod
    def from_dict(cls, spec: Mapping[str, Any]) -> EvaluationConfig:
        """Build from the ``[evaluation]`` table."""
        _check_keys(spec, {"entity_column", "pairs_path"}, "[evaluation]")
        return cls(**spec)


@dataclass(frozen=True)
class LinkageConfig:
    """Everything a training run needs, declared.

    Parameters
    ----------
    name
        The model's name, also its registered name in MLflow.
    link_type
        ``"dedupe"``, ``"link"`` or ``"link_and_dedupe"``.
    sources
        Where records come from (training runs only).
    blocking
        Candidate-pair rules.
    comparisons
        The comparisons of each pair.
    model
        Scorer settings.
    threshold
        Match probability at or above which a pair links records. With a
        classifier (``[model] kind = "classifier"``) fitting replaces it by
        the classifier's chosen threshold, unless ``[model]
        threshold_strategy = "fixed"``, which keeps this value.
    evaluation
        Where the labels are, for evaluation (and, without ``[training]``
        labels, for training a classifier).
    training
        Labels for a classifier: a reviewed pair list, and a validation share.
    experiment
        The MLflow experiment name.
    base_dir
        The folder relative paths are read from.
    """

    name: str
    link_type: LinkType
    comparisons: tuple[Comparison, ...]
    blocking: BlockingConfig
    sources: tuple[SourceConfig, ...] = ()
    model: ModelConfig = field(default_factory=ModelConfig)
    threshold: float = 0.5
    evaluation: EvaluationConfig = field(default_factory=EvaluationConfig)
    clustering: ClusteringConfig = field(default_factory=ClusteringConfig)
    training: TrainingConfig = field(default_factory=TrainingConfig)
    experiment: str = "er_toolkit"
    standardise: Mapping[str, tuple[Standardiser, ...]] = field(default_factory=dict)
    base_dir: Path = Path(".")

    def __post_init__(self) -> None:
        if self.link_type not in schema.LINK_TYPES:
            raise ConfigError(
                f"'link_type' must be one of {list(schema.LINK_TYPES)}; got "
                f"{self.link_type!r}."
            )
        if not 0.0 <= self.threshold <= 1.0:
            raise ConfigError(f"'threshold' must be in [0, 1]; got {self.threshold!r}.")
        if not self.comparisons:
            raise ConfigError("A config needs at least one [[comparisons]] table.")
        if self.link_type == "link" and 0 < len(self.sources) < 2:
            raise ConfigError(
                f"A 'link' job needs at least two [[sources]]; got {len(self.sources)}."
            )

    @property
    def derived_columns(self) -> tuple[str, ...]:
        """Columns the standardisers add (``<column>_<part>``)."""
        return tuple(
            f"{column}_{part}"
            for column, steps in self.standardise.items()
            for step in steps
            for part in step.parts
        )

    @property
    def columns(self) -> tuple[str, ...]:
        """Every input column the model reads (standardisers' outputs excluded)."""
        cols = [c.column for c in self.comparisons] + list(self.blocking.columns)
        for rule in (*self.model.training_rules, *self.model.deterministic_rules):
            cols.extend(rule.columns)
        derived = set(self.derived_columns)
        cols = [c for c in cols if c not in derived] + list(self.standardise)
        return tuple(dict.fromkeys(cols))

    @classmethod
    def from_dict(
        cls, spec: Mapping[str, Any], *, base_dir: Path = Path(".")
    ) -> LinkageConfig:
        """Build from a parsed TOML document (or :meth:`to_dict`'s output)."""
        valid = {
            "format_version",
            "name",
            "link_type",
            "sources",
            "blocking",
            "comparisons",
            "model",
            "threshold",
            "evaluation",
            "clustering",
            "training",
            "experiment",
            "standardise",
        }
        _check_keys(spec, valid, "the config")
        for key in ("name", "link_type", "blocking", "comparisons"):
            if key not in spec:
                raise ConfigError(f"The config needs {key!r}; it has {sorted(spec)}.")
        return cls(
            name=str(spec["name"]),
            link_type=spec["link_type"],
            sources=tuple(SourceConfig.from_dict(s) for s in spec.get("sources", ())),
            blocking=BlockingConfig.from_dict(spec["blocking"]),
            comparisons=tuple(Comparison.from_dict(c) for c in spec["comparisons"]),
            model=ModelConfig.from_dict(spec.get("model", {})),
            threshold=_number(spec.get("threshold", 0.5), "threshold"),
            evaluation=EvaluationConfig.from_dict(spec.get("evaluation", {})),
            clustering=ClusteringConfig.from_dict(spec.get("clustering", {})),
            training=TrainingConfig.from_dict(spec.get("training", {})),
            experiment=str(spec.get("experiment", "er_toolkit")),
            standardise=steps_from_dict(spec.get("standardise", {})),
            base_dir=base_dir,
        )

    @classmethod
    def from_toml(cls, path: str | Path) -> LinkageConfig:
        """Read a TOML config file."""
        file = Path(path)
        if not file.is_file():
            raise ConfigError(f"Config file {str(file)!r} does not exist.")
        try:
            spec = tomllib.loads(file.read_text())
        except tomllib.TOMLDecodeError as exc:
            raise ConfigError(
                f"Config file {str(file)!r} is not valid TOML: {exc}"
            ) from exc
        return cls.from_dict(spec, base_dir=file.parent)

    def to_dict(self, *, with_sources: bool = True) -> dict[str, Any]:
        """Return the declarations (what a model file stores)."""
        out: dict[str, Any] = {
            "format_version": FORMAT_VERSION,
            "name": self.name,
            "link_type": self.link_type,
            "threshold": self.threshold,
            "experiment": self.experiment,
            "blocking": self.blocking.to_dict(),
            "comparisons": [c.to_dict() for c in self.comparisons],
            "model": self.model.to_dict(),
        }
        out["clustering"] = dict(vars(self.clustering))
        if self.standardise:
            out["standardise"] = steps_to_dict(self.standardise)
        if with_sources:
            out["sources"] = [
                {k: v for k, v in vars(s).items() if v is not None}
                for s in self.sources
            ]
            ev = {k: v for k, v in vars(self.evaluation).items() if v is not None}
            if ev:
                out["evaluation"] = ev
            if self.training.to_dict():
                out["training"] = self.training.to_dict()
        return out


def _number(value: Any, name: str) -> float:
    if isinstance(value, bool) or not isinstance(value, (int, float)):
        raise ConfigError(f"{name!r} must be a number; got {value!r}.")
    return float(value)


def flatten(spec: Mapping[str, Any], *, prefix: str = "") -> dict[str, str]:
    """Flatten nested tables into dotted keys, for logging as MLflow params.

    Examples
    --------
    >>> flatten({"a": {"b": 1}, "c": [1, 2]})
    {'a.b': '1', 'c': '[1, 2]'}
    """
    out: dict[str, str] = {}
    for key, value in spec.items():
        name = f"{prefix}{key}"
        if isinstance(value, Mapping):
            out.update(flatten(value, prefix=name + "."))
        elif (
            isinstance(value, Sequence)
            and not isinstance(value, str)
            and value
            and all(isinstance(v, Mapping) and "name" in v for v in value)
        ):
            for v in value:
                out.update(flatten(v, prefix=f"{name}.{v['name']}."))
        else:
            out[name] = str(value)
    return out
