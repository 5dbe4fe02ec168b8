"""The Engine protocol: what the Linker and training ask of an engine, and the registry."""

from __future__ import annotations

import os
from collections.abc import Callable, Collection, Mapping, Sequence
from contextlib import AbstractContextManager
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any, ClassVar, Protocol, TypeVar, runtime_checkable

import numpy as np
import polars as pl

from er_toolkit.config_values import check_keys
from er_toolkit.exceptions import ConfigError

if TYPE_CHECKING:
    from er_toolkit.blocking import Blocker, KeyBlocker
    from er_toolkit.blocking.union import OnExplode
    from er_toolkit.cluster import Linkage, NotCompared
    from er_toolkit.compare import Comparison
    from er_toolkit.derive import Derivation
    from er_toolkit.golden import GoldenConfig
    from er_toolkit.io import Source
    from er_toolkit.placeholders import PlaceholderConfig
    from er_toolkit.schema import LinkType
    from er_toolkit.score.em import Patterns
    from er_toolkit.standardise.base import Steps

__all__ = [
    "ENGINE_KINDS",
    "Engine",
    "EngineConfig",
    "Frame",
    "as_engine",
    "register_engine",
]

Frame = Any
"""An engine's frame: a ``polars.DataFrame`` for the polars engine, a
``pyspark.sql.DataFrame`` for Spark. Records, pairs, comparison vectors,
scored pairs and clusters keep their columns (``er_toolkit.schema``) in
every engine."""


@runtime_checkable
class Engine(Protocol):
    """Where the stages run: the operations the Linker and training need.

    An engine does what needs the whole data at once (joins, group-bys,
    shuffles); what is decided per pair or per record runs the same code in
    every engine (the compare kernel, the scorers' ``predict``, blocking
    keys, standardisers), so every engine gives the same answers for the
    same records in the same row order.

    Attributes
    ----------
    kind
        The name configs use (``[engine] kind = "..."``).
    """

    kind: ClassVar[str]

    # ----------------------------------------------------------- records, io
    def prepare_records(
        self,
        sources: Sequence[Source],
        *,
        columns: Sequence[str] = (),
        keep: Sequence[str] = (),
    ) -> Frame:
        """Validate and stack sources into one records frame (``_row`` dense, in source order)."""
        ...

    def derive(self, records: Frame, derivations: Sequence[Derivation]) -> Frame:
        """Return the records with the derived columns (:func:`~er_toolkit.derive.apply_derivations`)."""
        ...

    def standardise(
        self, records: Frame, steps: Steps, *, profile: bool = True
    ) -> tuple[Frame, pl.DataFrame | None]:
        """Return the standardised records and their data-quality profile (None: not asked for)."""
        ...

    def profile(self, records: Frame, *, columns: Sequence[str]) -> pl.DataFrame:
        """Return the data-quality profile of ``records`` as they are."""
        ...

    def find_placeholders(
        self, records: Frame, config: PlaceholderConfig
    ) -> pl.DataFrame:
        """Return the placeholder values (:func:`~er_toolkit.placeholders.find_placeholders`), here."""
        ...

    def placeholder_counts(
        self, records: Frame, found: pl.DataFrame, columns: Sequence[str]
    ) -> pl.DataFrame:
        """Return each source's and column's count of the ``found`` values (:func:`~er_toolkit.placeholders.placeholder_counts`)."""
        ...

    def null_placeholders(self, records: Frame, found: pl.DataFrame) -> Frame:
        """Return the records with the ``found`` values null (:func:`~er_toolkit.placeholders.null_placeholders`)."""
        ...

    def height(self, frame: Frame) -> int:
        """Return how many rows ``frame`` holds."""
        ...

    def sample_here(self, records: Frame) -> pl.DataFrame:
        """Return the records here, or a seeded sample of them (for profiles and warnings)."""
        ...

    def collect(
        self, frame: Frame, *, columns: Sequence[str] | None = None
    ) -> pl.DataFrame:
        """Return ``frame`` (or these of its columns) as a polars frame on this machine."""
        ...

    def write_parquet(self, frame: Frame, path: str | os.PathLike[str]) -> Path:
        """Write ``frame`` as Parquet at ``path``; return the path."""
        ...

    def cached(self, records: Frame) -> AbstractContextManager[None]:
        """Keep what the engine derives from ``records`` (encodings, caches) inside the block."""
        ...

    def release_compare(self) -> None:
        """Drop what the engine keeps from its last compare (a later compare makes it again)."""
        ...

    # ---------------------------------------------------------------- blocking
    def count_rule_pairs(
        self, records: Frame, blockers: Sequence[Blocker], *, link_type: LinkType
    ) -> pl.DataFrame:
        """Return ``blocked_by`` and ``pairs``: each blocker's pair count, before blocking."""
        ...

    def block(
        self,
        records: Frame,
        blockers: Sequence[Blocker],
        *,
        link_type: LinkType,
        max_pairs_per_rule: int | None = None,
        on_explode: OnExplode = "raise",
        counts: pl.DataFrame | None = None,
    ) -> Frame:
        """Return the union of the blockers' pairs (``_row_l``, ``_row_r``, ``blocked_by``)."""
        ...

    def block_against(
        self,
        blocker: KeyBlocker,
        new_records: Frame,
        existing_records: Frame,
        *,
        link_type: LinkType,
    ) -> Frame:
        """Return the pairs of a new record (``_row_l``) and an existing one (``_row_r``)."""
        ...

    # ------------------------------------------------------- compare and score
    def term_frequencies(self, records: Frame, column: str) -> Frame:
        """Return ``_row`` and ``term_frequency``: each value's share of the column's values."""
        ...

    def compare(
        self,
        records: Frame,
        pairs: Frame,
        comparisons: Sequence[Comparison],
        *,
        raw_similarity: bool = True,
        workers: int | None = None,
    ) -> Frame:
        """Return the comparison vectors of ``pairs``."""
        ...

    def vectors_of(
        self,
        records: Frame,
        pairs: pl.DataFrame,
        comparisons: Sequence[Comparison],
        *,
        raw_similarity: bool = True,
        workers: int | None = None,
    ) -> pl.DataFrame:
        """Return the comparison vectors of a polars frame of pairs, here, row for row.

        For what trains on this machine (a classifier's labelled pairs).
        """
        ...

    def predict(
        self,
        scorer: Any,
        vectors: Frame,
        *,
        explain: bool = False,
        min_probability: float = 0.0,
    ) -> Frame:
        """Score comparison vectors with a fitted scorer; keep pairs scoring ``min_probability`` or more."""
        ...

    def score(
        self,
        records: Frame,
        pairs: Frame,
        comparisons: Sequence[Comparison],
        scorer: Any,
        *,
        explain: bool = False,
        raw_similarity: bool = False,
        chunk_size: int | None = None,
        min_probability: float = 0.0,
        workers: int | None = None,
        timings: dict[str, float] | None = None,
    ) -> Frame:
        """Compare and score ``pairs`` batch by batch; keep pairs scoring ``min_probability`` or more."""
        ...

    def with_record_ids(self, pairs: Frame, records: Frame) -> Frame:
        """Add ``record_id_l/_r`` and ``source_l/_r`` to a frame of row pairs."""
        ...

    # ---------------------------------------------------------------- training
    def total_pairs(self, records: Frame, *, link_type: LinkType) -> int:
        """Return how many record pairs the link type compares without blocking."""
        ...

    def sample_pairs(
        self, records: Frame, *, n_pairs: int, link_type: LinkType, seed: int
    ) -> Frame:
        """Return seeded random pairs, the same in every engine."""
        ...

    def sample_records(
        self,
        records: Frame,
        *,
        share: float,
        seed: int,
        columns: Sequence[str] | None = None,
    ) -> Frame:
        """Return a seeded sample of records, each kept with probability ``share``.

        ``columns``: the only columns the sample needs (all when None).
        """
        ...

    def gamma_patterns(
        self,
        records: Frame,
        pairs: Frame,
        comparisons: Sequence[Comparison],
        *,
        workers: int | None = None,
        agreeing: Collection[str] = (),
    ) -> Patterns:
        """Compare ``pairs`` and count their distinct gamma patterns.

        ``agreeing``: columns on which both records of every pair hold the
        same trimmed value (the pairs of an exact rule on them); an engine
        may compare the comparisons reading only those columns once per
        record instead of once per pair, or ignore it.
        """
        ...

    def weight_counts(
        self, vectors: Frame, weigh: Callable[[pl.DataFrame], np.ndarray]
    ) -> tuple[np.ndarray, np.ndarray | None]:
        """Return ``weigh`` of the vectors: every weight (counts None), or distinct weights and counts."""
        ...

    def exact_agreement_share(
        self,
        records: Frame,
        columns: str | Sequence[str],
        *,
        link_type: LinkType,
        given: str | None = None,
    ) -> float:
        """Return the share of random pairs (both holding ``given``, default the first column) agreeing on every column."""
        ...

    def completeness(self, records: Frame, column: str) -> float:
        """Return the share of records with a value in ``column``."""
        ...

    # ------------------------------------------------------ clusters, golden
    def connected_components(
        self,
        records: Frame,
        pairs: Frame,
        *,
        threshold: float,
        score_column: str = ...,
        prune_weak_links: bool = False,
        keep_above: float = 0.999,
        min_prune_size: int = 3,
        max_cluster_size: int | None = None,
        linkage: Linkage = "single",
        not_compared: NotCompared = "far",
        min_linkage_probability: float | None = None,
    ) -> Frame:
        """Return each record's cluster (``cluster_id`` of its smallest member)."""
        ...

    def golden(
        self,
        config: GoldenConfig,
        records: Frame,
        clusters: Frame,
        *,
        raw: Frame | None = None,
        cluster_ids: Sequence[str] | None = None,
    ) -> Frame:
        """Return one golden record per cluster, by the ``[golden]`` rules."""
        ...


ENGINE_KINDS: dict[str, type[Any]] = {}
"""Every engine kind a config can name, by its ``kind``."""

_E = TypeVar("_E", bound=type[Any])


def register_engine(cls: _E) -> _E:
    """Register an engine class under its ``kind`` (usable as a decorator).

    The class is built from a config's ``[engine]`` options with
    ``cls.from_options(**options)``, and lists the options it takes in
    ``OPTIONS``.
    """
    kind = getattr(cls, "kind", None)
    if not isinstance(kind, str) or not kind:
        raise ConfigError(
            f"An engine class needs a non-empty string 'kind' to be registered; "
            f"{cls.__name__} has {kind!r}."
        )
    held = ENGINE_KINDS.get(kind)
    if held is not None and held is not cls:
        raise ConfigError(
            f"Engine kind {kind!r} is already registered to {held.__name__}."
        )
    ENGINE_KINDS[kind] = cls
    return cls


def _registered() -> dict[str, type[Any]]:
    # the built-in kinds register themselves when their modules load; the
    # Spark module imports pyspark only when an engine is built
    import er_toolkit.engines.polars
    import er_toolkit.engines.spark  # noqa: F401

    return ENGINE_KINDS


@dataclass(frozen=True)
class EngineConfig:
    """Which engine runs the stages (the ``[engine]`` table, or ``engine = "spark"``).

    An engine is how a model runs, not part of the model: model files do
    not store it, and a model trained on one engine runs on any other.

    Parameters
    ----------
    kind
        ``"polars"`` (in-process, the default) or ``"spark"``.
    options
        The kind's options, e.g. for Spark ``master``, ``app_name``,
        ``conf`` (a table of Spark settings), ``salt_above``,
        ``batch_size``.

    Examples
    --------
    >>> EngineConfig.from_dict("spark")
    EngineConfig(kind='spark', options={})
    >>> EngineConfig.from_dict({"kind": "spark", "master": "local[2]"}).to_dict()
    {'kind': 'spark', 'master': 'local[2]'}
    """

    kind: str = "polars"
    options: Mapping[str, Any] = field(default_factory=dict)

    def __post_init__(self) -> None:
        kinds = _registered()
        if self.kind not in kinds:
            raise ConfigError(
                f"[engine] kind must be one of {sorted(kinds)}; got {self.kind!r}."
            )
        valid = set(getattr(kinds[self.kind], "OPTIONS", ()))
        check_keys(self.options, valid, f"[engine] of kind {self.kind!r}")

    @classmethod
    def from_dict(cls, spec: Mapping[str, Any] | str) -> EngineConfig:
        """Build from ``engine = "<kind>"`` or an ``[engine]`` table."""
        if isinstance(spec, str):
            return cls(kind=spec)
        if not isinstance(spec, Mapping):
            raise ConfigError(
                '\'engine\' must be a kind ("polars" or "spark") or an [engine] '
                f"table; got {type(spec).__name__}."
            )
        options = dict(spec)
        kind = options.pop("kind", "polars")
        return cls(kind=kind, options=options)

    def to_dict(self) -> dict[str, Any]:
        """Return the ``[engine]`` table."""
        return {"kind": self.kind, **self.options}

    def build(self) -> Engine:
        """Return the engine this declares (Spark: on the active or a new SparkSession)."""
        engine: Engine = _registered()[self.kind].from_options(**self.options)
        return engine


def as_engine(
    engine: Engine | EngineConfig | str | Mapping[str, Any] | None,
) -> Engine:
    """Return ``engine`` as an engine: an engine, its config, a kind, an ``[engine]`` table, or None (polars).

    Examples
    --------
    >>> as_engine(None).kind
    'polars'
    """
    if engine is None:
        engine = "polars"
    if isinstance(engine, EngineConfig):
        return engine.build()
    if isinstance(engine, (str, Mapping)):
        return EngineConfig.from_dict(engine).build()
    if not isinstance(engine, Engine):
        raise ConfigError(
            "engine must be an Engine (PolarsEngine(), SparkEngine(spark)), a kind "
            f"('polars', 'spark') or an [engine] table; got {type(engine).__name__}."
        )
    return engine
