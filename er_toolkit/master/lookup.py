"""Lookups: which stored clusters would a record join? Read from an in-memory index, never written."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any, Final

import numpy as np
import polars as pl

from er_toolkit import schema
from er_toolkit.blocking import KeyBlocker
from er_toolkit.exceptions import ConfigError, SchemaError
from er_toolkit.master.db import Database
from er_toolkit.master.incremental import block_keys
from er_toolkit.master.scoring import TermFrequencies, score_pairs
from er_toolkit.standardise import apply_standardisers

__all__ = ["GOLDEN", "IS_MATCH", "QUERY", "LookupIndex", "Lookups", "lookup"]

QUERY: Final = "query"
"""Lookup result column: the looked-up record's position in the input."""
GOLDEN: Final = "golden"
"""Lookup result column: the candidate cluster's golden record (a struct)."""
IS_MATCH: Final = "is_match"
LOOKUP_SOURCE: Final = "lookup"
"""The source of a looked-up record that names none (it may match any stored source)."""
_LOOKUP_SOURCE: Final = LOOKUP_SOURCE


def _key_hash(keys: pl.DataFrame) -> np.ndarray:
    """Hash each (blocker, key) in memory: polars' hash, never stored."""
    return (
        keys.select(
            pl.concat_str(
                pl.col("blocker").cast(pl.String), pl.lit("\x1f"), "key"
            ).hash(seed=0)
        )
        .to_series()
        .to_numpy()
    )


@dataclass(frozen=True)
class LookupIndex:
    """What lookups read, loaded once from the store.

    The blocking keys as sorted in-memory hashes (polars' hash: fast, and
    never stored, so its changing between versions does no harm), the
    compared columns of every record with its cluster, and the golden
    records. A hash collision only adds a candidate, which is scored like
    any other.
    """

    hashes: np.ndarray
    key_rows: np.ndarray
    rows: np.ndarray
    records: pl.DataFrame
    golden: pl.DataFrame
    golden_ids: pl.Series

    @classmethod
    def load(
        cls, db: Database, linker: Any, blockers: Sequence[KeyBlocker]
    ) -> LookupIndex:
        """Read the index from the store (reads only)."""
        columns = list(dict.fromkeys(c.column for c in linker.config.comparisons))
        if not db.has_table("records"):
            empty = pl.DataFrame(
                schema={
                    schema.ROW: pl.Int64,
                    schema.SOURCE: pl.String,
                    schema.RECORD_ID: pl.String,
                    schema.CLUSTER_ID: pl.String,
                    **dict.fromkeys(columns, pl.String),
                }
            )
            return cls(
                np.empty(0, np.uint64),
                np.empty(0, np.int64),
                np.empty(0, np.int64),
                empty,
                pl.DataFrame(schema={schema.CLUSTER_ID: pl.String}),
                pl.Series(schema.CLUSTER_ID, [], dtype=pl.String),
            )
        keys = db.frame("SELECT blocker, key, _row FROM keys")
        hashes = _key_hash(keys)
        order = np.argsort(hashes, kind="stable")
        key_rows = keys.get_column(schema.ROW).to_numpy()[order]
        del keys
        records = db.frame(
            "SELECT r._row, r.source, r.record_id, m.cluster_id, "
            + ", ".join(f'r."{c}"' for c in columns)
            + " FROM records r JOIN membership m USING (_row) ORDER BY r._row"
        )
        golden = (
            db.frame("SELECT * FROM golden ORDER BY cluster_id")
            if db.has_table("golden")
            else pl.DataFrame(schema={schema.CLUSTER_ID: pl.String})
        )
        return cls(
            hashes[order],
            key_rows,
            records.get_column(schema.ROW).cast(pl.Int64).to_numpy(),
            records,
            golden,
            golden.get_column(schema.CLUSTER_ID),
        )

    def candidates(self, keys: pl.DataFrame) -> tuple[np.ndarray, np.ndarray]:
        """Return (query row, stored row) for each stored record sharing a key."""
        if keys.height == 0 or self.hashes.size == 0:
            return np.empty(0, np.int64), np.empty(0, np.int64)
        wanted = _key_hash(keys)
        lo = np.searchsorted(self.hashes, wanted, side="left")
        hi = np.searchsorted(self.hashes, wanted, side="right")
        sizes = hi - lo
        query = np.repeat(keys.get_column(schema.ROW).to_numpy(), sizes)
        starts = np.repeat(lo - np.cumsum(sizes) + sizes, sizes)
        positions = np.arange(sizes.sum()) + starts
        return query, self.key_rows[positions]

    def positions(self, rows: np.ndarray) -> np.ndarray:
        """Return where stored ``rows`` are in :attr:`records`."""
        return np.searchsorted(self.rows, rows)


@dataclass(frozen=True)
class Lookups:
    """Everything a lookup reads, detached from the store's connection.

    Made by :meth:`MasterStore.lookups <er_toolkit.master.MasterStore.lookups>`;
    it holds no connection and no lock, so it keeps answering after the
    store is closed (a service's snapshot of the store), and a writer may
    open the store meanwhile. It does not see updates made after it was
    made: take a new one to see them.

    Attributes
    ----------
    index
        The in-memory lookup index.
    linker
        The store's model (its current version).
    frequencies
        The store's term frequencies of that version.
    blockers
        The model's key blockers.
    id_dtype
        The polars type name stored record ids come back as.
    model_version
        The store's model version.
    """

    index: LookupIndex
    linker: Any
    frequencies: TermFrequencies
    blockers: tuple[KeyBlocker, ...]
    id_dtype: str
    model_version: int

    def lookup(
        self, record: Any, *, top: int | None = 5, min_probability: float = 0.0
    ) -> pl.DataFrame:
        """Return the candidate clusters of each record (see :meth:`MasterStore.lookup`)."""
        return lookup(
            self.index,
            self.linker,
            self.frequencies,
            self.blockers,
            record,
            top=top,
            min_probability=min_probability,
            id_dtype=self.id_dtype,
        )


def _query_frame(record: Any, columns: Sequence[str]) -> pl.DataFrame:
    if isinstance(record, Mapping):
        frame = pl.DataFrame([dict(record)])
    elif isinstance(record, (pl.DataFrame, pl.LazyFrame)):
        frame = record.lazy().collect()
    elif isinstance(record, Sequence) and not isinstance(record, (str, bytes)):
        frame = pl.DataFrame([dict(r) for r in record])
    else:
        module = type(record).__module__.split(".")[0]
        if module not in ("pandas", "pyarrow"):
            raise ConfigError(
                "lookup needs a record (a mapping of column to value), a list of "
                f"them, or a frame; got {type(record).__name__}."
            )
        out = pl.from_pandas(record) if module == "pandas" else pl.from_arrow(record)
        assert isinstance(out, pl.DataFrame)
        frame = out
    known = [c for c in columns if c in frame.columns]
    if not known:
        raise SchemaError(
            f"A lookup record needs at least one of the model's columns {list(columns)}; "
            f"got columns {frame.columns}."
        )
    return frame.with_columns(
        pl.lit(None, dtype=pl.String).alias(c)
        for c in columns
        if c not in frame.columns
    )


def lookup(
    index: LookupIndex,
    linker: Any,
    frequencies: TermFrequencies,
    blockers: Sequence[KeyBlocker],
    record: Any,
    *,
    top: int | None = 5,
    min_probability: float = 0.0,
    id_dtype: str = "String",
) -> pl.DataFrame:
    """Return the candidate clusters of each looked-up record (see :meth:`MasterStore.lookup`)."""
    config = linker.config
    frame = _query_frame(record, config.columns)
    n = frame.height
    query = frame.with_columns(
        pl.int_range(n, dtype=pl.UInt32).alias(schema.ROW),
        (
            pl.col(schema.SOURCE).cast(pl.String)
            if schema.SOURCE in frame.columns
            else pl.lit(_LOOKUP_SOURCE)
        ).alias(schema.SOURCE),
        pl.format("query:{}", pl.int_range(n)).alias(schema.RECORD_ID),
    )
    if config.standardise:
        query, _ = apply_standardisers(query, config.standardise)
    keys = block_keys(blockers, query)
    q_rows, s_rows = index.candidates(keys)
    pairs = pl.DataFrame({"q": q_rows, "s": s_rows}).unique()
    compared = list(dict.fromkeys(c.column for c in config.comparisons))
    if pairs.height:
        positions = index.positions(pairs.get_column("s").to_numpy())
        stored = index.records[positions]
        if config.link_type == "link":
            query_source = query.get_column(schema.SOURCE).gather(pairs.get_column("q"))
            same = (stored.get_column(schema.SOURCE) == query_source).to_numpy()
            pairs, stored = pairs.filter(~same), stored.filter(~same)
    result_schema = _result_schema(linker, index)
    if pairs.height == 0:
        return pl.DataFrame(schema=result_schema)
    local = pl.concat(
        [
            query.select(*(pl.col(c) for c in compared)),
            stored.select(*(pl.col(c) for c in compared)),
        ],
        how="vertical_relaxed",
    ).with_row_index(schema.ROW)
    scored = score_pairs(
        linker,
        local.with_columns(pl.col(schema.ROW).cast(pl.UInt32)),
        pl.DataFrame(
            {
                schema.ROW_L: pairs.get_column("q").cast(pl.UInt32),
                schema.ROW_R: pl.int_range(
                    n, n + pairs.height, dtype=pl.UInt32, eager=True
                ),
            }
        ),
        frequencies,
        explain=True,
    )
    names = [c.name for c in config.comparisons]
    best = (
        scored.select(
            pl.col(schema.ROW_L).cast(pl.Int64).alias(QUERY),
            schema.MATCH_PROBABILITY,
            schema.MATCH_WEIGHT,
            *(schema.bf(x) for x in names),
            *(schema.gamma(x) for x in names),
        )
        .with_columns(
            stored.get_column(schema.CLUSTER_ID),
            stored.get_column(schema.SOURCE),
            stored.get_column(schema.RECORD_ID).cast(_dtype(id_dtype)),
        )
        .filter(pl.col(schema.MATCH_PROBABILITY) >= min_probability)
        .sort([QUERY, schema.MATCH_PROBABILITY], descending=[False, True])
        .unique([QUERY, schema.CLUSTER_ID], keep="first", maintain_order=True)
    )
    if top is not None:
        best = best.filter(pl.int_range(pl.len()).over(QUERY) < top)
    where = index.golden_ids.search_sorted(best.get_column(schema.CLUSTER_ID))
    golden = index.golden[np.minimum(where.to_numpy(), max(index.golden.height - 1, 0))]
    return best.with_columns(
        (pl.col(schema.MATCH_PROBABILITY) >= linker.threshold_).alias(IS_MATCH),
        golden.to_struct(GOLDEN) if golden.height else pl.lit(None).alias(GOLDEN),
    ).select(list(result_schema))


def _result_schema(linker: Any, index: LookupIndex) -> dict[str, Any]:
    names = [c.name for c in linker.config.comparisons]
    return {
        QUERY: pl.Int64,
        schema.CLUSTER_ID: pl.String,
        schema.MATCH_PROBABILITY: pl.Float64,
        schema.MATCH_WEIGHT: pl.Float64,
        IS_MATCH: pl.Boolean,
        schema.SOURCE: pl.String,
        schema.RECORD_ID: pl.String,
        **{schema.bf(x): pl.Float64 for x in names},
        **{schema.gamma(x): pl.Int8 for x in names},
        GOLDEN: pl.Struct(index.golden.schema),
    }


def _dtype(name: str) -> Any:
    return getattr(pl, name, pl.String) if name else pl.String
