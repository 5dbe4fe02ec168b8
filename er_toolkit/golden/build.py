"""Build golden records: one row per cluster, each value with its lineage."""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from typing import Final, Literal

import polars as pl

from er_toolkit import schema
from er_toolkit.cluster import CLUSTER_SIZE
from er_toolkit.exceptions import ConfigError, SchemaError
from er_toolkit.golden.base import (
    CLUSTER_CODE,
    TIE_BREAK,
    UNANIMOUS,
    SurvivorshipRule,
    cluster_frequency,
)
from er_toolkit.golden.registry import RuleChain, as_chain
from er_toolkit.golden.rules import MostFrequent

__all__ = ["DEFAULT_RULE", "build_golden", "golden_lineage"]

DEFAULT_RULE: Final = MostFrequent()
"""The rule of every attribute without one of its own."""

RESERVED: Final = frozenset(
    {schema.ROW, schema.RECORD_ID, schema.SOURCE, schema.CLUSTER_ID, CLUSTER_SIZE}
)
"""Record columns that are never mastered unless asked for by name."""

_PRESENT: Final = "__golden_present"
_RAW: Final = "__golden_raw_"
_KEY: Final = "__golden_key_"
_NULL: Final = "_null"
_INDEX: Final = "__golden_index"
_SIZE: Final = "__golden_size"
_START: Final = "__golden_start"
_FREQUENCY: Final = "__golden_frequency"
_VALUE_MISSING: Final = "__golden_missing"
_OTHER: Final = "__golden_other"
_LABEL: Final = "__golden_label"
_BROKEN: Final = "__golden_broken"
_CODE: Final = CLUSTER_CODE
_IDS: Final = [schema.SOURCE, schema.RECORD_ID]
_ENGINE: Final = "in-memory"
"""Polars engine for these plans: sorts and windows over frames already in
memory run about twice as fast in it as in the streaming engine."""

Frame = pl.DataFrame | pl.LazyFrame
Lineage = Literal["ids", "rows"]
ROW_LINEAGE: Final = schema.LINEAGE_SEPARATOR + "row"
"""With ``lineage="rows"``: ``<attribute>__row``, the supplying record's ``_row``."""


def _require(frame_schema: pl.Schema, columns: Iterable[str], *, name: str) -> None:
    missing = [c for c in dict.fromkeys(columns) if c not in frame_schema]
    if missing:
        raise SchemaError(
            f"{name} lacks column(s) {missing}; valid columns: {list(frame_schema)}."
        )


def _attributes(
    records_schema: pl.Schema,
    chains: Mapping[str, tuple[SurvivorshipRule, ...]],
    default: SurvivorshipRule | None,
    columns: Sequence[str] | None,
) -> dict[str, tuple[SurvivorshipRule, ...]]:
    """Return each attribute to master, in output order, with its rules."""
    if columns is not None:
        if isinstance(columns, str):
            raise ConfigError(
                f"'columns' must be a list of column names; got the string {columns!r}."
            )
        names = list(dict.fromkeys(columns))
        stray = [a for a in chains if a not in names]
        if stray:
            raise ConfigError(
                f"Survivorship rules are given for {stray}, which are not in "
                f"'columns' {names}; add them to 'columns' or drop their rules."
            )
    else:
        names = list(chains)
        if default is not None:
            names += [
                c for c in records_schema if c not in RESERVED and c not in chains
            ]
    _require(records_schema, names, name="records")
    unruled = [a for a in names if a not in chains]
    if unruled and default is None:
        raise ConfigError(
            f"Attribute(s) {unruled} have no survivorship rule and there is no "
            "default rule; give each a rule or pass default=."
        )
    if default is not None and not isinstance(default, SurvivorshipRule):
        raise ConfigError(
            "'default' must be a SurvivorshipRule or None; got "
            f"{type(default).__name__}."
        )
    fallback: tuple[SurvivorshipRule, ...] = () if default is None else (default,)
    out = {a: chains.get(a, fallback) for a in names}
    outputs = [schema.CLUSTER_ID]
    for a in out:
        outputs += [a, *(schema.lineage(a, f) for f in schema.LINEAGE_FIELDS)]
    clashes = sorted({c for c in outputs if outputs.count(c) > 1})
    if clashes:
        raise SchemaError(
            f"Golden records would hold column(s) {clashes} twice (an attribute "
            "clashes with cluster_id or another attribute's lineage); rename the "
            "attribute."
        )
    return out


def _missing_as_null(name: str, dtype: pl.DataType) -> pl.Expr:
    """Turn NaN and blank text into null, so a missing value never wins."""
    column = pl.col(name)
    if dtype == pl.String:
        return pl.when(column.str.strip_chars() != "").then(column).alias(name)
    if dtype.is_float():
        return column.fill_nan(None).alias(name)
    return column


def _row_number() -> pl.Expr:
    """Row numbers as one integer type, whatever type each frame gave them."""
    return pl.col(schema.ROW).cast(pl.Int64)


def _members(clusters: Frame, cluster_ids: Iterable[str] | None) -> pl.LazyFrame:
    """Return cluster membership in golden order: cluster, source, record id."""
    clusters_schema = clusters.lazy().collect_schema()
    _require(clusters_schema, [schema.CLUSTER_ID, *_IDS], name="clusters")
    members = clusters.lazy().select(
        pl.col(schema.CLUSTER_ID).cast(pl.String),
        *(pl.col(c).cast(pl.String) for c in _IDS),
        *([_row_number()] if schema.ROW in clusters_schema else []),
    )
    if cluster_ids is not None:
        if isinstance(cluster_ids, str):
            raise ConfigError(
                "'cluster_ids' must be a collection of cluster ids; got the string "
                f"{cluster_ids!r}. Wrap one id in a list."
            )
        wanted = pl.Series(list(cluster_ids), dtype=pl.String)
        members = members.filter(pl.col(schema.CLUSTER_ID).is_in(wanted.implode()))
    return members.sort(schema.CLUSTER_ID, *_IDS)


def _join_checked(
    left: pl.LazyFrame, right: pl.LazyFrame, *, name: str
) -> pl.DataFrame:
    """Join ``right`` onto every row of ``left``, by ``_row`` when both have it.

    Row numbers are joined as integers (much faster than two text columns);
    the ids they point at must then agree.
    """
    on_row = (
        schema.ROW in left.collect_schema() and schema.ROW in right.collect_schema()
    )
    marked = right.with_columns(pl.lit(True).alias(_PRESENT))
    if on_row:
        marked = marked.rename({c: c + _OTHER for c in _IDS})
    try:
        joined = left.join(
            marked,
            on=[schema.ROW] if on_row else _IDS,
            how="left",
            validate="1:1",
            nulls_equal=True,
            maintain_order="left",
        ).collect(engine=_ENGINE)
    except pl.exceptions.ComputeError as exc:
        key = schema.ROW if on_row else "(source, record_id)"
        raise SchemaError(
            f"Each {key} must appear once in clusters and once in {name}; some "
            "appear more often. Deduplicate ids before mastering."
        ) from exc
    absent = joined.get_column(_PRESENT).null_count()
    if absent:
        key = schema.ROW if on_row else "source and record_id"
        raise SchemaError(
            f"{absent} cluster member(s) have no record in {name} (matched on "
            f"{key}); pass the {name} the clusters were made from."
        )
    if on_row:
        disagree = joined.select(
            pl.any_horizontal(
                pl.col(c).ne_missing(pl.col(c + _OTHER)) for c in _IDS
            ).sum()
        ).item()
        if disagree:
            raise SchemaError(
                f"{disagree} {schema.ROW} number(s) point at a different (source, "
                f"record_id) in clusters and in {name}; pass the {name} the "
                "clusters were made from, or drop _row from one of them to "
                "match on ids."
            )
        joined = joined.drop([c + _OTHER for c in _IDS])
    return joined.drop(_PRESENT)


def _candidates(
    records: Frame,
    clusters: Frame,
    attributes: Mapping[str, tuple[SurvivorshipRule, ...]],
    *,
    cluster_ids: Iterable[str] | None,
    raw: Frame | None,
) -> pl.DataFrame:
    """Join each cluster member to its record, in golden order, with codes.

    Rows are sorted by ``cluster_id``, ``source``, ``record_id``; the row
    index is therefore the tie-break order, and a dense cluster code
    numbers the clusters in ``cluster_id`` order.
    """
    records_schema = records.lazy().collect_schema()
    _require(records_schema, _IDS, name="records")
    read = [*attributes]
    for chain in attributes.values():
        for rule in chain:
            read += rule.columns
    read = [c for c in dict.fromkeys(read) if c not in (schema.CLUSTER_ID, *_IDS)]
    _require(records_schema, read, name="records")
    rows = records.lazy().select(
        *(pl.col(c).cast(pl.String) for c in _IDS),
        *([_row_number()] if schema.ROW in records_schema else []),
        *(_missing_as_null(c, records_schema[c]) for c in read if c != schema.ROW),
    )
    base = _join_checked(_members(clusters, cluster_ids), rows, name="records")
    if raw is not None:
        raw_schema = raw.lazy().collect_schema()
        _require(raw_schema, _IDS, name="raw")
        raw_rows = raw.lazy().select(
            *(pl.col(c).cast(pl.String) for c in _IDS),
            *([_row_number()] if schema.ROW in raw_schema else []),
            *(
                pl.col(a).alias(_RAW + a)
                for a in attributes
                if a in raw_schema and a != schema.ROW
            ),
        )
        base = _join_checked(base.lazy(), raw_rows, name="raw")
    cluster = pl.col(schema.CLUSTER_ID)
    code = cluster.ne_missing(cluster.shift(1)).fill_null(True).cum_sum()
    return (
        base.lazy()
        .with_columns(code.cast(pl.UInt32).alias(_CODE))
        .with_columns(pl.len().over(_CODE).alias(_SIZE))
        .with_row_index(_INDEX)
        .collect(engine=_ENGINE)
    )


def _check_keys(keys: pl.Schema, rules: Sequence[tuple[str, str]]) -> None:
    for name, kind in rules:
        if keys[name].is_nested() or keys[name] == pl.Object:
            raise ConfigError(
                f"Survivorship rule {kind!r} ranks by a {keys[name]} value, which "
                "cannot be ordered; rank by a number, text, date or boolean."
            )


def _rank_shared(
    shared: pl.DataFrame, attribute: str, chain: tuple[SurvivorshipRule, ...]
) -> pl.DataFrame:
    """Choose among the candidates of clusters of two or more records.

    Candidates are sorted by the rules alone; only the clusters whose best
    two different values the rules leave tied are sorted again by the
    tie-break (more frequent value first), so value counts are taken for
    those few clusters, not for every record.

    Returns one row per cluster: its code, the winner's row index and what
    chose it.
    """
    value = pl.col(attribute)
    keys: list[pl.Expr] = [value.is_null().alias(_VALUE_MISSING)]
    flags: list[pl.Expr] = []
    order: list[str] = [_CODE, _VALUE_MISSING]
    descending: list[bool] = [False, False]
    owners: list[tuple[str, list[str]]] = []
    for rule in chain:
        names = []
        for preference in rule.rank(value):
            name = f"{_KEY}{len(keys)}"
            keys.append(preference.expr.alias(name))
            # A null key loses whatever the direction: a flag sorts it last.
            flags.append(pl.col(name).is_null().alias(name + _NULL))
            order += [name + _NULL, name]
            descending += [False, preference.descending]
            names.append(name)
        owners.append((rule.kind, names))
    order.append(_INDEX)
    descending.append(False)

    columns = [c for rule in chain for c in rule.columns]
    carried = dict.fromkeys(
        [_INDEX, _CODE, _START, schema.CLUSTER_ID, *_IDS, attribute, *columns]
    )
    ranked = shared.lazy().select(*carried).with_columns(keys).with_columns(flags)
    kinds = [rule.kind for rule in chain]
    try:
        key_schema = ranked.collect_schema()
    except pl.exceptions.PolarsError as exc:
        reason = str(exc).splitlines()[0]
        raise ConfigError(
            f"The survivorship rule(s) {kinds} of attribute {attribute!r} cannot "
            f"rank these records: {reason}"
        ) from exc
    _check_keys(key_schema, [(name, kind) for kind, names in owners for name in names])
    start = pl.col(_START)
    # What separates each candidate from its cluster's first: the first rule
    # whose keys differ, else nothing (the tie-break decides).
    label = pl.coalesce(
        *(
            pl.when(
                pl.any_horizontal(
                    ~pl.col(n).eq_missing(pl.col(n).gather(start)) for n in names
                )
            ).then(pl.lit(kind))
            for kind, names in owners
        ),
        pl.lit(TIE_BREAK),
    )
    other = value.is_not_null() & value.ne_missing(value.gather(start))
    # Sorting moves rows only within their cluster, so each cluster's first
    # row stays at the position _START holds.
    try:
        marked = (
            ranked.select(attribute, _START, *order)
            .sort(order, descending=descending)
            .with_columns(other.alias(_OTHER), label.alias(_LABEL))
            .collect(engine=_ENGINE)
        )
    except pl.exceptions.PolarsError as exc:
        # polars' message may quote record values; name only the error's kind
        raise ConfigError(
            f"The survivorship rule(s) {kinds} of attribute {attribute!r} failed "
            f"on these records ({type(exc).__name__}); check the rule's "
            "expression against the column types."
        ) from None
    first = pl.col(_CODE).is_first_distinct()
    runner_up = marked.filter(_OTHER).filter(first).select(_CODE, _LABEL)
    chosen = (
        marked.filter(first)
        .select(_CODE, _INDEX, _VALUE_MISSING)
        .join(runner_up, on=_CODE, how="left", maintain_order="left")
    )
    # Tied clusters: among the candidates level with the first on every rule,
    # the value most of the cluster's records hold, then the lowest row.
    tied = chosen.filter(pl.col(_LABEL) == TIE_BREAK).select(_CODE)
    if tied.height:
        broken = (
            marked.join(tied, on=_CODE, how="semi")
            .with_columns(cluster_frequency(value).alias(_FREQUENCY))
            .filter((pl.col(_LABEL) == TIE_BREAK) & value.is_not_null())
            .sort([_CODE, _FREQUENCY, _INDEX], descending=[False, True, False])
            .filter(first)
            .select(_CODE, pl.col(_INDEX).alias(_BROKEN))
        )
        chosen = chosen.join(broken, on=_CODE, how="left", maintain_order="left")
        index = pl.coalesce(_BROKEN, _INDEX).alias(_INDEX)
    else:
        index = pl.col(_INDEX)
    decided = (
        pl.when(pl.col(_VALUE_MISSING))
        .then(None)
        .when(pl.col(_LABEL).is_null())
        .then(pl.lit(UNANIMOUS))
        .otherwise(pl.col(_LABEL))
    )
    return chosen.select(_CODE, index, decided.cast(pl.String).alias(schema.RULE))


def _split(base: pl.DataFrame) -> tuple[pl.DataFrame, pl.DataFrame]:
    """Split candidates into clusters of one record and the rest.

    The rest get ``_START``: the position of their cluster's first row.
    """
    single = base.filter(pl.col(_SIZE) == 1)
    shared = base.filter(pl.col(_SIZE) > 1).with_columns(
        pl.when(pl.col(_CODE).is_first_distinct())
        .then(pl.int_range(pl.len(), dtype=pl.UInt32))
        .forward_fill()
        .alias(_START)
    )
    return single, shared


def _choose(
    single: pl.DataFrame,
    shared: pl.DataFrame,
    attribute: str,
    chain: tuple[SurvivorshipRule, ...],
) -> pl.LazyFrame:
    """Return each cluster's winner of ``attribute``: code, row index, rule."""
    alone = single.lazy().select(
        _CODE,
        _INDEX,
        pl.when(pl.col(attribute).is_not_null())
        .then(pl.lit(UNANIMOUS))
        .alias(schema.RULE),
    )
    return pl.concat([alone, _rank_shared(shared, attribute, chain).lazy()]).sort(_CODE)


def _golden_columns(
    base: pl.DataFrame, chosen: pl.DataFrame, attribute: str, lineage: Lineage
) -> list[pl.Series]:
    """Gather the winners' values and lineage for one attribute."""
    index = chosen.get_column(_INDEX)
    shown = _RAW + attribute if _RAW + attribute in base.columns else attribute
    ids = (
        [pl.col(schema.ROW).gather(index).alias(attribute + ROW_LINEAGE)]
        if lineage == "rows"
        else [
            pl.col(schema.RECORD_ID)
            .gather(index)
            .alias(schema.lineage(attribute, "record_id")),
            pl.col(schema.SOURCE)
            .gather(index)
            .alias(schema.lineage(attribute, "source")),
        ]
    )
    picked = base.select(
        pl.col(attribute).gather(index).is_not_null().alias(_PRESENT),
        pl.col(shown).gather(index).alias(attribute),
        *ids,
    )
    present = picked.get_column(_PRESENT)
    out = [
        picked.get_column(c).zip_with(
            present, pl.Series([None], dtype=picked.schema[c])
        )
        for c in picked.columns[1:]
    ]
    return [
        *out,
        chosen.get_column(schema.RULE).alias(schema.lineage(attribute, "rule")),
    ]


def build_golden(
    records: Frame,
    clusters: Frame,
    rules: Mapping[str, RuleChain] | None = None,
    *,
    default: SurvivorshipRule | None = DEFAULT_RULE,
    columns: Sequence[str] | None = None,
    cluster_ids: Iterable[str] | None = None,
    raw: Frame | None = None,
    lineage: Lineage = "ids",
) -> pl.DataFrame:
    """Build one golden record per cluster, each value with its lineage.

    For every attribute the candidates are the values of the cluster's
    records, sorted best first by:

    1. a present value before a missing one (null, NaN, or blank text): a
       missing value wins only when every candidate is missing;
    2. the attribute's rules, in turn (each breaks the ties of the one
       before);
    3. the tie-break (:data:`~er_toolkit.golden.TIE_BREAK`): the value
       held by more of the cluster's records, then the lowest ``source``,
       then the lowest ``record_id``.

    The first candidate supplies the golden value and its lineage. The
    order of input rows never changes the result.

    Parameters
    ----------
    records
        The records: ``record_id``, ``source``, the attributes and every
        column the rules read. Records outside ``clusters`` are ignored.
    clusters
        Cluster membership: ``record_id``, ``source``, ``cluster_id`` (as
        :func:`~er_toolkit.cluster.connected_components` returns), each
        record once.
    rules
        Attribute -> its rule, or a sequence of rules applied in turn.
    default
        The rule of every attribute without one in ``rules``; None masters
        only the attributes ``rules`` names.
    columns
        The attributes to master, in output order. By default: those in
        ``rules``, then (with a ``default`` rule) every other column of
        ``records`` but ``_row``, ``record_id``, ``source``, ``cluster_id``
        and ``cluster_size``.
    cluster_ids
        Master only these clusters (the ones a batch touched); the others
        are left out of the result.
    raw
        The records before standardisation (``record_id``, ``source`` and
        the attributes as the sources wrote them). Rules still choose on the
        standardised ``records``; each golden value is then the chosen
        record's value in ``raw``. Attributes ``raw`` lacks (such as the
        parts standardisers add) keep their standardised value.
    lineage
        ``"ids"``: name the supplying record by ``<attribute>__record_id``
        and ``<attribute>__source``; ``"rows"``: by ``<attribute>__row``,
        its ``_row`` (``records`` and ``clusters`` must carry ``_row``), as
        the master store keeps it.

    Returns
    -------
    polars.DataFrame
        One row per cluster, sorted by ``cluster_id``: ``cluster_id``, then
        for each attribute its value and lineage: ``<attribute>__record_id``
        and ``<attribute>__source`` (the record that supplied it) and
        ``<attribute>__rule`` (what chose it: the kind of the rule that put
        it ahead of the best different value; ``"unanimous"`` when every
        present candidate holds this value; ``"tie_break"`` when the rules
        could not separate them). When every candidate is missing, the value
        and its lineage are null.

    Raises
    ------
    SchemaError
        A frame lacks a column, an id appears twice, or a cluster member has
        no record.
    ConfigError
        An attribute has no rule, or a rule is not a SurvivorshipRule or ranks
        by values that cannot be ordered.

    Examples
    --------
    >>> from er_toolkit.golden import MostRecent, SourcePriority
    >>> records = pl.DataFrame({
    ...     "record_id": ["1", "2", "3"],
    ...     "source": ["crm", "web", "web"],
    ...     "email": ["a@x.org", "b@x.org", None],
    ...     "phone": ["+441", None, "+442"],
    ...     "updated": ["2024-01-01", "2024-06-01", "2023-01-01"],
    ... })
    >>> clusters = records.select("record_id", "source", cluster_id=pl.lit("crm:1"))
    >>> golden = build_golden(records, clusters, {
    ...     "email": MostRecent(timestamp="updated"),
    ...     "phone": SourcePriority(sources=("crm", "web")),
    ... }, default=None)
    >>> golden.columns
    ['cluster_id', 'email', 'email__record_id', 'email__source', 'email__rule', 'phone', 'phone__record_id', 'phone__source', 'phone__rule']
    >>> golden.row(0)
    ('crm:1', 'b@x.org', '2', 'web', 'most_recent', '+441', '1', 'crm', 'source_priority')
    """
    chains = {
        str(attribute): as_chain(str(attribute), chain)
        for attribute, chain in (rules or {}).items()
    }
    records_schema = records.lazy().collect_schema()
    attributes = _attributes(records_schema, chains, default, columns)
    base = _candidates(records, clusters, attributes, cluster_ids=cluster_ids, raw=raw)
    if lineage == "rows" and schema.ROW not in base.columns:
        raise SchemaError(
            f"lineage='rows' names records by {schema.ROW!r}, which records and "
            "clusters lack; pass frames with it, or lineage='ids'."
        )
    ids = base.lazy().filter(pl.col(_CODE).is_first_distinct()).sort(_CODE)
    if not attributes:
        return ids.select(schema.CLUSTER_ID).collect(engine=_ENGINE)
    single, shared = _split(base)
    plans = [ids.select(schema.CLUSTER_ID)] + [
        _choose(single, shared, attribute, chain)
        for attribute, chain in attributes.items()
    ]
    golden, *chosen = pl.collect_all(plans, engine=_ENGINE)
    gathered = [
        series
        for attribute, frame in zip(attributes, chosen, strict=True)
        for series in _golden_columns(base, frame, attribute, lineage)
    ]
    return golden.with_columns(gathered)


def golden_lineage(
    golden: pl.DataFrame, *, attributes: Sequence[str] | None = None
) -> pl.DataFrame:
    """Return the lineage of golden records as a long frame, one row per value.

    Parameters
    ----------
    golden
        Golden records, as :func:`build_golden` returns.
    attributes
        The attributes to list; by default every one with lineage columns.

    Returns
    -------
    polars.DataFrame
        ``cluster_id``, ``attribute``, ``value`` (as text), ``record_id``,
        ``source``, ``rule``; sorted by cluster, then attribute order.

    Examples
    --------
    >>> golden = pl.DataFrame({
    ...     "cluster_id": ["c"], "email": ["a@x.org"], "email__record_id": ["2"],
    ...     "email__source": ["web"], "email__rule": ["most_recent"],
    ... })
    >>> golden_lineage(golden).row(0)
    ('c', 'email', 'a@x.org', '2', 'web', 'most_recent')
    """
    if attributes is None:
        attributes = [
            c for c in golden.columns if schema.lineage(c, "rule") in golden.columns
        ]
    needed = [schema.CLUSTER_ID]
    for attribute in attributes:
        needed += [
            attribute,
            *(schema.lineage(attribute, f) for f in schema.LINEAGE_FIELDS),
        ]
    _require(golden.schema, needed, name="golden")
    order = "__golden_order"
    parts = [
        golden.lazy().select(
            pl.col(schema.CLUSTER_ID),
            pl.lit(attribute).alias(schema.ATTRIBUTE),
            pl.col(attribute).cast(pl.String).alias(schema.VALUE),
            *(
                pl.col(schema.lineage(attribute, f)).cast(pl.String).alias(f)
                for f in schema.LINEAGE_FIELDS
            ),
            pl.lit(index, dtype=pl.UInt32).alias(order),
        )
        for index, attribute in enumerate(attributes)
    ]
    if not parts:
        return pl.DataFrame(
            schema={
                schema.CLUSTER_ID: pl.String,
                schema.ATTRIBUTE: pl.String,
                schema.VALUE: pl.String,
                **dict.fromkeys(schema.LINEAGE_FIELDS, pl.String),
            }
        )
    return (
        pl.concat(parts)
        .sort(schema.CLUSTER_ID, order, maintain_order=True)
        .drop(order)
        .collect(engine=_ENGINE)
    )
