"""Placeholder values (test@test.com, 0000000000, 1900-01-01): found, then treated as null.

Required fields get filled to get past a form: the same junk value then
sits in many unrelated records, and agreeing on it is no evidence at all
(worse: it links strangers). :func:`find_placeholders` finds them two ways:

- **shape** (the built-in rules, :data:`JUNK_WORDS`, :data:`JUNK_EMAIL_LOCAL`,
  :data:`JUNK_EMAIL_DOMAINS`, :data:`PLACEHOLDER_DATES`): values that are no
  value ("unknown", "n/a"), e-mails whose mailbox or domain says so
  (``test@``, ``noemail@``, ``@example.com``), numbers of one repeated digit
  or a run like 123456789 (``0000000000``, ``+44 1234 567890``), and the
  dates systems write for "unknown" (1900-01-01, the spreadsheet zero date
  1899-12-30, the Unix epoch 1970-01-01) when they are far commoner than
  the column's typical date;
- **frequency**: any value held by at least ``min_count`` records and by
  ``factor`` times more records than the column's 99th percentile value,
  and (with ``distinct_by``) by records of many different people: a real
  e-mail address or phone of one customer with forty records is shared by
  one name, a placeholder by hundreds.

:func:`null_placeholders` then sets them to null, so they are missing, not
agreeing, in every later stage; the data-quality profile counts them per
source and column (``placeholders``).
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any, Final

import numpy as np
import polars as pl

from er_toolkit import schema
from er_toolkit.config_values import check_keys, flag, number, whole
from er_toolkit.exceptions import ConfigError, SchemaError

__all__ = [
    "JUNK_EMAIL_DOMAINS",
    "JUNK_EMAIL_LOCAL",
    "JUNK_WORDS",
    "PLACEHOLDERS_SCHEMA",
    "PLACEHOLDER_DATES",
    "PlaceholderConfig",
    "classify_placeholders",
    "count_quantiles",
    "find_placeholders",
    "null_placeholders",
    "placeholder_counts",
    "placeholder_keys",
]

JUNK_WORDS: Final[tuple[str, ...]] = (
    "unknown", "not known", "notknown", "n/a", "na", "n.a.", "none", "null", "nil",
    "nan", "undefined", "-", "--", ".", "?", "x", "xx", "xxx", "test", "tbc", "tba",
    "no address", "no email", "no phone", "not applicable", "not available",
)  # fmt: skip
"""Whole values (case and surrounding spaces ignored) that stand for "no value"."""

JUNK_EMAIL_LOCAL: Final[tuple[str, ...]] = (
    "test", "testing", "noemail", "nomail", "no.email", "no-email", "none", "no",
    "na", "n/a", "null", "nil", "unknown", "example", "noreply", "no-reply",
    "donotreply", "nobody", "dummy", "fake", "asdf", "x", "xx", "xxx", "abc",
)  # fmt: skip
"""Mailboxes (the part before ``@``) that are no one's address."""

JUNK_EMAIL_DOMAINS: Final[tuple[str, ...]] = (
    "example.com", "example.org", "example.net", "test.com", "noemail.com",
    "none.com", "nomail.com", "invalid", "localhost",
)  # fmt: skip
"""Domains no customer has a mailbox at (``example.com`` is reserved, RFC 2606)."""

PLACEHOLDER_DATES: Final[tuple[str, ...]] = (
    "1900-01-01", "1901-01-01", "1899-12-30", "1899-12-31", "1970-01-01",
    "1800-01-01", "0001-01-01", "1111-11-11", "9999-12-31", "2099-12-31",
)  # fmt: skip
"""ISO dates written for "unknown": placeholders where far commoner than a typical date."""

PLACEHOLDERS_SCHEMA: Final = {
    "column": pl.String,
    "value": pl.String,
    "records": pl.UInt32,
    "rule": pl.String,
}
"""Columns of :func:`find_placeholders`' frame, one row per placeholder value."""

_VALUE: Final = "__placeholder_value"
_BY: Final = "__by"
_DISTINCT: Final = "__distinct"


@dataclass(frozen=True)
class PlaceholderConfig:
    """Which columns to search for placeholders, and how (the ``[placeholders]`` table).

    Parameters
    ----------
    columns
        The columns searched (after standardisation); none: the stage is off.
    builtin
        Use the built-in shape rules (see the module docstring).
    frequency
        Use the frequency rule: on by default (``min_count`` 20, ``factor``
        10); off, only the shape rules and the declared ``values`` apply.
    min_count
        The frequency rule never flags a value held by fewer records.
    factor
        ... nor one held by fewer than ``factor`` times the records of the
        column's 99th percentile value.
    distinct_by
        A column telling people apart (a surname, a name key): with it, the
        frequency rule also asks that the records holding the value carry at
        least ``min_distinct_share`` distinct values of it per record.
    min_distinct_share
        See ``distinct_by``.
    date_factor
        A built-in placeholder date is one only where held by at least this
        many times the records of the column's median value.
    values
        Per column, values known to be placeholders (compared as text, case
        ignored).

    Examples
    --------
    >>> PlaceholderConfig.from_dict({"columns": ["email"], "min_count": 5}).min_count
    5
    """

    columns: tuple[str, ...] = ()
    builtin: bool = True
    frequency: bool = True
    min_count: int = 20
    factor: float = 10.0
    distinct_by: str | None = None
    min_distinct_share: float = 0.5
    date_factor: float = 5.0
    values: Mapping[str, tuple[str, ...]] = field(default_factory=dict)

    def __post_init__(self) -> None:
        if isinstance(self.columns, str) or not all(
            isinstance(c, str) and c for c in self.columns
        ):
            raise ConfigError(
                "[placeholders] columns must be a list of column names; got "
                f"{self.columns!r}."
            )
        object.__setattr__(self, "columns", tuple(self.columns))
        whole(self.min_count, "[placeholders] min_count", minimum=2)
        number(self.factor, "[placeholders] factor", low=1)
        number(self.date_factor, "[placeholders] date_factor", low=1)
        number(
            self.min_distinct_share, "[placeholders] min_distinct_share", low=0, high=1
        )
        if self.distinct_by is not None and not isinstance(self.distinct_by, str):
            raise ConfigError(
                "[placeholders] distinct_by must be a column name; got "
                f"{self.distinct_by!r}."
            )
        if not isinstance(self.values, Mapping):
            raise ConfigError(
                "[placeholders] values must be a table of column = [values]; got "
                f"{type(self.values).__name__}."
            )
        known: dict[str, tuple[str, ...]] = {}
        for column, values in self.values.items():
            if isinstance(values, str) or not all(isinstance(v, str) for v in values):
                raise ConfigError(
                    f"[placeholders] values.{column} must be a list of strings; got "
                    f"{values!r}."
                )
            known[column] = tuple(values)
        stray = sorted(set(known) - set(self.columns))
        if stray:
            raise ConfigError(
                f"[placeholders] values names column(s) {stray} that are not in "
                f"[placeholders] columns {list(self.columns)}."
            )
        object.__setattr__(self, "values", known)

    @classmethod
    def from_dict(cls, spec: Mapping[str, Any]) -> PlaceholderConfig:
        """Build from the ``[placeholders]`` table."""
        check_keys(
            spec,
            {
                "columns",
                "builtin",
                "frequency",
                "min_count",
                "factor",
                "distinct_by",
                "min_distinct_share",
                "date_factor",
                "values",
            },
            "[placeholders]",
        )
        options = dict(spec)
        for key in ("builtin", "frequency"):
            if key in options:
                options[key] = flag(options[key], f"[placeholders] {key}")
        return cls(**options)

    def to_dict(self) -> dict[str, Any]:
        """Return the ``[placeholders]`` table (empty when the stage is off)."""
        if not self.columns:
            return {}
        out: dict[str, Any] = {
            "columns": list(self.columns),
            "builtin": self.builtin,
            "frequency": self.frequency,
            "min_count": self.min_count,
            "factor": self.factor,
            "min_distinct_share": self.min_distinct_share,
            "date_factor": self.date_factor,
        }
        if self.distinct_by is not None:
            out["distinct_by"] = self.distinct_by
        if self.values:
            out["values"] = {k: list(v) for k, v in self.values.items()}
        return out

    @property
    def reads(self) -> tuple[str, ...]:
        """Every column the stage reads."""
        extra = () if self.distinct_by is None else (self.distinct_by,)
        return tuple(dict.fromkeys([*self.columns, *extra]))


def _text(values: pl.Expr) -> pl.Expr:
    text = values.cast(pl.String).str.strip_chars()
    return pl.when(text.str.len_chars() > 0).then(text)


def _shape(values: pl.Expr) -> pl.Expr:
    """Whether a value's shape says it is a placeholder (no frequency needed)."""
    lower = values.str.to_lowercase()
    local = lower.str.extract(r"^([^@]+)@", 1)
    domain = lower.str.extract(r"@([^@]+)$", 1)
    digits = values.str.replace_all(r"[\s().\-/+]", "")
    # all digits, with a run of one digit seven times or 123456789: one regex
    # (each use of ``digits`` would compute it again)
    runs = "|".join([str(d) * 7 for d in range(10)] + ["123456789", "987654321"])
    junk_number = digits.str.contains(rf"^[0-9]*(?:{runs})[0-9]*$")
    return (
        lower.is_in(list(JUNK_WORDS))
        | local.is_in(list(JUNK_EMAIL_LOCAL))
        | domain.is_in(list(JUNK_EMAIL_DOMAINS))
        | junk_number
    ).fill_null(False)


def find_placeholders(records: pl.DataFrame, config: PlaceholderConfig) -> pl.DataFrame:
    """Return the placeholder values of the configured columns.

    Parameters
    ----------
    records
        The records (standardised: one placeholder then has one spelling).
    config
        The columns and rules.

    Returns
    -------
    polars.DataFrame
        :data:`PLACEHOLDERS_SCHEMA`: ``column``, ``value`` (as text),
        ``records`` holding it and the ``rule`` that found it (``"shape"``,
        ``"date"``, ``"frequency"`` or ``"declared"``), most records first.

    Raises
    ------
    SchemaError
        A configured column is missing.

    Examples
    --------
    >>> records = pl.DataFrame({"email": ["test@test.com", "ann@x.org", None]})
    >>> find_placeholders(records, PlaceholderConfig(columns=("email",))).rows()
    [('email', 'test@test.com', 1, 'shape')]
    """
    missing = [c for c in config.reads if c not in records.columns]
    if missing:
        raise SchemaError(
            f"[placeholders] reads column(s) {missing}, which the records lack; the "
            f"records have {records.columns}."
        )
    frames = [pl.DataFrame(schema=PLACEHOLDERS_SCHEMA)]
    for column in config.columns:
        frames.append(_column_placeholders(records, column, config))
    found = pl.concat(frames, how="vertical_relaxed")
    return found.sort(["records", "column", "value"], descending=[True, False, False])


def placeholder_keys(
    records: pl.DataFrame, column: str, config: PlaceholderConfig
) -> pl.DataFrame:
    """Return each record's value of ``column`` as the rules read it (and its ``distinct_by`` value).

    A function of each record alone: an engine may run it on any split of
    the records, then count the values over all of them
    (:func:`classify_placeholders` takes the counts).
    """
    key = [_text(pl.col(column)).alias(_VALUE)]
    if config.distinct_by is not None:
        key.append(_text(pl.col(config.distinct_by)).alias(_BY))
    return records.lazy().select(key).filter(pl.col(_VALUE).is_not_null()).collect()


def count_quantiles(records: np.ndarray, values: np.ndarray) -> tuple[float, float]:
    """Return the 99th percentile (nearest) and the median of the values' record counts.

    The counts are given as a histogram: ``values[i]`` values are held by
    ``records[i]`` records each. The result is what polars'
    ``Series.quantile(0.99)`` and ``Series.median()`` give on the counts
    themselves, without holding a count per value.

    Examples
    --------
    >>> count_quantiles(np.array([1, 2, 40]), np.array([97, 2, 1]))
    (2.0, 1.0)
    """
    order = np.argsort(records, kind="stable")
    records = np.asarray(records, dtype=np.float64)[order]
    ends = np.cumsum(np.asarray(values, dtype=np.int64)[order])
    n = int(ends[-1]) if ends.size else 0
    if n == 0:
        return 1.0, 1.0

    def at(index: int) -> float:  # the index-th smallest count
        return float(records[np.searchsorted(ends, index, side="right")])

    # polars "nearest": index (n - 1) * q rounded half away from zero
    p99 = at(min(math.floor((n - 1) * 0.99 + 0.5), n - 1))
    middle = (n - 1) * 0.5
    low, high = at(math.floor(middle)), at(math.ceil(middle))
    return p99, low + (high - low) * (middle - math.floor(middle))


def classify_placeholders(
    counts: pl.DataFrame,
    column: str,
    config: PlaceholderConfig,
    *,
    p99: float,
    median: float,
) -> pl.DataFrame:
    """Return the placeholder values among ``counts`` (:data:`PLACEHOLDERS_SCHEMA`).

    ``counts`` holds one row per distinct value of :func:`placeholder_keys`
    over every record: the value, ``records`` holding it and, with
    ``distinct_by``, ``__distinct`` (distinct ``distinct_by`` values, null
    counted as one, as polars' ``n_unique``); ``p99`` and ``median`` are
    :func:`count_quantiles` of the counts. Each row is judged alone, so an
    engine may run this on any split of the counts.
    """
    n = pl.col("records")
    frequent = (n >= config.min_count) & (n >= config.factor * p99)
    if config.distinct_by is not None:
        frequent = frequent & (pl.col(_DISTINCT) / n >= config.min_distinct_share)
    declared = (
        pl.col(_VALUE)
        .str.to_lowercase()
        .is_in([v.strip().lower() for v in config.values.get(column, ())])
    )
    rules: list[tuple[pl.Expr, str]] = [(declared, "declared")]
    if config.builtin:
        dates = pl.col(_VALUE).str.slice(0, 10).is_in(list(PLACEHOLDER_DATES)) & (
            n >= max(config.date_factor * median, 3)
        )
        rules += [(_shape(pl.col(_VALUE)), "shape"), (dates, "date")]
    if config.frequency:
        rules.append((frequent, "frequency"))
    # the first rule that holds names the value's rule
    rule = pl.coalesce([pl.when(test).then(pl.lit(name)) for test, name in rules])
    return (
        counts.select(
            pl.lit(column, dtype=pl.String).alias("column"),
            pl.col(_VALUE).cast(pl.String).alias("value"),
            pl.col("records").cast(pl.UInt32),
            rule.alias("rule"),
        )
        .drop_nulls("rule")
        .cast(PLACEHOLDERS_SCHEMA)  # type: ignore[arg-type]
    )


def _column_placeholders(
    records: pl.DataFrame, column: str, config: PlaceholderConfig
) -> pl.DataFrame:
    aggregates = [pl.len().cast(pl.UInt32).alias("records")]
    if config.distinct_by is not None:
        aggregates.append(pl.col(_BY).n_unique().alias(_DISTINCT))
    counts = placeholder_keys(records, column, config).group_by(_VALUE).agg(aggregates)
    if counts.is_empty():
        return pl.DataFrame(schema=PLACEHOLDERS_SCHEMA)
    histogram = counts.group_by("records").len()
    p99, median = count_quantiles(
        histogram.get_column("records").to_numpy(),
        histogram.get_column("len").to_numpy(),
    )
    return classify_placeholders(counts, column, config, p99=p99, median=median)


def _is_placeholder(column: str, found: pl.DataFrame) -> pl.Expr:
    values = found.filter(pl.col("column") == column).get_column("value")
    return _text(pl.col(column)).is_in(values.implode()).fill_null(False)


def null_placeholders(records: pl.DataFrame, found: pl.DataFrame) -> pl.DataFrame:
    """Set the values ``found`` (:func:`find_placeholders`) to null; types are kept.

    Examples
    --------
    >>> records = pl.DataFrame({"email": ["test@test.com", "ann@x.org"]})
    >>> config = PlaceholderConfig(columns=("email",))
    >>> null_placeholders(records, find_placeholders(records, config)).rows()
    [(None,), ('ann@x.org',)]
    """
    columns = [c for c in found.get_column("column").unique() if c in records.columns]
    return records.with_columns(
        pl.when(~_is_placeholder(c, found)).then(pl.col(c)).alias(c) for c in columns
    )


def placeholder_counts(
    records: pl.DataFrame, found: pl.DataFrame, columns: Sequence[str]
) -> pl.DataFrame:
    """Count the placeholder values per source and column (before nulling them).

    Returns
    -------
    polars.DataFrame
        ``source``, ``column``, ``placeholders`` (UInt32), one row per source
        and searched column.
    """
    if schema.SOURCE in records.columns:
        source = pl.col(schema.SOURCE).cast(pl.String)
    else:
        source = pl.lit("all")
    frames = [
        records.lazy()
        .group_by(source.alias("source"))
        .agg(_is_placeholder(c, found).sum().cast(pl.UInt32).alias("placeholders"))
        .with_columns(pl.lit(c).alias("column"))
        .select("source", "column", "placeholders")
        for c in columns
    ]
    if not frames:
        return pl.DataFrame(
            schema={"source": pl.String, "column": pl.String, "placeholders": pl.UInt32}
        )
    return pl.concat(pl.collect_all(frames))
