"""The master store: records, clusters, golden records, decisions and audit in one DuckDB file."""

from __future__ import annotations

import contextlib
import datetime as dt
import json
import logging
import os
import time
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any, Final

import numpy as np
import polars as pl

from er_toolkit import __version__, schema
from er_toolkit.blocking import KeyBlocker
from er_toolkit.datasets import ENTITY_COLUMN
from er_toolkit.exceptions import ConfigError, SchemaError, StoreError
from er_toolkit.io import Source, read_frame, write_parquet_atomic
from er_toolkit.master.db import Database, connect
from er_toolkit.master.incremental import (
    BATCH_FIRST,
    BATCH_LAST,
    Change,
    Context,
    Plan,
    plan_change,
    write_plan,
)
from er_toolkit.master.lock import StoreLock
from er_toolkit.master.monitoring import MonitoringConfig, drift_report
from er_toolkit.master.resolve import COMPONENT
from er_toolkit.master.scoring import TermFrequencies, _texts, value_hashes
from er_toolkit.master.tables import (
    FORMAT_VERSION,
    GOLDEN_RULES,
    KEY_HASH_PROBE,
    READABLE_FORMAT_VERSIONS,
    create_tables,
    key_hash_probe,
    read_golden,
)
from er_toolkit.steward.audit import CLUSTERS_AFTER, CLUSTERS_BEFORE
from er_toolkit.steward.decisions import (
    Decision,
    DecisionKind,
    RecordRef,
    as_record_ref,
    check_actor,
)

if TYPE_CHECKING:
    from er_toolkit.master.lookup import Lookups

log = logging.getLogger(__name__)

__all__ = ["DEFAULT_MEMORY_LIMIT", "BatchSummary", "MasterStore"]

DEFAULT_MEMORY_LIMIT: Final = "1GB"
"""DuckDB's memory limit in the store process (it spills to disk beyond)."""
ERASED: Final = "[erased]"
"""What replaces the reason of a decision about an erased record."""
_PROFILE_DROP: Final = ("top_values",)
"""Profile columns never stored: they hold record values."""


def _now() -> dt.datetime:
    return dt.datetime.now(dt.UTC).replace(tzinfo=None)


@dataclass(frozen=True)
class BatchSummary:
    """What one update did, for a scheduler's log line.

    Attributes
    ----------
    operation
        ``"apply"``, ``"decide"``, ``"undo"``, ``"erase"`` or ``"model"``.
    batch_id
        The batch number of an apply, else None.
    records
        Records the update was given.
    new_records, changed_records, unchanged_records, removed_records
        How they compared with the store.
    clusters_touched, clusters_created, merges, splits
        What happened to clusters.
    links
        Scored links (at or above the threshold) the update added.
    seconds
        Wall time.
    """

    operation: str
    batch_id: int | None
    records: int = 0
    new_records: int = 0
    changed_records: int = 0
    unchanged_records: int = 0
    removed_records: int = 0
    clusters_touched: int = 0
    clusters_created: int = 0
    merges: int = 0
    splits: int = 0
    links: int = 0
    seconds: float = 0.0

    def line(self) -> str:
        """Return the one-line summary.

        Examples
        --------
        >>> BatchSummary("apply", 3, records=10, new_records=8, unchanged_records=2).line()
        'apply batch 3: 10 records (8 new, 0 changed, 2 unchanged), 0 clusters touched (0 new, 0 merges, 0 splits), 0 links in 0.0s'
        """
        head = self.operation + (f" batch {self.batch_id}" if self.batch_id else "")
        body = (
            f"{self.records:,} records ({self.new_records:,} new, "
            f"{self.changed_records:,} changed, {self.unchanged_records:,} unchanged)"
            if self.operation in ("apply", "model")
            else f"{self.removed_records:,} records removed"
            if self.operation == "erase"
            else f"{self.records:,} records"
        )
        return (
            f"{head}: {body}, {self.clusters_touched:,} clusters touched "
            f"({self.clusters_created:,} new, {self.merges:,} merges, "
            f"{self.splits:,} splits), {self.links:,} links in {self.seconds:.1f}s"
        )


def _as_linker(model: Any) -> tuple[Any, str | None]:
    """Return a fitted Linker from a Linker, a JSON path or a ``models:/`` URI."""
    from er_toolkit.pipeline import Linker

    if isinstance(model, Linker):
        return model, None
    if isinstance(model, (str, os.PathLike)):
        from er_toolkit.track import load_linker

        return load_linker(str(model)), str(model)
    raise ConfigError(
        "A master store's model must be a fitted Linker, a model JSON path or a "
        f"models:/<name>/<version> URI; got {type(model).__name__}."
    )


def _key_blockers(linker: Any) -> list[KeyBlocker]:
    """Return the model's blockers, refusing any that do not pair by keys or that purge blocks."""
    linker._check_fitted()
    blockers = linker.config.blocking.compile()
    wrong = [b.name for b in blockers if not isinstance(b, KeyBlocker)]
    if wrong:
        raise ConfigError(
            f"A master store pairs new records with stored ones by blocking keys, so "
            f"every blocker must be a key blocker (kind 'exact'); {wrong} are not. "
            "Replace them with exact rules."
        )
    purged = [b.name for b in blockers if b.max_block_size is not None]
    if purged:
        raise ConfigError(
            f"Blockers {purged} purge blocks over max_block_size, which depends on "
            "every record at once; a master store cannot keep that incrementally. "
            "Remove max_block_size from [blocking] and the blockers."
        )
    return blockers


_LEADING: Final = (schema.ROW, schema.SOURCE, schema.RECORD_ID, BATCH_FIRST, BATCH_LAST)


def _stored_order(records: pl.DataFrame) -> pl.DataFrame:
    """Put a batch's records in the stored column order: row, ids, batches, values."""
    return records.select(*_LEADING, pl.exclude(*_LEADING))


class MasterStore:
    """Mastered customer records in one embedded DuckDB file.

    The file holds the records (as the sources wrote them and standardised),
    their blocking keys, the scored links at or above the model's
    threshold, cluster membership, golden records, the model (every
    version), the stewards' decisions, the audit log and every batch's
    data-quality profile. Open one with :meth:`open`, make one with
    :meth:`init`.

    Every update (:meth:`apply`, :meth:`decide`, :meth:`undo`,
    :meth:`erase`, :meth:`set_model`) is one DuckDB transaction: a process
    killed part way leaves the store as it was before. One process writes
    at a time; a second gets :class:`~er_toolkit.exceptions.StoreLockedError`
    naming the lock file. Readers (``read_only=True``) may share the store
    with each other, not with a writer (DuckDB's own rule). Lookups,
    history and exports never write.

    Use it as a context manager, or call :meth:`close`.
    """

    def __init__(
        self,
        db: Database,
        lock: StoreLock,
        *,
        read_only: bool,
        memory_limit: str | None,
    ) -> None:
        self._db = db
        self._lock = lock
        self.read_only = read_only
        self._memory_limit = memory_limit
        self._index: Any = None
        self._load()

    # ---------------------------------------------------------- lifecycle
    @classmethod
    def init(
        cls,
        path: str | os.PathLike[str],
        model: Any,
        *,
        term_frequencies: Any = None,
        keep: Sequence[str] = (),
        actor: str = "system",
        reason: str = "store initialised",
        memory_limit: str | None = DEFAULT_MEMORY_LIMIT,
    ) -> MasterStore:
        """Create an empty store at ``path`` for a trained model, and open it for writing.

        Parameters
        ----------
        path
            The database file to create; it must not exist.
        model
            A fitted :class:`~er_toolkit.pipeline.Linker`, a model JSON path,
            or a registered model's ``models:/<name>/<version>`` URI. Its
            blockers must be exact rules (pairs are made by joining stored
            keys) without block purging.
        term_frequencies
            Records (a frame, or a list of :class:`~er_toolkit.io.Source`)
            whose values' frequencies the term-frequency levels use, frozen
            for this model version: for example the records the model was
            trained on. Default: the first batch applied.
        keep
            Further input columns to store and master (timestamps for a
            ``most_recent`` rule, say).
        actor, reason
            Who made the store and why, for the audit log.
        memory_limit
            DuckDB's memory limit (``"1GB"``); None: DuckDB's default. A
            write of 100k rows or more (a first batch, a new model) runs
            under 256MB at most, so DuckDB's buffers stay small beside it.

        Returns
        -------
        MasterStore
            The new store, open for writing.
        """
        path = Path(path)
        if path.exists():
            raise StoreError(
                f"Cannot create a master store at {str(path)!r}: the file exists. "
                "Open it with MasterStore.open, or choose another path."
            )
        linker, uri = _as_linker(model)
        _key_blockers(linker)
        keep = tuple(keep)
        frequencies = None
        if term_frequencies is not None:
            frequencies = _frequencies(linker, term_frequencies)
        lock = StoreLock(path, mode="write").acquire()
        try:
            partial = path.with_name(path.name + ".creating")
            for leftover in (partial, partial.with_name(partial.name + ".wal")):
                leftover.unlink(missing_ok=True)
            con = connect(partial, read_only=False, memory_limit=memory_limit)
            db = Database(con, partial)
            with db.transaction():
                create_tables(con)
                now = _now()
                db.set_meta(
                    {
                        "format_version": FORMAT_VERSION,
                        "created_at": now.isoformat(),
                        "er_toolkit_version": __version__,
                        "model_version": 1,
                        "next_row": 0,
                        "next_seq": 1,
                        "next_batch": 1,
                        "next_event": 1,
                        "next_decision": 1,
                        "keep": json.dumps(list(keep)),
                        "record_id_dtype": "",
                        "pending_compaction": 0,
                        KEY_HASH_PROBE: key_hash_probe(),
                        GOLDEN_RULES: "[]",
                    }
                )
                _insert_model(db, 1, linker, uri, frequencies, actor, reason, now)
                db.execute(
                    "INSERT INTO audit (event_id, occurred_at, kind, actor, reason, "
                    "model_version, clusters_before, clusters_after, records) "
                    "VALUES (0, ?, 'model', ?, ?, 1, [], [], [])",
                    [now, actor, reason],
                )
            con.close()
            os.replace(partial, path)
            _fsync_dir(path.parent)
            db = Database(
                connect(path, read_only=False, memory_limit=memory_limit), path
            )
        except BaseException:
            lock.release()
            raise
        return cls(db, lock, read_only=False, memory_limit=memory_limit)

    @classmethod
    def open(
        cls,
        path: str | os.PathLike[str],
        *,
        read_only: bool = False,
        memory_limit: str | None = DEFAULT_MEMORY_LIMIT,
    ) -> MasterStore:
        """Open the store at ``path``, for writing or (``read_only=True``) for lookups and reads.

        Raises
        ------
        StoreLockedError
            Another process has the store open for writing (or, for a
            writer, has it open at all).
        StoreError
            The file does not exist, or is not a master store this version
            reads.
        """
        path = Path(path)
        if not path.is_file():
            raise StoreError(
                f"No master store at {str(path)!r}; create one with "
                "MasterStore.init (CLI: er-toolkit store init)."
            )
        lock = StoreLock(path, mode="read" if read_only else "write").acquire()
        try:
            db = Database(
                connect(path, read_only=read_only, memory_limit=memory_limit), path
            )
            if not db.has_table("meta"):
                db.con.close()
                raise StoreError(
                    f"{str(path)!r} is a DuckDB file but not an er_toolkit master "
                    "store (it has no meta table)."
                )
            _check_format(db, path)
            store = cls(db, lock, read_only=read_only, memory_limit=memory_limit)
            if store._meta.get(KEY_HASH_PROBE) != key_hash_probe():
                store._rehash_keys()
        except BaseException:
            lock.release()
            raise
        if not read_only and store._meta.get("pending_compaction") == "1":
            store._compact()
        return store

    def _rehash_keys(self) -> None:
        """Hash every stored record's blocking keys again: this polars hashes them differently.

        The store keeps keys as polars hashes (see
        :func:`~er_toolkit.master.tables.key_hash`), which polars promises
        within one version only; a writer that finds the probe changed
        rebuilds the keys from the stored records, in one transaction.
        """
        from er_toolkit.master.incremental import block_keys

        if self.read_only:
            raise StoreError(
                f"The master store {str(self.path)!r} holds blocking keys hashed by "
                "another polars version than this one; open it once for writing "
                "(MasterStore.open(path)) to hash them again, then read it."
            )
        db = self._db
        with db.transaction():
            db.execute("DELETE FROM keys")
            if db.has_table("records"):
                records = db.frame("SELECT * FROM records ORDER BY _row")
                keys = block_keys(self._blockers, records)
                if keys.height:
                    db.execute("INSERT INTO keys SELECT * FROM {keys}", keys=keys)
            db.set_meta({KEY_HASH_PROBE: key_hash_probe()})
        self._meta = db.meta()

    def close(self) -> None:
        """Close the database and drop the lock."""
        if self._db is not None:
            self._db.con.close()
            self._db = None  # type: ignore[assignment]
        self._index = None
        self._lock.release()

    def __enter__(self) -> MasterStore:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def __repr__(self) -> str:
        state = (
            "closed"
            if self._db is None
            else ("read-only" if self.read_only else "open")
        )
        return f"MasterStore({str(self.path)!r}, {state})"

    def _repr_html_(self) -> str:
        from er_toolkit.display import html_summary

        facts: list[tuple[str, object]] = [("file", str(self.path))]
        if self._db is None:
            return html_summary("Master store (closed)", facts)
        db = self._readable()
        facts.append(("format version", self.format_version))
        counts = {
            "records": "SELECT count(*) AS n FROM records",
            "clusters": "SELECT count(*) AS n FROM clusters",
            "audit events": "SELECT count(*) AS n FROM audit",
            "standing decisions": "SELECT count(*) AS n FROM decisions "
            "WHERE undone_by IS NULL",
        }
        for label, query in counts.items():
            table = query.split(" FROM ")[1].split()[0]
            if db.has_table(table):
                with contextlib.suppress(Exception):  # a display never raises
                    facts.append((label, int(db.frame(query).item())))
        return html_summary("Master store", facts)

    @property
    def path(self) -> Path:
        """The database file."""
        return self._lock.path.with_name(self._lock.path.name[: -len(".lock")])

    @property
    def format_version(self) -> int:
        """The store layout's version (see :data:`er_toolkit.master.tables.FORMAT_VERSION`)."""
        return int(self._meta["format_version"])

    def _load(self) -> None:
        from er_toolkit.pipeline import Linker

        db = self._db
        self._meta = db.meta()
        self.model_version = int(self._meta["model_version"])
        found = db.con.execute(
            "SELECT model, term_frequencies, uri FROM models WHERE model_version = ?",
            [self.model_version],
        ).fetchall()
        row = found[0] if found else None
        if row is None:
            raise StoreError(
                f"The master store {str(db.path)!r} has no model version "
                f"{self.model_version}."
            )
        self.linker = Linker.from_dict(json.loads(row[0]))
        # where the current model version came from (models:/ URI or path), if known
        self.model_uri: str | None = row[2]
        self._blockers: list[KeyBlocker] = _key_blockers(self.linker)
        self.keep = tuple(json.loads(self._meta.get("keep", "[]")))
        self.frequencies: TermFrequencies | None = None
        if row[1] is not None:
            counts = db.frame(
                "SELECT comparison, value_hash, count FROM term_frequencies "
                "WHERE model_version = ?",
                [self.model_version],
            )
            self.frequencies = TermFrequencies.from_parts(json.loads(row[1]), counts)

    def _writable(self) -> Database:
        if self._db is None:
            raise StoreError("The master store is closed.")
        if self.read_only:
            raise StoreError(
                f"The master store {str(self.path)!r} is open read-only; open it with "
                "read_only=False to change it."
            )
        return self._db

    def _readable(self) -> Database:
        if self._db is None:
            raise StoreError("The master store is closed.")
        return self._db

    # ------------------------------------------------------------ batches
    def apply(
        self,
        batch: Any,
        *,
        source: str | None = None,
        id_column: str | None = None,
        actor: str = "system",
        reason: str | None = None,
    ) -> BatchSummary:
        """Apply a batch of new or changed records, in one transaction.

        Each record is standardised with the model's steps; a record whose
        ``(source, record_id)`` is stored with the same values is left as
        it is (re-applying a batch changes nothing); a new record, or new
        values for a stored one, is blocked against the stored keys and the
        rest of the batch, scored with the model, and the raw components it
        touches are clustered again. Clusters the batch did not touch keep
        their ids and golden records; a cluster that merges keeps the oldest
        id; golden records of touched clusters are rebuilt. The batch's
        data-quality profile is stored.

        Parameters
        ----------
        batch
            A polars, pandas or Arrow frame, or a CSV/Parquet path, with a
            ``source`` column or a ``source=`` name; or a list of
            :class:`~er_toolkit.io.Source`; or a mapping of source name to
            frame.
        source
            The source name of a single-source batch.
        id_column
            The column holding record ids (default: the model's, per source,
            else ``record_id``).
        actor, reason
            Who applied the batch and why, for the audit log.

        Returns
        -------
        BatchSummary
            Counts; ``.line()`` is the one-line summary.
        """
        start = time.perf_counter()
        db = self._writable()
        batch_id = int(self._meta["next_batch"])
        sources = self._sources(batch, source=source, id_column=id_column)
        prepared = self.linker.prepare(sources, keep=self.keep, keep_raw=True)
        records, raw = self._stored_columns(prepared.records, prepared.raw)
        frequencies = self.frequencies
        if frequencies is None:
            frequencies = TermFrequencies.from_records(
                records, self.linker.config.comparisons
            )
        existing = self._existing(records)
        unchanged = self._unchanged(existing, raw)
        known = existing.filter(~pl.col(schema.ROW).is_in(unchanged.implode()))
        next_row = int(self._meta["next_row"])
        numbered = records.select(schema.SOURCE, schema.RECORD_ID).join(
            existing.select(schema.SOURCE, schema.RECORD_ID, schema.ROW, BATCH_FIRST),
            on=[schema.SOURCE, schema.RECORD_ID],
            how="left",
            maintain_order="left",
        )
        is_new = numbered.get_column(schema.ROW).is_null()
        new_rows = is_new.cast(pl.Int64).cum_sum() - 1 + next_row
        store_row = (
            pl.when(is_new).then(new_rows).otherwise(numbered.get_column(schema.ROW))
        )
        numbered = numbered.with_columns(
            pl.select(store_row).to_series().alias(schema.ROW),
            pl.when(is_new)
            .then(pl.lit(batch_id))
            .otherwise(pl.col(BATCH_FIRST))
            .cast(pl.Int32)
            .alias(BATCH_FIRST),
        )
        n_new = int(is_new.sum())
        keep_mask = ~numbered.get_column(schema.ROW).is_in(unchanged.implode())
        incoming = pl.concat(
            [numbered.select(schema.ROW, BATCH_FIRST), records], how="horizontal"
        ).with_columns(pl.lit(batch_id, dtype=pl.Int32).alias(BATCH_LAST))
        if unchanged.len():
            incoming = incoming.filter(keep_mask)
        incoming = _stored_order(incoming)
        incoming_raw = pl.concat(
            [numbered.select(schema.ROW), raw.drop(schema.SOURCE, schema.RECORD_ID)],
            how="horizontal",
        )
        if unchanged.len():
            incoming_raw = incoming_raw.filter(keep_mask)
        n_records = records.height
        profile = prepared.profile.filter(
            ~pl.col("column").is_in([schema.ROW, schema.RECORD_ID, schema.SOURCE])
        ).drop(_PROFILE_DROP, strict=False)
        # the batch as prepared is held again in incoming: free it for the plan
        del prepared, records, raw, numbered
        counts: dict[str, int] = {}
        plan: Plan | None = None
        if incoming.height:
            change = Change(
                batch_id=batch_id,
                actor=actor,
                reason=reason or f"batch {batch_id}",
                incoming=incoming,
                incoming_raw=incoming_raw,
                changed_rows=known.get_column(schema.ROW).cast(pl.Int64).to_numpy(),
            )
            # the change holds them now, and write_plan drops them once written
            del incoming, incoming_raw
            plan = plan_change(self._context(frequencies), change)
            counts = plan.counts
        now = _now()
        summary = BatchSummary(
            "apply",
            batch_id,
            records=n_records,
            new_records=n_new,
            changed_records=known.height,
            unchanged_records=unchanged.len(),
            clusters_touched=counts.get("clusters_touched", 0),
            clusters_created=counts.get("clusters_created", 0),
            merges=counts.get("merges", 0),
            splits=counts.get("splits", 0),
            links=counts.get("links", 0),
        )
        with db.transaction():
            meta: dict[str, object] = {
                "next_batch": batch_id + 1,
                "next_row": next_row + n_new,
            }
            if not self._meta.get("record_id_dtype"):
                meta["record_id_dtype"] = self._id_dtype
            if self.frequencies is None:
                _store_frequencies(db, self.model_version, frequencies)
            if plan is not None:
                meta["next_event"] = write_plan(
                    db,
                    plan,
                    model_version=self.model_version,
                    now=now,
                    first_event_id=int(self._meta["next_event"]),
                )
                meta["next_seq"] = plan.next_seq
            seconds = time.perf_counter() - start
            db.execute(
                "INSERT INTO batches VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
                [
                    batch_id,
                    now,
                    actor,
                    reason,
                    self.model_version,
                    summary.records,
                    n_new,
                    summary.changed_records,
                    summary.unchanged_records,
                    summary.clusters_touched,
                    summary.clusters_created,
                    summary.merges,
                    summary.splits,
                    seconds,
                ],
            )
            if profile.height:
                db.execute(
                    "INSERT INTO profiles BY NAME SELECT ? AS batch_id, * FROM {profile}",
                    [batch_id],
                    profile=profile,
                )
            db.set_meta(meta)
        # a batch changes no model: keep the loaded one, read the new counters
        self._index = None
        self._meta = db.meta()
        if self.frequencies is None:
            self.frequencies = frequencies
        return dataclass_replace(summary, seconds=time.perf_counter() - start)

    def _context(self, frequencies: TermFrequencies | None = None) -> Context:
        return Context(
            db=self._db,
            linker=self.linker,
            frequencies=frequencies or self.frequencies or TermFrequencies(),
            blockers=self._blockers,
            model_version=self.model_version,
            next_seq=int(self._meta["next_seq"]),
            stored=self._db.has_table("records"),
        )

    def _after_write(self) -> None:
        self._index = None
        self._load()

    def _sources(
        self, batch: Any, *, source: str | None, id_column: str | None
    ) -> list[Source]:
        trained = {s.name: s.id_column for s in self.linker.config.sources}

        def make(name: str, frame: Any) -> Source:
            column = id_column or trained.get(name, schema.RECORD_ID)
            return Source(name, frame, id_column=column)

        if isinstance(batch, Source):
            return [batch]
        if (
            isinstance(batch, Sequence)
            and not isinstance(batch, (str, bytes))
            and all(isinstance(b, Source) for b in batch)
        ):
            return list(batch)
        if isinstance(batch, Mapping):
            return [make(str(name), frame) for name, frame in batch.items()]
        frame = read_frame(batch, name="batch")
        if source is not None:
            return [make(source, frame.drop(schema.SOURCE, strict=False))]
        if schema.SOURCE in frame.columns:
            if frame.get_column(schema.SOURCE).null_count():
                raise SchemaError(
                    f"The batch's {schema.SOURCE!r} column has null values; every "
                    "record needs its source's name."
                )
            return [
                make(str(name), part.drop(schema.SOURCE))
                for (name,), part in frame.group_by(schema.SOURCE, maintain_order=True)
            ]
        if len(trained) == 1:
            return [make(next(iter(trained)), frame)]
        raise SchemaError(
            f"The batch has no {schema.SOURCE!r} column; give source= (the name of "
            "the system the records come from) or a source column."
        )

    @property
    def _id_dtype(self) -> str:
        return getattr(self, "_batch_id_dtype", "String")

    def _stored_columns(
        self, records: pl.DataFrame, raw: pl.DataFrame | None
    ) -> tuple[pl.DataFrame, pl.DataFrame]:
        """Return the standardised and raw columns the store keeps, ids as text."""
        assert raw is not None
        dtype = records.schema[schema.RECORD_ID]
        stored = self._meta.get("record_id_dtype") or ""
        if stored and stored != str(dtype) and stored != "String":
            raise SchemaError(
                f"The store's record ids are {stored}; this batch's are {dtype}. Give "
                "every batch ids of one type."
            )
        self._batch_id_dtype = stored if stored else str(dtype)
        label = self.linker.config.evaluation.entity_column or ENTITY_COLUMN
        drop = [schema.ROW] + ([label] if label not in self.keep else [])
        ids = [
            pl.col(schema.SOURCE).cast(pl.String),
            pl.col(schema.RECORD_ID).cast(pl.String),
        ]
        std = records.drop(drop, strict=False).with_columns(ids)
        reserved = [c for c in (BATCH_FIRST, BATCH_LAST) if c in std.columns]
        if reserved:
            raise SchemaError(
                f"Columns {reserved} are the store's own; rename them in the batch."
            )
        raw_out = raw.drop(drop, strict=False).with_columns(ids)
        stored_raw = self._raw_columns()
        if stored_raw is not None:
            raw_out = raw_out.with_columns(
                pl.lit(None).alias(c) for c in stored_raw if c not in raw_out.columns
            ).select(schema.SOURCE, schema.RECORD_ID, *stored_raw)
        return std, raw_out

    def _raw_columns(self) -> list[str] | None:
        if not self._db.has_table("raw_records"):
            return None
        return [
            c
            for c in self._db.frame("SELECT * FROM raw_records LIMIT 0").columns
            if c != schema.ROW
        ]

    def _existing(self, records: pl.DataFrame) -> pl.DataFrame:
        empty = pl.DataFrame(
            schema={
                schema.ROW: pl.Int64,
                schema.SOURCE: pl.String,
                schema.RECORD_ID: pl.String,
                BATCH_FIRST: pl.Int32,
            }
        )
        if not self._db.has_table("records"):
            return empty
        return self._db.frame(
            "SELECT r._row, r.source, r.record_id, r._batch_first FROM records r "
            "JOIN {ids} b ON r.source = b.source AND r.record_id = b.record_id",
            ids=records.select(schema.SOURCE, schema.RECORD_ID),
        ).cast(empty.schema)  # type: ignore[arg-type]

    def _unchanged(self, existing: pl.DataFrame, raw: pl.DataFrame) -> pl.Series:
        """Return the stored rows whose raw values equal the batch's."""
        if existing.height == 0:
            return pl.Series(schema.ROW, [], dtype=pl.Int64)
        stored = self._db.frame(
            "SELECT * FROM raw_records WHERE _row IN (SELECT _row FROM {rows})",
            rows=existing.select(schema.ROW),
        ).join(
            existing.select(schema.ROW, schema.SOURCE, schema.RECORD_ID), on=schema.ROW
        )
        columns = [c for c in raw.columns if c not in (schema.SOURCE, schema.RECORD_ID)]
        new = raw.select(schema.SOURCE, schema.RECORD_ID, *columns)
        old = stored.select(
            schema.ROW,
            schema.SOURCE,
            schema.RECORD_ID,
            *(
                pl.col(c).cast(new.schema[c], strict=False).alias(c + "__old")
                if c in stored.columns
                else pl.lit(None, dtype=new.schema[c]).alias(c + "__old")
                for c in columns
            ),
        )
        both = old.join(new, on=[schema.SOURCE, schema.RECORD_ID])
        same = pl.all_horizontal(
            [pl.col(c).eq_missing(pl.col(c + "__old")) for c in columns]
            or [pl.lit(True)]
        )
        return both.filter(same).get_column(schema.ROW).cast(pl.Int64)

    # ---------------------------------------------------------- decisions
    def decide(
        self,
        kind: DecisionKind,
        *records: RecordRef | tuple[str, Any],
        actor: str,
        reason: str,
    ) -> int:
        """Record a steward's decision and re-cluster the records it concerns.

        Parameters
        ----------
        kind
            ``"must_link"`` or ``"cannot_link"`` (two records), or
            ``"own_entity"`` (one record).
        records
            The records, each ``(source, record_id)``.
        actor, reason
            Who decided and why (required; kept in the audit log).

        Returns
        -------
        int
            The decision's id (for :meth:`undo`). Deciding again what is
            already decided returns the standing decision's id and changes
            nothing.

        Raises
        ------
        StoreError
            A record is not in the store, or the decision contradicts a
            standing one (must-link against cannot-link, a link to an
            own-entity record): undo that one first.
        """
        decision = Decision(kind, tuple(records), actor=actor, reason=reason)
        start = time.perf_counter()
        db = self._writable()
        refs = self._rows_of(decision.records)
        rows = [refs[r] for r in decision.records]
        standing = self.decisions(active_only=True)
        if decision.kind == "own_entity":
            same = standing.filter(
                (pl.col("kind") == "own_entity") & (pl.col("row_a") == rows[0])
            )
        else:
            lo, hi = sorted(rows)
            same = standing.filter(
                (pl.col("kind") == decision.kind)
                & (pl.col("row_a") == lo)
                & (pl.col("row_b") == hi)
            )
        if same.height:
            return int(same.get_column("decision_id").item(0))
        self._check_conflicts(decision, rows, standing)
        decision_id = int(self._meta["next_decision"])
        by_row = {refs[r]: r for r in decision.records}
        ordered = sorted(rows)
        row_a, ref_a = ordered[0], by_row[ordered[0]]
        row_b: int | None = ordered[1] if len(ordered) == 2 else None
        ref_b: tuple[str | None, str | None] = (
            by_row[row_b] if row_b is not None else (None, None)
        )
        now = _now()

        def write(db: Database) -> None:
            db.execute(
                "INSERT INTO decisions VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, true, "
                "NULL, NULL, NULL)",
                [
                    decision_id,
                    decision.kind,
                    ref_a[0],
                    ref_a[1],
                    row_a,
                    ref_b[0],
                    ref_b[1],
                    row_b,
                    actor,
                    reason,
                    now,
                ],
            )

        change = Change(
            batch_id=None,
            actor=actor,
            reason=reason,
            seed_rows=np.asarray(rows, dtype=np.int64),
            decision_id=decision_id,
        )
        with db.transaction():
            write(db)  # the plan reads the decision inside the transaction
            plan = plan_change(self._context(), change)
            self._write_admin(
                plan,
                "decide",
                decision.records,
                rows,
                now,
                extra={"next_decision": decision_id + 1},
            )
        log.info(
            "decision %s: %s", decision_id, self._summary("decide", plan, start).line()
        )
        self._after_write()
        return decision_id

    def undo(self, decision_id: int, *, actor: str, reason: str) -> BatchSummary:
        """Withdraw a standing decision and re-cluster its records without it."""
        check_actor(actor, reason)
        start = time.perf_counter()
        db = self._writable()
        standing = self.decisions(active_only=True).filter(
            pl.col("decision_id") == decision_id
        )
        if standing.height == 0:
            raise StoreError(
                f"No standing decision {decision_id!r} in the store; see "
                "MasterStore.decisions() for their ids."
            )
        row = standing.row(0, named=True)
        rows = [r for r in (row["row_a"], row["row_b"]) if r is not None]
        refs = [(row["source_a"], row["record_id_a"])] + (
            [(row["source_b"], row["record_id_b"])] if row["row_b"] is not None else []
        )
        now = _now()
        change = Change(
            batch_id=None,
            actor=actor,
            reason=reason,
            seed_rows=np.asarray(rows, dtype=np.int64),
            decision_id=decision_id,
        )
        with db.transaction():
            db.execute(
                "UPDATE decisions SET active = false, undone_at = ?, undone_by = ?, "
                "undo_reason = ? WHERE decision_id = ?",
                [now, actor, reason, decision_id],
            )
            plan = plan_change(self._context(), change)
            self._write_admin(plan, "undo", refs, rows, now)
        self._after_write()
        return self._summary("undo", plan, start)

    def _check_conflicts(
        self, decision: Decision, rows: list[int], standing: pl.DataFrame
    ) -> None:
        def clash(kind: str, a: int, b: int | None) -> pl.DataFrame:
            frame = standing.filter(pl.col("kind") == kind)
            if b is None:
                return frame.filter((pl.col("row_a") == a) | (pl.col("row_b") == a))
            lo, hi = sorted((a, b))
            return frame.filter((pl.col("row_a") == lo) & (pl.col("row_b") == hi))

        found = pl.DataFrame()
        if decision.kind == "must_link":
            found = pl.concat(
                [
                    clash("cannot_link", rows[0], rows[1]),
                    clash("own_entity", rows[0], None),
                    clash("own_entity", rows[1], None),
                ]
            )
        elif decision.kind == "cannot_link":
            found = clash("must_link", rows[0], rows[1])
        else:
            found = clash("must_link", rows[0], None)
        if found.height:
            ids = found.get_column("decision_id").to_list()
            raise StoreError(
                f"A {decision.kind} decision on these records contradicts standing "
                f"decision(s) {ids}; undo them first (MasterStore.undo)."
            )

    def _rows_of(self, refs: Iterable[RecordRef]) -> dict[RecordRef, int]:
        wanted = [as_record_ref(r) for r in refs]
        frame = pl.DataFrame(
            {
                schema.SOURCE: [r[0] for r in wanted],
                schema.RECORD_ID: [r[1] for r in wanted],
            },
            schema={schema.SOURCE: pl.String, schema.RECORD_ID: pl.String},
        )
        found = (
            self._db.frame(
                "SELECT r.source, r.record_id, r._row FROM records r JOIN {ids} b "
                "ON r.source = b.source AND r.record_id = b.record_id",
                ids=frame,
            )
            if self._db.has_table("records")
            else pl.DataFrame(schema={**frame.schema, schema.ROW: pl.Int64})
        )
        out = {(s, i): int(r) for s, i, r in found.iter_rows()}
        missing = [r for r in wanted if r not in out]
        if missing:
            raise StoreError(
                f"{len(missing)} record(s) are not in the store: "
                f"{missing[:5]}{' ...' if len(missing) > 5 else ''} (source, "
                "record_id)."
            )
        return out

    def _write_admin(
        self,
        plan: Plan,
        kind: str,
        refs: Sequence[RecordRef],
        rows: Sequence[int],
        now: dt.datetime,
        *,
        extra: Mapping[str, object] | None = None,
        before: Sequence[str] | None = None,
        after: Sequence[str] | None = None,
    ) -> None:
        """Write ``plan`` with one administrative audit event ahead of its own."""
        db = self._db
        if before is None:
            before = sorted(
                set(
                    db.frame(
                        "SELECT cluster_id FROM membership WHERE _row IN "
                        "(SELECT _row FROM {rows})",
                        rows=pl.DataFrame(
                            {schema.ROW: list(rows)}, schema={schema.ROW: pl.Int64}
                        ),
                    )
                    .get_column(schema.CLUSTER_ID)
                    .to_list()
                )
            )
        if after is None:
            after = sorted(
                set(
                    plan.members.filter(pl.col(schema.ROW).is_in(list(rows)))
                    .get_column(schema.CLUSTER_ID)
                    .to_list()
                )
            )
        admin = pl.DataFrame(
            {
                "kind": [kind],
                CLUSTERS_BEFORE: [list(before)],
                CLUSTERS_AFTER: [list(after)],
                "records": [[{"source": s, "record_id": i} for s, i in refs]],
            },
            schema=plan.events.schema,
        )
        plan.events = pl.concat([admin, plan.events])
        meta: dict[str, object] = dict(extra or {})
        meta["next_event"] = write_plan(
            db,
            plan,
            model_version=self.model_version,
            now=now,
            first_event_id=int(self._meta["next_event"]),
        )
        meta["next_seq"] = plan.next_seq
        db.set_meta(meta)

    def _summary(
        self, operation: str, plan: Plan, start: float, **counts: int
    ) -> BatchSummary:
        return BatchSummary(
            operation,
            plan.change.batch_id,
            clusters_touched=plan.counts["clusters_touched"],
            clusters_created=plan.counts["clusters_created"],
            merges=plan.counts["merges"],
            splits=plan.counts["splits"],
            links=plan.counts["links"],
            seconds=time.perf_counter() - start,
            **counts,
        )

    # ------------------------------------------------------------ erasure
    def erase(
        self,
        records: Iterable[RecordRef | tuple[str, Any]] = (),
        *,
        cluster_id: str | None = None,
        actor: str,
        reason: str,
    ) -> BatchSummary:
        """Remove a person's records for good (the right to be forgotten).

        The records (given by ``(source, record_id)``, or every member of
        ``cluster_id``) are deleted with their keys, links and decisions;
        their clusters are re-resolved (one may split) and golden records
        rebuilt. The audit log keeps an ``erase`` event with the ids and the
        time, never values; reasons of decisions about the records become
        ``"[erased]"``; the frozen term-frequency count of a value no
        remaining record holds is dropped (not even its hash stays). The database file is then rewritten, so the values
        are gone from its bytes (DuckDB otherwise leaves deleted rows in
        freed blocks), and the WAL with them.

        Parameters
        ----------
        records
            The records to erase.
        cluster_id
            Erase every member of this cluster (as well).
        actor, reason
            Who asked and why (put no personal values in the reason).

        Returns
        -------
        BatchSummary
            Counts; ``.line()`` is the one-line summary.
        """
        check_actor(actor, reason)
        start = time.perf_counter()
        db = self._writable()
        refs = [as_record_ref(r) for r in records]
        found = self._rows_of(refs) if refs else {}
        if cluster_id is not None:
            members = db.frame(
                "SELECT r.source, r.record_id, r._row FROM membership m JOIN records r "
                "USING (_row) WHERE m.cluster_id = ?",
                [cluster_id],
            )
            if members.height == 0:
                raise StoreError(f"No cluster {cluster_id!r} in the store.")
            found.update({(s, i): int(r) for s, i, r in members.iter_rows()})
        if not found:
            raise StoreError("erase needs records or a cluster_id; got neither.")
        rows = np.array(sorted(set(found.values())), dtype=np.int64)
        now = _now()
        change = Change(batch_id=None, actor=actor, reason=reason, removed_rows=rows)
        before = sorted(
            set(
                db.frame(
                    "SELECT cluster_id FROM membership WHERE _row IN (SELECT _row FROM {rows})",
                    rows=pl.DataFrame({schema.ROW: rows}),
                )
                .get_column(schema.CLUSTER_ID)
                .to_list()
            )
        )
        plan = plan_change(self._context(), change)
        orphaned = _orphaned_frequencies(db, rows, self.frequencies)

        def scrub(db: Database) -> None:
            if orphaned.height:
                db.execute(
                    "DELETE FROM term_frequencies WHERE EXISTS (SELECT 1 FROM {gone} g "
                    "WHERE g.comparison = term_frequencies.comparison "
                    "AND g.value_hash = term_frequencies.value_hash)",
                    gone=orphaned,
                )
            touched = db.frame(
                "SELECT decision_id FROM decisions WHERE row_a IN (SELECT _row FROM {rows}) "
                "OR row_b IN (SELECT _row FROM {rows})",
                rows=pl.DataFrame({schema.ROW: rows}),
            )
            if touched.height:
                db.execute(
                    "UPDATE decisions SET active = false, reason = ?, undone_at = "
                    "coalesce(undone_at, ?), undone_by = coalesce(undone_by, ?), "
                    "undo_reason = CASE WHEN undo_reason IS NULL THEN ? ELSE ? END "
                    "WHERE decision_id IN (SELECT decision_id FROM {ids})",
                    [ERASED, now, actor, ERASED, ERASED],
                    ids=touched,
                )
                db.execute(
                    "UPDATE audit SET reason = ? WHERE decision_id IN "
                    "(SELECT decision_id FROM {ids})",
                    [ERASED],
                    ids=touched,
                )

        plan.extra_writes.append(scrub)
        # the erased records' own former clusters, for the erase event
        former = set(before)
        after_ids = sorted(
            set(plan.events.get_column(CLUSTERS_AFTER).explode().drop_nulls().to_list())
            & (former | set(plan.members.get_column(schema.CLUSTER_ID).to_list()))
        )
        with db.transaction():
            self._write_admin(
                plan,
                "erase",
                sorted(found),
                [],
                now,
                extra={"pending_compaction": 1},
                before=before,
                after=after_ids,
            )
        self._compact()
        self._after_write()
        return self._summary("erase", plan, start, removed_records=int(rows.size))

    def _compact(self) -> None:
        """Rewrite the database file from its live rows, so nothing deleted remains in it."""
        db = self._db
        path = self.path
        fresh = path.with_name(path.name + ".compacting")
        for leftover in (fresh, fresh.with_name(fresh.name + ".wal")):
            leftover.unlink(missing_ok=True)
        db.execute("CHECKPOINT")
        tables = [
            r[0]
            for r in db.con.execute(
                "SELECT table_name FROM duckdb_tables() WHERE database_name = "
                "current_database() AND schema_name = 'main' ORDER BY table_name"
            ).fetchall()
        ]
        quoted = str(fresh).replace("'", "''")
        db.execute(f"ATTACH '{quoted}' AS fresh")
        try:
            for table in tables:
                order = (
                    " ORDER BY _row"
                    if table in ("records", "raw_records", "membership")
                    else ""
                )
                db.execute(
                    f"CREATE TABLE fresh.{table} AS SELECT * FROM main.{table}{order}"
                )
            db.execute(
                "UPDATE fresh.meta SET value = '0' WHERE key = 'pending_compaction'"
            )
        finally:
            db.execute("DETACH fresh")
        db.con.close()
        with open(fresh, "rb+") as handle:
            os.fsync(handle.fileno())
        os.replace(fresh, path)
        path.with_name(path.name + ".wal").unlink(missing_ok=True)
        _fsync_dir(path.parent)
        self._db = Database(
            connect(path, read_only=False, memory_limit=self._memory_limit), path
        )
        self._meta = self._db.meta()

    # -------------------------------------------------------------- model
    def set_model(
        self,
        model: Any,
        *,
        actor: str,
        reason: str,
        term_frequencies: Any = None,
    ) -> BatchSummary:
        """Re-resolve every record with a new model version (after retraining).

        Every stored record is standardised again from its raw values with
        the new model's steps, blocked, scored and clustered; the stewards'
        decisions stay and override the new model as they did the old one;
        cluster ids follow the same rules as a batch (a cluster whose
        members did not change keeps its id). Term frequencies are counted
        again over the stored records, unless ``term_frequencies`` gives a
        reference set.
        """
        start = time.perf_counter()
        db = self._writable()
        linker, uri = _as_linker(model)
        _key_blockers(linker)
        if not db.has_table("records"):
            raise StoreError("The store holds no records yet; apply a batch first.")
        stored = db.frame(
            "SELECT w.*, r.source, r.record_id, r._batch_first, r._batch_last "
            "FROM raw_records w JOIN records r USING (_row) ORDER BY _row"
        )
        dtype = self._meta.get("record_id_dtype") or "String"
        sources = [
            Source(
                str(name),
                part.drop(
                    schema.ROW, schema.SOURCE, BATCH_FIRST, BATCH_LAST
                ).with_columns(pl.col(schema.RECORD_ID).cast(_dtype(dtype))),
            )
            for (name,), part in stored.group_by(schema.SOURCE, maintain_order=True)
        ]
        prepared = linker.prepare(sources, keep=self.keep, keep_raw=True)
        old_linker = self.linker
        self.linker = linker
        try:
            records, raw = self._stored_columns(prepared.records, prepared.raw)
        finally:
            self.linker = old_linker
        frequencies = (
            _frequencies(linker, term_frequencies)
            if term_frequencies is not None
            else TermFrequencies.from_records(records, linker.config.comparisons)
        )
        ids = records.select(schema.SOURCE, schema.RECORD_ID).join(
            stored.select(
                schema.SOURCE, schema.RECORD_ID, schema.ROW, BATCH_FIRST, BATCH_LAST
            ),
            on=[schema.SOURCE, schema.RECORD_ID],
            how="left",
            maintain_order="left",
        )
        incoming = pl.concat(
            [ids.select(schema.ROW, BATCH_FIRST, BATCH_LAST), records], how="horizontal"
        )
        incoming = _stored_order(incoming)
        incoming_raw = pl.concat(
            [ids.select(schema.ROW), raw.drop(schema.SOURCE, schema.RECORD_ID)],
            how="horizontal",
        )
        version = self.model_version + 1
        change = Change(
            batch_id=None,
            actor=actor,
            reason=reason,
            incoming=incoming,
            incoming_raw=incoming_raw,
            changed_rows=incoming.get_column(schema.ROW).cast(pl.Int64).to_numpy(),
            everything=True,
        )
        context = Context(
            db=db,
            linker=linker,
            frequencies=frequencies,
            blockers=_key_blockers(linker),
            model_version=version,
            next_seq=int(self._meta["next_seq"]),
            stored=True,
        )
        plan = plan_change(context, change)
        now = _now()
        try:
            with db.transaction():
                _insert_model(db, version, linker, uri, frequencies, actor, reason, now)
                self.model_version = version
                self._write_admin(
                    plan,
                    "model",
                    [],
                    [],
                    now,
                    extra={"model_version": version},
                    before=[],
                    after=[],
                )
        finally:
            self._after_write()
        return self._summary(
            "model",
            plan,
            start,
            records=incoming.height,
            changed_records=incoming.height,
        )

    # -------------------------------------------------------------- reads
    def lookup(
        self,
        record: Any,
        *,
        top: int | None = 5,
        min_probability: float = 0.0,
    ) -> pl.DataFrame:
        """Return the stored clusters a record (or a few) would match, without writing anything.

        For "is this customer already known?" checks at sign-up: the record
        is standardised with the model's steps, blocked against the stored
        keys, and scored against each candidate record with the model and
        the store's term frequencies; each candidate cluster is reported
        with its best-matching member, the per-comparison explanation of
        that pair and the cluster's golden record.

        The first lookup loads an index of the blocking keys and the
        compared columns into memory (seconds at a million records); later
        ones read only that index (a writer's next lookup after an update
        loads it again). A lookup of a few records (up to
        :data:`~er_toolkit.master.lookup.FAST_MAX`) reads the results of
        raw values already stored, or standardised before, from the index
        (:class:`~er_toolkit.master.lookup.StoredValues`) instead of
        standardising them again, and compares the record with its
        candidates alone; the answer is the same as for a batch.

        Parameters
        ----------
        record
            A mapping of column to value, a list of them, or a frame. No
            ``record_id`` is needed; ``source`` matters only in a ``link``
            model (only records of other sources match).
        top
            Keep at most this many clusters per record (None: all).
        min_probability
            Keep only clusters matching at least this well.

        Returns
        -------
        polars.DataFrame
            ``query`` (the record's position in the input), ``cluster_id``,
            ``match_probability``, ``match_weight``, ``is_match`` (at or above
            the model's threshold), the best member's ``source`` and
            ``record_id``, each comparison's ``bf_<name>`` and
            ``gamma_<name>``, and ``golden`` (the golden record, a struct);
            best match first.
        """
        return self.lookups().lookup(record, top=top, min_probability=min_probability)

    def lookups(self) -> Lookups:
        """Return the lookup index with the model that reads it, usable after :meth:`close`.

        For a service that answers lookups for a long time: open the store
        read-only, take its lookups, close the store (so a writer may open
        it), and answer from the :class:`~er_toolkit.master.lookup.Lookups`
        until the file changes. Loads the index if no lookup has yet.
        """
        from er_toolkit.master.lookup import LookupIndex, Lookups

        db = self._readable()
        if self._index is None:
            self._index = LookupIndex.load(db, self.linker, self._blockers)
        return Lookups(
            self._index,
            self.linker,
            self.frequencies or TermFrequencies(),
            tuple(self._blockers),
            self._meta.get("record_id_dtype") or "String",
            self.model_version,
        )

    def prepare_lookups(self) -> None:
        """Load the lookup index now (a service's start-up), not at the first lookup."""
        from er_toolkit.master.lookup import LookupIndex

        self._index = LookupIndex.load(self._readable(), self.linker, self._blockers)

    def _ids_out(self, frame: pl.DataFrame, *columns: str) -> pl.DataFrame:
        dtype = _dtype(self._meta.get("record_id_dtype") or "String")
        return frame.with_columns(
            pl.col(c).cast(dtype) for c in columns if c in frame.columns
        )

    def golden(self, cluster_ids: Iterable[str] | None = None) -> pl.DataFrame:
        """Return the golden records (of ``cluster_ids``, or all), by cluster id."""
        db = self._readable()
        if cluster_ids is None:
            return read_golden(db)
        ids = pl.DataFrame(
            {schema.CLUSTER_ID: list(cluster_ids)},
            schema={schema.CLUSTER_ID: pl.String},
        )
        return read_golden(db, "cluster_id IN (SELECT cluster_id FROM {ids})", ids=ids)

    def clusters(self) -> pl.DataFrame:
        """Return every record's cluster: ``source``, ``record_id``, ``cluster_id``, ``cluster_size``."""
        db = self._readable()
        if not db.has_table("records"):
            return pl.DataFrame(
                schema={
                    schema.SOURCE: pl.String,
                    schema.RECORD_ID: pl.String,
                    schema.CLUSTER_ID: pl.String,
                    schema.CLUSTER_SIZE: pl.Int32,
                }
            )
        frame = db.frame(
            "SELECT r.source, r.record_id, m.cluster_id, c.cluster_size FROM records r "
            "JOIN membership m USING (_row) JOIN clusters c USING (cluster_id) "
            "ORDER BY r._row"
        )
        return self._ids_out(frame, schema.RECORD_ID)

    def records(self, *, raw: bool = False) -> pl.DataFrame:
        """Return the stored records, standardised (or ``raw=True``: as their sources wrote them)."""
        db = self._readable()
        if not db.has_table("records"):
            return pl.DataFrame()
        if raw:
            frame = db.frame(
                "SELECT r.source, r.record_id, w.* EXCLUDE (_row) FROM raw_records w "
                "JOIN records r USING (_row) ORDER BY r._row"
            )
        else:
            frame = db.frame("SELECT * EXCLUDE (_row) FROM records ORDER BY _row")
        return self._ids_out(frame, schema.RECORD_ID)

    def history(self, cluster_id: str) -> pl.DataFrame:
        """Return the audit events that name ``cluster_id`` before or after, oldest first."""
        return self._readable().frame(
            "SELECT * FROM audit WHERE list_contains(clusters_before, ?) OR "
            "list_contains(clusters_after, ?) ORDER BY event_id",
            [cluster_id, cluster_id],
        )

    def audit(self) -> pl.DataFrame:
        """Return the whole audit log, oldest first."""
        return self._readable().frame("SELECT * FROM audit ORDER BY event_id")

    def decisions(self, *, active_only: bool = False) -> pl.DataFrame:
        """Return the stewards' decisions (standing ones only with ``active_only``)."""
        where = " WHERE active" if active_only else ""
        return self._readable().frame(
            f"SELECT * FROM decisions{where} ORDER BY decision_id"
        )

    def batches(self) -> pl.DataFrame:
        """Return one row per applied batch: counts, actor, model version, seconds."""
        return self._readable().frame("SELECT * FROM batches ORDER BY batch_id")

    def profiles(self) -> pl.DataFrame:
        """Return every batch's data-quality profile (no record values)."""
        return self._readable().frame(
            'SELECT * FROM profiles ORDER BY batch_id, stage, source, "column"'
        )

    def drift(self, config: MonitoringConfig | None = None) -> pl.DataFrame:
        """Compare the latest batch's data quality with the baseline; see :func:`~er_toolkit.master.monitoring.drift_report`.

        ``config`` defaults to the model's ``[monitoring]`` table.
        """
        return drift_report(self.profiles(), config or self.linker.config.monitoring)

    def export(self, folder: str | os.PathLike[str]) -> dict[str, Path]:
        """Write clusters, golden records, decisions, audit log and batches as Parquet files in ``folder``."""
        out = Path(folder)
        frames = {
            "clusters": self.clusters(),
            "golden": self.golden(),
            "decisions": self.decisions(),
            "audit": self.audit(),
            "batches": self.batches(),
            "profiles": self.profiles(),
        }
        return {
            name: write_parquet_atomic(frame, out / f"{name}.parquet")
            for name, frame in frames.items()
        }

    def counts(self) -> dict[str, int]:
        """Return how many records, clusters, links, decisions and events the store holds."""
        db = self._readable()
        tables = {
            "records": "records",
            "clusters": "clusters",
            "links": "pairs",
            "decisions": "decisions",
            "events": "audit",
            "batches": "batches",
        }
        return {
            name: int(db.scalar(f"SELECT count(*) FROM {table}"))
            if db.has_table(table)
            else 0
            for name, table in tables.items()
        }


def _check_format(db: Database, path: Path) -> None:
    """Refuse a store whose layout this version does not read, naming what to do."""
    version = db.meta().get("format_version")
    if (
        version is not None
        and version.isdigit()
        and int(version) in READABLE_FORMAT_VERSIONS
    ):
        return
    db.con.close()
    if version is not None and version.isdigit() and int(version) < FORMAT_VERSION:
        raise StoreError(
            f"The master store {str(path)!r} has format_version {version!r}, written "
            f"by an earlier er_toolkit; er_toolkit {__version__} reads format_version "
            f"{list(READABLE_FORMAT_VERSIONS)} (blocking keys as hashes, golden "
            "lineage as row numbers). Export its records with the earlier version "
            "(MasterStore.records(raw=True)) and apply them to a new store "
            "(MasterStore.init, then apply)."
        )
    raise StoreError(
        f"The master store {str(path)!r} has format_version {version!r}; "
        f"er_toolkit {__version__} reads format_version "
        f"{list(READABLE_FORMAT_VERSIONS)}."
    )


def dataclass_replace(summary: BatchSummary, **changes: Any) -> BatchSummary:
    """Return ``summary`` with ``changes``."""
    import dataclasses

    return dataclasses.replace(summary, **changes)


def _dtype(name: str) -> Any:
    return getattr(pl, name, pl.String) if name else pl.String


def _fsync_dir(folder: Path) -> None:
    with contextlib.suppress(OSError):
        fd = os.open(folder, os.O_RDONLY)
        try:
            os.fsync(fd)
        finally:
            os.close(fd)


def _frequencies(linker: Any, reference: Any) -> TermFrequencies:
    """Count term frequencies over a reference set of records, standardised by the model."""
    if isinstance(reference, TermFrequencies):
        return reference
    if isinstance(reference, Sequence) and all(
        isinstance(s, Source) for s in reference
    ):
        sources = list(reference)
    else:
        frame = read_frame(reference, name="term_frequencies")
        if schema.SOURCE in frame.columns:
            sources = [
                Source(str(n), p.drop(schema.SOURCE))
                for (n,), p in frame.group_by(schema.SOURCE, maintain_order=True)
            ]
        else:
            sources = [Source("reference", frame)]
    records = linker.prepare(sources).records
    return TermFrequencies.from_records(records, linker.config.comparisons)


def _orphaned_frequencies(
    db: Database, rows: np.ndarray, frequencies: TermFrequencies | None
) -> pl.DataFrame:
    """Return (comparison, value_hash) of erased values that no other stored record holds.

    Their frozen counts are dropped at erasure (such a value then has the
    frequency of an unseen one), so not even a hash of a value only the
    erased person had stays in the file; values others still hold keep
    their counts.
    """
    empty = pl.DataFrame(schema={"comparison": pl.String, "value_hash": pl.UInt64})
    if frequencies is None or not frequencies.columns or rows.size == 0:
        return empty
    gone_rows = pl.DataFrame({schema.ROW: rows})
    erased = db.frame(
        "SELECT * FROM records WHERE _row IN (SELECT _row FROM {rows})", rows=gone_rows
    )
    parts = [empty]
    for name, column in frequencies.columns.items():
        if column not in erased.columns:
            continue
        values = erased.get_column(column).drop_nulls().unique()
        if values.len() == 0:
            continue
        others = db.frame(
            f'SELECT "{column}" FROM records WHERE "{column}" IN '
            "(SELECT v FROM {values}) AND _row NOT IN (SELECT _row FROM {rows})",
            values=values.alias("v").to_frame(),
            rows=gone_rows,
        ).get_column(column)
        mine = _texts(values).drop_nulls().unique()
        held = _texts(others).drop_nulls().unique()
        only_mine = mine.filter(~mine.is_in(held.implode()))
        parts.append(
            pl.DataFrame(
                {
                    "comparison": pl.repeat(name, only_mine.len(), eager=True),
                    "value_hash": value_hashes(only_mine),
                }
            )
        )
    return pl.concat(parts, how="vertical_relaxed")


def _insert_model(
    db: Database,
    version: int,
    linker: Any,
    uri: str | None,
    frequencies: TermFrequencies | None,
    actor: str,
    reason: str,
    now: dt.datetime,
) -> None:
    db.execute(
        "INSERT INTO models VALUES (?, ?, ?, ?, ?, ?, ?)",
        [
            version,
            now,
            actor,
            reason,
            uri,
            json.dumps(linker.to_dict()),
            None if frequencies is None else json.dumps(frequencies.to_dict()),
        ],
    )
    if frequencies is not None:
        _insert_counts(db, version, frequencies)


def _insert_counts(db: Database, version: int, frequencies: TermFrequencies) -> None:
    counts = frequencies.counts.select(
        pl.lit(version, dtype=pl.Int32).alias("model_version"), pl.all()
    )
    if counts.height:
        db.execute("INSERT INTO term_frequencies BY NAME SELECT * FROM {c}", c=counts)


def _store_frequencies(
    db: Database, version: int, frequencies: TermFrequencies
) -> None:
    """Freeze ``frequencies`` for model ``version`` (the first batch's, when none were given)."""
    has = db.scalar(
        "SELECT term_frequencies IS NOT NULL FROM models WHERE model_version = ?",
        [version],
    )
    if has:
        return
    db.execute(
        "UPDATE models SET term_frequencies = ? WHERE model_version = ?",
        [json.dumps(frequencies.to_dict()), version],
    )
    _insert_counts(db, version, frequencies)


# keep the COMPONENT name importable from here for readers of the membership table
_ = COMPONENT
