"""The Blocker protocol, the registry of blocker kinds, and shared helpers."""

from __future__ import annotations

import re
from collections.abc import Iterator, Mapping, Sequence
from typing import Any, ClassVar, Protocol, TypeVar, runtime_checkable

import numpy as np
import polars as pl

from er_toolkit import schema
from er_toolkit.config_values import plugin_options, register_kind
from er_toolkit.exceptions import ConfigError
from er_toolkit.schema import LinkType

PAIR_SCHEMA = {schema.ROW_L: pl.UInt32, schema.ROW_R: pl.UInt32}
KEY_SCHEMA = {schema.ROW: pl.UInt32, schema.BLOCK_KEY: pl.String}

_KEY = re.compile(r"^(?P<col>[^\[\]]+?)(?:\[:(?P<n>\d+)\])?$")


@runtime_checkable
class Blocker(Protocol):
    """Anything that turns a records frame into candidate pairs.

    A blocker is a small frozen dataclass: its fields are its declaration
    (what :meth:`to_dict` writes and :func:`blocker_from_dict` reads back),
    and its class is registered under :attr:`kind` with
    :func:`register_blocker`.

    Attributes
    ----------
    kind
        The name configs use for this kind of blocker
        (``[[blocking.blockers]] kind = "..."``).
    """

    kind: ClassVar[str]

    @property
    def name(self) -> str:
        """The blocker's name, written to ``blocked_by``."""
        ...

    @property
    def columns(self) -> tuple[str, ...]:
        """The record columns the blocker reads."""
        ...

    def block(self, records: pl.DataFrame, *, link_type: LinkType) -> pl.DataFrame:
        """Return the candidate pairs of ``records``.

        A frame of ``_row_l`` < ``_row_r`` (UInt32 row numbers of the records
        frame), each pair once, no self-pairs; in a ``link`` job only pairs
        across sources.
        """
        ...

    def count_pairs(self, records: pl.DataFrame, *, link_type: LinkType) -> int:
        """Return how many pairs :meth:`block` makes: exact, or a documented upper bound."""
        ...

    def to_dict(self) -> dict[str, Any]:
        """Return the declaration: ``kind`` and the options that differ from the defaults."""
        ...


@runtime_checkable
class KeyBlocker(Blocker, Protocol):
    """A blocker that pairs the records sharing a key.

    Its pairs are those of :func:`~er_toolkit.blocking.block_by_keys` over
    :meth:`block_keys`, so they can also be made by a join of stored keys:
    :func:`~er_toolkit.blocking.block_against` pairs a new batch of records
    with records seen before, and an engine such as Spark can equi-join the
    keys itself.
    """

    @property
    def max_block_size(self) -> int | None:
        """Keys held by more records than this pair none of them; None: no limit."""
        ...

    def block_keys(self, records: pl.DataFrame) -> pl.DataFrame:
        """Return ``_row`` (UInt32) and ``_block_key`` (String), one row per (record, key).

        A record may have several keys, or none (a null key value); two
        records are paired when they share at least one key.
        """
        ...


BLOCKER_KINDS: dict[str, type[Any]] = {}
"""Every blocker kind a config can name, by its ``kind``."""

_B = TypeVar("_B", bound=type[Any])


def register_blocker(cls: _B) -> _B:
    """Register a blocker class under its ``kind`` (usable as a decorator).

    Parameters
    ----------
    cls
        A class following :class:`Blocker`, normally a frozen dataclass
        whose fields are its options.

    Returns
    -------
    type
        ``cls``, unchanged.

    Raises
    ------
    ConfigError
        When ``cls`` has no string ``kind``, or another class holds the kind.
    """
    register_kind(BLOCKER_KINDS, cls, what="blocker")
    return cls


def _options(cls: type[Any]) -> tuple[set[str], set[str]]:
    """Return a blocker class's valid and required options."""
    valid, required = plugin_options(cls)
    return set(valid), set(required)


def blocker_from_dict(spec: Mapping[str, Any], *, where: str = "a blocker") -> Blocker:
    """Build a blocker from its declaration (the inverse of its ``to_dict``).

    Parameters
    ----------
    spec
        ``kind`` and that kind's options, e.g. a ``[[blocking.blockers]]``
        table.
    where
        Where the declaration sits, for error messages.

    Raises
    ------
    ConfigError
        An unknown kind (the valid ones are listed), an unknown option or a
        missing required one (the valid ones are listed), or a bad value.

    Examples
    --------
    >>> blocker_from_dict({"kind": "exact", "keys": ["surname", "dob[:4]"]})
    ExactRule(keys=('surname', 'dob[:4]'), name='surname&dob[:4]', max_block_size=None)
    >>> blocker_from_dict({"kind": "sorted_neighbourhood", "keys": ["dob"], "window": 3})
    SortedNeighbourhood(keys=('dob',), window=3, name='sn(dob,w=3)')
    """
    if not isinstance(spec, Mapping):
        raise ConfigError(
            f"Expected {where} to be a table with a 'kind'; got {type(spec).__name__}."
        )
    options = dict(spec)
    kind = options.pop("kind", None)
    if kind not in BLOCKER_KINDS:
        raise ConfigError(
            f"The 'kind' of {where} must be one of {sorted(BLOCKER_KINDS)}; "
            f"got {kind!r}."
        )
    cls = BLOCKER_KINDS[kind]
    valid, required = _options(cls)
    if valid:
        unknown = sorted(set(options) - valid)
        if unknown:
            raise ConfigError(
                f"Unknown option(s) {unknown} for {where} of kind {kind!r}; valid "
                f"options are {sorted(valid)}."
            )
        missing = sorted(required - set(options))
        if missing:
            raise ConfigError(
                f"{where[0].upper()}{where[1:]} of kind {kind!r} needs {missing}; "
                f"got {sorted(options)}."
            )
    try:
        blocker: Blocker = cls(**options)
    except ConfigError as exc:
        if where == "a blocker":
            raise
        raise ConfigError(f"In {where}: {exc}") from exc
    return blocker


def as_blocker(
    spec: Blocker | Mapping[str, Any] | Sequence[str], *, where: str = "a blocker"
) -> Blocker:
    """Return ``spec`` as a blocker.

    Parameters
    ----------
    spec
        A blocker; its declaration (a mapping with ``kind``); or a list of
        keys, read as an exact rule on them (the older form of training and
        deterministic rules).
    where
        Where the declaration sits, for error messages.

    Examples
    --------
    >>> as_blocker(["surname", "dob"]).name
    'surname&dob'
    """
    if isinstance(spec, Blocker):
        return spec
    if isinstance(spec, Mapping):
        return blocker_from_dict(spec, where=where)
    if isinstance(spec, Sequence) and not isinstance(spec, str):
        return blocker_from_dict({"kind": "exact", "keys": tuple(spec)}, where=where)
    raise ConfigError(
        f"Expected {where} to be a blocker table (with 'kind') or a list of "
        f"column names; got {type(spec).__name__}."
    )


def parse_key(spec: str) -> tuple[str, int | None]:
    """Split a blocking key ``"column"`` or ``"column[:n]"`` into column and n.

    Examples
    --------
    >>> parse_key("surname[:3]")
    ('surname', 3)
    """
    match = _KEY.match(spec.strip()) if isinstance(spec, str) else None
    if match is None:
        raise ConfigError(
            f"A blocking key must be a column name or 'column[:n]'; got {spec!r}."
        )
    n = None if match["n"] is None else int(match["n"])
    if n == 0:
        raise ConfigError(
            f"A blocking key's prefix 'column[:n]' needs n >= 1; got {spec!r}."
        )
    return match["col"], n


def check_keys(keys: object, owner: str) -> tuple[str, ...]:
    """Return ``keys`` as a tuple after checking each one, naming ``owner`` on error."""
    if isinstance(keys, str):
        raise ConfigError(
            f"The 'keys' of {owner} must be a list of column names; got the "
            f"string {keys!r} (write [{keys!r}])."
        )
    if not isinstance(keys, Sequence) or not keys:
        raise ConfigError(
            f"The 'keys' of {owner} must be a non-empty list of column names or "
            f"'column[:n]' prefixes; got {keys!r} (no keys would pair every "
            "record with every other)."
        )
    out = tuple(keys)
    for key in out:
        parse_key(key)
    if len(set(out)) != len(out):
        raise ConfigError(f"The 'keys' of {owner} must differ; got {list(out)}.")
    return out


def key_expr(spec: str) -> pl.Expr:
    """Compile a blocking key such as ``"surname"`` or ``"surname[:3]"``.

    Parameters
    ----------
    spec
        A column name, optionally followed by ``[:n]`` for its first ``n``
        characters.

    Returns
    -------
    polars.Expr
        The key, as a string; empty strings become null.

    Examples
    --------
    >>> df = pl.DataFrame({"s": ["smith", ""]})
    >>> df.select(key_expr("s[:3]")).to_series().to_list()
    ['smi', None]
    """
    column, n = parse_key(spec)
    expr = pl.col(column).cast(pl.String).str.strip_chars()
    if n is not None:
        expr = expr.str.slice(0, n)
    return pl.when(expr.str.len_chars() > 0).then(expr).alias(spec)


def key_column(spec: str) -> str:
    """Return the column a blocking key reads."""
    return parse_key(spec)[0]


def orient_pairs(
    rows_a: np.ndarray,
    rows_b: np.ndarray,
    sources: np.ndarray | None,
    *,
    link_type: LinkType,
) -> pl.DataFrame:
    """Turn two arrays of row numbers into an oriented, valid pair frame.

    Self-pairs are dropped, each pair is put as (smaller, larger), and in a
    ``link`` job pairs within one source are dropped.
    """
    lo = np.minimum(rows_a, rows_b).astype(np.uint32, copy=False)
    hi = np.maximum(rows_a, rows_b).astype(np.uint32, copy=False)
    keep = lo != hi
    if link_type == "link" and sources is not None:
        keep &= sources[lo] != sources[hi]
    return pl.DataFrame(
        {schema.ROW_L: lo[keep], schema.ROW_R: hi[keep]}, schema=PAIR_SCHEMA
    )


def source_codes(records: pl.DataFrame) -> np.ndarray:
    """Return each record's source as a small integer, indexed by ``_row``."""
    if schema.SOURCE not in records.columns:
        return np.zeros(records.height, dtype=np.int32)
    codes = records.get_column(schema.SOURCE).cast(pl.Categorical).to_physical()
    return codes.to_numpy().astype(np.int32)


def pairs_of_blocks(blocks: pl.DataFrame) -> pl.DataFrame:
    """Return every pair within each block of a frame of blocks.

    Parameters
    ----------
    blocks
        One row per block: ``_row``, a list of the block's sorted row
        numbers (UInt32), and, when pairs within one source are to be left
        out, ``_src``: each of those rows' source code, in the same order.

    Returns
    -------
    polars.DataFrame
        ``_row_l`` < ``_row_r``, written from the block boundaries with numpy
        a bounded number of pairs at a time (see :func:`block_pair_positions`).

    Examples
    --------
    >>> blocks = pl.DataFrame({"_row": [[0, 3, 4], [1, 2]]}, schema={"_row": pl.List(pl.UInt32)})
    >>> pairs_of_blocks(blocks).rows()
    [(0, 3), (0, 4), (3, 4), (1, 2)]
    """
    sizes = blocks.get_column(schema.ROW).list.len().to_numpy()
    rows = blocks.get_column(schema.ROW).explode().to_numpy()
    sources = (
        blocks.get_column("_src").explode().to_numpy()
        if "_src" in blocks.columns
        else None
    )
    block = np.repeat(np.arange(len(sizes)), sizes)
    parts = [
        pl.DataFrame({schema.ROW_L: rows[i], schema.ROW_R: rows[j]})
        for i, j in block_pair_positions(block, sources)
    ]
    if not parts:
        return pl.DataFrame(schema=PAIR_SCHEMA)
    return pl.concat(parts, rechunk=False)


def pairs_of_key_codes(
    codes: np.ndarray, rows: np.ndarray, sources: np.ndarray | None = None
) -> pl.DataFrame:
    """Return every pair of records with the same key code.

    An exact rule's pairs from integer key codes (a
    :meth:`~er_toolkit.engines.PolarsEngine.exact_key_codes` array), with no
    group-by of key values: the records are ordered by code and each run's
    pairs written as :func:`pairs_of_blocks` writes them.

    Parameters
    ----------
    codes
        Each record's key code, by position; negative for a record without
        a key (in no pair).
    rows
        Each record's ``_row``, by position.
    sources
        Each record's source code, by position, when pairs within one
        source are to be left out; None keeps them.

    Returns
    -------
    polars.DataFrame
        ``_row_l`` < ``_row_r`` (UInt32).

    Examples
    --------
    >>> codes = np.array([4, -1, 4, 7, 4, 7])
    >>> pairs_of_key_codes(codes, np.arange(6, dtype=np.uint32)).rows()
    [(0, 2), (0, 4), (2, 4), (3, 5)]
    """
    keyed = np.flatnonzero(codes >= 0)
    # polars' stable sort runs on every core: several times numpy's argsort
    by_code = pl.DataFrame({"c": codes[keyed], "i": keyed}).sort(
        "c", maintain_order=True
    )
    del keyed
    block = by_code.get_column("c").to_numpy()
    order = by_code.get_column("i").to_numpy()
    del by_code
    ordered = rows.astype(np.uint32, copy=False)[order]
    by_source = None if sources is None else sources[order]
    # a stable order keeps positions ascending within a run: with rows
    # ascending by position, each pair's left row is already the smaller
    ascending = bool(np.all(rows[1:] > rows[:-1]))
    parts = []
    for i, j in block_pair_positions(block, by_source):
        left, right = ordered[i], ordered[j]
        if not ascending:
            left, right = np.minimum(left, right), np.maximum(left, right)
        parts.append(pl.DataFrame({schema.ROW_L: left, schema.ROW_R: right}))
    if not parts:
        return pl.DataFrame(schema=PAIR_SCHEMA)
    return pl.concat(parts, rechunk=False)


def block_pair_positions(
    block: np.ndarray,
    sources: np.ndarray | None = None,
    *,
    chunk_pairs: int = 4_000_000,
) -> Iterator[tuple[np.ndarray, np.ndarray]]:
    """Yield every pair of positions within each run of equal ``block`` values.

    Parameters
    ----------
    block
        Block numbers of records sorted by block (equal values adjacent).
    sources
        Each position's source, when pairs within one source are to be left
        out (a ``link`` job); None keeps them.
    chunk_pairs
        Roughly how many pairs to yield at a time (one position's partners
        are never split), so memory holds one chunk, not every pair at once.

    Yields
    ------
    tuple of numpy.ndarray
        Positions ``i < j`` (int64) of pairs in the same block.

    Examples
    --------
    >>> [(i.tolist(), j.tolist()) for i, j in block_pair_positions(np.array([0, 0, 0, 1]))]
    [([0, 0, 1], [1, 2, 2])]
    """
    n = len(block)
    if n < 2:
        return
    starts = np.flatnonzero(np.r_[True, block[1:] != block[:-1]])
    ends = np.r_[starts[1:], n]
    # partners of each position: the rest of its block after it
    sizes = ends - starts
    after = np.repeat(ends, sizes) - np.arange(n) - 1
    cumulative = np.cumsum(after)
    first = 0
    while first < n:
        limit = (cumulative[first - 1] if first else 0) + chunk_pairs
        last = int(np.searchsorted(cumulative, limit, side="right"))
        last = min(max(last, first + 1), n)
        counts = after[first:last]
        total = int(counts.sum())
        if total:
            left = np.repeat(np.arange(first, last), counts)
            offset = np.arange(total) - np.repeat(np.cumsum(counts) - counts, counts)
            right = left + 1 + offset
            del offset
            if sources is not None:
                keep = sources[left] != sources[right]
                left, right = left[keep], right[keep]
            yield left, right
        first = last


def check_block_size(size: object, owner: str) -> None:
    """Raise a ConfigError unless ``size`` (a ``max_block_size``) is an int >= 2 or None."""
    if size is not None and (
        isinstance(size, bool) or not isinstance(size, int) or size < 2
    ):
        raise ConfigError(
            f"The 'max_block_size' of {owner} must be an int >= 2 or None; got "
            f"{size!r}."
        )


def check_name(name: object, owner: str) -> None:
    """Raise a ConfigError unless ``name`` is text."""
    if not isinstance(name, str):
        raise ConfigError(f"The 'name' of {owner} must be a string; got {name!r}.")


def check_column(column: object, owner: str) -> None:
    """Raise a ConfigError unless ``column`` is a non-empty column name."""
    if not isinstance(column, str) or not column:
        raise ConfigError(
            f"The 'column' of {owner} must be a column name (non-empty text); got "
            f"{column!r}."
        )


def check_int(value: object, name: str, owner: str, *, minimum: int) -> None:
    """Raise a ConfigError unless ``value`` is an int >= ``minimum``."""
    if isinstance(value, bool) or not isinstance(value, int) or value < minimum:
        raise ConfigError(
            f"The {name!r} of {owner} must be an int >= {minimum}; got {value!r}."
        )
