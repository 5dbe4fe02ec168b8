"""Spark and polars frames through Arrow: conversions, per-batch polars code, dense row numbers."""

from __future__ import annotations

from collections import OrderedDict
from collections.abc import Callable, Hashable, Iterator, Sequence
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
    (``_row_l``, ``_row_r``), so the same data gives the same frame; pairs
    from blocking (``blocked_by`` carries the blockers' order) come as the
    polars engine gives them, ``blocked_by`` an Enum, rule by rule.
    """
    names = (
        frame.schema[schema.BLOCKED_BY].metadata.get("er_toolkit.blockers")
        if schema.BLOCKED_BY in frame.columns
        else None
    )
    out = pl.from_arrow(frame.toArrow())
    assert isinstance(out, pl.DataFrame)
    out = out.cast(
        {c: pl.UInt32 for c in (*ROW_COLUMNS, schema.CLUSTER_SIZE) if c in out.columns}
    )
    if names:  # pairs as the polars engine orders them: rule by rule, then rows
        out = out.with_columns(pl.col(schema.BLOCKED_BY).cast(pl.Enum(names)))
    if schema.ROW in out.columns:
        return out.sort(schema.ROW)
    if schema.ROW_L in out.columns and schema.ROW_R in out.columns:
        first = [schema.BLOCKED_BY] if names else []
        return out.sort(*first, schema.ROW_L, schema.ROW_R)
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
        output = _kept_metadata(spark_schema(function(empty_like(frame))), frame.schema)
    target = arrow_schema(output)
    names = list(target.names)

    def run(batches: Iterator[pa.RecordBatch]) -> Iterator[pa.RecordBatch]:
        for batch in batches:
            result = spark_ready(function(pl.from_arrow(batch)))  # type: ignore[arg-type]
            table = result.select(names).to_arrow().cast(target)
            yield from table.to_batches()

    return frame.mapInArrow(run, output)


def _kept_metadata(output: StructType, given: StructType) -> StructType:
    """Return ``output`` with the metadata of the columns it passes through unchanged."""
    from pyspark.sql.types import StructField, StructType

    before = {f.name: f for f in given.fields}
    return StructType(
        [
            StructField(f.name, f.dataType, f.nullable, before[f.name].metadata)
            if f.name in before and before[f.name].dataType == f.dataType
            else f
            for f in output.fields
        ]
    )


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
    """Return the frame with its rows numbered 0 .. n-1 in the frame's order (partition by partition).

    No single-partition window: the frame is checkpointed with Spark's
    partition-ordered ids, each partition's count is gathered, and each
    row gets its partition's offset plus its place within it. The
    checkpoint keeps the order fixed (a sort's partition bounds are
    sampled, so a recomputed sort could split differently).
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
    return tagged.join(F.broadcast(table), part == F.col("__p")).select(
        (F.col("__offset") + local).cast("long").alias(column),
        *[F.col(c) for c in frame.columns],
    )


def select_present(frame: DataFrame, columns: Sequence[str]) -> DataFrame:
    """Select the columns of ``columns`` that ``frame`` has, in that order."""
    return frame.select(*[c for c in columns if c in frame.columns])


class FrameCache:
    """Persisted frames derived from a frame (its blocking keys, its values with term frequencies).

    Entries are found by the frame they came from (the object itself, kept
    alive by the entry) and a key; the oldest beyond ``size`` are
    unpersisted.
    """

    def __init__(self, size: int = 8) -> None:
        self.size = size
        self._entries: OrderedDict[tuple[int, Hashable], tuple[Any, Any]] = (
            OrderedDict()
        )

    def get(self, owner: Any, key: Hashable, make: Callable[[], Any]) -> Any:
        """Return the entry of ``owner`` and ``key``, made (and kept) when absent."""
        slot = (id(owner), key)
        hit = self._entries.get(slot)
        if hit is not None and hit[0] is owner:
            self._entries.move_to_end(slot)
            return hit[1]
        value = make()
        self._entries[slot] = (owner, value)
        while len(self._entries) > self.size:
            _, (_, old) = self._entries.popitem(last=False)
            if hasattr(old, "unpersist"):
                old.unpersist()
        return value

    def pop(self, owner: Any, key: Hashable) -> Any:
        """Forget and return the entry of ``owner`` and ``key`` (None when absent); not unpersisted."""
        slot = (id(owner), key)
        hit = self._entries.get(slot)
        if hit is None or hit[0] is not owner:
            return None
        del self._entries[slot]
        return hit[1]

    def entries(self, owner: Any) -> list[tuple[Hashable, Any]]:
        """Return the keys and values kept for ``owner``."""
        return [
            (slot[1], value)
            for slot, (kept, value) in self._entries.items()
            if kept is owner
        ]

    def clear(self) -> None:
        """Unpersist and forget every entry."""
        for _, value in self._entries.values():
            if hasattr(value, "unpersist"):
                value.unpersist()
        self._entries.clear()


_EDGE_WHITESPACE = r"(?U)\A\s+|\s+\z"


def stripped_text(frame: DataFrame, column: str) -> Any:
    r"""Return a Spark expression of ``column`` as the kernel's text (trimmed, blank null), or None.

    For a String column: leading and trailing Unicode whitespace removed
    (Java's ``(?U)\s`` is the Unicode White_Space property, what polars'
    ``strip_chars`` removes), empty text null. Other types return None:
    their text is made by polars, per batch.
    """
    from pyspark.sql import functions as F
    from pyspark.sql.types import StringType

    if not isinstance(frame.schema[column].dataType, StringType):
        return None
    text = F.regexp_replace(F.col(column), _EDGE_WHITESPACE, "")
    return F.when(F.length(text) > 0, text)
