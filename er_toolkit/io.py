"""Read sources from files and frames; write results atomically."""

from __future__ import annotations

import json
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
    ErToolkitError,
    InputFormatError,
    ModelFormatError,
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


def load_source(source: Any, *, base_dir: Path) -> Source:
    """Turn a ``[[sources]]`` declaration (:class:`~er_toolkit.config.SourceConfig`) into a :class:`Source`.

    A ``dataset`` source reads a shipped benchmark set
    (:func:`er_toolkit.datasets.load_febrl`); a ``path`` is read relative to
    ``base_dir`` (the config file's folder).
    """
    if source.dataset is not None:
        from er_toolkit.datasets import load_febrl

        frames = load_febrl(source.dataset)
        return Source(source.name, frames[source.part], id_column=source.id_column)
    path = Path(str(source.path))
    if not path.is_absolute():
        path = base_dir / path
    return Source(source.name, path, id_column=source.id_column)


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
    ``_row`` (dense UInt32, in source order), ``record_id`` (the ids in
    their own type: integers stay integers, so results join back to the
    caller's frames; sources whose id types differ are read as text),
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
    id_types = {f.schema[schema.RECORD_ID] for f in frames}
    if len(id_types) > 1:
        frames = [
            f.with_columns(pl.col(schema.RECORD_ID).cast(pl.String)) for f in frames
        ]
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
    ids = frame.get_column(source.id_column)
    if not (ids.dtype.is_integer() or ids.dtype == pl.String):
        ids = ids.cast(pl.String)
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


def write_json_atomic(data: Any, path: str | os.PathLike[str]) -> Path:
    """Write ``data`` as indented JSON through a temporary file, fsync and rename.

    A reader sees the old file or the new one, never half of one.

    Examples
    --------
    >>> import tempfile
    >>> folder = tempfile.mkdtemp()
    >>> read_json(write_json_atomic({"a": 1}, Path(folder) / "m.json"))
    {'a': 1}
    """
    target = Path(path)
    target.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(
        dir=target.parent, prefix=f".{target.name}.", suffix=".tmp"
    )
    try:
        with os.fdopen(fd, "w", encoding="utf-8") as handle:
            json.dump(data, handle, indent=2)
            handle.flush()
            os.fsync(handle.fileno())
        _apply_umask(tmp)
        os.replace(tmp, target)
    finally:
        if os.path.exists(tmp):
            os.remove(tmp)
    return target


def read_json(
    path: str | os.PathLike[str],
    *,
    name: str = "model file",
    error: type[ErToolkitError] = ModelFormatError,
) -> Any:
    """Read a JSON file, with one-line errors for a missing, binary or invalid file.

    Raises
    ------
    ModelFormatError
        (or ``error``) If the file does not exist, is not text, or is not JSON.
    """
    file = Path(path)
    if not file.is_file():
        what = "is a folder" if file.is_dir() else "does not exist"
        raise error(f"{name} {str(file)!r} {what}; expected a JSON file.")
    raw = file.read_bytes()
    if b"\x00" in raw[:8192]:
        raise error(f"{name} {str(file)!r} is a binary file; expected JSON text.")
    try:
        return json.loads(raw.decode("utf-8"))
    except UnicodeDecodeError as exc:
        raise error(
            f"{name} {str(file)!r} is not UTF-8 text (bad byte at offset {exc.start}); "
            "expected JSON."
        ) from exc
    except json.JSONDecodeError as exc:
        raise error(
            f"{name} {str(file)!r} is not valid JSON: {exc.msg} at line {exc.lineno}, "
            f"column {exc.colno}."
        ) from exc


def _apply_umask(path: str) -> None:
    """Give a file made by mkstemp (mode 0600) the mode the user's umask allows."""
    mask = os.umask(0)
    os.umask(mask)
    os.chmod(path, 0o666 & ~mask)
