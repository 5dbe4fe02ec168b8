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
from typing import Any, Final, Literal

import polars as pl

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
from er_toolkit.derive import (
    Derivation,
    as_derivations,
    derivations_to_dict,
    derived_inputs,
    derived_outputs,
)
from er_toolkit.engines.base import EngineConfig
from er_toolkit.evaluate import EvaluationConfig
from er_toolkit.exceptions import ConfigError
from er_toolkit.golden import GoldenConfig
from er_toolkit.master.monitoring import MonitoringConfig
from er_toolkit.placeholders import PlaceholderConfig
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
    derive
        Columns made from others before standardisation (``[[derive]]``
        tables, applied in order; see :mod:`er_toolkit.derive`).
    placeholders
        Which standardised columns to search for placeholder values, which
        then become null (``[placeholders]``; see :mod:`er_toolkit.placeholders`).
    monitoring
        When a master store flags a batch's data quality as drifted
        (``[monitoring]``).
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
    derive: tuple[Derivation, ...] = ()
    placeholders: PlaceholderConfig = field(default_factory=PlaceholderConfig)
    monitoring: MonitoringConfig = field(default_factory=MonitoringConfig)
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
        object.__setattr__(self, "derive", as_derivations(self.derive))
        if self.n_jobs is not None:
            whole(self.n_jobs, "n_jobs", minimum=1)
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
        """Every input column every source must hold.

        The columns the comparisons, blockers, rules, standardisers and the
        ``[placeholders]`` search read, less those the standardisers add (``<column>_<part>``) and those a
        ``[[derive]]`` table writes.
        """
        cols = [c for comp in self.comparisons for c in comp.columns]
        cols += list(self.blocking.columns)
        for rule in (*self.model.training_rules, *self.model.deterministic_rules):
            cols.extend(rule.columns)
        cols += list(self.placeholders.reads)
        derived = set(self.derived_columns) | set(derived_outputs(self.derive))
        cols = [c for c in cols if c not in derived] + [
            c for c in self.standardise if c not in derived
        ]
        return tuple(dict.fromkeys(cols))

    @property
    def derive_inputs(self) -> tuple[str, ...]:
        """Source columns only the ``[[derive]]`` tables read.

        A source may lack them (its records get nulls there) as long as one
        source holds each.
        """
        required = set(self.columns)
        return tuple(c for c in derived_inputs(self.derive) if c not in required)

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
            "derive",
            "placeholders",
            "monitoring",
            "experiment",
            "standardise",
            "n_jobs",
            "engine",
        }
        _check_keys(spec, valid, "the config")
        validate_tables(spec)
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
            derive=as_derivations(spec.get("derive", ())),
            placeholders=PlaceholderConfig.from_dict(spec.get("placeholders", {})),
            monitoring=MonitoringConfig.from_dict(spec.get("monitoring", {})),
            experiment=str(spec.get("experiment", "er_toolkit")),
            standardise=steps_from_dict(spec.get("standardise", {})),
            n_jobs=None if n_jobs is None else whole(n_jobs, "n_jobs", minimum=1),
            engine=EngineConfig.from_dict(spec.get("engine", "polars")),
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
        out["clustering"] = self.clustering.to_dict()
        out["golden"] = self.golden.to_dict()
        if self.monitoring != MonitoringConfig():
            out["monitoring"] = self.monitoring.to_dict()
        if self.n_jobs is not None:
            out["n_jobs"] = self.n_jobs
        if self.engine != EngineConfig():
            out["engine"] = self.engine.to_dict()
        if self.derive:
            out["derive"] = derivations_to_dict(self.derive)
        if self.placeholders.to_dict():
            out["placeholders"] = self.placeholders.to_dict()
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


def _check_str(spec: Mapping[str, Any], key: str, where: str) -> None:
    if key in spec and (not isinstance(spec[key], str) or not spec[key].strip()):
        raise ConfigError(
            f"{where} {key} must be a non-empty string; got {spec[key]!r}."
        )


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
    for key in ("blocking", "model", "evaluation", "clustering", "training", "golden"):
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
    never reached; levels on different columns (``column = ...``) or on
    different regex parts of the values (``extract``) never cover each other.

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
        if getattr(first, "column", None) != getattr(later, "column", None):
            return False  # levels on other columns (or composites) never cover
        if getattr(first, "extract", None) != getattr(later, "extract", None):
            return False  # levels on different parts of the values (or the whole)
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
