"""Records on Spark: sources read and validated, dense row numbers, standardisers per batch, golden records."""

from __future__ import annotations

import os
from collections.abc import Iterator, Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any

import polars as pl

from er_toolkit import schema
from er_toolkit.engines.spark._frames import (
    arrow_schema,
    empty_like,
    is_spark_frame,
    map_batches,
    persisted,
    spark_ready,
    spark_schema,
    to_polars,
    to_spark,
    with_dense_rows,
)
from er_toolkit.exceptions import (
    DuplicateIdError,
    EmptyInputError,
    InputFormatError,
    SchemaError,
)

if TYPE_CHECKING:
    import pyarrow as pa
    from pyspark.sql import DataFrame, SparkSession

    from er_toolkit.derive import Derivation
    from er_toolkit.golden import GoldenConfig
    from er_toolkit.io import Source
    from er_toolkit.placeholders import PlaceholderConfig
    from er_toolkit.standardise.base import Steps

_RAW = "__raw__"


def _is_path(data: Any) -> bool:
    return isinstance(data, (str, os.PathLike))


def read(spark: SparkSession, data: Any, *, name: str) -> DataFrame:
    """Read a Spark DataFrame, a Parquet or CSV path (read by Spark), or any frame :func:`~er_toolkit.io.read_frame` reads."""
    if is_spark_frame(data):
        return data  # type: ignore[no-any-return]
    if _is_path(data):
        text = str(data)
        path = Path(text)
        suffix = path.suffix.lower()
        if "://" not in text and not path.exists():
            raise InputFormatError(f"{name}: file {text!r} does not exist.")
        if suffix in (".csv", ".tsv", ".txt"):
            return spark.read.csv(
                text, header=True, sep="\t" if suffix == ".tsv" else ","
            )
        return spark.read.parquet(text)
    from er_toolkit.io import read_frame

    return to_spark(spark, read_frame(data, name=name))


def prepare(
    spark: SparkSession,
    sources: Sequence[Source],
    *,
    columns: Sequence[str],
    keep: Sequence[str],
) -> DataFrame:
    """Validate and stack the sources into a Spark records frame, as :func:`~er_toolkit.io.prepare_records` does.

    Sources that are all polars, pandas or Arrow frames are stacked by
    :func:`~er_toolkit.io.prepare_records` itself and sent over; Spark
    DataFrames and paths are read and validated by Spark. Row numbers
    follow the sources' order and each source's row order (one Parquet
    or CSV file is read in its order).
    """
    from pyspark.sql import functions as F

    from er_toolkit.io import prepare_records

    if not any(is_spark_frame(s.data) or _is_path(s.data) for s in sources):
        return to_spark(spark, prepare_records(sources, columns=columns, keep=keep))
    if not sources:
        raise EmptyInputError("Expected at least one source; got none.")
    names = [s.name for s in sources]
    if len(set(names)) != len(names):
        raise SchemaError(f"Source names must be unique; got {names}.")
    frames = [
        _validated(read(spark, s.data, name=f"source {s.name!r}"), s, columns, keep)
        for s in sources
    ]
    id_types = {f.schema[schema.RECORD_ID].dataType.simpleString() for f in frames}
    if len(id_types) > 1:
        frames = [
            f.withColumn(schema.RECORD_ID, F.col(schema.RECORD_ID).cast("string"))
            for f in frames
        ]
    stacked = frames[0]
    for frame in frames[1:]:
        stacked = stacked.unionByName(frame, allowMissingColumns=True)
    # the row numbers come from a checkpoint (fixed order); the caller persists
    return with_dense_rows(stacked)


def _validated(
    frame: DataFrame, source: Source, columns: Sequence[str], keep: Sequence[str]
) -> DataFrame:
    """One source's frame checked as :func:`~er_toolkit.io.prepare_records` checks it."""
    from pyspark.sql import functions as F
    from pyspark.sql.types import IntegralType, StringType

    from er_toolkit.io import check_reserved_names, check_source_columns

    label = f"source {source.name!r}"
    check_reserved_names(source, columns=columns, keep=keep)
    check_source_columns(source, frame.columns, columns=columns)
    wanted = [source.id_column, *columns]
    ids = F.col(source.id_column)
    id_type = frame.schema[source.id_column].dataType
    if not isinstance(id_type, (IntegralType, StringType)):
        ids = ids.cast("string")
    checks = frame.agg(
        F.count("*").alias("n"),
        F.count(ids).alias("present"),
        F.countDistinct(ids).alias("distinct"),
    ).first()
    assert checks is not None
    if checks["n"] == 0:
        raise EmptyInputError(f"{label} holds no records; expected at least one.")
    n_null = checks["n"] - checks["present"]
    if n_null:
        raise SchemaError(
            f"{label}: id column {source.id_column!r} has {n_null} null value(s); "
            "every record needs an id."
        )
    if checks["distinct"] != checks["present"]:
        repeated = frame.groupBy(ids.alias("__id")).count().where(F.col("count") > 1)
        shown = [r["__id"] for r in repeated.limit(5).collect()]
        raise DuplicateIdError(
            f"{label}: id column {source.id_column!r} must be unique within the "
            f"source; {repeated.count()} id(s) repeat, e.g. {shown}."
        )
    extra = [c for c in keep if c in frame.columns and c not in wanted]
    wanted_cols = [c for c in dict.fromkeys(columns) if c != source.id_column]
    selected = [
        ids.alias(schema.RECORD_ID),
        F.lit(source.name).cast("string").alias(schema.SOURCE),
        *[F.col(c) for c in wanted_cols],
        *[F.col(c) for c in extra],
    ]
    if source.id_column in columns and source.id_column != schema.RECORD_ID:
        selected.append(F.col(source.id_column))
    return frame.select(*selected)


def standardise(records: DataFrame, steps: Steps) -> DataFrame:
    """Standardise each Arrow batch with :func:`~er_toolkit.standardise.apply_standardisers`.

    Standardisers read each value alone, so batches give the values the
    whole frame would.
    """
    from er_toolkit.standardise import apply_standardisers

    def batch(frame: pl.DataFrame) -> pl.DataFrame:
        return apply_standardisers(frame, steps)[0]

    return map_batches(records, batch)


def sample_here(
    records: DataFrame, *, rows: int, seed: int = 0, n: int | None = None
) -> pl.DataFrame:
    """Return the records here when there are at most ``rows``, else a seeded sample of about that many.

    ``n``: the records' count when known (else counted here).
    """
    n = records.count() if n is None else n
    if n > rows:
        records = records.sample(fraction=min(rows / n * 1.05, 1.0), seed=seed)
    return to_polars(records).with_columns(pl.col(schema.ROW).cast(pl.UInt32))


def write_parquet(frame: DataFrame, path: str | os.PathLike[str]) -> Path:
    """Write a Spark frame as a Parquet folder at ``path`` (replaced if present)."""
    frame.write.mode("overwrite").parquet(str(path))
    return Path(path)


def golden(
    config: GoldenConfig,
    records: DataFrame,
    clusters: DataFrame,
    *,
    raw: DataFrame | None,
    cluster_ids: Sequence[str] | None,
    partitions: int,
) -> DataFrame:
    """Build golden records on Spark: each partition gets whole clusters and builds theirs.

    Members are partitioned by ``cluster_id`` and sorted within each
    partition; batches are cut at cluster boundaries (a cluster split over
    two Arrow batches is held back and joined to the next), and
    :meth:`GoldenConfig.build` runs on each run of whole clusters. A
    cluster's golden record depends on its own records only, so this is
    what the polars engine builds.
    """
    from pyspark.sql import functions as F

    members = clusters.select(schema.RECORD_ID, schema.SOURCE, schema.CLUSTER_ID)
    if cluster_ids is not None:
        members = members.where(F.col(schema.CLUSTER_ID).isin(list(cluster_ids)))
    record_columns = [c for c in records.columns if c != schema.CLUSTER_ID]
    joined = records.select(*record_columns).join(
        members, [schema.RECORD_ID, schema.SOURCE]
    )
    raw_columns: list[str] = []
    if raw is not None:
        raw_columns = [
            c
            for c in raw.columns
            if c not in (schema.ROW, schema.RECORD_ID, schema.SOURCE)
        ]
        joined = joined.join(
            raw.select(
                schema.RECORD_ID,
                schema.SOURCE,
                *[F.col(c).alias(_RAW + c) for c in raw_columns],
            ),
            [schema.RECORD_ID, schema.SOURCE],
            "left",
        )
    ordered = joined.repartition(partitions, schema.CLUSTER_ID).sortWithinPartitions(
        schema.CLUSTER_ID
    )

    def build(frame: pl.DataFrame) -> pl.DataFrame:
        part_raw = None
        if raw is not None:
            part_raw = frame.select(
                schema.RECORD_ID,
                schema.SOURCE,
                *[pl.col(_RAW + c).alias(c) for c in raw_columns],
            )
        return config.build(
            frame.select(record_columns),
            frame.select(schema.RECORD_ID, schema.SOURCE, schema.CLUSTER_ID),
            raw=part_raw,
        )

    output = spark_schema(build(empty_like(ordered)))
    target = arrow_schema(output)

    def arrow(frame: pl.DataFrame) -> Iterator[pa.RecordBatch]:
        table = spark_ready(build(frame)).select(target.names).to_arrow()
        yield from table.cast(target).to_batches()

    def run(batches: Iterator[pa.RecordBatch]) -> Iterator[pa.RecordBatch]:
        held: pl.DataFrame | None = None
        for batch in batches:
            frame = pl.from_arrow(batch)
            assert isinstance(frame, pl.DataFrame)
            if held is not None:
                frame = pl.concat([held, frame], how="vertical_relaxed")
            if frame.height == 0:
                continue
            last = frame.get_column(schema.CLUSTER_ID)[-1]
            whole = pl.col(schema.CLUSTER_ID) != last
            held = frame.filter(~whole)
            done = frame.filter(whole)
            if done.height:
                yield from arrow(done)
        if held is not None and held.height:
            yield from arrow(held)

    return ordered.mapInArrow(run, output)


def derive(records: DataFrame, derivations: Sequence[Derivation]) -> DataFrame:
    """Add the derived columns to each Arrow batch with :func:`~er_toolkit.derive.apply_derivations`.

    A derivation reads the columns of its own record only, so batches give
    the values the whole frame would. A derivation reading a missing column
    is refused here, by the same check (run on an empty batch).
    """
    from er_toolkit.derive import apply_derivations

    derivations = tuple(derivations)

    def batch(frame: pl.DataFrame) -> pl.DataFrame:
        return apply_derivations(frame, derivations)

    return map_batches(records, batch)


def find_placeholders(records: DataFrame, config: PlaceholderConfig) -> pl.DataFrame:
    """Find the placeholder values as :func:`~er_toolkit.placeholders.find_placeholders` does.

    Each batch's values are read by
    :func:`~er_toolkit.placeholders.placeholder_keys`; Spark counts the
    records (and ``distinct_by`` values) per value over every record;
    the percentiles the frequency and date rules compare with are taken
    here from the histogram of those counts
    (:func:`~er_toolkit.placeholders.count_quantiles`); each batch of
    counts is judged by :func:`~er_toolkit.placeholders.classify_placeholders`,
    and only the placeholders come here.
    """
    from pyspark.sql import functions as F

    from er_toolkit import placeholders as ph

    ph.find_placeholders(empty_like(records), config)  # missing columns refused
    reads = records.select(*config.reads)
    frames = [pl.DataFrame(schema=ph.PLACEHOLDERS_SCHEMA)]
    for column in config.columns:

        def keys(batch: pl.DataFrame, column: str = column) -> pl.DataFrame:
            return ph.placeholder_keys(batch, column, config)

        aggregates = [F.count("*").alias("records")]
        if config.distinct_by is not None:
            by = F.col(ph._BY)  # nulls count as one value, as polars' n_unique
            aggregates.append(
                (F.countDistinct(by) + F.max(by.isNull().cast("int"))).alias(
                    ph._DISTINCT
                )
            )
        counts = persisted(map_batches(reads, keys).groupBy(ph._VALUE).agg(*aggregates))
        histogram = to_polars(counts.groupBy("records").agg(F.count("*").alias("n")))
        if histogram.is_empty():
            counts.unpersist()
            continue
        p99, median = ph.count_quantiles(
            histogram.get_column("records").to_numpy(),
            histogram.get_column("n").to_numpy(),
        )

        def judged(
            batch: pl.DataFrame,
            column: str = column,
            p99: float = p99,
            median: float = median,
        ) -> pl.DataFrame:
            return ph.classify_placeholders(
                batch, column, config, p99=p99, median=median
            )

        frames.append(to_polars(map_batches(counts, judged)))
        counts.unpersist()
    found = pl.concat(frames, how="vertical_relaxed")
    return found.sort(["records", "column", "value"], descending=[True, False, False])


def placeholder_counts(
    records: DataFrame, found: pl.DataFrame, columns: Sequence[str]
) -> pl.DataFrame:
    """Count the ``found`` values per source and column: :func:`~er_toolkit.placeholders.placeholder_counts` per batch, summed."""
    from pyspark.sql import functions as F

    from er_toolkit.placeholders import placeholder_counts as counts_of

    columns = tuple(columns)

    def batch(frame: pl.DataFrame) -> pl.DataFrame:
        return counts_of(frame, found, columns)

    read = [c for c in (schema.SOURCE, *columns) if c in records.columns]
    summed = (
        map_batches(records.select(*read), batch)
        .groupBy("source", "column")
        .agg(F.sum("placeholders").alias("placeholders"))
    )
    return to_polars(summed).select(
        pl.col("source").cast(pl.String),
        pl.col("column").cast(pl.String),
        pl.col("placeholders").cast(pl.UInt32),
    )


def null_placeholders(records: DataFrame, found: pl.DataFrame) -> DataFrame:
    """Set the ``found`` values to null in each batch (:func:`~er_toolkit.placeholders.null_placeholders`)."""
    from er_toolkit.placeholders import null_placeholders as nulled

    def batch(frame: pl.DataFrame) -> pl.DataFrame:
        return nulled(frame, found)

    return map_batches(records, batch)
