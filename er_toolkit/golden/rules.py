"""Survivorship rules: one small frozen dataclass each."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, ClassVar, Literal

import polars as pl

from er_toolkit import schema
from er_toolkit.exceptions import ConfigError
from er_toolkit.golden.base import (
    Preference,
    check_column_name,
    cluster_frequency,
    options_dict,
)

__all__ = [
    "BestQuality",
    "Longest",
    "Max",
    "Min",
    "MostComplete",
    "MostFrequent",
    "MostRecent",
    "SourcePriority",
    "SqlRule",
]


@dataclass(frozen=True, kw_only=True)
class MostFrequent:
    """The value most records of the cluster hold.

    Examples
    --------
    >>> from er_toolkit.golden import build_golden
    >>> records = pl.DataFrame({"record_id": ["1", "2", "3"], "source": "crm",
    ...                         "city": ["Leeds", "York", "York"]})
    >>> clusters = records.select("record_id", "source", cluster_id=pl.lit("c"))
    >>> build_golden(records, clusters, {"city": MostFrequent()}).row(0)
    ('c', 'York', '2', 'crm', 'most_frequent')
    """

    kind: ClassVar[str] = "most_frequent"

    @property
    def columns(self) -> tuple[str, ...]:
        """No other columns."""
        return ()

    def rank(self, value: pl.Expr) -> tuple[Preference, ...]:
        """Prefer the value held by the most records."""
        return (Preference(cluster_frequency(value), descending=True),)

    def to_dict(self) -> dict[str, Any]:
        """Return the declaration."""
        return options_dict(self)


@dataclass(frozen=True, kw_only=True)
class MostRecent:
    """The value of the record with the latest timestamp.

    Parameters
    ----------
    timestamp
        The record column to order by: a date, datetime or number, or ISO
        8601 text (which sorts in time order). A record with no timestamp
        loses to every record with one.

    Examples
    --------
    >>> from er_toolkit.golden import build_golden
    >>> records = pl.DataFrame({"record_id": ["1", "2"], "source": "crm",
    ...                         "email": ["old@x.org", "new@x.org"],
    ...                         "updated": ["2023-01-05", "2024-03-01"]})
    >>> clusters = records.select("record_id", "source", cluster_id=pl.lit("c"))
    >>> rules = {"email": MostRecent(timestamp="updated")}
    >>> build_golden(records, clusters, rules, default=None).row(0)
    ('c', 'new@x.org', '2', 'crm', 'most_recent')
    """

    kind: ClassVar[str] = "most_recent"
    timestamp: str

    def __post_init__(self) -> None:
        check_column_name("MostRecent", "timestamp", self.timestamp)

    @property
    def columns(self) -> tuple[str, ...]:
        """The timestamp column."""
        return (self.timestamp,)

    def rank(self, value: pl.Expr) -> tuple[Preference, ...]:
        """Prefer the latest timestamp."""
        return (Preference(pl.col(self.timestamp), descending=True),)

    def to_dict(self) -> dict[str, Any]:
        """Return the declaration."""
        return options_dict(self)


@dataclass(frozen=True, kw_only=True)
class Longest:
    """The longest value (most characters, as text).

    Examples
    --------
    >>> from er_toolkit.golden import build_golden
    >>> records = pl.DataFrame({"record_id": ["1", "2"], "source": "crm",
    ...                         "street": ["1 High St", "1 High Street"]})
    >>> clusters = records.select("record_id", "source", cluster_id=pl.lit("c"))
    >>> build_golden(records, clusters, {"street": Longest()}).item(0, "street")
    '1 High Street'
    """

    kind: ClassVar[str] = "longest"

    @property
    def columns(self) -> tuple[str, ...]:
        """No other columns."""
        return ()

    def rank(self, value: pl.Expr) -> tuple[Preference, ...]:
        """Prefer the value with the most characters."""
        return (Preference(value.cast(pl.String).str.len_chars(), descending=True),)

    def to_dict(self) -> dict[str, Any]:
        """Return the declaration."""
        return options_dict(self)


@dataclass(frozen=True, kw_only=True)
class MostComplete:
    """The value of the record that fills the most of ``columns``.

    Give every part of an address this rule over the address columns and all
    parts come from one record: ties go to the lowest ``(source,
    record_id)`` here, not to the most frequent value, so parts never mix.

    Parameters
    ----------
    columns
        The record columns whose non-missing values are counted.

    Examples
    --------
    >>> from er_toolkit.golden import build_golden
    >>> records = pl.DataFrame({"record_id": ["1", "2"], "source": "crm",
    ...                         "street": ["1 High St", "2 Low Rd"],
    ...                         "city": [None, "York"]})
    >>> clusters = records.select("record_id", "source", cluster_id=pl.lit("c"))
    >>> address = MostComplete(columns=("street", "city"))
    >>> golden = build_golden(records, clusters, {"street": address, "city": address})
    >>> golden.select("street", "city", "street__record_id").row(0)
    ('2 Low Rd', 'York', '2')
    """

    kind: ClassVar[str] = "most_complete"
    columns: tuple[str, ...]

    def __post_init__(self) -> None:
        if isinstance(self.columns, str) or not self.columns:
            raise ConfigError(
                "The 'columns' parameter of MostComplete must be a non-empty list "
                f"of column names; got {self.columns!r}."
            )
        for column in self.columns:
            check_column_name("MostComplete", "columns", column)

    def rank(self, value: pl.Expr) -> tuple[Preference, ...]:
        """Prefer the record with the most non-missing ``columns``."""
        filled = pl.sum_horizontal(pl.col(c).is_not_null() for c in self.columns)
        return (
            Preference(filled, descending=True),
            Preference(pl.col(schema.SOURCE), descending=False),
            Preference(pl.col(schema.RECORD_ID), descending=False),
        )

    def to_dict(self) -> dict[str, Any]:
        """Return the declaration."""
        return options_dict(self)


@dataclass(frozen=True, kw_only=True)
class SourcePriority:
    """The value from the most trusted source.

    Parameters
    ----------
    sources
        Source names, most trusted first. Records of sources not listed come
        after every listed source.

    Examples
    --------
    >>> from er_toolkit.golden import build_golden
    >>> records = pl.DataFrame({"record_id": ["1", "2"], "source": ["web", "crm"],
    ...                         "phone": ["+441", "+442"]})
    >>> clusters = records.select("record_id", "source", cluster_id=pl.lit("c"))
    >>> rules = {"phone": SourcePriority(sources=("crm", "web"))}
    >>> build_golden(records, clusters, rules).select("phone", "phone__source").row(0)
    ('+442', 'crm')
    """

    kind: ClassVar[str] = "source_priority"
    sources: tuple[str, ...]

    def __post_init__(self) -> None:
        if (
            isinstance(self.sources, str)
            or not self.sources
            or not all(isinstance(s, str) for s in self.sources)
        ):
            raise ConfigError(
                "The 'sources' parameter of SourcePriority must be a non-empty list "
                f"of source names, most trusted first; got {self.sources!r}."
            )
        repeated = sorted({s for s in self.sources if self.sources.count(s) > 1})
        if repeated:
            raise ConfigError(
                f"The 'sources' parameter of SourcePriority lists {repeated} more "
                "than once; list each source once."
            )

    @property
    def columns(self) -> tuple[str, ...]:
        """No other columns (``source`` is always there)."""
        return ()

    def rank(self, value: pl.Expr) -> tuple[Preference, ...]:
        """Prefer sources listed earlier; unlisted sources rank as null (last)."""
        position = pl.col(schema.SOURCE).replace_strict(
            list(self.sources),
            list(range(len(self.sources))),
            default=None,
            return_dtype=pl.UInt32,
        )
        return (Preference(position, descending=False),)

    def to_dict(self) -> dict[str, Any]:
        """Return the declaration."""
        return options_dict(self)


@dataclass(frozen=True, kw_only=True)
class Max:
    """The highest value (latest date, largest number, last in text order).

    Examples
    --------
    >>> from er_toolkit.golden import build_golden
    >>> records = pl.DataFrame({"record_id": ["1", "2"], "source": "crm",
    ...                         "spend": [10.0, 25.5]})
    >>> clusters = records.select("record_id", "source", cluster_id=pl.lit("c"))
    >>> build_golden(records, clusters, {"spend": Max()}).item(0, "spend")
    25.5
    """

    kind: ClassVar[str] = "max"

    @property
    def columns(self) -> tuple[str, ...]:
        """No other columns."""
        return ()

    def rank(self, value: pl.Expr) -> tuple[Preference, ...]:
        """Prefer the highest value."""
        return (Preference(value, descending=True),)

    def to_dict(self) -> dict[str, Any]:
        """Return the declaration."""
        return options_dict(self)


@dataclass(frozen=True, kw_only=True)
class Min:
    """The lowest value (earliest date, smallest number, first in text order).

    Examples
    --------
    >>> from er_toolkit.golden import build_golden
    >>> records = pl.DataFrame({"record_id": ["1", "2"], "source": "crm",
    ...                         "since": ["2019-04-01", "2015-07-30"]})
    >>> clusters = records.select("record_id", "source", cluster_id=pl.lit("c"))
    >>> build_golden(records, clusters, {"since": Min()}).item(0, "since")
    '2015-07-30'
    """

    kind: ClassVar[str] = "min"

    @property
    def columns(self) -> tuple[str, ...]:
        """No other columns."""
        return ()

    def rank(self, value: pl.Expr) -> tuple[Preference, ...]:
        """Prefer the lowest value."""
        return (Preference(value, descending=False),)

    def to_dict(self) -> dict[str, Any]:
        """Return the declaration."""
        return options_dict(self)


@dataclass(frozen=True, kw_only=True)
class BestQuality:
    """The first present value by a quality score, highest score first.

    Parameters
    ----------
    quality
        The record column holding each record's quality score (a number; a
        record without one loses to every record with one).

    Examples
    --------
    >>> from er_toolkit.golden import build_golden
    >>> records = pl.DataFrame({"record_id": ["1", "2", "3"], "source": "crm",
    ...                         "name": ["j smith", None, "john smith"],
    ...                         "score": [0.4, 0.9, 0.7]})
    >>> clusters = records.select("record_id", "source", cluster_id=pl.lit("c"))
    >>> rules = {"name": BestQuality(quality="score")}
    >>> build_golden(records, clusters, rules, default=None).item(0, "name")
    'john smith'
    """

    kind: ClassVar[str] = "best_quality"
    quality: str

    def __post_init__(self) -> None:
        check_column_name("BestQuality", "quality", self.quality)

    @property
    def columns(self) -> tuple[str, ...]:
        """The quality column."""
        return (self.quality,)

    def rank(self, value: pl.Expr) -> tuple[Preference, ...]:
        """Prefer the highest quality score."""
        return (Preference(pl.col(self.quality), descending=True),)

    def to_dict(self) -> dict[str, Any]:
        """Return the declaration."""
        return options_dict(self)


def _compile_sql(expression: object) -> pl.Expr:
    if not isinstance(expression, str) or not expression.strip():
        raise ConfigError(
            "The 'expression' parameter of SqlRule must be a SQL expression such "
            f'as "LENGTH(email)"; got {expression!r}.'
        )
    try:
        return pl.sql_expr(expression)
    except pl.exceptions.PolarsError as exc:
        raise ConfigError(
            f"The 'expression' parameter of SqlRule is not a SQL expression polars "
            f"can compile: {expression!r} ({exc}). Write one scalar expression over "
            "the record's columns, e.g. \"CASE WHEN source = 'crm' THEN 1 ELSE 0 "
            'END" or "LENGTH(email)".'
        ) from exc


@dataclass(frozen=True, kw_only=True)
class SqlRule:
    """Rank candidates by a SQL expression over their columns, compiled by polars.

    The expression is compiled with :func:`polars.sql_expr` (never
    evaluated as Python) and computed for every candidate record; the
    candidate with the best score wins. A boolean expression selects: true
    beats false. Aggregates need a window, e.g. ``COUNT(*) OVER (PARTITION
    BY cluster_id, email)``.

    Parameters
    ----------
    expression
        One SQL scalar expression over the record columns, ``cluster_id``,
        ``source`` and ``record_id``.
    prefer
        ``"highest"`` (the default) or ``"lowest"`` score wins. A null score
        loses to every non-null one.

    Examples
    --------
    >>> from er_toolkit.golden import build_golden
    >>> records = pl.DataFrame({"record_id": ["1", "2"], "source": "crm",
    ...                         "email": ["jo@gmail.com", "jo@acme.com"]})
    >>> clusters = records.select("record_id", "source", cluster_id=pl.lit("c"))
    >>> work = SqlRule(expression="email NOT LIKE '%@gmail.com'")
    >>> build_golden(records, clusters, {"email": work}).item(0, "email")
    'jo@acme.com'
    """

    kind: ClassVar[str] = "sql"
    expression: str
    prefer: Literal["highest", "lowest"] = "highest"

    def __post_init__(self) -> None:
        _compile_sql(self.expression)
        if self.prefer not in ("highest", "lowest"):
            raise ConfigError(
                "The 'prefer' parameter of SqlRule must be one of 'highest', "
                f"'lowest'; got {self.prefer!r}."
            )

    @property
    def columns(self) -> tuple[str, ...]:
        """The columns the expression reads."""
        names = _compile_sql(self.expression).meta.root_names()
        return tuple(dict.fromkeys(names))

    def rank(self, value: pl.Expr) -> tuple[Preference, ...]:
        """Prefer the best score of the expression."""
        return (
            Preference(
                _compile_sql(self.expression), descending=self.prefer == "highest"
            ),
        )

    def to_dict(self) -> dict[str, Any]:
        """Return the declaration."""
        return options_dict(self)
