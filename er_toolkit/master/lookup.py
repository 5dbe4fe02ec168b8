"""Lookups: which stored clusters would a record join? Read from an in-memory index, never written."""

from __future__ import annotations

import functools
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any, Final, Literal

import numpy as np
import polars as pl

from er_toolkit import schema
from er_toolkit.blocking import ExactRule, KeyBlocker
from er_toolkit.blocking.base import parse_key
from er_toolkit.compare import compare_batch
from er_toolkit.compare.kernel import compare_encodings
from er_toolkit.compare.pair_values import ColumnEncoding
from er_toolkit.exceptions import ConfigError, SchemaError
from er_toolkit.master.db import Database
from er_toolkit.master.incremental import block_keys
from er_toolkit.master.scoring import TermFrequencies, score_pairs, tf_key
from er_toolkit.master.tables import KEY_HASH, key_hash, read_golden, read_keys
from er_toolkit.standardise import apply_standardisers
from er_toolkit.standardise.base import (
    Steps,
    check_steps,
    replace_columns,
    standardise_columns,
    standardised_frame,
)

__all__ = ["GOLDEN", "IS_MATCH", "QUERY", "LookupIndex", "Lookups", "lookup"]

QUERY: Final = "query"
"""Lookup result column: the looked-up record's position in the input."""
GOLDEN: Final = "golden"
"""Lookup result column: the candidate cluster's golden record (a struct)."""
IS_MATCH: Final = "is_match"
LOOKUP_SOURCE: Final = "lookup"
"""The source of a looked-up record that names none (it may match any stored source)."""
_LOOKUP_SOURCE: Final = LOOKUP_SOURCE
FAST_MAX: Final = 16
"""Up to this many records, a lookup takes the few-record path (:func:`lookup`)."""
RAW_TABLE: Final = "raw_records"
MEMO_SIZE: Final = 20_000
"""Standardised values a lookup index remembers per column (oldest forgotten first)."""
_CHECKED_MAX: Final = 64
"""Sets of query columns a memo keeps its checked steps for."""


def _key_hash(keys: pl.DataFrame) -> np.ndarray:
    """Return the key hashes of :func:`block_keys` (the store's own, see :func:`~er_toolkit.master.tables.key_hash`)."""
    return keys.get_column(KEY_HASH).to_numpy()


class StandardiseMemo:
    """Standardised values of the records looked up so far, by raw value, per column.

    Standardisers work value by value (each distinct value of a column is
    standardised on its own), so a value standardised once gives the same
    result every time: a lookup reads it back from a dictionary instead of
    running the standardisers again, and runs them only on the columns
    holding a value not seen before. Each column keeps its last
    ``size`` values.

    Examples
    --------
    >>> from er_toolkit.standardise import TextStandardiser
    >>> memo = StandardiseMemo({"city": TextStandardiser()})
    >>> memo.standardise(pl.DataFrame({"city": [" Leeds", None]})).rows()
    [('leeds',), (None,)]
    >>> memo.standardise(pl.DataFrame({"city": [" Leeds"]})).rows()  # from memory
    [('leeds',)]
    """

    def __init__(
        self,
        steps: Steps,
        *,
        size: int = MEMO_SIZE,
        stored: Mapping[str, StoredValues] | None = None,
    ) -> None:
        self.steps = steps
        self.size = size
        self._values: dict[tuple[str, str], dict[Any, tuple[Any, ...]]] = {}
        self._chains: dict[tuple[str, ...], dict[str, tuple[Any, ...]]] = {}
        self._schemas: dict[tuple[str, str], dict[str, pl.DataType]] = {}
        self.stored: dict[str, StoredValues] = dict(stored or {})
        for column, known in self.stored.items():
            self._schemas[(column, str(pl.String))] = dict(known.outputs.schema)

    def __len__(self) -> int:
        """How many values are remembered, over every column."""
        return sum(len(table) for table in self._values.values())

    def standardise(self, frame: pl.DataFrame) -> pl.DataFrame:
        """Return ``frame`` standardised as :func:`~er_toolkit.standardise.apply_standardisers` does."""
        chains = self._checked(frame)
        found: dict[str, list[tuple[Any, ...]]] = {}
        hashed = self._stored_hashes(frame, chains)
        for column in chains:
            rows = self._recall(column, frame.get_column(column), hashed)
            if rows is not None:
                found[column] = rows
        missing = [c for c in chains if c not in found]
        if missing:
            done = standardise_columns(frame, {c: chains[c] for c in missing})
            fresh = standardised_frame(
                pl.DataFrame([frame.get_column(c) for c in missing]),
                done,
                reasons=False,
            )
            for column in missing:
                part = pl.DataFrame(
                    [fresh.get_column(n) for n in self._names(column, chains[column])]
                )
                found[column] = part.rows()
                self._remember(column, frame.get_column(column), part)
        finals: dict[str, pl.Series] = {}
        extras: dict[str, pl.Series] = {}
        for column, chain in chains.items():
            types = self._schemas[(column, str(frame.schema[column]))]
            rows = found[column]
            for i, name in enumerate(self._names(column, chain)):
                series = pl.Series(name, [r[i] for r in rows], dtype=types[name])
                (finals if i == 0 else extras)[name] = series
        return replace_columns(frame, finals, extras)

    def _checked(self, frame: pl.DataFrame) -> dict[str, tuple[Any, ...]]:
        """Return :func:`~er_toolkit.standardise.base.check_steps` of ``frame``, checked once per set of columns."""
        columns = tuple(frame.columns)
        chains = self._chains.get(columns)
        if chains is None:
            chains = check_steps(frame, self.steps, reasons=False)
            if len(self._chains) >= _CHECKED_MAX:
                del self._chains[next(iter(self._chains))]
            self._chains[columns] = chains
        return chains

    def _stored_hashes(
        self, frame: pl.DataFrame, chains: Mapping[str, Any]
    ) -> dict[str, int]:
        """Hash, all at once, the text values not remembered that the stored values may hold."""
        wanted: dict[str, None] = {}
        for column in chains:
            values = frame.get_column(column)
            if column not in self.stored or values.dtype != pl.String:
                continue
            table = self._values.get((column, str(values.dtype)), {})
            for value in values.to_list():
                if value is not None and value not in table:
                    wanted[value] = None
        if not wanted:
            return {}
        texts = pl.Series(list(wanted), dtype=pl.String)
        return dict(zip(wanted, texts.hash(seed=0).to_list(), strict=True))

    def _recall(
        self, column: str, values: pl.Series, hashed: Mapping[str, int]
    ) -> list[tuple[Any, ...]] | None:
        """Return the remembered results of ``values``, or None if one is new."""
        table = self._values.get((column, str(values.dtype)), {})
        known = self.stored.get(column) if values.dtype == pl.String else None
        if not table and known is None:
            return None
        rows = []
        for value in values.to_list():
            try:
                row = table.get(value)
            except TypeError:  # an unhashable value (a list) is never remembered
                return None
            if row is None and known is not None and value in hashed:
                row = known.get(value, hashed[value])
            if row is None:
                return None
            rows.append(row)
        return rows

    def _remember(self, column: str, values: pl.Series, results: pl.DataFrame) -> None:
        key = (column, str(values.dtype))
        self._schemas[key] = dict(results.schema)
        table = self._values.setdefault(key, {})
        for value, row in zip(values.to_list(), results.rows(), strict=True):
            try:
                table[value] = row
            except TypeError:
                continue
        while len(table) > self.size:
            del table[next(iter(table))]

    @staticmethod
    def _names(column: str, chain: Sequence[Any]) -> list[str]:
        return [column] + [f"{column}_{part}" for step in chain for part in step.parts]


@dataclass(frozen=True)
class StoredValues:
    """The stored records' standardised values of one column, by raw value.

    Standardisers work value by value, and the store keeps every record
    as its source wrote it and as the current model's steps standardised
    it (a new model version standardises them all again), so a raw value
    already stored needs no standardising: its results are read here. The
    distinct raw values are held with their polars hashes sorted (a
    value's hash finds its row; the raw value itself is compared, so a
    hash collision never gives another value's results).

    Attributes
    ----------
    raw
        The distinct raw values (text), sorted by hash.
    hashes
        Their hashes, sorted.
    outputs
        The standardised column and its parts, row for row with ``raw``.
    """

    raw: pl.Series
    hashes: np.ndarray
    outputs: pl.DataFrame

    @classmethod
    def load(
        cls, db: Database, column: str, names: Sequence[str]
    ) -> StoredValues | None:
        """Read one column's distinct raw values and their results, or None (not kept so)."""
        if not (db.has_table(RAW_TABLE) and db.has_table("records")):
            return None
        raw_types = dict(
            db.con.execute(
                "SELECT column_name, data_type FROM information_schema.columns "
                "WHERE table_name = ?",
                [RAW_TABLE],
            ).fetchall()
        )
        std_columns = set(db.frame("SELECT * FROM records LIMIT 0").columns)
        if raw_types.get(column) != "VARCHAR" or not set(names) <= std_columns:
            return None
        picked = ", ".join(f's."{n}"' for n in names)
        frame = db.frame(
            f'SELECT DISTINCT ON (r."{column}") r."{column}" AS __raw, {picked} '
            f"FROM {RAW_TABLE} r JOIN records s USING (_row) "
            f'WHERE r."{column}" IS NOT NULL'
        )
        raw = frame.get_column("__raw").cast(pl.String)
        hashes = raw.hash(seed=0).to_numpy()
        order = np.argsort(hashes, kind="stable")
        return cls(raw[order], hashes[order], frame.drop("__raw")[pl.Series(order)])

    def get(self, value: str, hashed: int | None = None) -> tuple[Any, ...] | None:
        """Return the results stored for raw ``value``, or None (not stored).

        ``hashed`` is its hash, if known (``pl.Series.hash(seed=0)``).
        """
        if not isinstance(value, str) or not self.hashes.size:
            return None
        wanted = (
            pl.Series([value], dtype=pl.String).hash(seed=0).item()
            if hashed is None
            else hashed
        )
        at = int(np.searchsorted(self.hashes, np.uint64(wanted)))
        while at < self.hashes.size and self.hashes[at] == wanted:
            if self.raw[at] == value:
                return self.outputs.row(at)
            at += 1
        return None


@dataclass(frozen=True)
class LookupIndex:
    """What lookups read, loaded once from the store.

    The blocking keys as sorted hashes (as the store keeps them, read
    through :func:`~er_toolkit.master.tables.read_keys`), the
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
    memo: StandardiseMemo | None = field(default=None, compare=False)
    cluster_codes: np.ndarray = field(
        default_factory=lambda: np.empty(0, np.int64), compare=False
    )
    """A dense integer per cluster id, row for row with :attr:`records`."""
    _schemas: dict[str, Any] = field(default_factory=dict, compare=False, repr=False)

    @classmethod
    def load(
        cls, db: Database, linker: Any, blockers: Sequence[KeyBlocker]
    ) -> LookupIndex:
        """Read the index from the store (reads only)."""
        columns = list(
            dict.fromkeys(col for c in linker.config.comparisons for col in c.columns)
        )
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
                _memo(linker, None),
            )
        hashes, key_rows = read_keys(db)
        records = db.frame(
            "SELECT r._row, r.source, r.record_id, m.cluster_id, "
            + ", ".join(f'r."{c}"' for c in columns)
            + " FROM records r JOIN membership m USING (_row) ORDER BY r._row"
        )
        golden = read_golden(db)
        return cls(
            hashes,
            key_rows,
            records.get_column(schema.ROW).cast(pl.Int64).to_numpy(),
            records,
            golden,
            golden.get_column(schema.CLUSTER_ID),
            _memo(linker, db),
            records.get_column(schema.CLUSTER_ID).rank("dense").to_numpy(),
        )

    def candidates(self, keys: pl.DataFrame) -> tuple[np.ndarray, np.ndarray]:
        """Return (query row, stored row) for each stored record sharing a key."""
        if keys.height == 0 or self.hashes.size == 0:
            return np.empty(0, np.int64), np.empty(0, np.int64)
        return self.candidates_of(
            keys.get_column(schema.ROW).to_numpy(), _key_hash(keys)
        )

    def candidates_of(
        self, rows: np.ndarray, wanted: np.ndarray
    ) -> tuple[np.ndarray, np.ndarray]:
        """Return (query row, stored row) for each stored key hash among ``wanted``.

        ``rows`` holds the query row of each wanted hash (as
        :func:`_key_hash` hashes a key).
        """
        if wanted.size == 0 or self.hashes.size == 0:
            return np.empty(0, np.int64), np.empty(0, np.int64)
        lo = np.searchsorted(self.hashes, wanted, side="left")
        hi = np.searchsorted(self.hashes, wanted, side="right")
        sizes = hi - lo
        query = np.repeat(rows, sizes)
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


def _memo(linker: Any, db: Database | None) -> StandardiseMemo | None:
    """Return the index's memo, holding the stored records' values (``db`` given) where kept."""
    steps = linker.config.standardise
    if not steps:
        return None
    stored: dict[str, StoredValues] = {}
    if db is not None:
        chains = {column: _chain_of(spec) for column, spec in steps.items()}
        for column, chain in chains.items():
            if chain is None:
                continue
            known = StoredValues.load(db, column, StandardiseMemo._names(column, chain))
            if known is not None and _agrees(known, column, steps):
                stored[column] = known
    return StandardiseMemo(steps, stored=stored)


def _chain_of(spec: Any) -> tuple[Any, ...] | None:
    if isinstance(spec, Sequence) and not isinstance(spec, str):
        return tuple(spec)
    return (spec,) if hasattr(spec, "parts") else None


def _agrees(known: StoredValues, column: str, steps: Steps) -> bool:
    """Whether the stored results of a few values are what the steps give them now (and their types)."""
    if known.raw.len() == 0:
        return False
    sample = np.unique(np.linspace(0, known.raw.len() - 1, 5).astype(np.int64))
    probe = pl.DataFrame({column: known.raw.gather(sample)})
    fresh, _ = apply_standardisers(probe, {column: steps[column]})
    expected = fresh.select(known.outputs.columns)
    return expected.schema == known.outputs.schema and expected.equals(
        known.outputs[pl.Series(sample)]
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
    missing = [c for c in columns if c not in frame.columns]
    if not missing:
        return frame
    return frame.with_columns(pl.lit(None, dtype=pl.String).alias(c) for c in missing)


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
    path: Literal["auto", "few", "many"] = "auto",
) -> pl.DataFrame:
    """Return the candidate clusters of each looked-up record (see :meth:`MasterStore.lookup`).

    Two paths give the same answer. Up to :data:`FAST_MAX` records
    (``path="auto"``; ``"few"`` forces it) take the few-record path: values
    standardised before are read from the index's memo, and the pairs are
    compared by :func:`~er_toolkit.compare.compare_batch` on the
    candidates' values alone. More records take the batch path: the
    standardisers run on every record and the pairs are compared through
    the polars engine (:func:`~er_toolkit.master.scoring.score_pairs`).
    """
    config = linker.config
    frame = _query_frame(record, config.columns)
    n = frame.height
    few = path == "few" or (path == "auto" and n <= FAST_MAX)
    # what with_columns would give, built from Series (no query)
    query = replace_columns(
        frame,
        {},
        {
            schema.ROW: pl.Series(np.arange(n, dtype=np.uint32)),
            schema.SOURCE: (
                frame.get_column(schema.SOURCE).cast(pl.String)
                if schema.SOURCE in frame.columns
                else pl.Series([_LOOKUP_SOURCE] * n, dtype=pl.String)
            ),
            schema.RECORD_ID: pl.Series(
                [f"query:{i}" for i in range(n)], dtype=pl.String
            ),
        },
    )
    if config.standardise:
        if few and index.memo is not None:
            query = index.memo.standardise(query)
        else:
            query, _ = apply_standardisers(query, config.standardise)
    if few and all(hasattr(b, "key_expression") for b in blockers):
        q_rows, s_rows = index.candidates_of(*_few_key_hashes(blockers, query))
    else:
        q_rows, s_rows = index.candidates(block_keys(blockers, query))
    # each (query, stored) pair once, in a fixed order: ties resolve alike on both paths
    order = np.lexsort((s_rows, q_rows))
    q_rows, s_rows = q_rows[order], s_rows[order]
    first = np.ones(q_rows.size, dtype=bool)
    first[1:] = (q_rows[1:] != q_rows[:-1]) | (s_rows[1:] != s_rows[:-1])
    q_rows, s_rows = q_rows[first], s_rows[first]
    positions = index.positions(s_rows)
    stored = index.records[positions]
    if config.link_type == "link" and q_rows.size:
        query_source = query.get_column(schema.SOURCE).gather(q_rows)
        other = (stored.get_column(schema.SOURCE) != query_source).to_numpy()
        q_rows, stored = q_rows[other], stored.filter(pl.Series(other))
        positions = positions[other]
    result_schema = _result_schema(linker, index)
    if q_rows.size == 0:
        return pl.DataFrame(schema=result_schema)
    if few:
        scored = _score_few(linker, query, stored, q_rows, frequencies)
        return _ranked_few(
            linker,
            index,
            scored,
            stored,
            q_rows,
            positions,
            top=top,
            min_probability=min_probability,
            id_dtype=id_dtype,
            result_schema=result_schema,
        )
    scored = _score_many(linker, query, stored, q_rows, frequencies)
    names = [c.name for c in config.comparisons]
    # one query for the ranking, one for the answer: each query costs a fixed time
    ranked = (
        scored.lazy()
        .select(
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
        .sort(
            [QUERY, schema.MATCH_PROBABILITY],
            descending=[False, True],
            maintain_order=True,
        )
        .unique([QUERY, schema.CLUSTER_ID], keep="first", maintain_order=True)
    )
    if top is not None:
        ranked = ranked.filter(pl.int_range(pl.len()).over(QUERY) < top)
    best = ranked.collect()
    where = index.golden_ids.search_sorted(best.get_column(schema.CLUSTER_ID))
    golden = index.golden[np.minimum(where.to_numpy(), max(index.golden.height - 1, 0))]
    return (
        best.lazy()
        .with_columns(
            (pl.col(schema.MATCH_PROBABILITY) >= linker.threshold_).alias(IS_MATCH),
            golden.to_struct(GOLDEN) if golden.height else pl.lit(None).alias(GOLDEN),
        )
        .select(list(result_schema))
        .collect()
    )


def _ranked_few(
    linker: Any,
    index: LookupIndex,
    scored: pl.DataFrame,
    stored: pl.DataFrame,
    q_rows: np.ndarray,
    positions: np.ndarray,
    *,
    top: int | None,
    min_probability: float,
    id_dtype: str,
    result_schema: Mapping[str, Any],
) -> pl.DataFrame:
    """Rank a few records' scored pairs in numpy: the batch path's ranking, no query.

    Best pair per (query, cluster), best first within each query (ties in
    pair order, as the batch path's stable sort keeps them), at most
    ``top`` per query, then the golden records gathered by cluster.
    """
    probability = scored.get_column(schema.MATCH_PROBABILITY).to_numpy()
    keep = np.flatnonzero(probability >= min_probability)
    # the candidates' clusters as integers (one per cluster id): no strings sorted
    cluster_codes = _cluster_codes(index, stored, positions)
    queries = q_rows.astype(np.int64)
    # stable: equal (query, probability) keep pair order
    order = keep[np.lexsort((-probability[keep], queries[keep]))]
    pair_key = (
        queries[order] * (int(cluster_codes.max(initial=0)) + 1) + cluster_codes[order]
    )
    _, first = np.unique(pair_key, return_index=True)
    order = order[np.sort(first)]
    if top is not None:
        group = queries[order]
        starts = np.flatnonzero(np.r_[True, group[1:] != group[:-1]])
        rank = np.arange(order.size) - np.repeat(
            starts, np.diff(np.r_[starts, order.size])
        )
        order = order[rank < top]
    picked = pl.Series(order, dtype=pl.UInt32)
    best = scored[picked]
    members = stored[picked]
    clusters = members.get_column(schema.CLUSTER_ID)
    columns: dict[str, pl.Series] = {
        QUERY: pl.Series(QUERY, queries[order], dtype=pl.Int64),
        schema.CLUSTER_ID: clusters,
        schema.SOURCE: members.get_column(schema.SOURCE),
        schema.RECORD_ID: members.get_column(schema.RECORD_ID).cast(_dtype(id_dtype)),
        IS_MATCH: pl.Series(
            IS_MATCH, probability[order] >= linker.threshold_, dtype=pl.Boolean
        ),
    }
    for name in result_schema:
        if name not in columns and name != GOLDEN:
            columns[name] = best.get_column(name)
    golden_height = index.golden.height
    if golden_height:
        where = index.golden_ids.search_sorted(clusters).to_numpy()
        columns[GOLDEN] = index.golden[np.minimum(where, golden_height - 1)].to_struct(
            GOLDEN
        )
    else:
        columns[GOLDEN] = pl.Series(GOLDEN, [None] * order.size)
    return pl.DataFrame([columns[name].alias(name) for name in result_schema])


def _cluster_codes(
    index: LookupIndex, stored: pl.DataFrame, positions: np.ndarray
) -> np.ndarray:
    """Return a dense integer per cluster id of ``stored`` (the records at ``positions``)."""
    if index.cluster_codes.size == index.records.height:
        return index.cluster_codes[positions].astype(np.int64)
    _, codes = np.unique(
        np.asarray(stored.get_column(schema.CLUSTER_ID).to_list(), dtype=object),
        return_inverse=True,
    )
    return codes.reshape(-1)


def _few_key_hashes(
    blockers: Sequence[Any], query: pl.DataFrame
) -> tuple[np.ndarray, np.ndarray]:
    """Return (query row, key hash) of every blocker's keys, hashed as the store hashes them.

    Every blocker's hash in one select (a null key has no hash and pairs
    nothing): no unpivot query. The order (row by row, blocker by blocker)
    does not matter, pairs are sorted afterwards.
    """
    if not blockers:
        return np.empty(0, np.int64), np.empty(0, np.uint64)
    texts = _key_texts(blockers, query)
    if texts is not None:
        key_rows, keyed = texts
        if not keyed:
            return np.empty(0, np.int64), np.empty(0, np.uint64)
        hashed = pl.Series(keyed, dtype=pl.String).hash(seed=0).to_numpy()
        return np.asarray(key_rows, dtype=np.int64), hashed.astype(np.uint64)
    out = query.select(_keyed(tuple(blockers)))
    # nulls filled before numpy, which would turn the column to float
    hashes = np.column_stack([s.fill_null(0).to_numpy() for s in out.iter_columns()])
    present = np.column_stack([s.is_not_null().to_numpy() for s in out.iter_columns()])
    rows = np.nonzero(present)[0].astype(np.int64)
    return rows, hashes[present].astype(np.uint64)


def _key_texts(
    blockers: Sequence[Any], query: pl.DataFrame
) -> tuple[list[int], list[str]] | None:
    """Return (query row, hashed text) of every non-null key, built in Python, or None.

    The texts :func:`~er_toolkit.master.tables.key_hash` hashes (the
    blocker's position, a unit separator, the key),
    each key as :meth:`~er_toolkit.blocking.ExactRule.key_expression` makes
    it), so one hash of them all is the store's; None (use the polars
    expressions) where a rule is not an :class:`~er_toolkit.blocking.ExactRule`
    or a key value is not text or a date, or has surrounding white space
    (Python's and polars' ideas of white space differ).
    """
    keys: list[tuple[int, list[tuple[str, int | None]]]] = []
    for i, blocker in enumerate(blockers):
        if not isinstance(blocker, ExactRule):
            return None
        keys.append((i, [parse_key(k) for k in blocker.keys]))
    values: dict[str, list[str | None]] = {}
    for _, parts in keys:
        for column, _ in parts:
            if column not in values:
                texts = _plain_texts(query.get_column(column), trim=False)
                if texts is None:
                    return None
                values[column] = texts
    rows: list[int] = []
    out: list[str] = []
    for row in range(query.height):
        for i, parts in keys:
            pieces = []
            for column, n in parts:
                value = values[column][row]
                piece = value if n is None or value is None else value[:n]
                if not piece:
                    break
                pieces.append(piece)
            else:
                key = (
                    pieces[0]
                    if len(pieces) == 1
                    else "".join(f"{len(p)}:{p}" for p in pieces)
                )
                rows.append(row)
                out.append(f"{i}\x1f{key}")
    return rows, out


def _plain_texts(values: pl.Series, *, trim: bool = True) -> list[str | None] | None:
    """Return a short column's values as text (dates in ISO form), or None (polars must do it).

    What casting to text and stripping white space gives, for text and
    dates of four-digit years, where no value has white space at its ends
    (with ``trim``, empty text is null, as
    :attr:`~er_toolkit.compare.pair_values.ColumnEncoding.strings` has it);
    None for any other type or value, so the caller falls back to polars.
    """
    dtype = values.dtype
    if dtype == pl.String or dtype == pl.Null:
        texts: list[Any] = values.to_list()
        for text in texts:
            if text is not None and text.strip() != text:
                return None
        return [t or None for t in texts] if trim else texts
    if dtype == pl.Date:
        dates = values.to_list()
        if any(d is not None and not 1000 <= d.year <= 9999 for d in dates):
            return None
        return [None if d is None else d.isoformat() for d in dates]
    return None


@functools.lru_cache(maxsize=8)
def _keyed(blockers: tuple[Any, ...]) -> list[pl.Expr]:
    """Return each blocker's key hash as the store keeps it (:func:`~er_toolkit.master.tables.key_hash`), built once."""
    return [
        key_hash(i, b.key_expression()).alias(f"k{i}") for i, b in enumerate(blockers)
    ]


def _compared(linker: Any) -> list[str]:
    return list(
        dict.fromkeys(col for c in linker.config.comparisons for col in c.columns)
    )


def _score_many(
    linker: Any,
    query: pl.DataFrame,
    stored: pl.DataFrame,
    q_rows: np.ndarray,
    frequencies: TermFrequencies,
) -> pl.DataFrame:
    """Score the pairs through the polars engine, query and candidates as one records frame."""
    compared = _compared(linker)
    n = query.height
    local = pl.concat(
        [
            query.select(*(pl.col(c) for c in compared)),
            stored.select(*(pl.col(c) for c in compared)),
        ],
        how="vertical_relaxed",
    ).with_row_index(schema.ROW)
    return score_pairs(
        linker,
        local.with_columns(pl.col(schema.ROW).cast(pl.UInt32)),
        pl.DataFrame(
            {
                schema.ROW_L: pl.Series(q_rows, dtype=pl.UInt32),
                schema.ROW_R: pl.int_range(
                    n, n + stored.height, dtype=pl.UInt32, eager=True
                ),
            }
        ),
        frequencies,
        explain=True,
    )


def _score_few(
    linker: Any,
    query: pl.DataFrame,
    stored: pl.DataFrame,
    q_rows: np.ndarray,
    frequencies: TermFrequencies,
) -> pl.DataFrame:
    """Score the pairs with the compare kernel on their own values, as :func:`_score_many` does."""
    comparisons = linker.config.comparisons
    compared = _compared(linker)
    n = query.height
    tf_rec = frequencies.per_record(query) if frequencies.columns else {}
    tf_pairs = {key: freq[q_rows].astype(np.float32) for key, freq in tf_rec.items()}
    unknown = np.full(q_rows.size, np.nan)
    given = {
        c.name: {t: tf_pairs.get(tf_key(c, t), unknown) for t in c.tf_columns}
        for c in comparisons
        if c.tf_columns
    }
    arrays = _compare_candidates(comparisons, query, stored, q_rows, given)
    if arrays is None:
        # one gather for every column, the frame built from Series (no query)
        picked = pl.DataFrame([query.get_column(c) for c in compared])[q_rows]
        arrays = compare_batch(
            comparisons,
            {c: picked.get_column(c) for c in compared},
            {c: stored.get_column(c) for c in compared},
            term_frequencies=given,
            workers=1,
        )
    # the kernel's tf_ arrays (made from the frozen frequencies) in float32,
    # as score_pairs has them
    columns = {
        **arrays,
        **{
            schema.tf(c.name): arrays[schema.tf(c.name)].astype(np.float32)
            for c in comparisons
            if c.tf_columns and tf_key(c, c.tf_columns[0]) in tf_pairs
        },
    }
    # built from Series, never a query: nulls for the NaN similarities as made
    vectors = pl.DataFrame(
        [
            pl.Series(schema.ROW_L, q_rows, dtype=pl.UInt32),
            pl.Series(schema.ROW_R, np.arange(n, n + q_rows.size), dtype=pl.UInt32),
            *(
                pl.Series(name, array, nan_to_null=name.startswith(schema.SIM_PREFIX))
                for name, array in columns.items()
            ),
        ]
    )
    return linker.scorer_.predict(vectors, explain=True)


def _compare_candidates(
    comparisons: Sequence[Any],
    query: pl.DataFrame,
    stored: pl.DataFrame,
    q_rows: np.ndarray,
    given: Mapping[str, Mapping[str, np.ndarray]],
) -> dict[str, np.ndarray] | None:
    """Compare each candidate with its query record, encoding each value once; None: use compare_batch.

    What :func:`~er_toolkit.compare.compare_batch` gives for the aligned
    pairs (query record ``q_rows[i]``, candidate ``i``), through the same
    loop (:func:`~er_toolkit.compare.kernel.compare_encodings`), with each
    column encoded once over the query records followed by the candidates
    (as the polars engine encodes whole columns) instead of over a copy of
    the query values per pair: half the values to encode. ``given`` holds
    the term frequencies compare_batch would take, per pair. None where a
    column's query and stored types differ (compare_batch finds their
    common type) or a comparison needs document frequencies.
    """
    if any(c.tfidf_tokens is not None for c in comparisons):
        return None
    nq, size = query.height, int(q_rows.size)
    encodings: dict[tuple[str, str, str | None], ColumnEncoding] = {}
    for comparison in comparisons:
        for l_col, r_col in comparison.column_pairs:
            key = (l_col, r_col, comparison.date_format)
            if key in encodings:
                continue
            lhs, rhs = query.get_column(l_col), stored.get_column(r_col)
            if lhs.dtype != rhs.dtype:
                return None
            encodings[key] = ColumnEncoding(
                lhs.alias(l_col).clone().append(rhs.alias(l_col)),
                date_format=comparison.date_format,
            )
    ColumnEncoding.prepare(list(encodings.values()))
    return compare_encodings(
        comparisons,
        lambda l_col, r_col, date_format: encodings[(l_col, r_col, date_format)],
        q_rows.astype(np.int64),
        np.arange(nq, nq + size, dtype=np.int64),
        term_frequencies=given,
        raw_similarity=True,
        workers=1,
    )


def _result_schema(linker: Any, index: LookupIndex) -> dict[str, Any]:
    """Return the lookup result's schema, made once per index and model."""
    made = index._schemas.get("result")
    if made is not None and made[0] is linker:
        return dict(made[1])
    names = [c.name for c in linker.config.comparisons]
    result = {
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
    index._schemas["result"] = (linker, result)
    return dict(result)


def _dtype(name: str) -> Any:
    return getattr(pl, name, pl.String) if name else pl.String
