"""Linkage configuration: declarations read from TOML, validated, round-tripped."""

from __future__ import annotations

import dataclasses
import tomllib
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Final, Literal

from er_toolkit import schema
from er_toolkit.blocking import (
    Blocker,
    KeyBlocker,
    as_blocker,
    blocker_from_dict,
)
from er_toolkit.cluster import ClusteringConfig
from er_toolkit.compare import Comparison
from er_toolkit.config_values import check_keys, choice, limit, number, whole
from er_toolkit.engines.base import EngineConfig
from er_toolkit.evaluate import EvaluationConfig
from er_toolkit.exceptions import ConfigError
from er_toolkit.golden import GoldenConfig
from er_toolkit.schema import LinkType
from er_toolkit.score.config import MODEL_KINDS, ModelConfig, TrainingConfig
from er_toolkit.standardise import Standardiser, steps_from_dict, steps_to_dict

__all__ = [
    "FORMAT_VERSION",
    "MODEL_KINDS",
    "BlockingConfig",
    "ClusteringConfig",
    "EngineConfig",
    "EvaluationConfig",
    "GoldenConfig",
    "LinkageConfig",
    "ModelConfig",
    "SourceConfig",
    "TrainingConfig",
    "flatten",
]

FORMAT_VERSION = 2
"""The config and model-file declarations this release writes.

Version 1 wrote 0 for "no limit" in ``max_block_size``, ``max_cluster_size``
and ``max_pairs_per_session``; it is read, with those zeros taken as no limit.
"""
_LIMITS_WRITTEN_AS_ZERO: Final = (
    ("blocking", "max_block_size"),
    ("clustering", "max_cluster_size"),
    ("model", "max_pairs_per_session"),
)

_check_keys = check_keys


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
    on_explode: Literal["raise", "warn"] = "raise"
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
        limit(self.max_block_size, "[blocking] max_block_size", minimum=2)
        limit(self.max_pairs_per_rule, "[blocking] max_pairs_per_rule")
        choice(self.on_explode, "[blocking] on_explode", ("raise", "warn"))

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
            max_pairs_per_rule=limit(
                spec.get("max_pairs_per_rule", 50_000_000),
                "[blocking] max_pairs_per_rule",
            ),
            on_explode=choice(
                spec.get("on_explode", "raise"),
                "[blocking] on_explode",
                ("raise", "warn"),
            ),
            # 0 is how files written before None meant "no limit"
            max_block_size=limit(
                None if size == 0 and not isinstance(size, bool) else size,
                "[blocking] max_block_size",
                minimum=2,
            ),
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
    def exact_rules(self) -> tuple[Blocker, ...]:
        """The exact rules among the blockers: EM's sessions when none are declared."""
        return tuple(b for b in self.blockers if b.kind == "exact")

    @property
    def columns(self) -> tuple[str, ...]:
        """Every column a blocker reads."""
        return tuple(dict.fromkeys(c for b in self.blockers for c in b.columns))


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
        Match probability at or above which a pair links records, as
        declared. A Fellegi-Sunter model keeps it as its ``threshold_``; a
        classifier (``[model] kind = "classifier"``) chooses its own
        ``threshold_`` unless ``[model] threshold_strategy = "fixed"``. The
        fitted scorer's ``threshold_`` is what clusters and evaluation use;
        this declaration is never rewritten.
    evaluation
        Where the labels are, for evaluation (and, without ``[training]``
        labels, for training a classifier).
    training
        Labels for a classifier: a reviewed pair list, and a validation share.
    golden
        Survivorship rules for golden records (``[golden]``).
    experiment
        The MLflow experiment name.
    n_jobs
        Threads for comparing, scoring and scikit-learn (``None``: every
        core of this machine). The command line's ``--n-jobs`` and
        ``Linker(config, n_jobs=...)`` override it.
    engine
        Where the stages run (``engine = "spark"`` or an ``[engine]``
        table); ``Linker(config, engine=...)`` overrides it. Model files
        leave it out: a model runs on any engine.
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
    golden: GoldenConfig = field(default_factory=GoldenConfig)
    experiment: str = "er_toolkit"
    standardise: Mapping[str, tuple[Standardiser, ...]] = field(default_factory=dict)
    n_jobs: int | None = None
    engine: EngineConfig = field(default_factory=EngineConfig)
    base_dir: Path = Path(".")

    def __post_init__(self) -> None:
        if self.link_type not in schema.LINK_TYPES:
            raise ConfigError(
                f"'link_type' must be one of {list(schema.LINK_TYPES)}; got "
                f"{self.link_type!r}."
            )
        number(self.threshold, "threshold", low=0, high=1)
        if self.n_jobs is not None:
            whole(self.n_jobs, "n_jobs", minimum=1)
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
            "golden",
            "experiment",
            "standardise",
            "n_jobs",
            "engine",
        }
        _check_keys(spec, valid, "the config")
        spec = _upgrade(spec)
        for key in ("name", "link_type", "blocking", "comparisons"):
            if key not in spec:
                raise ConfigError(f"The config needs {key!r}; it has {sorted(spec)}.")
        n_jobs = spec.get("n_jobs")
        return cls(
            name=str(spec["name"]),
            link_type=spec["link_type"],
            sources=tuple(SourceConfig.from_dict(s) for s in spec.get("sources", ())),
            blocking=BlockingConfig.from_dict(spec["blocking"]),
            comparisons=tuple(Comparison.from_dict(c) for c in spec["comparisons"]),
            model=ModelConfig.from_dict(spec.get("model", {})),
            threshold=number(spec.get("threshold", 0.5), "threshold", low=0, high=1),
            evaluation=EvaluationConfig.from_dict(spec.get("evaluation", {})),
            clustering=ClusteringConfig.from_dict(spec.get("clustering", {})),
            training=TrainingConfig.from_dict(spec.get("training", {})),
            golden=GoldenConfig.from_dict(spec.get("golden", {})),
            experiment=str(spec.get("experiment", "er_toolkit")),
            standardise=steps_from_dict(spec.get("standardise", {})),
            n_jobs=None if n_jobs is None else whole(n_jobs, "n_jobs", minimum=1),
            engine=EngineConfig.from_dict(spec.get("engine", "polars")),
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
        out["clustering"] = self.clustering.to_dict()
        out["golden"] = self.golden.to_dict()
        if self.n_jobs is not None:
            out["n_jobs"] = self.n_jobs
        if self.engine != EngineConfig():
            out["engine"] = self.engine.to_dict()
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


def _upgrade(spec: Mapping[str, Any]) -> Mapping[str, Any]:
    """Check ``format_version``; read version 1's zeros as "no limit".

    Raises
    ------
    ConfigError
        If the declarations come from a newer er_toolkit than this one.
    """
    version = spec.get("format_version", FORMAT_VERSION)
    if isinstance(version, bool) or not isinstance(version, int) or version < 1:
        raise ConfigError(
            f"'format_version' must be a positive integer; got {version!r}."
        )
    if version > FORMAT_VERSION:
        from er_toolkit import __version__

        raise ConfigError(
            f"These declarations are format_version {version}, written by a newer "
            f"er_toolkit; er_toolkit {__version__} reads format_version 1 to "
            f"{FORMAT_VERSION}. Upgrade er_toolkit to read them."
        )
    if version == FORMAT_VERSION:
        return spec
    upgraded = {k: (dict(v) if isinstance(v, Mapping) else v) for k, v in spec.items()}
    for table, key in _LIMITS_WRITTEN_AS_ZERO:
        section = upgraded.get(table)
        if isinstance(section, dict) and section.get(key) == 0:
            section[key] = None
    upgraded["format_version"] = FORMAT_VERSION
    return upgraded


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
