"""The ``[golden]`` table: the default rule, per-attribute rules, raw or standardised."""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from typing import Any, Final, Literal

import polars as pl

from er_toolkit.exceptions import ConfigError
from er_toolkit.golden.base import SurvivorshipRule
from er_toolkit.golden.build import DEFAULT_RULE, Frame, Lineage, build_golden
from er_toolkit.golden.registry import (
    as_chain,
    chain_from_dict,
    chain_to_dict,
    rule_from_dict,
)

FORMAT_VERSION: Final = 1
"""Version of the layout :meth:`GoldenConfig.to_dict` writes."""
NO_DEFAULT: Final = "none"
"""``default = "none"``: attributes without a rule of their own are not mastered."""
VALUES: Final = ("standardised", "raw")

_KEYS: Final = {"format_version", "default", "attributes", "columns", "values"}


@dataclass(frozen=True)
class GoldenConfig:
    """How golden records are built, declared.

    Parameters
    ----------
    default
        The rule of every attribute without one in ``rules``; None masters
        only the attributes ``rules`` (or ``columns``) names.
    rules
        Attribute -> its rules, applied in turn.
    columns
        The attributes to master, in order; None: every feature column.
    values
        ``"standardised"`` (the default): golden values as standardisation
        left them. ``"raw"``: rules still choose on standardised values, but
        each golden value is the chosen record's value as its source wrote
        it; :meth:`build` then needs the records before standardisation.

    Examples
    --------
    >>> import tomllib
    >>> config = GoldenConfig.from_dict(tomllib.loads('''
    ... default = "most_frequent"
    ... [attributes]
    ... email = { rule = "most_recent", timestamp = "updated_at" }
    ... phone = [{ rule = "source_priority", sources = ["crm", "web"] }, "longest"]
    ... '''))
    >>> config.rules["email"]
    (MostRecent(timestamp='updated_at'),)
    >>> config.to_dict()["attributes"]["phone"]
    [{'rule': 'source_priority', 'sources': ['crm', 'web']}, {'rule': 'longest'}]
    """

    default: SurvivorshipRule | None = DEFAULT_RULE
    rules: Mapping[str, tuple[SurvivorshipRule, ...]] = field(default_factory=dict)
    columns: tuple[str, ...] | None = None
    values: Literal["standardised", "raw"] = "standardised"

    def __post_init__(self) -> None:
        if self.values not in VALUES:
            raise ConfigError(
                f"[golden] 'values' must be one of {', '.join(map(repr, VALUES))}; "
                f"got {self.values!r}."
            )
        for attribute, chain in self.rules.items():
            as_chain(attribute, chain)
        if self.columns is not None:
            stray = [a for a in self.rules if a not in self.columns]
            if stray:
                raise ConfigError(
                    f"[golden.attributes] gives rules for {stray}, which are not in "
                    f"[golden] 'columns' {list(self.columns)}; add them to "
                    "'columns' or drop their rules."
                )

    @classmethod
    def from_dict(cls, spec: Mapping[str, Any]) -> GoldenConfig:
        """Build from the ``[golden]`` table (or :meth:`to_dict`'s output).

        Raises
        ------
        ConfigError
            An unknown key, rule or option, or a value of the wrong type.
        """
        if not isinstance(spec, Mapping):
            raise ConfigError(f"[golden] must be a table; got {type(spec).__name__}.")
        unknown = sorted(set(spec) - _KEYS)
        if unknown:
            raise ConfigError(
                f"Unknown key(s) {unknown} in [golden]; valid keys are {sorted(_KEYS)}."
            )
        version = spec.get("format_version", FORMAT_VERSION)
        if version != FORMAT_VERSION:
            raise ConfigError(
                f"[golden] format_version {version!r} is not supported; this version "
                f"of er_toolkit reads format_version {FORMAT_VERSION}."
            )
        declared = spec.get("default", DEFAULT_RULE.kind)
        default = None if declared == NO_DEFAULT else rule_from_dict(declared)
        attributes = spec.get("attributes", {})
        if not isinstance(attributes, Mapping):
            raise ConfigError(
                "[golden.attributes] must be a table of attribute = rule; got "
                f"{type(attributes).__name__}."
            )
        columns = spec.get("columns")
        if columns is not None and (
            isinstance(columns, str)
            or not isinstance(columns, Iterable)
            or not all(isinstance(c, str) for c in columns)
        ):
            raise ConfigError(
                f"[golden] 'columns' must be a list of column names; got {columns!r}."
            )
        return cls(
            default=default,
            rules={str(a): chain_from_dict(r) for a, r in attributes.items()},
            columns=None if columns is None else tuple(columns),
            values=spec.get("values", "standardised"),
        )

    def to_dict(self) -> dict[str, Any]:
        """Return the declarations, for TOML or JSON."""
        out: dict[str, Any] = {
            "format_version": FORMAT_VERSION,
            "default": NO_DEFAULT if self.default is None else self.default.to_dict(),
            "values": self.values,
        }
        if self.columns is not None:
            out["columns"] = list(self.columns)
        out["attributes"] = {a: chain_to_dict(c) for a, c in self.rules.items()}
        return out

    def build(
        self,
        records: Frame,
        clusters: Frame,
        *,
        raw: Frame | None = None,
        cluster_ids: Iterable[str] | None = None,
        lineage: Lineage = "ids",
    ) -> pl.DataFrame:
        """Build the golden records these declarations describe.

        Parameters
        ----------
        records, clusters, cluster_ids, lineage
            As for :func:`~er_toolkit.golden.build_golden`.
        raw
            The records before standardisation; needed with ``values =
            "raw"``, ignored otherwise.

        Returns
        -------
        polars.DataFrame
            The golden records (see :func:`~er_toolkit.golden.build_golden`).

        Examples
        --------
        >>> records = pl.DataFrame({"record_id": ["1", "2"], "source": "crm",
        ...                         "name": ["ann lee", "ann lee"]})
        >>> clusters = records.select("record_id", "source", cluster_id=pl.lit("c"))
        >>> GoldenConfig().build(records, clusters).row(0)
        ('c', 'ann lee', '1', 'crm', 'unanimous')
        """
        if self.values == "raw" and raw is None:
            raise ConfigError(
                "[golden] values = 'raw' needs the records before standardisation; "
                "pass them as raw=, or set values = 'standardised'."
            )
        return build_golden(
            records,
            clusters,
            self.rules,
            default=self.default,
            columns=self.columns,
            cluster_ids=cluster_ids,
            raw=raw if self.values == "raw" else None,
            lineage=lineage,
        )
