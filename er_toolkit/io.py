"""Read sources from files and frames; write results atomically."""

from __future__ import annotations

import codecs
import contextlib
import errno
import hashlib
import json
import os
import re
import secrets
import shutil
from collections.abc import Iterator, Mapping, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any, Final

import numpy as np
import polars as pl

from er_toolkit import __version__, schema
from er_toolkit.exceptions import (
    DuplicateIdError,
    EmptyInputError,
    ErToolkitError,
    InputFormatError,
    ModelFormatError,
    OutputError,
    SchemaError,
)

_CSV_SUFFIXES = (".csv", ".tsv", ".txt")
_PARQUET_SUFFIXES = (".parquet", ".pq")
_SCAN_CHUNK: Final = 1 << 24
"""Bytes of a CSV file checked at a time (16 MiB)."""
_QUOTE: Final = ord('"')
_NEWLINE: Final = ord("\n")
_CR: Final = ord("\r")
_BINARY_MAGIC: Final = (
    (b"PAR1", "a Parquet file"),
    (b"PK\x03\x04", "a zip archive (xlsx, skops, ...)"),
    (b"\x1f\x8b", "a gzip archive"),
    (b"SQLite format 3\x00", "an SQLite database"),
    (b"\x89PNG", "a PNG image"),
    (b"%PDF", "a PDF document"),
    (b"\xd0\xcf\x11\xe0", "an old Office document (xls, doc)"),
    (b"\x80\x02", "a Python pickle"),
    (b"\x80\x03", "a Python pickle"),
    (b"\x80\x04", "a Python pickle"),
    (b"\x80\x05", "a Python pickle"),
    (b"\xff\xfe", "UTF-16 text"),
    (b"\xfe\xff", "UTF-16 text"),
)


def binary_kind(head: bytes) -> str | None:
    r"""Say what a file that starts with ``head`` is, when it is not text.

    Examples
    --------
    >>> binary_kind(b"PAR1\x15\x04"), binary_kind(b"name,dob\n")
    ('a Parquet file', None)
    """
    for magic, kind in _BINARY_MAGIC:
        if head.startswith(magic):
            return kind
    if b"\x00" in head[:8192]:
        return "binary data (it holds NUL bytes)"
    return None


def read_text_file(
    path: str | os.PathLike[str],
    *,
    what: str,
    error: type[ErToolkitError] = InputFormatError,
) -> str:
    """Return a UTF-8 text file's content, or raise ``error`` saying why not.

    A missing path, a folder, an unreadable file, a binary file (Parquet,
    zip, pickle, ...) and invalid UTF-8 (with the offset of the first bad
    byte) each get a one-line message; the content is never quoted.

    Parameters
    ----------
    path
        The file.
    what
        What the file is, for the message (``"Model file"``).
    error
        The exception class to raise.

    Returns
    -------
    str
        The text, a UTF-8 byte-order mark removed.
    """
    file = Path(path)
    label = f"{what} {str(file)!r}"
    if not file.exists():
        raise error(f"{label} does not exist.")
    if file.is_dir():
        raise error(f"{label} is a folder; expected a file.")
    try:
        raw = file.read_bytes()
    except OSError as exc:
        raise error(f"{label} cannot be read: {exc.strerror or exc}.") from None
    kind = binary_kind(raw[:8192])
    if kind is not None:
        raise error(f"{label} is {kind}, not a text file; give the right file.")
    try:
        return raw.decode("utf-8-sig")
    except UnicodeDecodeError as exc:
        raise error(
            f"{label} is not valid UTF-8 text: the first bad byte is at offset "
            f"{exc.start}."
        ) from None


def read_frame(
    data: Any, *, name: str = "input", encoding: str = "utf8"
) -> pl.DataFrame:
    """Read ``data`` into a polars DataFrame.

    Every failure is an :class:`~er_toolkit.exceptions.ErToolkitError` with a
    one-line message that names the line, byte offset or column at fault
    and never quotes a record's values.

    Parameters
    ----------
    data
        A path to a CSV/TSV or Parquet file, or a polars, pandas or Arrow table.
    name
        What to call the input in error messages.
    encoding
        The text encoding of a CSV file: ``"utf8"`` (the default; invalid
        bytes are an error naming their offset), ``"utf8-lossy"`` (invalid
        bytes become U+FFFD) or any codec Python knows (``"windows-1252"``,
        ``"latin-1"``, ``"utf-16"``).

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
        try:
            return data.collect()
        except pl.exceptions.PolarsError as exc:
            raise InputFormatError(
                f"{name}: the LazyFrame could not be collected ({type(exc).__name__})."
            ) from None
    if isinstance(data, (str, os.PathLike)):
        return _read_path(Path(data), name=name, encoding=encoding)
    module = type(data).__module__.split(".")[0]
    if module in ("pandas", "pyarrow"):
        out = _from_foreign(data, module=module, name=name)
        if isinstance(out, pl.DataFrame):
            return out
    raise InputFormatError(
        f"{name}: expected a path to a CSV or Parquet file, or a polars, pandas or "
        f"Arrow table; got {type(data).__name__}."
    )


def _from_foreign(data: Any, *, module: str, name: str) -> pl.DataFrame | pl.Series:
    """Convert a pandas or Arrow table, naming (not quoting) a column that fails."""
    convert = pl.from_pandas if module == "pandas" else pl.from_arrow
    try:
        return convert(data)
    except Exception:  # pyarrow raises several kinds for a mixed-type column
        pass
    columns = [
        str(c) for c in getattr(data, "columns", getattr(data, "column_names", []))
    ]
    for column in columns:
        try:
            convert(data[[column]] if module == "pandas" else data.select([column]))
        except Exception:
            raise InputFormatError(
                f"{name}: column {column!r} could not be converted to a polars "
                "column; it mixes types (numbers and strings, say). Give each "
                "column one type."
            ) from None
    raise InputFormatError(
        f"{name}: the {module} table could not be converted to a polars frame."
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
    return Source(
        source.name,
        path,
        id_column=source.id_column,
        encoding=getattr(source, "encoding", None) or "utf8",
    )


def _read_path(path: Path, *, name: str, encoding: str = "utf8") -> pl.DataFrame:
    label = f"{name}: file {str(path)!r}"
    if not path.exists():
        raise InputFormatError(f"{label} does not exist.")
    if path.is_dir():
        raise InputFormatError(f"{label} is a folder; expected a file.")
    suffix = path.suffix.lower()
    if suffix not in (*_PARQUET_SUFFIXES, *_CSV_SUFFIXES):
        raise InputFormatError(
            f"{name}: expected a file ending in .csv, .tsv, .txt, .parquet or .pq; "
            f"got {path.name!r}."
        )
    if not os.access(path, os.R_OK):
        raise InputFormatError(f"{label} cannot be read (permission denied).")
    if suffix in _PARQUET_SUFFIXES:
        return _read_parquet(path, label=label)
    separator = "\t" if suffix == ".tsv" else ","
    return _read_csv(path, label=label, separator=separator, encoding=encoding)


def _read_parquet(path: Path, *, label: str) -> pl.DataFrame:
    try:
        return pl.read_parquet(path)
    except BaseException as exc:  # pyo3 panics are BaseExceptions
        if not _is_library_error(exc):
            raise
        raise InputFormatError(
            f"{label} is not a readable Parquet file: it is truncated or corrupt "
            f"({type(exc).__name__})."
        ) from None


def _is_library_error(exc: BaseException) -> bool:
    """Whether ``exc`` is an error a reader raised (not an interrupt or exit)."""
    if isinstance(exc, (KeyboardInterrupt, SystemExit, MemoryError)):
        return False
    return isinstance(exc, Exception) or type(exc).__name__ == "PanicException"


def _utf8_lossy(encoding: str) -> bool:
    return encoding.lower().replace("-", "").replace("_", "") == "utf8lossy"


def _read_csv(path: Path, *, label: str, separator: str, encoding: str) -> pl.DataFrame:
    """Read a CSV file as strings, after checking its encoding and shape."""
    normal = encoding.lower().replace("-", "").replace("_", "")
    source: Path | bytes = path
    if normal not in ("utf8", "utf8lossy"):
        try:
            codec = codecs.lookup(encoding)
        except LookupError:
            raise InputFormatError(
                f"Unknown encoding {encoding!r}; give a codec Python knows, such as "
                "'utf8', 'utf8-lossy', 'windows-1252', 'latin-1' or 'utf-16'."
            ) from None
        try:
            source = path.read_bytes().decode(codec.name).encode("utf-8")
        except UnicodeDecodeError as exc:
            raise InputFormatError(
                f"{label} is not valid {codec.name}: the first bad byte is at offset "
                f"{exc.start}."
            ) from None
    else:
        with path.open("rb") as handle:
            kind = binary_kind(handle.read(8192))
        if kind is not None:
            raise InputFormatError(
                f"{label} is {kind}, not a CSV file; give a CSV or Parquet file "
                "with the right suffix."
            )
    n_data, blank = _check_csv_shape(
        source, label=label, separator=ord(separator), check_utf8=normal == "utf8"
    )
    try:
        frame = pl.read_csv(
            source,
            separator=separator,
            infer_schema=False,
            encoding="utf8-lossy" if normal == "utf8lossy" else "utf8",
        )
    except pl.exceptions.NoDataError:
        raise EmptyInputError(f"{label} is empty.") from None
    except BaseException as exc:
        if not _is_library_error(exc):
            raise
        # polars' messages quote the offending row: never pass them on.
        raise InputFormatError(
            f"{label} could not be parsed as CSV ({type(exc).__name__}); check its "
            "quoting and separator."
        ) from None
    _check_header(frame, label=label)
    if frame.height != n_data:
        raise InputFormatError(
            f"{label} could not be parsed consistently ({frame.height:,} records "
            f"read, {n_data:,} lines counted): check quotes around fields that "
            "hold line breaks."
        )
    if blank.size:
        keep = np.ones(frame.height, dtype=bool)
        keep[blank] = False
        frame = frame.filter(pl.Series(keep))
    return frame


_DUPLICATED = re.compile(r"(.*)_duplicated_\d+")


def _check_header(frame: pl.DataFrame, *, label: str) -> None:
    names = set(frame.columns)
    for column in frame.columns:
        match = _DUPLICATED.fullmatch(column)
        if match and match.group(1) in names:
            raise InputFormatError(
                f"{label}: the header names column {match.group(1)!r} more than "
                "once; give each column its own name."
            )


def _chunks(source: Path | bytes) -> Iterator[bytes]:
    if isinstance(source, bytes):
        for start in range(0, len(source), _SCAN_CHUNK):
            yield source[start : start + _SCAN_CHUNK]
        return
    with source.open("rb") as handle:
        while chunk := handle.read(_SCAN_CHUNK):
            yield chunk


def _check_csv_shape(
    source: Path | bytes, *, label: str, separator: int, check_utf8: bool = True
) -> tuple[int, np.ndarray]:
    """Check that every record has the header's field count; find blank lines.

    A vectorised pass over the bytes, a chunk at a time: a quote toggles
    "inside a quoted field"; separators and line ends outside quotes count.
    Raises naming the first record (by its line number) with too few or too
    many fields, an unclosed quote, a NUL byte, or (with ``check_utf8``) the
    offset of the first byte that is not UTF-8 (polars lets some through, in
    the header for one). Blank lines before the header are skipped, as
    polars skips them; later ones are not records.

    Returns
    -------
    tuple
        The number of data records (blank lines included, as polars reads
        them), and the 0-based indices of the blank ones among them.
    """
    offset = 0
    parity = 0  # inside a quoted field at the end of the last chunk
    open_seps = 0  # separators in the record still open at the chunk's end
    open_len = 0  # bytes of that record
    open_last = -1  # its last byte
    line = 1  # physical line where the open record starts
    lines_seen = 0  # newlines before this chunk
    expected = -1  # fields in the header (-1: header not reached yet)
    n_data = 0  # data records finished
    blanks: list[np.ndarray] = []

    def fail(at_line: int, fields: int) -> InputFormatError:
        return InputFormatError(
            f"{label}: line {at_line} has {fields} field(s) but the header has "
            f"{expected}; check the separator and quotes on that line."
        )

    tail = b""  # the start of a character cut by the chunk's end
    for chunk in _chunks(source):
        if check_utf8:
            data = tail + chunk if tail else chunk
            try:
                _, used = codecs.utf_8_decode(data, "strict", False)
            except UnicodeDecodeError as exc:
                at = exc.start - len(tail)  # in this chunk (negative: in the tail)
                bad_line = lines_seen + chunk.count(b"\n", 0, max(at, 0)) + 1
                raise InputFormatError(
                    f"{label} is not valid UTF-8: the first bad byte is at offset "
                    f"{offset + at} (line {bad_line}). Give its encoding (encoding="
                    "'windows-1252' in Python, --encoding on the command line) or "
                    "'utf8-lossy'."
                ) from None
            tail = data[used:]
        nul = chunk.find(b"\x00")
        if nul >= 0:
            nul_line = lines_seen + chunk.count(b"\n", 0, nul) + 1
            raise InputFormatError(
                f"{label} holds a NUL byte at offset {offset + nul} (line "
                f"{nul_line}): binary data, not CSV text."
            )
        b = np.frombuffer(chunk, dtype=np.uint8)
        quoted = bool(parity) or chunk.find(b'"') >= 0
        quotes = np.flatnonzero(b == _QUOTE) if quoted else np.empty(0, np.int64)
        newlines = np.flatnonzero(b == _NEWLINE)
        ends, seps = newlines, np.flatnonzero(b == separator)
        if quoted:
            # outside quotes: an even number of quotes before (with the carry)
            ends = ends[((np.searchsorted(quotes, ends) + parity) & 1) == 0]
            seps = seps[((np.searchsorted(quotes, seps) + parity) & 1) == 0]
        if ends.size:
            before = np.searchsorted(seps, ends)
            fields = np.diff(before, prepend=0) + 1
            fields[0] += open_seps
            lengths = ends - np.r_[0, ends[:-1] + 1]
            lengths[0] += open_len
            last = b[np.maximum(ends - 1, 0)].astype(np.int64)
            if ends[0] == 0:
                last[0] = open_last
            blank = (lengths == 0) | ((lengths == 1) & (last == _CR))
            if ends.size == newlines.size:  # no line break inside quotes
                end_lines = lines_seen + np.arange(1, ends.size + 1)
            else:
                end_lines = lines_seen + np.searchsorted(newlines, ends, side="right")
            start_lines = np.r_[line, end_lines[:-1] + 1]
            first = 0
            if expected < 0:
                filled = np.flatnonzero(~blank)
                if filled.size:
                    first = int(filled[0]) + 1
                    expected = int(fields[first - 1])
                else:
                    first = ends.size
            rest = slice(first, None)
            bad = np.flatnonzero((fields[rest] != expected) & ~blank[rest])
            if bad.size:
                at = first + int(bad[0])
                raise fail(int(start_lines[at]), int(fields[at]))
            blanks.append(n_data + np.flatnonzero(blank[rest]))
            n_data += ends.size - first
            line = int(end_lines[-1]) + 1
            open_seps = int(seps.size - before[-1])
            open_len = len(b) - int(ends[-1]) - 1
        else:
            open_seps += int(seps.size)
            open_len += len(b)
        if len(b):
            open_last = int(b[-1])
        parity = (parity + quotes.size) & 1
        lines_seen += newlines.size
        offset += len(b)
    if tail:
        raise InputFormatError(
            f"{label} is not valid UTF-8: it ends inside a character (offset "
            f"{offset - len(tail)})."
        )
    if parity:
        raise InputFormatError(
            f"{label}: a quoted field opened on line {line} is never closed; check "
            "the quotes on that line."
        )
    if open_len > 0 and not (open_len == 1 and open_last == _CR) and expected >= 0:
        if open_seps + 1 != expected:
            raise fail(line, open_seps + 1)
        n_data += 1
    found = np.concatenate(blanks) if blanks else np.empty(0, dtype=np.int64)
    return n_data, found


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
    encoding
        The text encoding of a CSV ``data`` path (see :func:`read_frame`).
    """

    name: str
    data: Any
    id_column: str = schema.RECORD_ID
    encoding: str = "utf8"


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
        frame = read_frame(
            source.data, name=f"source {source.name!r}", encoding=source.encoding
        )
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


def check_reserved_names(
    source: Source, *, columns: Sequence[str], keep: Sequence[str]
) -> None:
    """Refuse compared or kept columns named as the columns ``prepare_records`` writes.

    Every engine's source validation calls this (it reads names only).
    """
    reserved = (schema.ROW, schema.RECORD_ID, schema.SOURCE)
    clash = [
        c
        for c in dict.fromkeys([*columns, *keep])
        if c in reserved and not c == source.id_column == schema.RECORD_ID
    ]
    if clash:
        raise SchemaError(
            f"source {source.name!r}: column(s) {clash} in columns/keep clash with "
            f"the names prepare_records writes {list(reserved)}; rename them first."
        )


def check_source_columns(
    source: Source, present: Sequence[str], *, columns: Sequence[str]
) -> None:
    """Refuse a source lacking its id column or a compared column.

    Every engine's source validation calls this (it reads names only).
    """
    wanted = [source.id_column, *columns]
    missing = [c for c in dict.fromkeys(wanted) if c not in present]
    if missing:
        hint = ""
        if len(present) == 1 and any(s in present[0] for s in ";\t|"):
            hint = " It has one column whose name holds ';', '|' or a tab: is that the separator?"
        raise SchemaError(
            f"source {source.name!r} lacks column(s) {missing}; its columns are "
            f"{list(present)}. Name the id column with id_column= and check the "
            "comparison columns." + hint
        )


def _validate_source(
    frame: pl.DataFrame,
    source: Source,
    *,
    columns: Sequence[str],
    keep: Sequence[str],
) -> pl.DataFrame:
    label = f"source {source.name!r}"
    check_reserved_names(source, columns=columns, keep=keep)
    if frame.height == 0:
        raise EmptyInputError(f"{label} holds no records; expected at least one.")
    check_source_columns(source, frame.columns, columns=columns)
    wanted = [source.id_column, *columns]
    check_ids(frame.get_column(source.id_column), label=label)
    odd = {
        c: frame.schema[c]
        for c in dict.fromkeys(columns)
        if c != source.id_column
        and (frame.schema[c].is_nested() or frame.schema[c] in (pl.Object, pl.Binary))
    }
    if odd:
        named = ", ".join(f"{c!r} ({dtype})" for c, dtype in odd.items())
        raise SchemaError(
            f"{label}: column(s) {named} hold nested, binary or object values; "
            "comparisons and blocking need one text, number or date per record."
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
    # counting distinct ids is half the cost of marking the repeats, which
    # are found only when there are some
    if ids.n_unique() != ids.len():
        dup = ids.filter(ids.is_duplicated()).unique(maintain_order=True)
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


def check_ids(ids: pl.Series, *, label: str) -> None:
    """Check an id column: one scalar id per record, none null, NaN or blank.

    The check does not depend on the ids' type (strings, integers, ...):
    nested values (lists, structs), Python objects and binary are refused,
    as are null, NaN, infinite and blank ids. Uniqueness is checked apart.

    Raises
    ------
    SchemaError
        Naming the column, the problem and how many ids have it (never the
        values).

    Examples
    --------
    >>> check_ids(pl.Series("id", [3, 1, 2]), label="crm")
    >>> check_ids(pl.Series("id", [1.0, float("nan")]), label="crm")
    Traceback (most recent call last):
    ...
    er_toolkit.exceptions.SchemaError: crm: id column 'id' has 1 NaN or infinite value(s); every record needs a usable id.
    """
    column = ids.name
    dtype = ids.dtype
    if dtype.is_nested() or dtype in (pl.Object, pl.Binary):
        raise SchemaError(
            f"{label}: id column {column!r} holds {dtype} values; expected one "
            "string or integer id per record."
        )
    n_null = ids.null_count()
    if n_null:
        raise SchemaError(
            f"{label}: id column {column!r} has {n_null} null value(s); "
            "every record needs an id."
        )
    if dtype.is_float():
        n_bad = int((~ids.is_finite()).sum())
        if n_bad:
            raise SchemaError(
                f"{label}: id column {column!r} has {n_bad} NaN or infinite "
                "value(s); every record needs a usable id."
            )
    if dtype == pl.String or isinstance(dtype, (pl.Categorical, pl.Enum)):
        text = ids.cast(pl.String)
        n_blank = int((text.str.strip_chars().str.len_chars() == 0).sum())
        if n_blank:
            raise SchemaError(
                f"{label}: id column {column!r} has {n_blank} blank value(s); "
                "every record needs an id."
            )


# --------------------------------------------------------------------------- #
# atomic writes
# --------------------------------------------------------------------------- #
def _temporary_name(target: Path, kind: str) -> Path:
    """Return a fresh hidden name beside ``target`` (same folder: rename is atomic)."""
    return target.parent / f".{target.name}.er-{kind}-{secrets.token_hex(6)}"


def _fsync_path(path: Path, *, folder: bool = False) -> None:
    flags = os.O_RDONLY | (getattr(os, "O_DIRECTORY", 0) if folder else 0)
    try:
        fd = os.open(path, flags)
    except OSError:
        if folder:  # some platforms cannot open folders; rename is still atomic
            return
        raise
    try:
        os.fsync(fd)
    except OSError as exc:
        if not folder or exc.errno not in (errno.EINVAL, errno.EBADF):
            raise
    finally:
        os.close(fd)


def _write_file_atomic(target: Path, write: Any) -> Path:
    """Write through a temporary file beside ``target``, fsync, then rename.

    The temporary file is made with the user's umask (not mkstemp's 0600),
    removed on any failure, and the folder is fsynced after the rename.
    """
    target.parent.mkdir(parents=True, exist_ok=True)
    if target.is_dir():
        raise OutputError(f"Cannot write {str(target)!r}: it is a folder.")
    tmp = _temporary_name(target, "tmp")
    try:
        write(tmp)
        _fsync_path(tmp)
        os.replace(tmp, target)
    except BaseException:
        with contextlib.suppress(OSError):
            os.remove(tmp)
        raise
    _fsync_path(target.parent, folder=True)
    return target


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
    return _write_file_atomic(Path(path), lambda tmp: frame.write_parquet(tmp))


def write_csv_atomic(frame: pl.DataFrame, path: str | os.PathLike[str]) -> Path:
    """Write ``frame`` as CSV to ``path`` through a temporary file and a rename."""
    return _write_file_atomic(Path(path), lambda tmp: frame.write_csv(tmp))


def write_json_atomic(
    data: Any, path: str | os.PathLike[str], *, indent: int | None = 2
) -> Path:
    """Write ``data`` as strict JSON to ``path``, atomically (temp file, fsync, rename).

    A reader sees the old file or the new one, never half of one.

    Raises
    ------
    OutputError
        If ``data`` holds a NaN or infinity (strict JSON has none).

    Examples
    --------
    >>> import tempfile
    >>> folder = Path(tempfile.mkdtemp())
    >>> path = write_json_atomic({"a": 1}, folder / "m.json")
    >>> json.loads(path.read_text()), sorted(p.name for p in folder.iterdir())
    ({'a': 1}, ['m.json'])
    """
    try:
        text = json.dumps(data, indent=indent, allow_nan=False)
    except ValueError:
        raise OutputError(
            f"Cannot write {str(path)!r}: the data holds a NaN or infinite number, "
            "which JSON cannot store."
        ) from None

    def write(tmp: Path) -> None:
        with open(tmp, "x", encoding="utf-8") as handle:
            handle.write(text)

    return _write_file_atomic(Path(path), write)


# --------------------------------------------------------------------------- #
# output sets: several files published together
# --------------------------------------------------------------------------- #
MANIFEST_FILE: Final = "manifest.json"
OUTPUT_SET_KIND: Final = "er_toolkit.output_set"
OUTPUT_SET_VERSION: Final = 1


class _OutputLock:
    """An exclusive ``flock`` on a lock file beside the output folder.

    The kernel drops it when the holder dies, so a killed run never leaves a
    stale lock; the file is removed on release (and the inode re-checked on
    acquire, so a file being removed is never taken for the lock).
    """

    def __init__(self, target: Path) -> None:
        self.target = target
        self.path = target.parent / f".{target.name}.er-lock"
        self._fd: int | None = None

    def __enter__(self) -> _OutputLock:
        import fcntl

        for _ in range(5):
            # O_NOFOLLOW: a planted symlink must not make us truncate its target
            flags = os.O_RDWR | os.O_CREAT | getattr(os, "O_NOFOLLOW", 0)
            try:
                fd = os.open(self.path, flags, 0o666)
            except OSError as exc:
                raise OutputError(
                    f"Cannot create the lock {str(self.path)!r} for output folder "
                    f"{str(self.target)!r}: {exc.strerror or exc}."
                ) from None
            try:
                fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
            except BlockingIOError:
                os.close(fd)
                raise OutputError(
                    f"Output folder {str(self.target)!r} is being written by another "
                    f"run (it holds the lock {self.path.name!r}); wait for it to "
                    "finish or give another output folder."
                ) from None
            try:
                same = os.path.samestat(os.fstat(fd), os.stat(self.path))
            except FileNotFoundError:
                same = False
            if same:
                os.ftruncate(fd, 0)
                os.write(fd, f"{os.getpid()}\n".encode())
                self._fd = fd
                return self
            os.close(fd)  # the holder removed it as we opened it: try again
        raise OutputError(f"Could not lock output folder {str(self.target)!r}.")

    def __exit__(self, *exc: object) -> None:
        if self._fd is not None:
            with contextlib.suppress(OSError):
                os.remove(self.path)
            os.close(self._fd)
            self._fd = None


def _check_output_target(target: Path) -> None:
    cwd = Path.cwd().resolve()
    if target == cwd or target in cwd.parents:
        raise OutputError(
            f"Output folder {str(target)!r} is the working folder or holds it; give "
            "a folder of its own (e.g. out/)."
        )
    if target.exists() and not target.is_dir():
        raise OutputError(f"Output folder {str(target)!r} exists and is not a folder.")
    if not target.is_dir():
        return
    present = {p.name for p in target.iterdir()}
    listed: set[str] = set()
    if MANIFEST_FILE in present:
        try:
            manifest = json.loads((target / MANIFEST_FILE).read_text())
            listed = {MANIFEST_FILE, *manifest.get("files", {})}
        except (OSError, ValueError, AttributeError, TypeError, RecursionError):
            listed = set()
    extra = present - listed
    if extra:
        raise OutputError(
            f"Output folder {str(target)!r} holds {len(extra)} file(s) that are not "
            "part of an er_toolkit output set; give a new or empty folder (the "
            "whole folder is replaced on each run)."
        )


def _remove_stale(target: Path) -> None:
    """Remove temporary folders and files a killed earlier run left behind."""
    prefix = f".{target.name}.er-"
    for entry in target.parent.iterdir():
        if entry.name.startswith(prefix) and not entry.name.endswith(".er-lock"):
            if entry.is_dir() and not entry.is_symlink():
                shutil.rmtree(entry, ignore_errors=True)
            else:
                with contextlib.suppress(OSError):
                    entry.unlink()


def _sha256(path: Path) -> str:
    with path.open("rb") as handle:
        return hashlib.file_digest(handle, "sha256").hexdigest()


class OutputSet:
    """An output folder held for one run: checked and locked on entry, published once.

    Entering checks the folder (new, empty, or an earlier output set; never
    the working folder), takes an exclusive lock beside it, so a second run
    writing to the same place fails at once with a clear error, and removes
    what a killed earlier run left behind. :meth:`publish` writes every file
    into a fresh hidden folder beside it, fsyncs them, writes
    ``manifest.json`` last (names, row counts, sizes, SHA-256), fsyncs the
    folder and renames it into place; an earlier set is moved aside first
    and removed after. Folders and files get the user's umask.

    Parameters
    ----------
    folder
        The output folder; the whole folder is replaced.

    Examples
    --------
    >>> import tempfile
    >>> out = Path(tempfile.mkdtemp()) / "out"
    >>> with OutputSet(out) as output:
    ...     _ = output.publish({"pairs.parquet": pl.DataFrame({"a": [1, 2]})})
    >>> sorted(p.name for p in out.iterdir())
    ['manifest.json', 'pairs.parquet']
    >>> read_output_set(out)["pairs.parquet"].height
    2
    """

    def __init__(self, folder: str | os.PathLike[str]) -> None:
        self.target = Path(folder).resolve()
        self._lock = _OutputLock(self.target)

    def __enter__(self) -> OutputSet:
        _check_output_target(self.target)
        self.target.parent.mkdir(parents=True, exist_ok=True)
        self._lock.__enter__()
        try:
            _check_output_target(self.target)
            _remove_stale(self.target)
        except BaseException:
            self._lock.__exit__()
            raise
        return self

    def __exit__(self, *exc: object) -> None:
        self._lock.__exit__()

    def publish(
        self,
        frames: Mapping[str, pl.DataFrame],
        *,
        metadata: Mapping[str, Any] | None = None,
    ) -> Path:
        """Write ``frames`` (file name to frame) and publish them together.

        Raises
        ------
        OutputError
            If a name is not a plain ``.parquet`` or ``.csv`` file name, or
            the set was not entered (``with OutputSet(...)``).
        """
        if self._lock._fd is None:
            raise OutputError("OutputSet.publish needs the set entered first (with).")
        _check_file_names(frames)
        target = self.target
        tmp = _temporary_name(target, "tmp")
        os.mkdir(tmp, 0o777)
        try:
            files: dict[str, dict[str, Any]] = {}
            for name, frame in frames.items():
                path = tmp / name
                if path.suffix == ".csv":
                    frame.write_csv(path)
                else:
                    frame.write_parquet(path)
                _fsync_path(path)
                files[name] = {
                    "rows": frame.height,
                    "bytes": path.stat().st_size,
                    "sha256": _sha256(path),
                }
            manifest = {
                "kind": OUTPUT_SET_KIND,
                "format_version": OUTPUT_SET_VERSION,
                "er_toolkit_version": __version__,
                "created": datetime.now(UTC).isoformat(timespec="seconds"),
                "run_id": secrets.token_hex(8),
                "files": files,
                "metadata": dict(metadata or {}),
            }
            with open(tmp / MANIFEST_FILE, "x", encoding="utf-8") as handle:
                json.dump(manifest, handle, indent=2, allow_nan=False)
            _fsync_path(tmp / MANIFEST_FILE)
            _fsync_path(tmp, folder=True)
            _swap_in(tmp, target)
        except BaseException:
            shutil.rmtree(tmp, ignore_errors=True)
            raise
        return target


def _check_file_names(frames: Mapping[str, pl.DataFrame]) -> None:
    for name in frames:
        if (
            Path(name).name != name
            or name.startswith(".")
            or name == MANIFEST_FILE
            or Path(name).suffix not in (".parquet", ".csv")
        ):
            raise OutputError(
                f"Output file names must be plain .parquet or .csv names; got {name!r}."
            )


def publish_output_set(
    folder: str | os.PathLike[str],
    frames: Mapping[str, pl.DataFrame],
    *,
    metadata: Mapping[str, Any] | None = None,
) -> Path:
    """Write ``frames`` as one output set: all files published together, or none.

    A shorthand for ``with OutputSet(folder) as s: s.publish(frames)``; see
    :class:`OutputSet`.

    Parameters
    ----------
    folder
        The output folder. It must be new, empty, or an earlier output set:
        the whole folder is replaced.
    frames
        File name (``.parquet`` or ``.csv``) to frame.
    metadata
        Extra JSON-ready facts for the manifest (the run's summary).

    Returns
    -------
    pathlib.Path
        The published folder.

    Raises
    ------
    OutputError
        If the folder is locked by another run, is not an output set, or a
        file name is not a plain ``.parquet``/``.csv`` name.
    """
    _check_file_names(frames)
    with OutputSet(folder) as output:
        return output.publish(frames, metadata=metadata)


def _swap_in(tmp: Path, target: Path) -> None:
    old: Path | None = None
    if target.exists():
        old = _temporary_name(target, "old")
        os.rename(target, old)
    try:
        os.rename(tmp, target)
    except BaseException:
        if old is not None:
            os.rename(old, target)
        raise
    _fsync_path(target.parent, folder=True)
    if old is not None:
        shutil.rmtree(old, ignore_errors=True)


def read_manifest(folder: str | os.PathLike[str]) -> dict[str, Any]:
    """Return an output set's manifest, checking that every file it lists is whole.

    Parameters
    ----------
    folder
        A folder written by :func:`publish_output_set`.

    Returns
    -------
    dict
        The manifest (``run_id``, ``files``, ``metadata``, ...).

    Raises
    ------
    OutputError
        If the folder is not a complete output set: no manifest, or a file
        missing or of another size or checksum than the manifest says.
    """
    root = Path(folder)
    text = read_text_file(
        root / MANIFEST_FILE, what="Output set manifest", error=OutputError
    )
    try:
        manifest = json.loads(text)
    except (json.JSONDecodeError, RecursionError):
        raise OutputError(f"{str(root / MANIFEST_FILE)!r} is not JSON.") from None
    if (
        not isinstance(manifest, dict)
        or manifest.get("kind") != OUTPUT_SET_KIND
        or not isinstance(manifest.get("files"), dict)
    ):
        raise OutputError(f"{str(root)!r} holds no er_toolkit output set manifest.")
    if manifest.get("format_version") != OUTPUT_SET_VERSION:
        raise OutputError(
            f"Output set {str(root)!r} has format_version "
            f"{manifest.get('format_version')!r}; this er_toolkit reads "
            f"{OUTPUT_SET_VERSION}."
        )
    for name, facts in manifest["files"].items():
        path = root / str(name)
        if Path(str(name)).name != name or not path.is_file():
            raise OutputError(f"Output set {str(root)!r} lacks its file {name!r}.")
        if not isinstance(facts, dict) or path.stat().st_size != facts.get("bytes"):
            raise OutputError(
                f"Output set {str(root)!r}: file {name!r} is not the one its "
                "manifest lists (size differs)."
            )
        if _sha256(path) != facts.get("sha256"):
            raise OutputError(
                f"Output set {str(root)!r}: file {name!r} is not the one its "
                "manifest lists (checksum differs)."
            )
    return manifest


def read_output_set(folder: str | os.PathLike[str]) -> dict[str, pl.DataFrame]:
    """Read every file of an output set, after checking it against its manifest.

    Returns
    -------
    dict
        File name to frame; all from the same run.
    """
    root = Path(folder)
    manifest = read_manifest(root)
    out = {}
    for name in manifest["files"]:
        path = root / name
        out[name] = (
            pl.read_csv(path, infer_schema=False)
            if path.suffix == ".csv"
            else pl.read_parquet(path)
        )
    return out


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
