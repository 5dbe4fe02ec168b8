"""Read sources from files and frames; write results atomically."""

from __future__ import annotations

import os
import tempfile
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import polars as pl

from er_toolkit import schema
from er_toolkit.exceptions import (
    DuplicateIdError,
    EmptyInputError,
    InputFormatError,
    SchemaError,
)

_CSV_SUFFIXES = (".csv", ".tsv", ".txt")
_PARQUET_SUFFIXES = (".parquet", ".pq")


def read_frame(data: Any, *, name: str = "input") -> pl.DataFrame:
    """Read ``data`` into a polars DataFrame.

    Parameters
    ----------
    data
        A path to a CSV/TSV or Parquet file, or a polars, pandas or Arrow table.
    name
        What to call the input in error messages.

    Returns
    -------
    polars.DataFrame
        The data, all columns kept as they are (CSV columns read as strings).

    Examples
    --------
    >>> read_frame(pl.DataFrame({"id": [1, 2]})).shape
    (2, 1)
    """
    if isinstance(data, pl.DataFrame):
        return data
    if isinstance(data, pl.LazyFrame):
        return data.collect()
    if isinstance(data, (str, os.PathLike)):
        return _read_path(Path(data), name=name)
    module = type(data).__module__.split(".")[0]
    if module in ("pandas", "pyarrow"):
        out = pl.from_pandas(data) if module == "pandas" else pl.from_arrow(data)
        if isinstance(out, pl.DataFrame):
            return out
    raise InputFormatError(
        f"{name}: expected a path to a CSV or Parquet file, or a polars, pandas or "
        f"Arrow table; got {type(data).__name__}."
    )


def _read_path(path: Path, *, name: str) -> pl.DataFrame:
    if not path.exists():
        raise InputFormatError(f"{name}: file {str(path)!r} does not exist.")
    suffix = path.suffix.lower()
    if suffix in _PARQUET_SUFFIXES:
        return pl.read_parquet(path)
    if suffix in _CSV_SUFFIXES:
        separator = "\t" if suffix == ".tsv" else ","
        try:
            return pl.read_csv(path, separator=separator, infer_schema=False)
        except pl.exceptions.NoDataError as exc:
            raise EmptyInputError(f"{name}: file {str(path)!r} is empty.") from exc
    raise InputFormatError(
        f"{name}: expected a file ending in .csv, .tsv, .txt, .parquet or .pq; "
        f"got {path.name!r}."
    )


@dataclass(frozen=True)
class Source:
    """One source system's records.

    Parameters
    ----------
    name
        The source's name, written to the ``source`` column.
    data
        A path or frame accepted by :func:`read_frame`.
    id_column
        The column holding each record's id, unique within the source.
    """

    name: str
    data: Any
    id_column: str = schema.RECORD_ID


def prepare_records(
    sources: Sequence[Source],
    *,
    columns: Sequence[str] = (),
    keep: Sequence[str] = (),
) -> pl.DataFrame:
    """Validate sources and stack them into one records frame.

    Every source must hold its id column and every column in ``columns``;
    ids must be non-null and unique within their source. The result has
    ``_row`` (dense UInt32, in source order), ``record_id`` (string),
    ``source``, then ``columns`` and ``keep`` (kept when present).

    Parameters
    ----------
    sources
        The sources, in order: in a link job the first is the left side.
    columns
        Columns the model needs; a source lacking one is an error.
    keep
        Columns to carry along where present (labels, for example).

    Returns
    -------
    polars.DataFrame
        The records frame.
    """
    if not sources:
        raise EmptyInputError("Expected at least one source; got none.")
    names = [s.name for s in sources]
    if len(set(names)) != len(names):
        raise SchemaError(f"Source names must be unique; got {names}.")
    frames = []
    for source in sources:
        frame = read_frame(source.data, name=f"source {source.name!r}")
        frames.append(_validate_source(frame, source, columns=columns, keep=keep))
    records = pl.concat(frames, how="diagonal_relaxed")
    return records.with_row_index(schema.ROW).with_columns(
        pl.col(schema.ROW).cast(pl.UInt32)
    )


def _validate_source(
    frame: pl.DataFrame,
    source: Source,
    *,
    columns: Sequence[str],
    keep: Sequence[str],
) -> pl.DataFrame:
    label = f"source {source.name!r}"
    reserved = (schema.ROW, schema.RECORD_ID, schema.SOURCE)
    clash = [
        c
        for c in dict.fromkeys([*columns, *keep])
        if c in reserved and not c == source.id_column == schema.RECORD_ID
    ]
    if clash:
        raise SchemaError(
            f"{label}: column(s) {clash} in columns/keep clash with the names "
            f"prepare_records writes {list(reserved)}; rename them first."
        )
    if frame.height == 0:
        raise EmptyInputError(f"{label} holds no records; expected at least one.")
    wanted = [source.id_column, *columns]
    missing = [c for c in dict.fromkeys(wanted) if c not in frame.columns]
    if missing:
        raise SchemaError(
            f"{label} lacks column(s) {missing}; its columns are {frame.columns}. "
            "Name the id column with id_column= and check the comparison columns."
        )
    ids = frame.get_column(source.id_column).cast(pl.String)
    n_null = ids.null_count()
    if n_null:
        raise SchemaError(
            f"{label}: id column {source.id_column!r} has {n_null} null value(s); "
            "every record needs an id."
        )
    dup = ids.filter(ids.is_duplicated()).unique(maintain_order=True)
    if dup.len():
        shown = dup.head(5).to_list()
        raise DuplicateIdError(
            f"{label}: id column {source.id_column!r} must be unique within the "
            f"source; {dup.len()} id(s) repeat, e.g. {shown}."
        )
    extra = [c for c in keep if c in frame.columns and c not in wanted]
    wanted_cols = [c for c in dict.fromkeys(columns) if c != source.id_column]
    out = frame.select(
        ids.alias(schema.RECORD_ID),
        pl.lit(source.name, dtype=pl.String).alias(schema.SOURCE),
        *[pl.col(c) for c in wanted_cols],
        *[pl.col(c) for c in extra],
    )
    if source.id_column in columns and source.id_column != schema.RECORD_ID:
        out = out.with_columns(frame.get_column(source.id_column))
    return out


def write_parquet_atomic(frame: pl.DataFrame, path: str | os.PathLike[str]) -> Path:
    """Write ``frame`` to ``path`` through a temporary file and a rename.

    Parameters
    ----------
    frame
        The frame to write.
    path
        The destination; its folder is created if missing.

    Returns
    -------
    pathlib.Path
        The path written.
    """
    target = Path(path)
    target.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(dir=target.parent, suffix=".tmp")
    os.close(fd)
    try:
        frame.write_parquet(tmp)
        os.replace(tmp, target)
    finally:
        if os.path.exists(tmp):
            os.remove(tmp)
    return target
