"""Spark and polars frames through Arrow: conversions, per-batch polars code, dense row numbers."""

from __future__ import annotations

from collections.abc import Callable, Iterator, Sequence
from typing import TYPE_CHECKING, Any

import polars as pl

from er_toolkit import schema
from er_toolkit.exceptions import MissingExtraError

if TYPE_CHECKING:
    import pyarrow as pa
    from pyspark.sql import DataFrame, SparkSession
    from pyspark.sql.types import StructType

ROW_COLUMNS = (schema.ROW, schema.ROW_L, schema.ROW_R)
"""Row numbers: Int64 in Spark (it has no unsigned types), UInt32 in polars."""

BatchFunction = Callable[[pl.DataFrame], pl.DataFrame]


def require_pyspark() -> None:
    """Import pyspark, or say which extra installs it.

    Raises
    ------
    MissingExtraError
        When pyspark is not installed.
    """
    try:
        import pyspark  # noqa: F401
    except ImportError as exc:
        raise MissingExtraError(
            "The Spark engine needs pyspark, which is not installed; install the "
            "spark extra: pip install 'er_toolkit[spark]' (and a Java 17 runtime)."
        ) from exc


def is_spark_frame(frame: Any) -> bool:
    """Whether ``frame`` is a Spark DataFrame (classic or Spark Connect)."""
    return type(frame).__name__ == "DataFrame" and type(frame).__module__.startswith(
        "pyspark."
    )


def spark_ready(frame: pl.DataFrame) -> pl.DataFrame:
    """Return ``frame`` with types Spark holds: unsigned ints widened, enums as text.

    Examples
    --------
    >>> spark_ready(pl.DataFrame({"_row": [1]}, schema={"_row": pl.UInt32})).schema
    Schema([('_row', Int64)])
    """
    casts: dict[str, pl.DataType] = {}
    for name, dtype in frame.schema.items():
        if dtype in (pl.UInt8, pl.UInt16):
            casts[name] = pl.Int32()
        elif dtype in (pl.UInt32, pl.UInt64):
            casts[name] = pl.Int64()
        elif isinstance(dtype, (pl.Enum, pl.Categorical)) or dtype == pl.Null:
            casts[name] = pl.String()
    return frame.cast(casts) if casts else frame  # type: ignore[arg-type]


def to_spark(spark: SparkSession, frame: pl.DataFrame) -> DataFrame:
    """Send a polars frame to Spark (through Arrow)."""
    return spark.createDataFrame(spark_ready(frame).to_arrow())


def to_polars(frame: DataFrame) -> pl.DataFrame:
    """Bring a Spark frame here as polars; row numbers back to UInt32.

    Frames with ``_row`` come sorted by it, pair frames by
    (``_row_l``, ``_row_r``), so the same data gives the same frame.
    """
    out = pl.from_arrow(frame.toArrow())
    assert isinstance(out, pl.DataFrame)
    out = out.cast(
        {c: pl.UInt32 for c in (*ROW_COLUMNS, schema.CLUSTER_SIZE) if c in out.columns}
    )
    if schema.ROW in out.columns:
        return out.sort(schema.ROW)
    if schema.ROW_L in out.columns and schema.ROW_R in out.columns:
        return out.sort(schema.ROW_L, schema.ROW_R)
    return out


def as_spark(spark: SparkSession, frame: Any) -> DataFrame:
    """Return ``frame`` as a Spark DataFrame (polars frames are sent over)."""
    if is_spark_frame(frame):
        return frame
    if isinstance(frame, pl.DataFrame):
        return to_spark(spark, frame)
    raise TypeError(
        f"Expected a Spark or polars DataFrame; got {type(frame).__name__}."
    )


def arrow_schema(struct: StructType) -> pa.Schema:
    """Return the Arrow schema of a Spark schema."""
    from pyspark.sql.pandas.types import to_arrow_schema

    return to_arrow_schema(struct)


def spark_schema(frame: pl.DataFrame) -> StructType:
    """Return the Spark schema of a polars frame (after :func:`spark_ready`)."""
    from pyspark.sql.pandas.types import from_arrow_schema

    return from_arrow_schema(spark_ready(frame).to_arrow().schema)


def empty_like(frame: DataFrame) -> pl.DataFrame:
    """Return an empty polars frame with the columns and types of a Spark frame."""
    out = pl.from_arrow(arrow_schema(frame.schema).empty_table())
    assert isinstance(out, pl.DataFrame)
    return out


def map_batches(
    frame: DataFrame,
    function: BatchFunction,
    *,
    output: StructType | None = None,
) -> DataFrame:
    """Run polars code on each Arrow batch of a Spark frame (``mapInArrow``).

    Parameters
    ----------
    frame
        The Spark frame.
    function
        From one batch (a polars frame) to its result; a function of each
        batch alone, so it gives the same rows however Spark splits them.
    output
        The result's Spark schema; found by running ``function`` on an
        empty batch when not given.

    Returns
    -------
    pyspark.sql.DataFrame
        The results, lazily.
    """
    if output is None:
        output = spark_schema(function(empty_like(frame)))
    target = arrow_schema(output)
    names = list(target.names)

    def run(batches: Iterator[pa.RecordBatch]) -> Iterator[pa.RecordBatch]:
        for batch in batches:
            result = spark_ready(function(pl.from_arrow(batch)))  # type: ignore[arg-type]
            table = result.select(names).to_arrow().cast(target)
            yield from table.to_batches()

    return frame.mapInArrow(run, output)


def persisted(frame: DataFrame) -> DataFrame:
    """Return ``frame`` computed once and kept (memory, then disk) for every later use."""
    from pyspark import StorageLevel

    frame = frame.persist(StorageLevel.MEMORY_AND_DISK)
    frame.count()
    return frame


def fixed(frame: DataFrame) -> DataFrame:
    """Return ``frame`` computed once, its lineage cut (a local checkpoint).

    For frames whose values must not change if recomputed (row numbers
    from partition order, iterations).
    """
    return frame.localCheckpoint(eager=True)


def with_dense_rows(frame: DataFrame, *, column: str = schema.ROW) -> DataFrame:
    """Number the rows 0 .. n-1 in the frame's order (partition by partition).

    No single-partition window: each partition's count is gathered, and
    each row gets its partition's offset plus its place within it.
    """
    from pyspark.sql import functions as F

    mid = "__mid"
    tagged = fixed(frame.withColumn(mid, F.monotonically_increasing_id()))
    part = F.shiftright(F.col(mid), 33)
    counts = sorted(
        (int(r["p"]), int(r["n"]))
        for r in tagged.groupBy(part.alias("p")).agg(F.count("*").alias("n")).collect()
    )
    offsets, total = [], 0
    for p, n in counts:
        offsets.append((p, total))
        total += n
    spark = frame.sparkSession
    table = spark.createDataFrame(offsets or [(0, 0)], "__p long, __offset long")
    local = F.col(mid).bitwiseAND(F.lit((1 << 33) - 1))
    numbered = tagged.join(F.broadcast(table), part == F.col("__p")).select(
        (F.col("__offset") + local).cast("long").alias(column),
        *[F.col(c) for c in frame.columns],
    )
    return fixed(numbered)


def select_present(frame: DataFrame, columns: Sequence[str]) -> DataFrame:
    """Select the columns of ``columns`` that ``frame`` has, in that order."""
    return frame.select(*[c for c in columns if c in frame.columns])
