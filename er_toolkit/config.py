"""Linkage configuration: declarations read from TOML, validated, round-tripped."""

from __future__ import annotations

import dataclasses
import math
import posixpath
import re
import tomllib
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Final

import polars as pl

from er_toolkit import schema
from er_toolkit.blocking import Blocker, ExactRule, SortedNeighbourhood
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
    encoding: str | None = None
    """Text encoding of a CSV ``path`` (None: UTF-8); see :func:`er_toolkit.io.read_frame`."""

    @classmethod
    def from_dict(cls, spec: Mapping[str, Any]) -> SourceConfig:
        """Build from a ``[[sources]]`` table."""
        _check_keys(
            spec,
            {"name", "id_column", "path", "dataset", "part", "encoding"},
            "[[sources]]",
        )
        validate_source_table(spec)
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
    """Blocking rules: exact rules and sorted-neighbourhood windows.

    ``max_block_size`` (0: none) purges, in every exact rule, blocks of more
    records than that (see :class:`~er_toolkit.blocking.ExactRule`).
    """

    rules: tuple[tuple[str, ...], ...] = ()
    sorted_neighbourhood: tuple[tuple[tuple[str, ...], int], ...] = ()
    max_pairs_per_rule: int | None = 50_000_000
    on_explode: str = "raise"
    max_block_size: int = 0

    @classmethod
    def from_dict(cls, spec: Mapping[str, Any]) -> BlockingConfig:
        """Build from the ``[blocking]`` table."""
        _check_keys(
            spec,
            {
                "rules",
                "sorted_neighbourhood",
                "max_pairs_per_rule",
                "on_explode",
                "max_block_size",
            },
            "[blocking]",
        )
        sn = []
        for item in spec.get("sorted_neighbourhood", ()):
            _check_keys(item, {"keys", "window"}, "[[blocking.sorted_neighbourhood]]")
            if "keys" not in item:
                raise ConfigError(
                    "Each [[blocking.sorted_neighbourhood]] table needs 'keys'; got "
                    f"{dict(item)}."
                )
            sn.append((tuple(item["keys"]), int(item.get("window", 5))))
        return cls(
            rules=tuple(tuple(r) for r in spec.get("rules", ())),
            sorted_neighbourhood=tuple(sn),
            max_pairs_per_rule=spec.get("max_pairs_per_rule", 50_000_000),
            on_explode=spec.get("on_explode", "raise"),
            max_block_size=spec.get("max_block_size", 0),
        )

    def to_dict(self) -> dict[str, Any]:
        """Return the ``[blocking]`` table."""
        out: dict[str, Any] = {
            "rules": [list(r) for r in self.rules],
            "sorted_neighbourhood": [
                {"keys": list(k), "window": w} for k, w in self.sorted_neighbourhood
            ],
            "on_explode": self.on_explode,
            # None (no limit) is written too: left out, from_dict would read
            # back the default limit.
            "max_pairs_per_rule": self.max_pairs_per_rule,
            "max_block_size": self.max_block_size,
        }
        return out

    def blockers(self) -> list[Blocker]:
        """Compile the declarations into blockers, exact rules first."""
        purge = self.max_block_size or None
        out: list[Blocker] = [
            ExactRule(tuple(r), max_block_size=purge) for r in self.rules
        ]
        out += [SortedNeighbourhood(k, window=w) for k, w in self.sorted_neighbourhood]
        if not out:
            raise ConfigError("[blocking] needs at least one rule; got none.")
        return out

    @property
    def columns(self) -> tuple[str, ...]:
        """Every column a blocking rule reads."""
        cols: list[str] = []
        for b in self.blockers():
            cols.extend(getattr(b, "columns", ()))
        return tuple(dict.fromkeys(cols))


@dataclass(frozen=True)
class ModelConfig:
    """Scorer settings (the ``[model]`` table).

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
    training_rules: tuple[tuple[str, ...], ...] = ()
    deterministic_rules: tuple[tuple[str, ...], ...] = ()
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
        validate_model_table(spec)
        out = dict(spec)
        for key in ("training_rules", "deterministic_rules"):
            out[key] = tuple(tuple(r) for r in spec.get(key, ()))
        return cls(**out)

    def to_dict(self) -> dict[str, Any]:
        """Return the ``[model]`` table."""
        out: dict[str, Any] = {
            "kind": self.kind,
            "training_rules": [list(r) for r in self.training_rules],
            "deterministic_rules": [list(r) for r in self.deterministic_rules],
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
        _check_str(spec, "labels_path", "[training]")
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
        _check_int(spec, "max_cluster_size", "[clustering]", lo=0)
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
        for key in ("entity_column", "pairs_path"):
            _check_str(spec, key, "[evaluation]")
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
        for comparison in self.comparisons:
            validate_level_order(comparison)
            if comparison.date_format is not None:
                validate_date_format(
                    comparison.date_format, where=f"Comparison {comparison.name!r}"
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
            cols.extend(ExactRule(tuple(rule)).columns)
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
        validate_tables(spec)
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
        from er_toolkit.io import read_text_file

        file = Path(path)
        text = read_text_file(file, what="Config file", error=ConfigError)
        try:
            spec = tomllib.loads(text)
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


# --------------------------------------------------------------------------- #
# validation: types and ranges of every table, before any work is done
# --------------------------------------------------------------------------- #
def _is_int(value: Any) -> bool:
    return isinstance(value, int) and not isinstance(value, bool)


def _check_int(
    spec: Mapping[str, Any], key: str, where: str, *, lo: int, hi: int | None = None
) -> None:
    """Check an optional integer key; say what was expected and what was found."""
    if key not in spec:
        return
    value = spec[key]
    if not _is_int(value) or value < lo or (hi is not None and value > hi):
        expected = (
            f"an integer >= {lo}" if hi is None else f"an integer in [{lo}, {hi}]"
        )
        raise ConfigError(f"{where} {key} must be {expected}; got {value!r}.")


def _check_fraction(
    spec: Mapping[str, Any],
    key: str,
    where: str,
    *,
    lo_open: bool,
    hi_open: bool,
    optional_none: bool = False,
) -> None:
    """Check an optional number key in (0, 1), (0, 1] or [0, 1]."""
    if key not in spec or (optional_none and spec[key] is None):
        return
    value = spec[key]
    interval = f"{'(' if lo_open else '['}0, 1{')' if hi_open else ']'}"
    ok = (
        isinstance(value, (int, float))
        and not isinstance(value, bool)
        and math.isfinite(value)
        and (value > 0 if lo_open else value >= 0)
        and (value < 1 if hi_open else value <= 1)
    )
    if not ok:
        raise ConfigError(
            f"{where} {key} must be a number in {interval}; got {value!r}."
        )


def _check_str(spec: Mapping[str, Any], key: str, where: str) -> None:
    if key in spec and (not isinstance(spec[key], str) or not spec[key].strip()):
        raise ConfigError(
            f"{where} {key} must be a non-empty string; got {spec[key]!r}."
        )


def _check_rules(spec: Mapping[str, Any], key: str, where: str) -> None:
    """Check a list of rules, each a non-empty list of column names."""
    if key not in spec:
        return
    rules = spec[key]
    ok = isinstance(rules, (list, tuple)) and all(
        isinstance(rule, (list, tuple))
        and rule
        and all(isinstance(c, str) and c.strip() for c in rule)
        for rule in rules
    )
    if not ok:
        raise ConfigError(
            f"{where} {key} must be a list of rules, each a non-empty list of column "
            f'names (e.g. [["surname"], ["postcode", "dob"]]); got {rules!r}.'
        )


def validate_model_table(spec: Mapping[str, Any]) -> None:
    """Check the types and ranges of a ``[model]`` table.

    Examples
    --------
    >>> validate_model_table({"max_iter": 0})
    Traceback (most recent call last):
    ...
    er_toolkit.exceptions.ConfigError: [model] max_iter must be an integer >= 1; got 0.
    """
    where = "[model]"
    _check_rules(spec, "training_rules", where)
    _check_rules(spec, "deterministic_rules", where)
    _check_fraction(spec, "deterministic_recall", where, lo_open=True, hi_open=False)
    _check_fraction(
        spec,
        "probability_two_random_records_match",
        where,
        lo_open=True,
        hi_open=True,
        optional_none=True,
    )
    _check_int(spec, "u_sample_size", where, lo=1)
    _check_int(spec, "max_iter", where, lo=1)
    _check_int(spec, "max_pairs_per_session", where, lo=0)
    _check_int(spec, "seed", where, lo=0, hi=2**32 - 1)


def validate_source_table(spec: Mapping[str, Any]) -> None:
    """Check the types of a ``[[sources]]`` table."""
    where = "[[sources]]"
    for key in ("name", "id_column", "path", "dataset", "encoding"):
        _check_str(spec, key, where)
    _check_int(spec, "part", where, lo=0, hi=1)
    if "dataset" in spec:
        from er_toolkit.datasets import FEBRL_FILES

        if spec["dataset"] not in FEBRL_FILES:
            raise ConfigError(
                f"{where} dataset must be one of {sorted(FEBRL_FILES)}; got "
                f"{spec['dataset']!r}."
            )
    if "encoding" in spec:
        import codecs

        name = spec["encoding"].lower().replace("-", "").replace("_", "")
        if name not in ("utf8", "utf8lossy"):
            try:
                codecs.lookup(spec["encoding"])
            except LookupError:
                raise ConfigError(
                    f"{where} encoding must be a codec Python knows (e.g. 'utf8', "
                    f"'utf8-lossy', 'windows-1252'); got {spec['encoding']!r}."
                ) from None


def validate_tables(spec: Mapping[str, Any]) -> None:
    """Check that each top-level key holds a table, an array of tables or a scalar.

    TOML lets ``comparisons = {...}`` or ``model = "x"`` through; caught
    here, they get a message instead of a traceback further on.
    """
    version = spec.get("format_version", FORMAT_VERSION)
    if not _is_int(version) or version != FORMAT_VERSION:
        raise ConfigError(
            f"The config's format_version must be {FORMAT_VERSION}; got {version!r}"
            + (" (a newer er_toolkit wrote it)." if _is_int(version) else ".")
        )
    for key in ("blocking", "model", "evaluation", "clustering", "training"):
        if key in spec and not isinstance(spec[key], Mapping):
            raise ConfigError(
                f"[{key}] must be a table; got {type(spec[key]).__name__} {spec[key]!r}."
            )
    if "standardise" in spec and not isinstance(spec["standardise"], Mapping):
        raise ConfigError(
            f"[standardise] must be a table of column = kind; got {spec['standardise']!r}."
        )
    for key in ("sources", "comparisons"):
        items = spec.get(key, [])
        if not isinstance(items, (list, tuple)) or not all(
            isinstance(item, Mapping) for item in items
        ):
            raise ConfigError(
                f"{key} must be an array of tables ([[{key}]]); got {items!r}."
            )
    for i, comparison in enumerate(spec.get("comparisons", ())):
        validate_comparison_table(comparison, index=i)
    for key in ("name", "experiment", "link_type"):
        if key in spec and (not isinstance(spec[key], str) or not spec[key].strip()):
            raise ConfigError(f"{key!r} must be a non-empty string; got {spec[key]!r}.")


def validate_comparison_table(spec: Mapping[str, Any], *, index: int = 0) -> None:
    """Check a ``[[comparisons]]`` table's types, and its levels' option types."""
    where = f"[[comparisons]] #{index + 1}"
    for key in ("name", "column", "date_format"):
        if key in spec and not isinstance(spec[key], str):
            raise ConfigError(f"{where}: {key} must be a string; got {spec[key]!r}.")
    if "date_format" in spec:
        validate_date_format(spec["date_format"], where=where)
    levels = spec.get("levels", ())
    if "levels" in spec and (
        not isinstance(levels, (list, tuple))
        or not levels
        or not all(isinstance(level, Mapping) for level in levels)
    ):
        raise ConfigError(
            f"{where}: levels must be a non-empty array of tables such as "
            f'{{ kind = "exact" }}; got {levels!r}.'
        )
    from er_toolkit.compare.levels import LEVEL_KINDS

    for level in levels:
        kind = level.get("kind")
        if kind is None:
            continue  # level_from_dict names the valid kinds
        if not isinstance(kind, str):
            raise ConfigError(
                f"{where}: each level needs a 'kind' string, one of "
                f"{sorted(LEVEL_KINDS)}; got {kind!r}."
            )
        cls = LEVEL_KINDS.get(kind)
        if cls is None:
            continue  # level_from_dict names the valid kinds
        for f in dataclasses.fields(cls):
            if f.name not in level:
                continue
            value = level[f.name]
            kind = str(f.type)
            ok = {
                "bool": isinstance(value, bool),
                "int": _is_int(value),
                "float": isinstance(value, (int, float))
                and not isinstance(value, bool)
                and math.isfinite(value),
                "str": isinstance(value, str),
            }.get(kind, True)
            if not ok:
                raise ConfigError(
                    f"{where}: the {f.name!r} of a {level['kind']!r} level must be "
                    f"a{'n' if kind == 'int' else ''} {kind}; got {value!r}."
                )


def validate_level_order(comparison: Comparison) -> None:
    """Refuse a level that can never be reached because an earlier one takes its pairs.

    Levels run from most to least similar: a pair gets the first level it
    meets. A similarity level after a looser one of the same comparator, a
    distance level after a wider one, an exact level after any string level
    (equal values are similar at any threshold), and a level repeated are
    never reached.

    Examples
    --------
    >>> from er_toolkit.compare import SimilarityLevel
    >>> levels = (SimilarityLevel("jaro_winkler", 0.8), SimilarityLevel("jaro_winkler", 0.9))
    >>> validate_level_order(Comparison("name", "name", levels))
    Traceback (most recent call last):
    ...
    er_toolkit.exceptions.ConfigError: Comparison 'name': level 2 (jaro_winkler >= 0.9) can never be reached: level 1 (jaro_winkler >= 0.8) comes first and takes every pair it would. Order levels from most to least similar.
    """
    from er_toolkit.compare.levels import (
        DateDifferenceLevel,
        DateSwapLevel,
        DistanceLevel,
        ExactLevel,
        NumericDifferenceLevel,
        SimilarityLevel,
    )

    def covers(first: Any, later: Any) -> bool:
        """Whether every pair at ``later`` is already at ``first``."""
        if isinstance(later, ExactLevel):
            return isinstance(first, (ExactLevel, SimilarityLevel, DistanceLevel))
        if type(first) is not type(later):
            return False
        if isinstance(first, SimilarityLevel):
            return (
                first.comparator == later.comparator
                and later.min_similarity >= first.min_similarity
            )
        if isinstance(first, DistanceLevel):
            return (
                first.comparator == later.comparator
                and later.max_distance <= first.max_distance
            )
        if isinstance(first, DateDifferenceLevel):
            return bool(later.max_days <= first.max_days)
        if isinstance(first, NumericDifferenceLevel):
            return bool(
                first.relative == later.relative
                and later.max_difference <= first.max_difference
            )
        return isinstance(first, DateSwapLevel)

    levels = comparison.levels
    for j, later in enumerate(levels):
        for i in range(j):
            if covers(levels[i], later):
                raise ConfigError(
                    f"Comparison {comparison.name!r}: level {j + 1} ({later.label}) "
                    f"can never be reached: level {i + 1} ({levels[i].label}) comes "
                    "first and takes every pair it would. Order levels from most to "
                    "least similar."
                )


_DIRECTIVE = re.compile(r"%(?:[-_0^#]?)(\.?[0-9]?[a-zA-Z+%]|:{1,3}z)")
_KNOWN_DIRECTIVES: Final = frozenset("aAbBcCdDeFgGhHIjklmMnpPrRsStTuUvVwWxXyYzZf+%") | {
    ".f",
    ".3f",
    ".6f",
    ".9f",
    "3f",
    "6f",
    "9f",
    ":z",
    "::z",
    ":::z",
}
_COMPOSITE: Final = {
    "D": "mdy",
    "x": "mdy",
    "F": "Ymd",
    "v": "ebY",
    "c": "bdY",
    "+": "Ymd",
    "s": "Ymd",
}


def validate_date_format(date_format: str, *, where: str = "date_format") -> None:
    """Check a ``strptime``-style date format: known directives, and a whole date.

    polars (chrono) parses dates; an unknown directive or a format without a
    year, month and day (or day of year) would make every date null.

    Examples
    --------
    >>> validate_date_format("%Y%m%d")
    >>> validate_date_format("%Y-%q-%d")
    Traceback (most recent call last):
    ...
    er_toolkit.exceptions.ConfigError: date_format: unknown directive(s) ['%q'] in '%Y-%q-%d'; use strptime directives such as %Y, %m, %d, %b, %j.
    """
    stripped = _DIRECTIVE.sub("", date_format)
    found = _DIRECTIVE.findall(date_format)
    unknown = [f"%{d}" for d in found if d not in _KNOWN_DIRECTIVES]
    if "%" in stripped:
        unknown.append(stripped[stripped.index("%") :][:2])
    if unknown:
        raise ConfigError(
            f"{where}: unknown directive(s) {unknown} in {date_format!r}; use strptime "
            "directives such as %Y, %m, %d, %b, %j."
        )
    try:  # the parser's own checks (e.g. an hour without minutes)
        pl.Series(["2000-01-01"]).str.to_date(date_format, strict=False)
    except pl.exceptions.PolarsError as exc:
        message = str(exc).split("\n")[0]
        raise ConfigError(
            f"{where}: {date_format!r} is not a valid format: {message}"
        ) from None
    letters = "".join(_COMPOSITE.get(d, d) for d in found)
    has_year = any(c in letters for c in "YyGg")
    has_day = ("j" in letters) or (
        any(c in letters for c in "mbBh") and any(c in letters for c in "de")
    )
    if not (has_year and has_day):
        raise ConfigError(
            f"{where}: {date_format!r} does not give a whole date (it needs a year, "
            "%Y or %y, and a month and day, %m/%b and %d, or a day of year, %j); "
            "every date would fail to parse and become null."
        )


def validate_model_name(name: str, *, what: str = "name") -> None:
    """Check ``name`` against the rules MLflow applies to registered model names.

    MLflow refuses empty names, ``/``, ``:``, a backslash and ``%``, names that a
    path normalisation changes (``a/../b``, ``./x``), and more than 256
    characters; checked before training, not after.

    Examples
    --------
    >>> validate_model_name("febrl3")
    >>> validate_model_name("crm:v2")
    Traceback (most recent call last):
    ...
    er_toolkit.exceptions.ConfigError: 'name' 'crm:v2' cannot be an MLflow registered model name: it holds ':'. Use letters, digits, '_', '-', '.' and spaces.
    """
    if not isinstance(name, str) or not name.strip():
        raise ConfigError(f"{what!r} must be a non-empty string; got {name!r}.")
    bad = [c for c in ("/", ":", "\\", "%") if c in name]
    reason = f"it holds {', '.join(repr(c) for c in bad)}" if bad else ""
    if not reason and (
        posixpath.normpath(name) != name or name == "." or name.startswith("..")
    ):
        reason = "it is not a plain name once read as a path"
    if not reason and len(name) > 256:
        reason = f"it is {len(name)} characters long (at most 256)"
    if not reason and any(ord(c) < 32 for c in name):
        reason = "it holds control characters"
    if reason:
        raise ConfigError(
            f"{what!r} {name!r} cannot be an MLflow registered model name: {reason}. "
            "Use letters, digits, '_', '-', '.' and spaces."
        )


def validate_experiment_name(name: str) -> None:
    """Check an MLflow experiment name: a non-empty string of at most 500 characters."""
    if not isinstance(name, str) or not name.strip() or len(name) > 500:
        raise ConfigError(
            "'experiment' must be a non-empty string of at most 500 characters; got "
            f"{name!r}."
        )


TRACKING_SCHEMES: Final = (
    "",
    "file",
    "http",
    "https",
    "databricks",
    "databricks-uc",
    "uc",
    "sqlite",
    "postgresql",
    "mysql",
    "mssql",
)
"""URI schemes MLflow has tracking stores for (a database scheme may carry a
driver: ``postgresql+psycopg2``)."""


def validate_tracking_uri(uri: str) -> None:
    """Check that MLflow can track to ``uri``: a scheme it has a store for.

    Examples
    --------
    >>> validate_tracking_uri("sqlite:///mlflow.db")
    >>> validate_tracking_uri("ftp://host/mlruns")
    Traceback (most recent call last):
    ...
    er_toolkit.exceptions.ConfigError: Tracking URI 'ftp://host/mlruns' has scheme 'ftp', which MLflow cannot track to; expected a folder path, file:, sqlite:, postgresql:, mysql:, mssql:, http(s): or databricks.
    """
    from urllib.parse import urlparse

    if not isinstance(uri, str) or not uri.strip():
        raise ConfigError(f"The tracking URI must be a non-empty string; got {uri!r}.")
    if uri in ("databricks", "databricks-uc", "uc"):
        return
    try:
        scheme = urlparse(uri).scheme.lower()
    except ValueError:
        raise ConfigError(f"Tracking URI {uri!r} is not a valid URI.") from None
    if len(scheme) == 1:  # a Windows drive letter: a path
        scheme = ""
    base = scheme.split("+", 1)[0]
    if base not in TRACKING_SCHEMES:
        raise ConfigError(
            f"Tracking URI {uri!r} has scheme {scheme!r}, which MLflow cannot track "
            "to; expected a folder path, file:, sqlite:, postgresql:, mysql:, mssql:, "
            "http(s): or databricks."
        )
    if base == "sqlite" and not uri.lower().startswith(f"{scheme}:///"):
        raise ConfigError(
            f"Tracking URI {uri!r}: an SQLite URI is sqlite:/// then the file's path "
            "(sqlite:///mlflow.db)."
        )
