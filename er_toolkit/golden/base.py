"""The SurvivorshipRule protocol, the preferences rules rank by, and the tie-break."""

from __future__ import annotations

import dataclasses
from typing import Any, ClassVar, Final, NamedTuple, Protocol, runtime_checkable

import polars as pl

from er_toolkit.exceptions import ConfigError

UNANIMOUS: Final = "unanimous"
"""Lineage rule of a value every non-missing candidate of its cluster agrees on."""
TIE_BREAK: Final = "tie_break"
"""Lineage rule of a value the attribute's rules could not separate from
another, so the tie-break chose it: the value more of the cluster's records
hold, then the record with the lowest ``source``, then the lowest
``record_id`` (as text). ``(source, record_id)`` is unique, so the winner
never depends on the order of the input rows."""


CLUSTER_CODE: Final = "__golden_cluster"
"""Column of the candidate frame holding each cluster's integer code (dense,
in ``cluster_id`` order): a window over it sees one cluster, and costs less
than one over the ``cluster_id`` text."""


class Preference(NamedTuple):
    """One sort key of a rule: the candidate with the best key wins.

    Attributes
    ----------
    expr
        Evaluated on the frame of candidate records of one attribute (see
        :class:`SurvivorshipRule`); it must give one value per candidate.
    descending
        True: the highest key wins; False: the lowest. A null key loses to
        every non-null key, whichever the direction.
    """

    expr: pl.Expr
    descending: bool


@runtime_checkable
class SurvivorshipRule(Protocol):
    """Anything that ranks the candidate values of one attribute in a cluster.

    A rule is a small frozen dataclass with keyword-only options. Its one
    verb, :meth:`rank`, turns the attribute's value expression into the
    preferences candidates are sorted by, best first.

    The expressions are evaluated on a frame that holds one row per record
    of the clusters of two or more records (a record alone in its cluster
    needs no ranking): ``cluster_id``, ``record_id``, ``source``, the
    attribute, the rule's :attr:`columns`, and the cluster's integer code
    :data:`CLUSTER_CODE`. A window ``.over(CLUSTER_CODE)`` (or
    ``.over("cluster_id")``) sees one cluster. Missing values (null, NaN, or
    text that is empty or only whitespace) arrive as null.

    Missing values of the attribute never win over a present one, whatever
    the rule says; ties the rules leave go to the tie-break (see
    :data:`TIE_BREAK`).
    """

    kind: ClassVar[str]
    """The name of the rule in configs and lineage."""

    @property
    def columns(self) -> tuple[str, ...]:
        """Record columns the rule reads besides the attribute."""
        ...

    def rank(self, value: pl.Expr) -> tuple[Preference, ...]:
        """Return the preferences that order the candidates of ``value``."""
        ...

    def to_dict(self) -> dict[str, Any]:
        """Return the declaration: ``{"rule": kind, **options}``."""
        ...


def cluster_frequency(value: pl.Expr) -> pl.Expr:
    """Count the candidates of the same cluster that hold the same value.

    Examples
    --------
    >>> df = pl.DataFrame({CLUSTER_CODE: [1, 1, 1, 2], "x": [7, 7, 8, 7]})
    >>> df.select(cluster_frequency(pl.col("x"))).to_series().to_list()
    [2, 2, 1, 1]
    """
    return pl.len().over(CLUSTER_CODE, value)


def options_dict(rule: Any) -> dict[str, Any]:
    """Return the declaration of a dataclass rule, tuples as lists.

    Examples
    --------
    >>> from er_toolkit.golden import SourcePriority
    >>> options_dict(SourcePriority(sources=("crm", "erp")))
    {'rule': 'source_priority', 'sources': ['crm', 'erp']}
    """
    out: dict[str, Any] = {"rule": rule.kind}
    for field in dataclasses.fields(rule):
        value = getattr(rule, field.name)
        out[field.name] = list(value) if isinstance(value, tuple) else value
    return out


def check_column_name(owner: str, name: str, value: object) -> None:
    """Raise ConfigError unless ``value`` is a non-empty column name."""
    if not isinstance(value, str) or not value.strip():
        raise ConfigError(
            f"The {name!r} parameter of {owner} must be a column name; got {value!r}."
        )
