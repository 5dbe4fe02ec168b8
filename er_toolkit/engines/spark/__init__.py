"""The Spark engine: joins and shuffles on Spark, the same per-batch kernel and scorer code."""

from __future__ import annotations

import itertools
import os
import sys
import time
from collections.abc import Callable, Collection, Iterator, Mapping, Sequence
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any, ClassVar

import numpy as np
import polars as pl

from er_toolkit import schema
from er_toolkit.engines.base import register_engine
from er_toolkit.engines.spark._frames import (
    FrameCache,
    as_spark,
    is_spark_frame,
    map_batches,
    require_pyspark,
    select_present,
    stripped_text,
    to_polars,
    to_spark,
)
from er_toolkit.exceptions import ConfigError, SchemaError

if TYPE_CHECKING:
    from pyspark.sql import DataFrame, SparkSession

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

__all__ = ["SparkEngine", "session_conf"]

_SAMPLE_CHUNK = 10_000_000
_DRIVER_PAIRS = 4_000_000
_ARROW_BATCH = 100_000
_DISTINCT = "distinct"
_VECTORS = "vectors"
_KEY = "__key"
_SRC = "__src"


@dataclass(frozen=True)
class _Compared:
    """Candidate vectors kept for scoring, with the records frame they were compared from."""

    records: Any
    vectors: Any

    def unpersist(self) -> None:
        self.vectors.unpersist()


@register_engine
class SparkEngine:
    """Run the stages on Apache Spark, with the same answers as the polars engine.

    Spark does what needs the whole data: blocking (equi-joins on the
    blockers' keys, salted where a key is held by many records; sorted
    neighbourhood by a global sort), the union of blockers, term-frequency
    tables, the joins of pairs to their values, pattern counts for EM,
    connected components (large-star / small-star) and golden records
    (whole clusters per partition). What is decided per record or per pair
    runs on each Arrow batch (``mapInArrow``) through the code the polars
    engine runs: blocking keys, standardisers, the compare kernel
    (:func:`~er_toolkit.compare.compare_batch`) and the fitted scorer's
    ``predict``. Random draws (u-sampling pairs, EM-session record
    samples) are made here from the row count and the seed, as the polars
    engine makes them. EM runs here, over the pattern counts.

    Records, pairs, comparison vectors, scores and clusters are Spark
    DataFrames with the polars engine's columns (row numbers are Int64:
    Spark has no unsigned ints). Each stage's result is persisted (memory,
    then disk), so later stages do not recompute it; ``spark.catalog.clearCache()``
    frees them.

    Parameters
    ----------
    spark
        Any SparkSession: local, standalone, YARN, Kubernetes, Databricks.
        The executors need er_toolkit and its dependencies installed (the
        same version as here). None: the active session, or a new local
        one with :func:`session_conf`'s settings. A session given (or
        active) keeps its settings: the engine changes none of them; see
        :func:`session_conf` for the advised ones (a local session with
        Spark's 200 shuffle partitions spends most of its time starting
        tasks).
    salt_above
        Blocking keys held by more records than this are salted (split
        over ``ceil(n / salt_above)`` tasks); see
        :func:`~er_toolkit.engines.spark._blocking._key_join`.
    profile_rows
        Data-quality profiles are made here from a seeded sample of about
        this many records (all of them when there are fewer).
    golden_partitions
        Partitions of the golden-records build; None: the session's
        ``spark.sql.shuffle.partitions``.
    driver_links
        Connected components of at most this many links (pairs at or
        above the threshold) are found on the driver (scipy, the links
        brought over: 16 bytes each), in one Spark job; more links run
        large-star / small-star on Spark, a few jobs per round. 0: always
        on Spark.
    driver_pairs
        Gamma patterns of at most this many pairs (the u sample, a sampled
        EM session's pairs) are counted on the driver: the pairs and their
        records' compared columns are brought over (two Spark jobs) and the
        polars engine's :meth:`~er_toolkit.engines.PolarsEngine.gamma_patterns`
        (the same compare kernel) counts them, instead of two joins, a
        ``mapInArrow`` pass and a group-by on Spark. 0: always on Spark.

    Attributes
    ----------
    timings : dict of str to float
        Seconds spent on work the engine chose to do ahead: ``vectors``,
        comparing the candidates once for the EM sessions (their vectors
        are then scored by :meth:`score`, not compared again).

    Examples
    --------
    A model trained with the polars engine, run on a cluster::

        from pyspark.sql import SparkSession
        from er_toolkit.engines import SparkEngine
        from er_toolkit.pipeline import Linker

        spark = SparkSession.builder.getOrCreate()
        linker = Linker.load("model.json", engine=SparkEngine(spark))
        records = linker.records()  # or linker.records([Source("crm", "s3://.../crm.parquet")])
        scored = linker.predict(records)
        clusters = linker.cluster(records, scored)
        linker.engine.write_parquet(clusters, "s3://.../clusters")
    """

    kind: ClassVar[str] = "spark"
    OPTIONS: ClassVar[frozenset[str]] = frozenset(
        {
            "master",
            "app_name",
            "conf",
            "salt_above",
            "profile_rows",
            "golden_partitions",
            "driver_links",
            "driver_pairs",
        }
    )

    def __init__(
        self,
        spark: SparkSession | None = None,
        *,
        salt_above: int = 10_000,
        profile_rows: int = 100_000,
        golden_partitions: int | None = None,
        driver_links: int = 10_000_000,
        driver_pairs: int = _DRIVER_PAIRS,
    ) -> None:
        require_pyspark()
        from pyspark.sql import SparkSession

        if spark is None:
            spark = SparkSession.getActiveSession() or _local_session()
        for name, value in (("salt_above", salt_above), ("profile_rows", profile_rows)):
            if isinstance(value, bool) or not isinstance(value, int) or value < 1:
                raise ConfigError(
                    f"The {name!r} option of SparkEngine must be a positive int; got "
                    f"{value!r}."
                )
        for name, value in (
            ("driver_links", driver_links),
            ("driver_pairs", driver_pairs),
        ):
            if isinstance(value, bool) or not isinstance(value, int) or value < 0:
                raise ConfigError(
                    f"The {name!r} option of SparkEngine must be an int >= 0; got "
                    f"{value!r}."
                )
        self.spark = spark
        self.salt_above = salt_above
        self.profile_rows = profile_rows
        self.golden_partitions = golden_partitions
        self.driver_links = driver_links
        self.driver_pairs = driver_pairs
        self.timings: dict[str, float] = {}
        self._cache = FrameCache()
        self._counts = FrameCache(size=64)
        self._samples = FrameCache(size=4)

    def __repr__(self) -> str:
        master = (
            self.spark.sparkContext.master
            if hasattr(self.spark, "sparkContext")
            else "connect"
        )
        return f"SparkEngine(master={master!r}, salt_above={self.salt_above})"

    @classmethod
    def from_options(
        cls,
        *,
        master: str | None = None,
        app_name: str = "er_toolkit",
        conf: Mapping[str, Any] | None = None,
        salt_above: int = 10_000,
        profile_rows: int = 100_000,
        golden_partitions: int | None = None,
        driver_links: int = 10_000_000,
        driver_pairs: int = _DRIVER_PAIRS,
    ) -> SparkEngine:
        """Build from an ``[engine]`` table: the active SparkSession, or one made from ``master`` and ``conf``."""
        require_pyspark()
        from pyspark.sql import SparkSession

        spark = SparkSession.getActiveSession()
        if spark is None:
            spark = _local_session(master=master, app_name=app_name, conf=conf or {})
        return cls(
            spark,
            salt_above=salt_above,
            profile_rows=profile_rows,
            golden_partitions=golden_partitions,
            driver_links=driver_links,
            driver_pairs=driver_pairs,
        )

    # ----------------------------------------------------------- records, io
    def prepare_records(
        self,
        sources: Sequence[Source],
        *,
        columns: Sequence[str] = (),
        keep: Sequence[str] = (),
    ) -> DataFrame:
        """Validate and stack sources into a Spark records frame (``_row`` dense, in source order).

        Sources may be Spark DataFrames, Parquet or CSV paths (read by
        Spark), or frames :func:`~er_toolkit.io.read_frame` reads.
        """
        from er_toolkit.engines.spark._records import prepare

        return self._persisted(prepare(self.spark, sources, columns=columns, keep=keep))

    def derive(self, records: Any, derivations: Sequence[Derivation]) -> DataFrame:
        """Add the derived columns per batch (:func:`~er_toolkit.derive.apply_derivations` on each)."""
        from er_toolkit.engines.spark import _records

        return self._persisted(
            _records.derive(as_spark(self.spark, records), derivations)
        )

    def standardise(
        self, records: DataFrame, steps: Steps, *, profile: bool = True
    ) -> tuple[DataFrame, pl.DataFrame | None]:
        """Standardise per batch; profile a sample of ``profile_rows`` before and after."""
        from er_toolkit.engines.spark._records import standardise
        from er_toolkit.standardise import profile_standardisation

        quality = (
            profile_standardisation(self._sample(records), steps)[1]
            if profile
            else None
        )
        return self._persisted(standardise(records, steps)), quality

    def profile(self, records: DataFrame, *, columns: Sequence[str]) -> pl.DataFrame:
        """Profile a sample of ``profile_rows`` records (all of them when fewer)."""
        from er_toolkit.standardise import profile_frame

        whole = self._sample(records)
        sample = whole.select(
            c for c in (schema.ROW, schema.SOURCE, *columns) if c in whole.columns
        )
        return profile_frame(
            sample, columns=[c for c in columns if c in sample.columns]
        )

    def find_placeholders(
        self, records: Any, config: PlaceholderConfig
    ) -> pl.DataFrame:
        """Find the placeholder values: values counted on Spark, judged per batch, the found ones here."""
        from er_toolkit.engines.spark import _records

        return _records.find_placeholders(as_spark(self.spark, records), config)

    def placeholder_counts(
        self, records: Any, found: pl.DataFrame, columns: Sequence[str]
    ) -> pl.DataFrame:
        """Count the found values per source and column (per batch, summed on Spark)."""
        from er_toolkit.engines.spark import _records

        return _records.placeholder_counts(
            as_spark(self.spark, records), found, columns
        )

    def null_placeholders(self, records: Any, found: pl.DataFrame) -> DataFrame:
        """Set the found values to null, batch by batch."""
        from er_toolkit.engines.spark import _records

        return self._persisted(
            _records.null_placeholders(as_spark(self.spark, records), found)
        )

    def sample_here(self, records: Any) -> pl.DataFrame:
        """Return the records here, or a seeded sample of about ``profile_rows`` of them."""
        if isinstance(records, pl.DataFrame):
            return records
        return self._sample(records)

    def _sample(self, records: DataFrame) -> pl.DataFrame:
        """Return the sample of :meth:`sample_here` (brought here once per records frame)."""
        from er_toolkit.engines.spark._records import sample_here

        return self._samples.get(  # type: ignore[no-any-return]
            records,
            "sample",
            lambda: sample_here(
                records, rows=self.profile_rows, n=self.height(records)
            ),
        )

    def height(self, frame: Any) -> int:
        """Return the frame's row count (a Spark count, kept for the frame)."""
        if isinstance(frame, pl.DataFrame):
            return frame.height
        return int(self._counts.get(frame, "count", frame.count))

    def _persisted(self, frame: DataFrame) -> DataFrame:
        """Persist and count ``frame``; keep its count."""
        from pyspark import StorageLevel

        frame = frame.persist(StorageLevel.MEMORY_AND_DISK)
        self._counts.get(frame, "count", frame.count)
        return frame

    def _keys(self, records: DataFrame, blockers: Sequence[Blocker]) -> DataFrame:
        """Return the blockers' keys of ``records`` (made once per records frame and blockers)."""
        from pyspark.sql import functions as F

        from er_toolkit.engines.spark import _blocking

        wanted = tuple(repr(b) for b in blockers)
        for key, frame in self._cache.entries(records):
            held = key[1] if isinstance(key, tuple) and key[0] == "keys" else ()
            if held == wanted:
                return frame  # type: ignore[no-any-return]
            if set(wanted) <= set(held):  # blockers keyed together before
                moved = [x for i, w in enumerate(wanted) for x in (held.index(w), i)]
                return frame.where(F.col(_blocking.RULE).isin(moved[0::2])).withColumn(
                    _blocking.RULE,
                    F.element_at(
                        F.create_map(*[F.lit(x) for x in moved]), F.col(_blocking.RULE)
                    ).cast("int"),
                )
        return self._cache.get(  # type: ignore[no-any-return]
            records,
            ("keys", wanted),
            lambda: self._persisted(_blocking.keys(records, blockers)),
        )

    def _side(self, records: DataFrame, comparisons: Sequence[Comparison]) -> DataFrame:
        """Return the compared columns and term frequencies of ``records`` (made once per records frame)."""
        from er_toolkit.engines.spark import _compare

        return self._cache.get(  # type: ignore[no-any-return]
            records,
            ("side", tuple(repr(c) for c in comparisons)),
            lambda: self._persisted(_compare.values_side(records, comparisons)),
        )

    def release(self) -> None:
        """Unpersist what the engine keeps for frames it has seen (keys, values, counts)."""
        self._cache.clear()
        self._counts.clear()
        self._samples.clear()

    def collect(
        self, frame: Any, *, columns: Sequence[str] | None = None
    ) -> pl.DataFrame:
        """Bring a frame (or these of its columns) here as polars, sorted by its row numbers."""
        if isinstance(frame, pl.DataFrame):
            return (
                frame
                if columns is None
                else frame.select([c for c in columns if c in frame.columns])
            )
        return to_polars(frame if columns is None else select_present(frame, columns))

    def write_parquet(self, frame: Any, path: str | os.PathLike[str]) -> Path:
        """Write a frame as a Parquet folder (Spark's part files) at ``path``."""
        from er_toolkit.engines.spark._records import write_parquet

        return write_parquet(as_spark(self.spark, frame), path)

    @contextmanager
    def cached(self, records: Any) -> Iterator[None]:
        """Nothing to keep: records frames are persisted when prepared."""
        yield

    def release_compare(self) -> None:
        """Nothing kept between compares (cached frames stay until :meth:`release`)."""

    # ---------------------------------------------------------------- blocking
    def count_rule_pairs(
        self, records: Any, blockers: Sequence[Blocker], *, link_type: LinkType
    ) -> pl.DataFrame:
        """Return ``blocked_by`` and ``pairs``: each blocker's count, as ``count_pairs`` gives it."""
        from er_toolkit.engines.spark import _blocking

        records = as_spark(self.spark, records)
        counts = _blocking.count_pairs(
            records, self._keys(records, blockers), blockers, link_type=link_type
        )
        return pl.DataFrame(
            {schema.BLOCKED_BY: [b.name for b in blockers], "pairs": counts},
            schema={schema.BLOCKED_BY: pl.String, "pairs": pl.Int64},
        )

    def block(
        self,
        records: Any,
        blockers: Sequence[Blocker],
        *,
        link_type: LinkType,
        max_pairs_per_rule: int | None = None,
        on_explode: OnExplode = "raise",
        counts: pl.DataFrame | None = None,
    ) -> DataFrame:
        """Return the union of the blockers' pairs (as :func:`~er_toolkit.blocking.block_pairs`).

        The same pair counts are reported and the same rules refused; each
        pair once, ``blocked_by`` its first producer (a String).
        """
        from er_toolkit.blocking.union import blockers_to_run, check_blockers
        from er_toolkit.engines.spark import _blocking

        check_blockers(blockers, on_explode=on_explode)
        records = as_spark(self.spark, records)
        report = (
            self.count_rule_pairs(records, blockers, link_type=link_type)
            if counts is None
            else counts
        )
        run = blockers_to_run(
            blockers,
            report,
            max_pairs_per_rule=max_pairs_per_rule,
            on_explode=on_explode,
            stacklevel=3,
        )
        if not run:
            return self.spark.createDataFrame(
                [],
                f"{schema.ROW_L} long, {schema.ROW_R} long, {schema.BLOCKED_BY} string",
            )
        place = {b.name: i for i, b in enumerate(blockers)}
        tagged = _blocking.pairs(
            records,
            self._keys(records, blockers),
            blockers,
            [place[b.name] for b in run],
            link_type=link_type,
            salt_above=self.salt_above,
        )
        out = self._persisted(_blocking.union(tagged, [b.name for b in blockers]))
        self._counts.get(out, _DISTINCT, lambda: True)  # each pair once, by the union
        return out

    def block_against(
        self,
        blocker: KeyBlocker,
        new_records: Any,
        existing_records: Any,
        *,
        link_type: LinkType,
    ) -> DataFrame:
        """Pair a new batch (``_row_l``) with stored records (``_row_r``) by a join of their keys."""
        from er_toolkit.engines.spark import _blocking

        return self._persisted(
            _blocking.against(
                as_spark(self.spark, new_records),
                as_spark(self.spark, existing_records),
                blocker,
                link_type=link_type,
            )
        )

    # ------------------------------------------------------- compare and score
    def term_frequencies(self, records: Any, column: str) -> DataFrame:
        """Return ``_row`` and ``term_frequency`` of ``column``, counted over every record."""
        from er_toolkit.engines.spark import _compare

        return _compare.term_frequencies(as_spark(self.spark, records), column)

    def compare(
        self,
        records: Any,
        pairs: Any,
        comparisons: Sequence[Comparison],
        *,
        raw_similarity: bool = True,
        workers: int | None = None,
    ) -> DataFrame:
        """Return the comparison vectors of ``pairs``: the compare kernel on each batch."""
        from er_toolkit.engines.spark import _compare

        pairs = as_spark(self.spark, pairs)
        vectors = self._persisted(
            _compare.compare(
                self._side(as_spark(self.spark, records), comparisons),
                pairs,
                comparisons,
                raw_similarity=raw_similarity,
            )
        )
        if any(k == _DISTINCT and v for k, v in self._counts.entries(pairs)):
            self._counts.get(vectors, _DISTINCT, lambda: True)  # a row per pair
        return vectors

    def vectors_of(
        self,
        records: Any,
        pairs: pl.DataFrame,
        comparisons: Sequence[Comparison],
        *,
        raw_similarity: bool = True,
        workers: int | None = None,
    ) -> pl.DataFrame:
        """Compare a polars frame of pairs on Spark; return their vectors here, row for row."""
        from er_toolkit.engines.spark import _compare

        keys = [schema.ROW_L, schema.ROW_R]
        vectors = to_polars(
            _compare.compare(
                self._side(as_spark(self.spark, records), comparisons),
                to_spark(self.spark, pairs.select(keys).unique()),
                comparisons,
                raw_similarity=raw_similarity,
            )
        )
        made = [c for c in vectors.columns if c not in keys]
        return pairs.select(pl.exclude(made)).join(
            vectors.cast({c: pairs.schema[c] for c in keys}),
            on=keys,
            how="left",
            maintain_order="left",
        )

    def predict(
        self,
        scorer: Any,
        vectors: Any,
        *,
        explain: bool = False,
        min_probability: float = 0.0,
    ) -> DataFrame:
        """Score comparison vectors with ``scorer.predict``, batch by batch."""
        from er_toolkit.engines.spark import _compare

        return self._persisted(
            _compare.predict(
                scorer,
                as_spark(self.spark, vectors),
                explain=explain,
                min_probability=min_probability,
            )
        )

    def score(
        self,
        records: Any,
        pairs: Any,
        comparisons: Sequence[Comparison],
        scorer: Any,
        *,
        explain: bool = False,
        raw_similarity: bool = False,
        chunk_size: int | None = None,
        min_probability: float = 0.0,
        workers: int | None = None,
        timings: dict[str, float] | None = None,
    ) -> DataFrame:
        """Compare and score every pair in one pass over each batch.

        ``chunk_size`` is not needed: each Arrow batch is a chunk (see
        ``spark.sql.execution.arrow.maxRecordsPerBatch``). The time is
        recorded as ``compare_and_score``: the two run together.
        """
        from er_toolkit.engines.spark import _compare

        start = time.perf_counter()
        records = as_spark(self.spark, records)
        pairs = as_spark(self.spark, pairs)
        # Vectors made for training on these pairs (gamma levels, no
        # similarities) are scored as they are: the pairs are not compared twice.
        kept = (
            None if raw_similarity else self._kept_vectors(records, pairs, comparisons)
        )
        if kept is not None:
            scored = self._persisted(
                _compare.predict(
                    scorer, kept, explain=explain, min_probability=min_probability
                )
            )
            kept.unpersist()
        else:
            scored = self._persisted(
                _compare.score(
                    self._side(records, comparisons),
                    pairs,
                    comparisons,
                    scorer,
                    explain=explain,
                    raw_similarity=raw_similarity,
                    min_probability=min_probability,
                )
            )
        if timings is not None:
            timings["compare_and_score"] = time.perf_counter() - start
        return scored

    def with_record_ids(self, pairs: Any, records: Any) -> DataFrame:
        """Add ``record_id_l/_r`` and ``source_l/_r`` (two joins), columns as the polars engine orders them."""
        from pyspark.sql import functions as F

        pairs = as_spark(self.spark, pairs)
        records = as_spark(self.spark, records)

        def side(suffix: str) -> DataFrame:
            return records.select(
                F.col(schema.ROW).alias(schema.ROW + suffix),
                F.col(schema.RECORD_ID).alias(schema.RECORD_ID + suffix),
                F.col(schema.SOURCE).alias(schema.SOURCE + suffix),
            )

        out = pairs.join(side(schema.LEFT), schema.ROW_L, "left").join(
            side(schema.RIGHT), schema.ROW_R, "left"
        )
        first = [
            schema.ROW_L,
            schema.ROW_R,
            schema.RECORD_ID_L,
            schema.RECORD_ID_R,
            schema.SOURCE_L,
            schema.SOURCE_R,
        ]
        return out.select(*first, *[c for c in out.columns if c not in first])

    # ---------------------------------------------------------------- training
    def _source_codes(self, records: DataFrame) -> tuple[int, np.ndarray, np.ndarray]:
        """Return n, each row's source code (Int32), and each source's count."""
        from pyspark.sql import functions as F

        stats = sorted(
            (int(r["lo"]), int(r["hi"]), int(r["n"]))
            for r in records.groupBy(schema.SOURCE)
            .agg(
                F.min(schema.ROW).alias("lo"),
                F.max(schema.ROW).alias("hi"),
                F.count("*").alias("n"),
            )
            .collect()
        )
        n = sum(s[2] for s in stats)
        sizes = np.array([s[2] for s in stats], dtype=np.int64)
        contiguous = all(hi - lo + 1 == c for lo, hi, c in stats) and all(
            a[1] < b[0] for a, b in itertools.pairwise(stats)
        )
        if contiguous:  # prepare_records stacks sources one after another
            codes = np.repeat(np.arange(len(stats), dtype=np.int32), sizes)
        else:
            here = to_polars(records.select(schema.ROW, schema.SOURCE))
            codes = (
                here.get_column(schema.SOURCE)
                .cast(pl.Categorical)
                .to_physical()
                .to_numpy()
                .astype(np.int32)
            )
        return n, codes, sizes

    def total_pairs(self, records: Any, *, link_type: LinkType) -> int:
        """Return how many record pairs the link type compares without blocking."""
        if isinstance(records, pl.DataFrame):
            from er_toolkit.score.sampling import total_pairs

            return total_pairs(records, link_type=link_type)
        n = self.height(records)
        if link_type != "link":
            return n * (n - 1) // 2
        _, _, sizes = self._source_codes(records)
        return int((sizes.sum() ** 2 - (sizes**2).sum()) // 2)

    def sample_pairs(
        self, records: Any, *, n_pairs: int, link_type: LinkType, seed: int
    ) -> DataFrame:
        """Draw the polars engine's random pairs here (from the row count and seed) and send them over."""
        from er_toolkit.score.sampling import sample_row_pairs

        records = as_spark(self.spark, records)
        if link_type == "link":
            n, codes, sizes = self._source_codes(records)
            possible = int((sizes.sum() ** 2 - (sizes**2).sum()) // 2)
        else:
            n = self.height(records)
            codes = np.zeros(n, dtype=np.int32)
            possible = n * (n - 1) // 2
        drawn = sample_row_pairs(
            n, codes, possible=possible, n_pairs=n_pairs, link_type=link_type, seed=seed
        )
        return self._persisted(to_spark(self.spark, drawn))

    def sample_records(
        self,
        records: Any,
        *,
        share: float,
        seed: int,
        columns: Sequence[str] | None = None,
    ) -> DataFrame:
        """Keep the records the polars engine's seeded draw keeps (drawn here, joined there)."""
        records = as_spark(self.spark, records)
        if columns is not None:
            records = records.select(*columns)
        n = self.height(records)
        rng = np.random.default_rng(seed)
        kept = [
            np.flatnonzero(rng.random(min(_SAMPLE_CHUNK, n - start)) < share) + start
            for start in range(0, n, _SAMPLE_CHUNK)
        ]
        rows = np.concatenate(kept) if kept else np.empty(0, dtype=np.int64)
        chosen = to_spark(self.spark, pl.DataFrame({schema.ROW: rows.astype(np.int64)}))
        return self._persisted(records.join(chosen, schema.ROW, "left_semi"))

    def gamma_patterns(
        self,
        records: Any,
        pairs: Any,
        comparisons: Sequence[Comparison],
        *,
        workers: int | None = None,
        agreeing: Collection[str] = (),
    ) -> Patterns:
        """Count the pairs' distinct gamma patterns: on the driver up to ``driver_pairs`` pairs, else on Spark.

        On the driver the polars engine's :meth:`~er_toolkit.engines.PolarsEngine.gamma_patterns`
        counts them (``agreeing`` as it reads it) over the pairs' records
        brought over; on Spark ``agreeing`` is not read (every comparison
        is compared per pair). The same kernel either way, so the same
        patterns.
        """
        from er_toolkit.engines.spark import _compare
        from er_toolkit.score.em import Patterns

        records = as_spark(self.spark, records)
        pairs = as_spark(self.spark, pairs)
        if self.height(pairs) <= self.driver_pairs:
            return self._driver_patterns(
                records, pairs, comparisons, workers=workers, agreeing=agreeing
            )
        vectors = _compare.compare(
            self._side(records, comparisons),
            pairs,
            comparisons,
            raw_similarity=False,
        )
        counts = _compare.pattern_counts(vectors, comparisons)
        return Patterns.from_counts(counts, [c.name for c in comparisons])

    def _driver_patterns(
        self,
        records: DataFrame,
        pairs: DataFrame,
        comparisons: Sequence[Comparison],
        *,
        workers: int | None,
        agreeing: Collection[str],
    ) -> Patterns:
        """Bring the pairs and their records' compared columns here; count with the polars engine.

        The records are renumbered densely (the polars engine reads
        ``_row`` as a position) and the pairs with them; the gamma levels
        read only the two records' values, so they are those Spark would
        give.
        """
        from er_toolkit.engines.polars import PolarsEngine
        from er_toolkit.engines.spark import _compare

        here = to_polars(pairs.select(schema.ROW_L, schema.ROW_R))
        rows = (
            pl.concat([here.get_column(schema.ROW_L), here.get_column(schema.ROW_R)])
            .unique()
            .sort()
        )
        wanted = to_spark(self.spark, pl.DataFrame({schema.ROW: rows.cast(pl.Int64)}))
        values = to_polars(
            records.select(schema.ROW, *_compare.columns_of(comparisons)).join(
                wanted, schema.ROW, "left_semi"
            )
        )
        if values.height != rows.len():
            raise SchemaError(
                f"The pairs name {rows.len():,} records; expected all of them in the "
                f"records frame, found {values.height:,}."
            )
        local = values.with_columns(
            pl.int_range(values.height, dtype=pl.UInt32).alias(schema.ROW)
        )
        local_pairs = pl.DataFrame(
            {
                side: rows.search_sorted(here.get_column(side)).cast(pl.UInt32)
                for side in (schema.ROW_L, schema.ROW_R)
            }
        )
        return PolarsEngine().gamma_patterns(
            local, local_pairs, comparisons, workers=workers, agreeing=agreeing
        )

    def session_patterns(
        self,
        records: Any,
        sample: Any,
        rule: Blocker,
        n_pairs: int,
        *,
        candidates: Any,
        comparisons: Sequence[Comparison],
        link_type: LinkType,
    ) -> Patterns | None:
        """Count an EM session's gamma patterns among the candidates, or None unless its pairs are all candidates.

        The polars engine's test (``_KnownVectors``) as joins: a session of
        an exact rule (no block purging) pairs every two records of
        ``sample`` sharing the rule's key, so the candidates whose two
        records share that key and are both in ``sample`` are among its
        pairs; when there are ``n_pairs`` of them (the candidates being
        distinct), they are its pairs, and their gamma patterns are its
        patterns. The candidates' vectors (gamma levels only) are made once
        and kept: :meth:`score` then scores them instead of comparing the
        same pairs again. Only rules that made candidates are tried (other
        rules' pairs are seldom all candidates).
        """
        from pyspark.sql import functions as F

        from er_toolkit.blocking import ExactRule
        from er_toolkit.engines.spark import _blocking, _compare
        from er_toolkit.score.em import Patterns

        if (
            n_pairs == 0
            or not isinstance(rule, ExactRule)
            or rule.max_block_size is not None
            or not all(is_spark_frame(f) for f in (records, sample, candidates))
            or not {schema.ROW_L, schema.ROW_R} <= set(candidates.columns)
        ):
            return None
        gammas = [schema.gamma(c.name) for c in comparisons]
        compared = set(gammas) <= set(candidates.columns)
        rules = (
            candidates.schema[schema.BLOCKED_BY].metadata.get(_blocking.BLOCKERS)
            if schema.BLOCKED_BY in candidates.columns
            else None
        )
        if (rules is None and not compared) or (
            rules is not None and rule.name not in rules
        ):
            return None  # not a blocking rule: a stricter rule's pairs would be
        if not self._distinct(candidates):
            return None  # repeated candidates: the count proves nothing
        vectors = (
            candidates
            if compared
            else self._candidate_vectors(records, candidates, comparisons)
        )
        keyed = self._keys(sample, [rule])

        def side(suffix: str) -> DataFrame:
            return keyed.select(
                F.col(schema.ROW).alias(schema.ROW + suffix),
                F.col(schema.SOURCE).alias(_SRC + suffix),
                F.col(schema.BLOCK_KEY).alias(_KEY + suffix),
            )

        left, right = schema.LEFT, schema.RIGHT
        hits = (
            vectors.select(schema.ROW_L, schema.ROW_R, *gammas)
            .join(side(left), schema.ROW_L)
            .join(side(right), schema.ROW_R)
            .where(
                (F.col(_KEY + left) == F.col(_KEY + right))
                & (F.col(schema.ROW_L) != F.col(schema.ROW_R))
            )
        )
        if link_type == "link":
            hits = hits.where(F.col(_SRC + left) != F.col(_SRC + right))
        counts = _compare.pattern_counts(hits, comparisons)
        if int(counts.get_column("_n").sum()) != n_pairs:
            return None
        return Patterns.from_counts(counts, [c.name for c in comparisons])

    def _distinct(self, pairs: DataFrame) -> bool:
        """Whether each pair is in ``pairs`` once (either way round); known for :meth:`block`'s pairs."""
        from pyspark.sql import functions as F

        def count() -> bool:
            rows = [F.col(schema.ROW_L), F.col(schema.ROW_R)]
            distinct = (
                pairs.select(F.least(*rows).alias("a"), F.greatest(*rows).alias("b"))
                .distinct()
                .count()
            )
            return bool(distinct == self.height(pairs))

        return bool(self._counts.get(pairs, _DISTINCT, count))

    def _candidate_vectors(
        self, records: DataFrame, pairs: DataFrame, comparisons: Sequence[Comparison]
    ) -> DataFrame:
        """Return the gamma vectors of ``pairs`` (made once, kept for :meth:`score`)."""
        from er_toolkit.engines.spark import _compare

        key = (_VECTORS, tuple(repr(c) for c in comparisons))

        def make() -> _Compared:
            start = time.perf_counter()
            vectors = self._persisted(
                _compare.compare(
                    self._side(records, comparisons),
                    pairs,
                    comparisons,
                    raw_similarity=False,
                )
            )
            self.timings[_VECTORS] = (
                self.timings.get(_VECTORS, 0.0) + time.perf_counter() - start
            )
            return _Compared(records, vectors)

        kept = self._cache.get(pairs, key, make)
        if kept.records is not records:  # made from other records: made again
            self._cache.pop(pairs, key).unpersist()
            return self._candidate_vectors(records, pairs, comparisons)
        return kept.vectors  # type: ignore[no-any-return]

    def _kept_vectors(
        self, records: DataFrame, pairs: DataFrame, comparisons: Sequence[Comparison]
    ) -> DataFrame | None:
        """Hand over (and forget) the vectors :meth:`_candidate_vectors` kept for these records and pairs."""
        kept = self._cache.pop(pairs, (_VECTORS, tuple(repr(c) for c in comparisons)))
        if kept is None:
            return None
        if kept.records is not records:
            kept.unpersist()
            return None
        return kept.vectors  # type: ignore[no-any-return]

    def weight_counts(
        self, vectors: Any, weigh: Callable[[pl.DataFrame], np.ndarray]
    ) -> tuple[np.ndarray, np.ndarray | None]:
        """Return the distinct weights of the vectors and how many pairs have each."""
        from er_toolkit.engines.spark import _compare

        if isinstance(vectors, pl.DataFrame):
            return weigh(vectors), None
        return _compare.weight_counts(vectors, weigh)

    def exact_agreement_share(
        self,
        records: Any,
        columns: str | Sequence[str],
        *,
        link_type: LinkType,
        given: str | None = None,
    ) -> float:
        """Return the agreement share from value counts made on Spark (as the polars engine's).

        Each batch's values are read as the polars engine reads them, Spark
        counts records per distinct (values, source), and the polars
        engine's arithmetic runs on those counts here.
        """
        from pyspark.sql import functions as F

        from er_toolkit.score.sampling import (
            agreement_share_from_counts,
            agreement_values,
        )

        names = [columns] if isinstance(columns, str) else list(columns)
        given = names[0] if given is None else given
        records = as_spark(self.spark, records)
        read = list(dict.fromkeys([*names, given, schema.SOURCE]))

        def values(batch: pl.DataFrame) -> pl.DataFrame:
            return pl.DataFrame(
                {
                    **{
                        f"v{i}": agreement_values(batch.get_column(c))
                        for i, c in enumerate(names)
                    },
                    "g": agreement_values(batch.get_column(given)),
                    "s": batch.get_column(schema.SOURCE).cast(pl.String),
                },
                schema={
                    **{f"v{i}": pl.String for i in range(len(names))},
                    "g": pl.String,
                    "s": pl.String,
                },
            )

        keys = [f"v{i}" for i in range(len(names))]
        texts = [stripped_text(records, c) for c in [*names, given]]
        if all(t is not None for t in texts):  # text columns: read by Spark itself
            read_here = records.select(
                *[t.alias(f"v{i}") for i, t in enumerate(texts[:-1])],  # type: ignore[union-attr]
                texts[-1].alias("g"),  # type: ignore[union-attr]
                F.col(schema.SOURCE).cast("string").alias("s"),
            )
        else:
            read_here = map_batches(records.select(*read), values)
        counts = (
            read_here.where(F.col("g").isNotNull())
            .groupBy(*keys, "s")
            .agg(F.count("*").cast("double").alias("c"))
        )
        return agreement_share_from_counts(
            to_polars(counts), n_keys=len(names), link_type=link_type
        )

    def completeness(self, records: Any, column: str) -> float:
        """Return the share of records with a value (blank text is missing)."""
        from pyspark.sql import functions as F

        records = as_spark(self.spark, records)

        # every plainly named column in one job, kept for the frame
        columns = [c for c in records.columns if "." not in c and "`" not in c]

        def shares() -> dict[str, float]:
            values = [
                F.col(c) if (native := stripped_text(records, c)) is None else native
                for c in columns
            ]
            totals = records.agg(
                F.count("*").alias("__n"),
                *[F.count(v).alias(f"__{i}") for i, v in enumerate(values)],
            ).first()
            n = int(totals["__n"]) if totals is not None else 0
            return {
                c: 1.0
                - (n - int(totals[f"__{i}"] if totals is not None else 0)) / max(n, 1)
                for i, c in enumerate(columns)
            }

        if column not in columns:
            columns = [column]
            return float(shares()[column])
        return float(self._counts.get(records, "completeness", shares)[column])

    # ------------------------------------------------------ clusters, golden
    def connected_components(
        self,
        records: Any,
        pairs: Any,
        *,
        threshold: float,
        score_column: str = schema.MATCH_PROBABILITY,
        prune_weak_links: bool = False,
        keep_above: float = 0.999,
        min_prune_size: int = 3,
        max_cluster_size: int | None = None,
        linkage: Linkage = "single",
        not_compared: NotCompared = "far",
        min_linkage_probability: float | None = None,
    ) -> DataFrame:
        """Cluster records on Spark (large-star / small-star); ids as the polars engine's.

        Components that pruning or ``max_cluster_size`` apply to are
        re-cut on the driver (they are small); see
        :func:`~er_toolkit.engines.spark._cluster.components`. Up to
        ``driver_links`` links, the components are found on the driver.
        """
        from er_toolkit.engines.spark import _cluster

        records = as_spark(self.spark, records)
        return self._persisted(
            _cluster.components(
                records,
                as_spark(self.spark, pairs),
                threshold=threshold,
                score_column=score_column,
                prune_weak_links=prune_weak_links,
                keep_above=keep_above,
                min_prune_size=min_prune_size,
                max_cluster_size=max_cluster_size,
                linkage=linkage,
                not_compared=not_compared,
                min_linkage_probability=min_linkage_probability,
                driver_links=self.driver_links,
                n_records=self.height(records),
            )
        )

    def golden(
        self,
        config: GoldenConfig,
        records: Any,
        clusters: Any,
        *,
        raw: Any = None,
        cluster_ids: Sequence[str] | None = None,
    ) -> DataFrame:
        """Build golden records on Spark, whole clusters per partition."""
        from er_toolkit.engines.spark import _records

        partitions = self.golden_partitions or int(
            self.spark.conf.get("spark.sql.shuffle.partitions") or 200
        )
        return self._persisted(
            _records.golden(
                config,
                as_spark(self.spark, records),
                as_spark(self.spark, clusters),
                raw=None if raw is None else as_spark(self.spark, raw),
                cluster_ids=cluster_ids,
                partitions=partitions,
            )
        )


def session_conf(master: str | None = None) -> dict[str, str]:
    """Return the Spark settings the engine gives a session it builds (``conf`` overrides each).

    A session you build yourself keeps its own settings; these are the
    advised ones for the engine's work:

    - ``spark.sql.shuffle.partitions``: two per core on a local master
      (Spark's default of 200 makes every shuffle of a small job 200
      tasks); on a cluster, Spark's own (with adaptive query execution
      coalescing small partitions).
    - ``spark.sql.execution.arrow.maxRecordsPerBatch``: 100,000 rows per
      Arrow batch (Spark's default 10,000): the compare kernel and the
      scorer run per batch, and larger batches halve their cost per pair.
    - ``spark.sql.adaptive.enabled``: on (Spark's default), so small
      shuffles are coalesced and small join sides broadcast.

    Examples
    --------
    >>> session_conf("local[2]")["spark.sql.shuffle.partitions"]
    '4'
    >>> "spark.sql.shuffle.partitions" in session_conf("yarn")
    False
    """
    settings = {
        "spark.sql.execution.arrow.maxRecordsPerBatch": str(_ARROW_BATCH),
        "spark.sql.adaptive.enabled": "true",
    }
    if master is None or master.startswith("local"):
        inside = master[6:-1] if master and master.startswith("local[") else ""
        cores = int(inside) if inside.isdigit() else (os.cpu_count() or 1)
        settings["spark.sql.shuffle.partitions"] = str(2 * cores)
    return settings


def _session_settings(
    master: str | None, conf: Mapping[str, Any] | None
) -> dict[str, Any]:
    """Return :func:`session_conf`'s settings with ``conf``'s over them."""
    return {**session_conf(master), **(conf or {})}


def _local_session(
    *,
    master: str | None = None,
    app_name: str = "er_toolkit",
    conf: Mapping[str, Any] | None = None,
) -> SparkSession:
    """Return a SparkSession built from ``master`` and ``conf`` (local: Python workers run this interpreter)."""
    from pyspark.sql import SparkSession

    builder = SparkSession.builder.appName(app_name)
    if master is not None:
        builder = builder.master(master)
    settings = _session_settings(master, conf)
    if master is None or master.startswith("local"):
        # local Python workers must import er_toolkit: run them on this interpreter
        os.environ.setdefault("PYSPARK_PYTHON", sys.executable)
    for key, value in settings.items():
        builder = builder.config(key, str(value))
    return builder.getOrCreate()
