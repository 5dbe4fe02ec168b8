"""The Standardiser protocol, its result struct, and applying standardisers."""

from __future__ import annotations

import dataclasses
import multiprocessing
import os
import threading
from collections.abc import Callable, Iterator, Mapping, Sequence
from concurrent.futures import ProcessPoolExecutor, ThreadPoolExecutor
from typing import Any, ClassVar, Final, Protocol, TypeAlias, TypeVar, runtime_checkable

import numpy as np
import polars as pl

from er_toolkit.exceptions import ConfigError, SchemaError

VALUE: Final = "value"
"""Field of a standardiser's result struct that holds the standardised value."""
REASON: Final = "reason"
"""Field that says why a non-null input became null (null when it did not)."""
BLANK: Final = "blank"
"""The reason given to an input that is empty or only whitespace."""

ISSUES_SCHEMA: Final = {
    "column": pl.String,
    "standardiser": pl.String,
    "reason": pl.String,
    "count": pl.UInt32,
}


@runtime_checkable
class Standardiser(Protocol):
    """Anything that standardises one column.

    A standardiser is a small frozen dataclass with keyword-only options. Its
    one verb, :meth:`standardise`, turns an expression of raw values into an
    expression of a struct with the fields ``value`` (the standardised value),
    ``reason`` (why a non-null input became null; null otherwise) and one
    field per name in ``parts`` (extra outputs such as a name's title).
    It never changes the number or order of rows.
    """

    kind: ClassVar[str]
    """The name of the standardiser in configs and model files."""

    @property
    def parts(self) -> tuple[str, ...]:
        """Names of the extra outputs, in the order of the result struct."""
        ...

    def standardise(self, values: pl.Expr) -> pl.Expr:
        """Return the result struct of standardising ``values``."""
        ...

    def to_dict(self) -> dict[str, Any]:
        """Return the declaration: ``{"kind": ..., **options}``."""
        ...


Steps: TypeAlias = Mapping[str, Standardiser | Sequence[Standardiser]]
"""Which standardisers to apply to which column, in order."""


def options_dict(standardiser: Any) -> dict[str, Any]:
    """Return the declaration of a dataclass standardiser, tuples as lists.

    Examples
    --------
    >>> from er_toolkit.standardise import PhoneStandardiser
    >>> options_dict(PhoneStandardiser(default_region="US"))
    {'kind': 'phone', 'default_region': 'US', 'check': 'valid'}
    """
    out: dict[str, Any] = {"kind": standardiser.kind}
    for field in dataclasses.fields(standardiser):
        value = getattr(standardiser, field.name)
        out[field.name] = list(value) if isinstance(value, tuple) else value
    return out


def check_choice(owner: str, name: str, value: object, choices: Sequence[Any]) -> None:
    """Raise ConfigError unless ``value`` is one of ``choices``."""
    if value not in choices:
        raise ConfigError(
            f"The {name!r} parameter of {owner} must be one of "
            f"{', '.join(repr(c) for c in choices)}; got {value!r}."
        )


def as_text(values: pl.Expr) -> pl.Expr:
    """Return ``values`` as strings with surrounding whitespace removed."""
    return values.cast(pl.String).str.strip_chars()


RAW: Final = "raw"
"""Name of the input column inside :func:`columnwise` steps."""
ROW: Final = "__row"
"""Optional column of a ``settle`` result: the row of each key in the frame
``settle`` was given (it saves looking the keys up again)."""


def add_reason(frame: pl.LazyFrame, reason: str | pl.Expr) -> pl.LazyFrame:
    """Add the ``reason`` column to a frame of ``raw`` and ``value`` columns.

    Parameters
    ----------
    frame
        Holds the input (``raw``) and the standardised value (``value``),
        which must be null for blank inputs.
    reason
        Why a non-blank input whose value is null could not be standardised.

    Returns
    -------
    polars.LazyFrame
        ``frame`` with ``reason``: null where the input is null or the value
        is not; ``"blank"`` where the input is empty or whitespace.

    Examples
    --------
    >>> frame = pl.LazyFrame({"raw": ["ab", " ", "a1", None],
    ...                       "value": ["AB", None, None, None]})
    >>> add_reason(frame, "bad").collect().get_column("reason").to_list()
    [None, 'blank', 'bad', None]
    """
    text = as_text(pl.col(RAW))
    reason_expr = pl.lit(reason) if isinstance(reason, str) else reason
    why = (
        pl.when(text.is_null())
        .then(pl.lit(None, dtype=pl.String))
        .when(text == "")
        .then(pl.lit(BLANK))
        .when(pl.col(VALUE).is_null())
        .then(reason_expr.cast(pl.String))
    )
    return frame.with_columns(why.alias(REASON))


_SAFE_TYPES: Final = (
    pl.String,
    pl.Boolean,
    pl.Date,
    pl.Datetime,
    pl.Time,
    pl.Duration,
    pl.Categorical,
    pl.Enum,
    pl.Null,
)
_HASH_SEED: Final = 0x5EED


def _dictionary_codes(values: pl.Series) -> tuple[pl.Series, pl.Series]:
    """:func:`distinct_codes` by Arrow's dictionary encoding (exact: no hash is trusted).

    For text and integers that repeat (at most one distinct value per two
    rows), one pass of Arrow's hash table is quicker than grouping by hash
    and checking every row: values come in the order of their first row.
    """
    import pyarrow.compute as pc  # polars imports it to build series from Arrow

    encoded = pc.dictionary_encode(values.to_arrow(), null_encoding="encode")
    distinct = pl.Series(values.name, encoded.dictionary, dtype=values.dtype)
    codes = pl.Series(values.name, encoded.indices).cast(pl.UInt32)
    return distinct, codes


def distinct_codes(values: pl.Series) -> tuple[pl.Series, pl.Series]:
    """Return the distinct values of a series and each row's index among them.

    Rows are grouped by a hash of their value, and every row is then checked
    against its group's value, so a hash collision can never merge two
    values (it falls back to an exact join); text and integers that repeat
    are grouped by Arrow's dictionary encoding instead (exact too). Floats
    and nested values, whose equality is not identity (``0.0 == -0.0``), are
    not grouped.

    Parameters
    ----------
    values
        Any series.

    Returns
    -------
    distinct : polars.Series
        Each distinct value once (null too, if present), in the order of
        some row holding it.
    codes : polars.Series
        UInt32, one per row: ``distinct.gather(codes)`` equals ``values``.

    Examples
    --------
    >>> values = pl.Series(["b", "a", None, "b"])
    >>> distinct, codes = distinct_codes(values)
    >>> distinct.len(), distinct.gather(codes).to_list()
    (3, ['b', 'a', None, 'b'])
    """
    n = values.len()
    dtype = values.dtype
    if n <= 1 or not (dtype.is_integer() or isinstance(dtype, _SAFE_TYPES)):
        return values, pl.Series(values.name, np.arange(n, dtype=np.uint32))
    hashes = values.hash(_HASH_SEED)
    unique = hashes.unique()
    size = unique.len()
    if size == n:  # distinct hashes: distinct values, nothing merged
        return values, pl.Series(values.name, np.arange(n, dtype=np.uint32))
    if 2 * size <= n and (dtype == pl.String or dtype.is_integer()):
        return _dictionary_codes(values)
    if 16 * size <= n:  # few values: look each hash up
        index = pl.Series(np.arange(size, dtype=np.uint32))
        codes = hashes.replace_strict(unique, index).to_numpy()
    else:  # more: dense ranks (one sort of the hashes) are quicker
        codes = hashes.rank("dense").to_numpy() - np.uint32(1)
    first = np.empty(size, dtype=np.int64)
    first[codes] = np.arange(n, dtype=np.int64)
    # One row per value, taken in row order (a filter reads the column in
    # order; a gather would jump about it), and the codes renumbered to match.
    keep = np.zeros(n, dtype=bool)
    keep[first] = True
    distinct = values.filter(pl.Series(keep))
    renumber = (np.cumsum(keep, dtype=np.int64) - 1)[first].astype(np.uint32)
    coded = pl.Series(values.name, renumber[codes], dtype=pl.UInt32)
    # Each kept row is its own value; only the others can hold a value that
    # merely shares its hash.
    others = pl.Series(~keep)
    if distinct.gather(coded.filter(others)).eq_missing(values.filter(others)).all():
        return distinct, coded
    frame = values.to_frame("v")  # two values share a hash: group them exactly
    table = frame.unique(maintain_order=True).with_row_index("code")
    joined = frame.join(
        table, on="v", how="left", nulls_equal=True, maintain_order="left"
    )
    return table.get_column("v").alias(values.name), joined.get_column("code")


def _results(frame: pl.LazyFrame, schema: Mapping[str, Any], rows: int) -> pl.DataFrame:
    """Collect the columns of ``schema`` (cast to its types): one query with the steps."""
    out = frame.select(
        pl.col(name).cast(dtype) for name, dtype in schema.items()
    ).collect()
    if out.height != rows:  # pragma: no cover - guards the steps
        raise RuntimeError("A standardiser changed the number of rows.")
    return out


PLAN_MAX_ROWS: Final = 16
"""Up to this many values, :func:`columnwise_frame` runs a plan built once
(a lookup's few values: building the steps' query costs as much as running it)."""
_PLANS_MAX: Final = 64
_PLANS: dict[Any, tuple[pl.LazyFrame, list[pl.DataFrame]]] = {}
_PLANS_LOCK = threading.Lock()


def _plan_source(
    holder: list[pl.DataFrame],
) -> Callable[..., Iterator[pl.DataFrame]]:
    def source(
        with_columns: list[str] | None,
        predicate: pl.Expr | None,
        n_rows: int | None,
        batch_size: int | None,
    ) -> Iterator[pl.DataFrame]:
        frame = holder[0]
        if with_columns is not None:
            frame = frame.select(with_columns)
        if predicate is not None:
            frame = frame.filter(predicate)
        if n_rows is not None:
            frame = frame.head(n_rows)
        yield frame

    return source


def _planned(
    values: pl.Series,
    build: Callable[[pl.LazyFrame], pl.LazyFrame],
    schema: Mapping[str, pl.DataType | type[pl.DataType]],
) -> pl.DataFrame | None:
    """Run ``build``'s steps over ``values`` through a plan built once, or None (no plan)."""
    try:
        key = (build, tuple(schema.items()), values.dtype)
        hash(key)
    except TypeError:  # an unhashable standardiser: built per call
        return None
    with _PLANS_LOCK:
        made = _PLANS.get(key)
        if made is None:
            from polars.io.plugins import register_io_source

            holder: list[pl.DataFrame] = [values.to_frame(RAW)]
            lazy = register_io_source(_plan_source(holder), schema={RAW: values.dtype})
            plan = build(lazy).select(
                pl.col(name).cast(dtype) for name, dtype in schema.items()
            )
            if len(_PLANS) >= _PLANS_MAX:
                del _PLANS[next(iter(_PLANS))]
            made = _PLANS[key] = (plan, holder)
        plan, holder = made
        holder[:] = [values.to_frame(RAW)]
        try:
            out = plan.collect()
        finally:
            holder[:] = []
    if out.height != values.len():  # pragma: no cover - guards the steps
        raise RuntimeError("A standardiser changed the number of rows.")
    return out


def columnwise_frame(
    values: pl.Series,
    build: Callable[[pl.LazyFrame], pl.LazyFrame],
    *,
    schema: Mapping[str, pl.DataType | type[pl.DataType]],
) -> pl.DataFrame:
    """Run vectorised frame-level steps over ``values``: :func:`columnwise`'s work.

    Returns the columns of ``schema``, one row per value; pass distinct
    values (see :func:`distinct_codes`) to run the steps once per value.
    Up to :data:`PLAN_MAX_ROWS` values run through the steps' query built
    once per standardiser (the same steps, the same results).
    """
    if values.len() <= PLAN_MAX_ROWS:
        planned = _planned(values, build, schema)
        if planned is not None:
            return planned
    return _results(build(values.to_frame(RAW).lazy()), schema, values.len())


def columnwise(
    values: pl.Expr,
    build: Callable[[pl.LazyFrame], pl.LazyFrame],
    *,
    schema: Mapping[str, pl.DataType | type[pl.DataType]],
) -> pl.Expr:
    """Run vectorised frame-level steps over a whole column, as one expression.

    The steps run once per distinct value, and the results are gathered back
    to the rows: customer columns repeat values a lot. Steps written as
    successive ``with_columns`` compute each intermediate once; the same logic
    written as one nested expression would recompute every shared
    sub-expression.

    Parameters
    ----------
    values
        The input values.
    build
        Takes a lazy frame with the input in column ``raw`` and returns one
        with the columns of ``schema``, row for row.
    schema
        The result struct's fields and types: ``value``, ``reason``, parts.

    Returns
    -------
    polars.Expr
        The result struct, one row per input row, in input order.

    Examples
    --------
    >>> def build(frame):
    ...     frame = frame.with_columns(value=pl.col("raw").str.to_uppercase())
    ...     return add_reason(frame, "never")
    >>> schema = {"value": pl.String, "reason": pl.String}
    >>> df = pl.DataFrame({"x": ["ab", ""]})
    >>> df.select(columnwise(pl.col("x"), build, schema=schema).alias("r")).unnest("r").rows()
    [('AB', None), ('', 'blank')]
    """
    dtype = pl.Struct(dict(schema))

    def run(series: pl.Series) -> pl.Series:
        distinct, codes = distinct_codes(series)
        table = columnwise_frame(distinct, build, schema=schema)
        return table.to_struct(series.name).gather(codes)

    return values.map_batches(run, return_dtype=dtype, is_elementwise=True)


PARALLEL_MIN_KEYS: Final = 20_000
"""Fewest distinct values worth sending to worker processes."""
WORKERS_ENV: Final = "ER_TOOLKIT_WORKERS"
"""Environment variable capping the worker processes of per-value libraries."""


def distinct_workers(n_keys: int) -> int:
    """Return how many processes to parse ``n_keys`` distinct values with.

    One unless the ``ER_TOOLKIT_WORKERS`` environment variable asks for more
    (it caps the count); then one per CPU, at most one per 10,000 keys, and
    one below :data:`PARALLEL_MIN_KEYS` keys.

    Examples
    --------
    >>> distinct_workers(100)
    1
    """
    cap = os.environ.get(WORKERS_ENV, "").strip()
    if n_keys < PARALLEL_MIN_KEYS or not cap:
        # Opt-in: spawned workers re-import the caller's __main__, which breaks
        # scripts without a main guard.
        return 1
    cpus = len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else None
    workers = min(cpus or os.cpu_count() or 1, n_keys // 10_000)
    if cap:
        try:
            workers = min(workers, int(cap))
        except ValueError as exc:
            raise ConfigError(
                f"The {WORKERS_ENV} environment variable must be a positive "
                f"integer; got {cap!r}."
            ) from exc
    return max(workers, 1)


SETTLE_MIN_KEYS: Final = 16
"""Fewest keys worth a ``settle`` fast path: fewer go to the function alone
(the same results; one record's values, as a lookup has, parse quicker one
by one than through the vectorised path)."""


def _map_distinct(
    function: Callable[[list[str]], list[tuple[Any, ...]]], keys: list[str]
) -> list[tuple[Any, ...]]:
    workers = distinct_workers(len(keys))
    if workers == 1:
        return function(keys)
    size = -(-len(keys) // workers)
    chunks = [keys[i : i + size] for i in range(0, len(keys), size)]
    # spawn, not fork: forking a process that runs polars threads can deadlock
    context = multiprocessing.get_context("spawn")
    with ProcessPoolExecutor(max_workers=len(chunks), mp_context=context) as pool:
        return [row for rows in pool.map(function, chunks) for row in rows]


def per_distinct_frame(
    values: pl.Series,
    function: Callable[[list[str]], list[tuple[Any, ...]]],
    *,
    schema: Mapping[str, pl.DataType | type[pl.DataType]],
    key: Callable[[pl.Expr], pl.Expr] | None = None,
    settle: Callable[[pl.DataFrame], pl.DataFrame] | None = None,
) -> pl.DataFrame:
    """:func:`per_distinct`'s work on a series: the columns of ``schema``, row for row.

    Each distinct key is settled or passed to ``function`` once, however
    often it occurs in ``values``.
    """
    names = list(schema)
    key_of = key if key is not None else as_text
    # Keys of blank values are never parsed (they get reason "blank"); a
    # non-blank value whose key is empty (a phone of only brackets) is
    # parsed like any other, so it gets the function's reason.
    # The check and the key are computed once each, then ``wanted`` reads
    # them (one expression over both would compute them again).
    keyed = (
        values.to_frame("raw")
        .select(
            as_text(pl.col("raw")).alias("blank_check"),
            key_of(pl.col("raw")).alias("key"),
        )
        .with_columns(
            ((pl.col("blank_check") != "") & pl.col("key").is_not_null())
            .fill_null(False)
            .alias("wanted")
        )
    )
    keys = pl.DataFrame([keyed.get_column("blank_check"), keyed.get_column("key")])
    unique, codes = distinct_codes(keys.get_column("key"))
    wanted = keyed.get_column("wanted").to_numpy()
    needed = np.zeros(unique.len(), dtype=bool)
    needed[codes.to_numpy()[wanted]] = True
    todo = unique.to_frame("key").with_row_index("__position")[np.flatnonzero(needed)]
    found = []
    if settle is not None and todo.height >= SETTLE_MIN_KEYS:
        settled = settle(todo.select("key"))
        fields = [pl.col(name).cast(schema[name]) for name in names]
        if ROW in settled.columns:
            rows_settled = settled.get_column(ROW)
            hits = settled.select(
                todo.get_column("__position").gather(rows_settled), *fields
            )
        else:
            hits = todo.with_row_index(ROW).join(
                settled.select("key", *fields), on="key", how="inner"
            )
            rows_settled = hits.get_column(ROW)
            hits = hits.select("__position", *names)
        found.append(hits)
        left = np.ones(todo.height, dtype=bool)
        left[rows_settled.to_numpy()] = False
        todo = todo.filter(pl.Series(left))
    rows = _map_distinct(function, todo.get_column("key").to_list())
    table = pl.DataFrame(rows, schema=dict(schema), orient="row")
    found.append(table.insert_column(0, todo.get_column("__position")))
    results = found[0] if len(found) == 1 else pl.concat(found, how="vertical")
    positions = results.get_column("__position")
    every = pl.DataFrame(
        [
            pl.Series(name, [None] * unique.len(), dtype=results.schema[name]).scatter(
                positions, results.get_column(name)
            )
            for name in names
        ]
    )
    joined = pl.DataFrame([*keys.get_columns(), *every[codes].get_columns()])
    blank = pl.col("blank_check") == ""
    filled = (
        joined.lazy()
        .with_columns(
            pl.when(~blank).then(pl.col(name)).alias(name)
            for name in names
            if name != REASON
        )
        .with_columns(
            pl.when(blank).then(pl.lit(BLANK)).otherwise(pl.col(REASON)).alias(REASON)
        )
    )
    return _results(filled, schema, values.len())


def per_distinct(
    values: pl.Expr,
    function: Callable[[list[str]], list[tuple[Any, ...]]],
    *,
    schema: Mapping[str, pl.DataType | type[pl.DataType]],
    key: Callable[[pl.Expr], pl.Expr] | None = None,
    settle: Callable[[pl.DataFrame], pl.DataFrame] | None = None,
) -> pl.Expr:
    """Apply a per-value library once per distinct value and join the results back.

    Parameters
    ----------
    values
        The input values.
    function
        Takes a list of distinct, non-blank keys and returns one tuple per
        key, in the order of ``schema``: ``(value, reason, *parts)``. When
        there are many keys it runs in worker processes (see
        :func:`distinct_workers`), so it must be picklable: a module-level
        function or a method of a module-level class.
    schema
        The result struct's fields and types: ``value``, ``reason``, parts.
    key
        Vectorised clean-up applied before taking distinct values (default:
        strip whitespace). Values with the same key get the same result.
    settle
        Optional vectorised fast path, run before ``function`` when there
        are at least :data:`SETTLE_MIN_KEYS` keys. It takes a
        frame of the distinct, non-blank keys (column ``key``) and returns
        the rows it can settle itself: ``key`` and the columns of ``schema``,
        each key at most once, with exactly the result ``function`` would
        give. Only the other keys go to ``function``.

    Returns
    -------
    polars.Expr
        The result struct, one row per input row, in input order. Blank inputs
        get reason ``"blank"``; null inputs get all-null results.

    Examples
    --------
    >>> def shout(keys):
    ...     return [(k.upper(), None) if k.isalpha() else (None, "bad") for k in keys]
    >>> schema = {"value": pl.String, "reason": pl.String}
    >>> df = pl.DataFrame({"x": ["ab", "ab", "a1", "", None]})
    >>> out = df.select(per_distinct(pl.col("x"), shout, schema=schema).alias("r"))
    >>> out.unnest("r").rows()
    [('AB', None), ('AB', None), (None, 'bad'), (None, 'blank'), (None, None)]
    """
    dtype = pl.Struct(dict(schema))

    def run(series: pl.Series) -> pl.Series:
        distinct, codes = distinct_codes(series)
        table = per_distinct_frame(
            distinct, function, schema=schema, key=key, settle=settle
        )
        return table.to_struct(series.name).gather(codes)

    return values.map_batches(run, return_dtype=dtype, is_elementwise=True)


def _chain(column: str, spec: Standardiser | Sequence[Standardiser]) -> tuple[Any, ...]:
    if isinstance(spec, Standardiser):
        return (spec,)
    if isinstance(spec, str) or not isinstance(spec, Sequence):
        raise ConfigError(
            f"The standardisers of column {column!r} must be a Standardiser or a "
            f"sequence of them; got {type(spec).__name__}."
        )
    for step in spec:
        if not isinstance(step, Standardiser):
            raise ConfigError(
                f"The standardisers of column {column!r} must be Standardiser "
                f"objects; got {type(step).__name__}. Build them from a config "
                "with standardiser_from_dict."
            )
    return tuple(spec)


def standardise_values(
    step: Standardiser, values: pl.Series, *, distinct: bool = False
) -> pl.DataFrame:
    """Return ``step``'s result fields for each of ``values``, once per distinct value.

    The built-in standardisers work on the distinct values directly (their
    ``_standardise_distinct``); any other one through its expression.

    Parameters
    ----------
    step
        The standardiser.
    values
        Its input.
    distinct
        ``values`` are known to be distinct.

    Returns
    -------
    polars.DataFrame
        ``value``, ``reason`` and the parts of ``step``, one row per value.

    Examples
    --------
    >>> from er_toolkit.standardise import TextStandardiser
    >>> standardise_values(TextStandardiser(), pl.Series(["A b", "!", "A b"])).rows()
    [('a b', None), (None, 'empty_after_cleaning'), ('a b', None)]
    """
    if distinct:
        unique, codes = values, None
    else:
        unique, codes = distinct_codes(values)
    direct = getattr(step, "_standardise_distinct", None)
    if direct is not None:
        table: pl.DataFrame = direct(unique)
    else:
        struct = unique.to_frame(RAW).select(step.standardise(pl.col(RAW)).alias("r"))
        table = struct.unnest("r").select(VALUE, REASON, *step.parts)
    if codes is None:
        return table
    return table[codes]


@dataclasses.dataclass(frozen=True)
class Standardised:
    """One column's standardisation, computed once per distinct input value.

    ``tables[i]`` holds the fields (``value``, ``reason``, parts) of the
    column's ``i``-th standardiser for each of ``distinct``; ``codes`` says
    which distinct value each row holds, so ``tables[i][codes]`` are the
    rows' results.
    """

    distinct: pl.Series
    codes: pl.Series
    steps: tuple[Standardiser, ...]
    tables: tuple[pl.DataFrame, ...]

    def reasons(self) -> pl.Series:
        """Return the first reason of the chain for each distinct value."""
        return pl.select(
            pl.coalesce([table.get_column(REASON) for table in self.tables])
        ).to_series()

    def counts(self) -> np.ndarray:
        """How many rows hold each distinct value."""
        return np.bincount(self.codes.to_numpy(), minlength=self.distinct.len())


_T = TypeVar("_T")
_R = TypeVar("_R")
PARALLEL_MIN_ROWS: Final = 50_000
"""Fewest rows worth standardising or profiling columns side by side."""


def map_columns(
    function: Callable[[_T], _R], items: Sequence[_T], *, rows: int
) -> list[_R]:
    """Apply ``function`` to each item, several at once for big frames.

    Columns of ``rows`` rows are worked on in as many threads as polars has
    (polars releases the GIL while it works), in order of the items.
    """
    workers = min(len(items), pl.thread_pool_size())
    if workers <= 1 or rows < PARALLEL_MIN_ROWS:
        return [function(item) for item in items]
    with ThreadPoolExecutor(max_workers=workers) as pool:
        return list(pool.map(function, items))


def standardise_column(
    frame: pl.DataFrame, column: str, chain: tuple[Standardiser, ...]
) -> Standardised:
    """Run one column's chain of standardisers once per distinct value."""
    distinct, codes = distinct_codes(frame.get_column(column))
    tables: list[pl.DataFrame] = []
    current = distinct
    for index, step in enumerate(chain):
        tables.append(standardise_values(step, current, distinct=index == 0))
        current = tables[-1].get_column(VALUE)
    return Standardised(distinct, codes, chain, tuple(tables))


def standardise_columns(
    frame: pl.DataFrame, chains: Mapping[str, tuple[Standardiser, ...]]
) -> dict[str, Standardised]:
    """Run each column's chain of standardisers once per distinct value."""
    done = map_columns(
        lambda item: standardise_column(frame, *item),
        list(chains.items()),
        rows=frame.height,
    )
    return dict(zip(chains, done, strict=True))


def check_steps(
    frame: pl.DataFrame, steps: Steps, *, reasons: bool
) -> dict[str, tuple[Standardiser, ...]]:
    """Return each column's chain, checking columns exist and outputs do not clash."""
    chains = {column: _chain(column, spec) for column, spec in steps.items()}
    missing = [column for column in chains if column not in frame.columns]
    if missing:
        raise SchemaError(
            f"Cannot standardise missing column(s) {missing}; valid columns: "
            f"{frame.columns}."
        )
    outputs: list[str] = []
    for column, chain in chains.items():
        for step in chain:
            outputs += [f"{column}_{part}" for part in step.parts]
        if reasons:
            outputs.append(f"{column}_reason")
    clashes = sorted({name for name in outputs if name in frame.columns})
    duplicates = sorted({name for name in outputs if outputs.count(name) > 1})
    if clashes or duplicates:
        raise SchemaError(
            f"Standardising would overwrite column(s) {clashes or duplicates}; "
            "rename them, or drop the standardiser that adds them."
        )
    return chains


def standardised_frame(
    frame: pl.DataFrame, columns: Mapping[str, Standardised], *, reasons: bool
) -> pl.DataFrame:
    """``frame`` with each column's values, parts and (optionally) reasons.

    Each column is replaced by its last standardiser's value; the parts of
    each standardiser, then the reason, follow the other columns.
    """
    return assemble_frame(
        frame, [column_outputs(c, done, reasons=reasons) for c, done in columns.items()]
    )


def column_outputs(
    column: str, done: Standardised, *, reasons: bool
) -> tuple[pl.Series, dict[str, pl.Series]]:
    """One column's rows for :func:`standardised_frame`: its value, then its extras."""
    fields: dict[str, pl.Series] = {}
    for step, table in zip(done.steps, done.tables, strict=True):
        fields.update(
            {f"{column}_{part}": table.get_column(part) for part in step.parts}
        )
    if reasons:
        fields[f"{column}_reason"] = done.reasons()
    small = pl.DataFrame(
        [
            done.tables[-1].get_column(VALUE).alias(column),
            *(s.alias(n) for n, s in fields.items()),
        ]
    )
    rows = small[done.codes]
    return rows.get_column(column), {name: rows.get_column(name) for name in fields}


def assemble_frame(
    frame: pl.DataFrame, outputs: Sequence[tuple[pl.Series, dict[str, pl.Series]]]
) -> pl.DataFrame:
    """``frame`` with the :func:`column_outputs` of its columns, extras last."""
    finals = {value.name: value for value, _ in outputs}
    extras = {name: s for _, fields in outputs for name, s in fields.items()}
    return replace_columns(frame, finals, extras)


def replace_columns(
    frame: pl.DataFrame,
    finals: Mapping[str, pl.Series],
    extras: Mapping[str, pl.Series],
) -> pl.DataFrame:
    """``frame.with_columns(**finals).with_columns(**extras)``, built without a query.

    Columns of ``finals`` replace those of ``frame`` in place; ``extras``
    follow (replacing any of the same name where it stands).
    """
    out = {name: frame.get_column(name) for name in frame.columns}
    for name, series in (*finals.items(), *extras.items()):
        out[name] = series.alias(name)
    return pl.DataFrame(list(out.values()))


def issue_counts(columns: Mapping[str, Standardised]) -> pl.DataFrame:
    """Count the rows each standardiser turned into null, by reason."""
    issue_frames = []
    for column, done in columns.items():
        counts = pl.Series("count", done.counts(), dtype=pl.UInt64)
        for step, table in zip(done.steps, done.tables, strict=True):
            issue_frames.append(
                pl.DataFrame([table.get_column(REASON).alias("reason"), counts])
                .drop_nulls("reason")
                .group_by("reason")
                .agg(pl.col("count").sum().cast(pl.UInt32))
                .filter(pl.col("count") > 0)
                .select(
                    pl.lit(column).alias("column"),
                    pl.lit(step.kind).alias("standardiser"),
                    "reason",
                    "count",
                )
                .sort("count", "reason", descending=[True, False])
            )
    return pl.concat(
        [pl.DataFrame(schema=ISSUES_SCHEMA), *issue_frames], how="vertical_relaxed"
    )


def apply_standardisers(
    frame: pl.DataFrame,
    steps: Steps,
    *,
    reasons: bool = False,
) -> tuple[pl.DataFrame, pl.DataFrame]:
    """Standardise columns of ``frame``; never drop, add or reorder rows.

    Each standardiser runs once per distinct value of its column, and the
    results are gathered back to the rows.

    Parameters
    ----------
    frame
        The records; it is not changed.
    steps
        For each column, a standardiser or a sequence of them applied in turn
        (each one reads the value of the one before).
    reasons
        Also add a ``<column>_reason`` column saying why each non-null input
        became null.

    Returns
    -------
    standardised : polars.DataFrame
        ``frame`` with each column replaced by its standardised value and each
        extra output added as ``<column>_<part>`` after the other columns.
    issues : polars.DataFrame
        Counts of values that became null, one row per ``column``,
        ``standardiser`` (its kind) and ``reason``; columns ``column``,
        ``standardiser``, ``reason``, ``count``.

    Raises
    ------
    SchemaError
        A column is missing, or an output column would overwrite an input.
    ConfigError
        A step is not a standardiser.

    Examples
    --------
    >>> from er_toolkit.standardise import NameStandardiser, PhoneStandardiser
    >>> df = pl.DataFrame({"name": ["Dr. Bill O'Neil", "Ms Liz Smith"],
    ...                    "phone": ["020 7946 0958", "n/a"]})
    >>> out, issues = apply_standardisers(df, {
    ...     "name": NameStandardiser(),
    ...     "phone": PhoneStandardiser(default_region="GB"),
    ... })
    >>> out.rows()
    [('bill oneil', '+442079460958', 'dr', None, 'william oneil'), ('liz smith', None, 'ms', None, 'elizabeth smith')]
    >>> out.columns
    ['name', 'phone', 'name_title', 'name_suffix', 'name_canonical']
    >>> issues.rows()
    [('phone', 'phone', 'unparseable_phone', 1)]
    """
    chains = check_steps(frame, steps, reasons=reasons)
    columns = standardise_columns(frame, chains)
    return standardised_frame(frame, columns, reasons=reasons), issue_counts(columns)
