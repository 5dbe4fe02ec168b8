"""The Standardiser protocol, its result struct, and applying standardisers."""

from __future__ import annotations

import dataclasses
import multiprocessing
import os
from collections.abc import Callable, Mapping, Sequence
from concurrent.futures import ProcessPoolExecutor
from typing import Any, ClassVar, Final, Protocol, TypeAlias, runtime_checkable

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


def columnwise(
    values: pl.Expr,
    build: Callable[[pl.LazyFrame], pl.LazyFrame],
    *,
    schema: Mapping[str, pl.DataType | type[pl.DataType]],
) -> pl.Expr:
    """Run vectorised frame-level steps over a whole column, as one expression.

    The steps run once per distinct value, and the results are joined back
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
        with the columns of ``schema``.
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
    names = list(schema)

    def run(series: pl.Series) -> pl.Series:
        rows = series.to_frame(RAW)
        distinct = build(rows.unique().lazy()).select(
            RAW, pl.struct(names).cast(dtype).alias("__result")
        )
        out = rows.lazy().join(
            distinct, on=RAW, how="left", nulls_equal=True, maintain_order="left"
        )
        result = out.collect().get_column("__result").alias(series.name)
        if result.len() != series.len():  # pragma: no cover - guards the join
            raise RuntimeError("columnwise changed the number of rows.")
        return result

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
        Optional vectorised fast path, run before ``function``. It takes a
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
    key_of = key if key is not None else as_text
    names = list(schema)

    def run(series: pl.Series) -> pl.Series:
        keys = series.to_frame("raw").select(
            as_text(pl.col("raw")).alias("blank_check"),
            key_of(pl.col("raw")).alias("key"),
        )
        # Keys of blank values are never parsed (they get reason "blank"); a
        # non-blank value whose key is empty (a phone of only brackets) is
        # parsed like any other, so it gets the function's reason.
        distinct = (
            keys.filter(pl.col("blank_check") != "")
            .get_column("key")
            .drop_nulls()
            .unique(maintain_order=True)
            .to_frame()
        )
        settled = None
        if settle is not None:
            settled = settle(distinct).select(
                "key", *(pl.col(name).cast(schema[name]) for name in names)
            )
            distinct = distinct.join(settled.select("key"), on="key", how="anti")
        rows = _map_distinct(function, distinct.get_column("key").to_list())
        table = pl.DataFrame(rows, schema=dict(schema), orient="row")
        table = pl.concat([distinct, table], how="horizontal")
        if settled is not None:
            table = pl.concat([settled, table], how="vertical")
        joined = keys.join(table, on="key", how="left", maintain_order="left")
        if joined.height != series.len():  # pragma: no cover - guards the join
            raise RuntimeError("per_distinct changed the number of rows.")
        blank = pl.col("blank_check") == ""
        joined = joined.with_columns(
            pl.when(~blank).then(pl.col(name)).alias(name)
            for name in names
            if name != REASON
        ).with_columns(
            pl.when(blank).then(pl.lit(BLANK)).otherwise(pl.col(REASON)).alias(REASON)
        )
        return joined.select(pl.struct(names).alias(series.name)).to_series()

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


def _temp(column: str, index: int) -> str:
    return f"__standardise_{index}_{column}"


def apply_standardisers(
    frame: pl.DataFrame,
    steps: Steps,
    *,
    reasons: bool = False,
) -> tuple[pl.DataFrame, pl.DataFrame]:
    """Standardise columns of ``frame``; never drop, add or reorder rows.

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

    lazy = frame.lazy()
    for column, chain in chains.items():
        current = pl.col(column)
        for index, step in enumerate(chain):
            temp = _temp(column, index)
            lazy = lazy.with_columns(step.standardise(current).alias(temp))
            current = pl.col(temp).struct.field(VALUE)
    collected = lazy.collect()

    issue_frames = []
    finals: list[pl.Expr] = []
    extras: list[pl.Expr] = []
    for column, chain in chains.items():
        temps = [_temp(column, index) for index in range(len(chain))]
        for step, temp in zip(chain, temps, strict=True):
            issue_frames.append(
                collected.select(pl.col(temp).struct.field(REASON).alias("reason"))
                .drop_nulls()
                .group_by("reason")
                .agg(pl.len().cast(pl.UInt32).alias("count"))
                .select(
                    pl.lit(column).alias("column"),
                    pl.lit(step.kind).alias("standardiser"),
                    "reason",
                    "count",
                )
                .sort("count", "reason", descending=[True, False])
            )
            extras += [
                pl.col(temp).struct.field(part).alias(f"{column}_{part}")
                for part in step.parts
            ]
        finals.append(pl.col(temps[-1]).struct.field(VALUE).alias(column))
        if reasons:
            reason_fields = [pl.col(t).struct.field(REASON) for t in temps]
            extras.append(pl.coalesce(reason_fields).alias(f"{column}_reason"))
    standardised = collected.with_columns(finals).with_columns(extras)
    standardised = standardised.drop(
        [_temp(c, i) for c, chain in chains.items() for i in range(len(chain))]
    )
    issues = pl.concat(
        [pl.DataFrame(schema=ISSUES_SCHEMA), *issue_frames], how="vertical_relaxed"
    )
    return standardised, issues
