"""The pyfunc model's ``output="lookup"``: is each input record already in a master store.

``predict(records, params={"output": "lookup", "store": "<path>"})`` opens
the master store at ``path`` read-only, loads its lookup index, closes it
again (so the store's writer is never locked out by a served model) and
answers from that in-memory snapshot; the snapshot is kept per path and
loaded again when the store's file changes. The store must have been made
by the very model that is loaded (same declarations and fitted
parameters), or the lookup is refused.
"""

from __future__ import annotations

import hashlib
import json
import logging
import os
import threading
import weakref
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any, Final

import polars as pl

from er_toolkit import schema
from er_toolkit.exceptions import (
    ConfigError,
    SchemaError,
    StoreError,
    StoreLockedError,
    StoreModelError,
)

if TYPE_CHECKING:
    from er_toolkit.master.lookup import Lookups
    from er_toolkit.pipeline import Linker

log = logging.getLogger(__name__)

__all__ = ["LOOKUP_COLUMNS", "StoreLookups", "lookup_input", "model_fingerprint"]

MATCHED_SOURCE: Final = schema.MATCHED_PREFIX + schema.SOURCE
MATCHED_RECORD_ID: Final = schema.MATCHED_PREFIX + schema.RECORD_ID

LOOKUP_COLUMNS: Final = (
    schema.RECORD_ID,
    schema.SOURCE,
    schema.RANK,
    schema.CLUSTER_ID,
    schema.MATCH_PROBABILITY,
    schema.MATCH_WEIGHT,
    schema.IS_MATCH,
    MATCHED_SOURCE,
    MATCHED_RECORD_ID,
)
"""The leading columns of ``output="lookup"``, in order; the candidate
cluster's golden record follows, each column prefixed ``golden_``."""


def model_fingerprint(linker: Linker) -> str:
    """Return a digest of a fitted model's declarations and parameters.

    Two linkers have the same fingerprint when they would score and
    cluster alike: the digest covers the config and the fitted scorer,
    not the er_toolkit version that wrote them.
    """
    spec = linker.to_dict()
    body = {"config": spec["config"], "scorer": spec["scorer"]}
    text = json.dumps(body, sort_keys=True, separators=(",", ":"), default=str)
    return hashlib.sha256(text.encode()).hexdigest()[:16]


def _file_state(path: Path) -> tuple[object, ...]:
    """Return what a writer changes: inode, size and mtime of the file and its WAL."""
    out: list[object] = []
    for part in (path, path.with_name(path.name + ".wal")):
        try:
            st = part.stat()
        except FileNotFoundError:
            out.append(None)
            continue
        out.append((st.st_ino, st.st_size, st.st_mtime_ns))
    return tuple(out)


@dataclass(frozen=True)
class _Snapshot:
    state: tuple[object, ...]
    lookups: Lookups
    fingerprint: str
    model_uri: str | None


class StoreLookups:
    """The master stores a loaded model looks records up in, by path.

    Each store is opened read-only only while its lookup index loads, then
    closed: the model holds no lock between calls, so the store's writer
    can apply batches while the model serves. A call after the store's
    file changed loads the index again; if a writer has the store open at
    that moment, the last snapshot answers (and a warning is logged), or
    :class:`~er_toolkit.exceptions.StoreLockedError` is raised when there
    is none yet. Safe to share between threads.
    """

    def __init__(self) -> None:
        self._snapshots: dict[Path, _Snapshot] = {}
        self._fingerprints: weakref.WeakKeyDictionary[Linker, str] = (
            weakref.WeakKeyDictionary()
        )
        self._lock = threading.Lock()

    def __repr__(self) -> str:
        return f"StoreLookups({len(self._snapshots)} store(s) loaded)"

    def get(self, path: str | os.PathLike[str], linker: Linker) -> Lookups:
        """Return the lookups of the store at ``path``, checked against ``linker``.

        Raises
        ------
        StoreError
            No master store at ``path``.
        StoreModelError
            The store's current model is not ``linker``.
        StoreLockedError
            A writer holds the store and no earlier snapshot exists.
        """
        where = Path(path).expanduser().absolute()
        if not where.is_file():
            raise StoreError(
                f"params['store'] must be the path of a master store's DuckDB file; "
                f"got {str(path)!r}, where no file exists."
            )
        with self._lock:
            snapshot = self._snapshots.get(where)
            state = _file_state(where)
            if snapshot is None or snapshot.state != state:
                try:
                    snapshot = self._load(where, state)
                except StoreLockedError:
                    if snapshot is None:
                        raise
                    log.warning(
                        "Master store %s is open for writing; looking up in its "
                        "state before that write.",
                        where,
                    )
                else:
                    self._snapshots[where] = snapshot
            expected = self._fingerprints.get(linker)
            if expected is None:
                expected = self._fingerprints[linker] = model_fingerprint(linker)
        if snapshot.fingerprint != expected:
            origin = f" (from {snapshot.model_uri})" if snapshot.model_uri else ""
            raise StoreModelError(
                f"The master store {str(where)!r} was made by another model than "
                f"the one loaded: expected a store of model {linker.config.name!r} "
                f"with fingerprint {expected}; found model version "
                f"{snapshot.lookups.model_version} of "
                f"{snapshot.lookups.linker.config.name!r}{origin} with fingerprint "
                f"{snapshot.fingerprint}. Look up with the model the store was made "
                "by, or move the store to this model (MasterStore.set_model)."
            )
        return snapshot.lookups

    @staticmethod
    def _load(path: Path, state: tuple[object, ...]) -> _Snapshot:
        from er_toolkit.master import MasterStore

        with MasterStore.open(path, read_only=True) as store:
            lookups = store.lookups()
            uri = store.model_uri
        return _Snapshot(state, lookups, model_fingerprint(lookups.linker), uri)


def _source_column(linker: Linker, frame: pl.DataFrame, source: str) -> pl.DataFrame:
    """Give the frame a text ``source`` column (null where the input names none)."""
    if source and schema.SOURCE in frame.columns:
        raise ConfigError(
            "The input names its sources twice: in a 'source' column and in "
            "params['source']; give one of them."
        )
    if source:
        return frame.with_columns(pl.lit(source, dtype=pl.String).alias(schema.SOURCE))
    if schema.SOURCE in frame.columns:
        return frame.with_columns(pl.col(schema.SOURCE).cast(pl.String))
    trained = [s.name for s in linker.config.sources]
    # a model of one source: its records are that source's; else none is named
    name = trained[0] if len(trained) == 1 else None
    return frame.with_columns(pl.lit(name, dtype=pl.String).alias(schema.SOURCE))


def _input_ids(linker: Linker, frame: pl.DataFrame) -> pl.Series:
    """Return each input record's id, from its source's trained id column."""
    from er_toolkit.track.pyfunc import _default_id_column, id_columns

    by_name = id_columns(linker)
    default = _default_id_column(linker)
    wanted = list(dict.fromkeys([default, *by_name.values()]))
    missing = [c for c in wanted if c not in frame.columns]
    if missing:
        raise SchemaError(
            f"A lookup's input needs the id column(s) the model was trained with, "
            f"{wanted}; {missing} not found in the input's columns {frame.columns}."
        )
    expr = pl.col(default)
    for name, column in by_name.items():
        if column != default:
            expr = (
                pl.when(pl.col(schema.SOURCE) == name)
                .then(pl.col(column))
                .otherwise(expr)
            )
    ids = frame.select(expr.alias(schema.RECORD_ID)).to_series()
    if ids.null_count():
        raise SchemaError(
            f"The input's id column {default!r} has {ids.null_count()} null value(s); "
            "every record looked up needs an id."
        )
    return ids


def lookup_input(
    linker: Linker,
    records: pl.DataFrame,
    settings: Mapping[str, Any],
    stores: StoreLookups,
) -> pl.DataFrame:
    """Look every input record up in the master store ``settings["store"]``.

    Parameters
    ----------
    linker
        The loaded model; the store must have been made by it.
    records
        The input records: the trained id column and the columns the model
        reads (those missing count as null); ``source`` matters only for a
        ``link`` model (only other sources' records match).
    settings
        The checked params: ``store``, ``source``, ``top`` (0: all
        candidates), ``min_probability``, ``threshold`` (``is_match`` is a
        match probability at or above it; absent: the model's threshold).
    stores
        The loaded model's store snapshots.

    Returns
    -------
    polars.DataFrame
        :data:`LOOKUP_COLUMNS` then ``golden_<column>`` for each golden-record
        column: one row per candidate cluster of each record, best first
        (``rank`` 1), or one row with null ``cluster_id`` and ``rank`` (and
        ``is_match`` false) for a record with no candidate. ``record_id``
        keeps its input type; ``matched_record_id`` (the best-matching stored
        member) and golden lineage ids come back in the store's id type.
    """
    from er_toolkit.master.lookup import GOLDEN, IS_MATCH, LOOKUP_SOURCE, QUERY

    path = str(settings.get("store") or "")
    if not path:
        raise ConfigError(
            "params['output'] = 'lookup' needs params['store'], the path of a "
            "master store's DuckDB file made by this model; got none."
        )
    lookups = stores.get(path, linker)
    frame = _source_column(linker, records, str(settings.get("source") or ""))
    ids = _input_ids(linker, frame)
    named = frame.get_column(schema.SOURCE)
    # a record of no named source is compared with every stored record
    query = frame.with_columns(pl.col(schema.SOURCE).fill_null(LOOKUP_SOURCE))
    top = int(settings.get("top") or 0)
    threshold = settings.get("threshold")
    found = lookups.lookup(
        query,
        top=top or None,
        min_probability=float(settings.get("min_probability") or 0.0),
    )
    golden = found.get_column(GOLDEN)
    golden_frame = (
        golden.struct.unnest()
        if isinstance(golden.dtype, pl.Struct)
        else pl.DataFrame(height=found.height)
    )
    dtype = getattr(pl, lookups.id_dtype, pl.String)
    golden_frame = golden_frame.select(
        (
            pl.col(c).cast(dtype, strict=False)
            if c.endswith(schema.lineage("", "record_id"))
            else pl.col(c)
        ).alias(schema.GOLDEN_PREFIX + c)
        for c in golden_frame.columns
        if c != schema.CLUSTER_ID and not c.startswith("_")
    )
    candidates = pl.concat(
        [
            found.select(
                QUERY,
                (pl.int_range(pl.len()).over(QUERY) + 1)
                .cast(pl.Int32)
                .alias(schema.RANK),
                schema.CLUSTER_ID,
                schema.MATCH_PROBABILITY,
                schema.MATCH_WEIGHT,
                (
                    pl.col(schema.MATCH_PROBABILITY) >= threshold
                    if threshold is not None
                    else pl.col(IS_MATCH)
                ).alias(schema.IS_MATCH),
                pl.col(schema.SOURCE).alias(MATCHED_SOURCE),
                pl.col(schema.RECORD_ID).alias(MATCHED_RECORD_ID),
            ),
            golden_frame,
        ],
        how="horizontal",
    )
    inputs = pl.DataFrame(
        {
            QUERY: pl.int_range(frame.height, dtype=pl.Int64, eager=True),
            schema.RECORD_ID: ids,
            schema.SOURCE: named,
        }
    )
    return (
        inputs.join(candidates, on=QUERY, how="left", maintain_order="left")
        .sort(QUERY, schema.RANK, nulls_last=True, maintain_order=True)
        .with_columns(pl.col(schema.IS_MATCH).fill_null(False))
        .drop(QUERY)
    )
