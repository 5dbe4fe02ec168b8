"""Comparing and scoring on Spark: pairs joined to their values, the compare kernel per Arrow batch."""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import TYPE_CHECKING, Any

import numpy as np
import polars as pl

from er_toolkit import schema
from er_toolkit.compare.kernel import compare_batch
from er_toolkit.compare.pair_values import ColumnEncoding
from er_toolkit.engines.spark._frames import map_batches, stripped_text

if TYPE_CHECKING:
    from pyspark.sql import DataFrame

    from er_toolkit.compare import Comparison

_LEFT = "__l__"
_RIGHT = "__r__"
_TF = "__tf__"
_VALUE = "__v"
TERM_FREQUENCY = "term_frequency"


def term_frequencies(records: DataFrame, column: str) -> DataFrame:
    """Return ``_row`` and ``term_frequency``: the share of the column's values equal to the record's.

    The values are read as the compare kernel reads them (trimmed text,
    blanks null), per batch; the counts are over the whole column (a
    group-by), never per batch. Null where the value is null.
    """
    from pyspark.sql import functions as F

    def text(batch: pl.DataFrame) -> pl.DataFrame:
        strings = ColumnEncoding(batch.get_column(column)).strings
        return batch.select(schema.ROW).with_columns(strings.alias(_VALUE))

    native = stripped_text(records, column)
    values = (
        map_batches(records.select(schema.ROW, column), text)
        if native is None
        else records.select(schema.ROW, native.alias(_VALUE))
    )
    present = values.where(F.col(_VALUE).isNotNull())
    counts = present.groupBy(_VALUE).agg(F.count("*").alias("__c"))
    total = present.agg(F.count("*").alias("__n"))
    frequency = (
        F.col("__c").cast("double") / F.greatest(F.col("__n"), F.lit(1))
    ).alias(TERM_FREQUENCY)
    table = counts.crossJoin(total).select(_VALUE, frequency)
    return values.join(table, _VALUE, "left").select(schema.ROW, TERM_FREQUENCY)


def columns_of(comparisons: Sequence[Comparison]) -> list[str]:
    """Every records column the comparisons read (own columns and the others their levels read)."""
    return list(dict.fromkeys(column for c in comparisons for column in c.columns))


def _tf_columns(comparisons: Sequence[Comparison]) -> dict[str, str]:
    """Every column some term-frequency level reads -> its frequency field's name."""
    columns = dict.fromkeys(column for c in comparisons for column in c.tf_columns)
    return {column: f"{_TF}{i}" for i, column in enumerate(columns)}


def values_side(records: DataFrame, comparisons: Sequence[Comparison]) -> DataFrame:
    """Return ``_row``, the compared columns and the term frequency of each TF level's column.

    The term-frequency tables are made once here (one per column, however
    many comparisons or levels read it) and joined to the records, so
    comparing any set of pairs is two joins on row numbers.
    """
    from pyspark.sql import Window
    from pyspark.sql import functions as F

    side = records.select(schema.ROW, *columns_of(comparisons))
    fields = _tf_columns(comparisons)
    native = {
        column: text
        for column in fields
        if column in side.columns
        and (text := stripped_text(records, column)) is not None
    }
    if native:  # text columns: counts over a window of each value, no joins
        totals = records.agg(
            *[F.count(text).alias(f"__n{i}") for i, text in enumerate(native.values())]
        ).first()
        assert totals is not None
        values = [F.col(f"{_VALUE}{i}") for i in range(len(native))]
        side = side.select(
            "*", *[text.alias(f"{_VALUE}{i}") for i, text in enumerate(native.values())]
        )
        side = side.select(
            *[c for c in side.columns if not c.startswith(_VALUE)],
            *[
                F.when(
                    value.isNotNull(),
                    F.count("*").over(Window.partitionBy(value)).cast("double")
                    / F.lit(max(int(totals[f"__n{i}"]), 1)),
                ).alias(fields[column])
                for i, (column, value) in enumerate(zip(native, values, strict=True))
            ],
        )
    for column, field in fields.items():
        if column in native:
            continue
        table = term_frequencies(records, column).select(
            schema.ROW, F.col(TERM_FREQUENCY).alias(field)
        )
        side = side.join(table, schema.ROW, "left")
    return side


def with_values(
    side: DataFrame, pairs: DataFrame, comparisons: Sequence[Comparison]
) -> DataFrame:
    """Return ``pairs`` with each side's compared values and the left term frequencies (two joins)."""
    from pyspark.sql import functions as F

    columns = columns_of(comparisons)
    tf_fields = list(_tf_columns(comparisons).values())
    left = side.select(
        F.col(schema.ROW).alias(schema.ROW_L),
        *[F.col(c).alias(_LEFT + c) for c in columns],
        *[F.col(c) for c in tf_fields],
    )
    right = side.select(
        F.col(schema.ROW).alias(schema.ROW_R),
        *[F.col(c).alias(_RIGHT + c) for c in columns],
    )
    joined = pairs.join(left, schema.ROW_L).join(right, schema.ROW_R)
    # a join on a named column puts it first: keep the pairs' column order
    return joined.select(
        *pairs.columns, *[c for c in joined.columns if c not in pairs.columns]
    )


def batch_vectors(
    comparisons: Sequence[Comparison], *, raw_similarity: bool
) -> Callable[[pl.DataFrame], pl.DataFrame]:
    """Return the function from one batch of pairs with values to its comparison vectors.

    It calls :func:`~er_toolkit.compare.compare_batch`, the kernel the
    polars engine runs, and builds the vectors as
    :func:`~er_toolkit.compare.compare_pairs` does (pair columns kept,
    ``sim_`` NaN as null).
    """
    comparisons = tuple(comparisons)
    columns = columns_of(comparisons)
    tf_fields = _tf_columns(comparisons)

    def vectors(batch: pl.DataFrame) -> pl.DataFrame:
        out = compare_batch(
            comparisons,
            {c: batch.get_column(_LEFT + c) for c in columns},
            {c: batch.get_column(_RIGHT + c) for c in columns},
            term_frequencies={
                c.name: {t: batch.get_column(tf_fields[t]) for t in c.tf_columns}
                for c in comparisons
                if c.tf_columns
            },
            raw_similarity=raw_similarity,
            workers=1,  # one Spark task per core
        )
        kept = [c for c in batch.columns if not c.startswith("__")]
        return batch.select(kept).with_columns(
            [
                pl.Series(name, array).fill_nan(None)
                if name.startswith(schema.SIM_PREFIX)
                else pl.Series(name, array)
                for name, array in out.items()
            ]
        )

    return vectors


def compare(
    side: DataFrame,
    pairs: DataFrame,
    comparisons: Sequence[Comparison],
    *,
    raw_similarity: bool,
) -> DataFrame:
    """Return the comparison vectors of ``pairs`` (lazily); ``side`` from :func:`values_side`."""
    return map_batches(
        with_values(side, pairs, comparisons),
        batch_vectors(comparisons, raw_similarity=raw_similarity),
    )


def _scored(
    predict: Callable[[pl.DataFrame], pl.DataFrame], min_probability: float
) -> Callable[[pl.DataFrame], pl.DataFrame]:
    def kept(vectors: pl.DataFrame) -> pl.DataFrame:
        return predict(vectors).filter(
            pl.col(schema.MATCH_PROBABILITY) >= min_probability
        )

    return kept


def predict(
    scorer: Any, vectors: DataFrame, *, explain: bool, min_probability: float
) -> DataFrame:
    """Score comparison vectors with ``scorer.predict``, batch by batch."""
    return map_batches(
        vectors,
        _scored(lambda v: scorer.predict(v, explain=explain), min_probability),
    )


def score(
    side: DataFrame,
    pairs: DataFrame,
    comparisons: Sequence[Comparison],
    scorer: Any,
    *,
    explain: bool,
    raw_similarity: bool,
    min_probability: float,
) -> DataFrame:
    """Compare and score ``pairs`` in one pass over each batch (lazily)."""
    vectors = batch_vectors(comparisons, raw_similarity=raw_similarity)
    scored = _scored(
        lambda batch: scorer.predict(vectors(batch), explain=explain), min_probability
    )
    return map_batches(with_values(side, pairs, comparisons), scored)


def pattern_counts(
    vectors: DataFrame, comparisons: Sequence[Comparison]
) -> pl.DataFrame:
    """Return the distinct gamma patterns of ``vectors`` and how many pairs show each (``_n``)."""
    from pyspark.sql import functions as F

    columns = [schema.gamma(c.name) for c in comparisons]
    grouped = vectors.groupBy(*columns).agg(F.count("*").alias("_n"))
    rows = grouped.toArrow()
    out = pl.from_arrow(rows)
    assert isinstance(out, pl.DataFrame)
    return out.cast({c: pl.Int8 for c in columns})


def weight_counts(
    vectors: DataFrame, weigh: Callable[[pl.DataFrame], np.ndarray]
) -> tuple[np.ndarray, np.ndarray]:
    """Return the distinct values of ``weigh`` over the vectors, and how many pairs have each."""
    from pyspark.sql import functions as F

    def weights(batch: pl.DataFrame) -> pl.DataFrame:
        return pl.DataFrame({"__w": np.asarray(weigh(batch), dtype=np.float64)})

    per = map_batches(vectors, weights).groupBy("__w").agg(F.count("*").alias("__n"))
    out = pl.from_arrow(per.toArrow())
    assert isinstance(out, pl.DataFrame)
    out = out.sort("__w")
    return (
        out.get_column("__w").to_numpy().astype(np.float64),
        out.get_column("__n").to_numpy().astype(np.float64),
    )
