"""The master store's tables: their names, columns and the format version.

The store keeps two things in a compact form, and this module is the one
place that reads and writes them (lookups read through it too):

* blocking keys, as one 64-bit hash of ``(blocker position, key)`` per
  record and key (:func:`key_hash`, :func:`read_keys`), never the key text;
* golden lineage, as the store row of the record that supplied each value
  and a small integer code of the rule that chose it
  (:func:`encode_golden`, :func:`read_golden`), never the ids as text.
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from typing import TYPE_CHECKING, Any, Final

import numpy as np
import polars as pl

from er_toolkit import schema

if TYPE_CHECKING:
    from er_toolkit.master.db import Database

__all__ = [
    "FORMAT_VERSION",
    "KEY_HASH",
    "READABLE_FORMAT_VERSIONS",
    "STATIC_TABLES",
    "create_tables",
    "decode_golden",
    "encode_golden",
    "golden_rule_names",
    "key_hash",
    "key_hash_probe",
    "read_golden",
    "read_keys",
]

FORMAT_VERSION: Final = 2
"""The layout this release writes (``meta`` key ``format_version``).

Version 2 (er_toolkit 0.x, December 2026) stores blocking keys as hashes
and golden lineage as row numbers and rule codes; version 1 stored both as
text."""
READABLE_FORMAT_VERSIONS: Final = (2,)

KEY_HASH: Final = "key_hash"
"""Keys column: the 64-bit hash of a blocker's position and its key."""
ROW_LINEAGE: Final = "row"
"""Golden table lineage field: the store row that supplied a value
(``<attribute>__row``), in place of its ``record_id`` and ``source``."""
GOLDEN_RULES: Final = "golden_rules"
"""``meta`` key: the JSON list of rule names the golden ``__rule`` codes index."""
KEY_HASH_PROBE: Final = "key_hash_probe"
"""``meta`` key: :func:`key_hash_probe` when the keys were hashed."""
_PROBE_TEXT: Final = "0\x1fer_toolkit key hash probe"

RECORDS: Final = "records"
"""Standardised records: ``_row``, ``source``, ``record_id`` (text), the
batch that brought (``_batch_first``) and last changed (``_batch_last``) each
one, then the standardised feature columns. Made at the first batch."""
RAW: Final = "raw_records"
"""The same records as their sources wrote them: ``_row`` and the input
columns. Made at the first batch."""
GOLDEN: Final = "golden"
"""One golden record per cluster with lineage. Made at the first batch."""

STATIC_TABLES: Final[dict[str, str]] = {
    "meta": "key VARCHAR, value VARCHAR",
    "models": (
        "model_version INTEGER, created_at TIMESTAMP, actor VARCHAR, reason VARCHAR, "
        "uri VARCHAR, model VARCHAR, term_frequencies VARCHAR"
    ),
    "term_frequencies": (
        "model_version INTEGER, comparison VARCHAR, value_hash UBIGINT, count BIGINT"
    ),
    "keys": "key_hash UBIGINT, _row BIGINT",
    "pairs": (
        "_row_l BIGINT, _row_r BIGINT, match_weight DOUBLE, match_probability DOUBLE, "
        "model_version INTEGER"
    ),
    "membership": "_row BIGINT, cluster_id VARCHAR, component BIGINT",
    "clusters": (
        "cluster_id VARCHAR, seq BIGINT, cluster_size INTEGER, created_batch INTEGER, "
        "updated_batch INTEGER"
    ),
    "decisions": (
        "decision_id INTEGER, kind VARCHAR, source_a VARCHAR, record_id_a VARCHAR, "
        "row_a BIGINT, source_b VARCHAR, record_id_b VARCHAR, row_b BIGINT, "
        "actor VARCHAR, reason VARCHAR, created_at TIMESTAMP, active BOOLEAN, "
        "undone_at TIMESTAMP, undone_by VARCHAR, undo_reason VARCHAR"
    ),
    "audit": (
        "event_id BIGINT, occurred_at TIMESTAMP, batch_id INTEGER, kind VARCHAR, actor VARCHAR, "
        "reason VARCHAR, decision_id INTEGER, model_version INTEGER, "
        "clusters_before VARCHAR[], clusters_after VARCHAR[], "
        "records STRUCT(source VARCHAR, record_id VARCHAR)[]"
    ),
    "batches": (
        "batch_id INTEGER, applied_at TIMESTAMP, actor VARCHAR, reason VARCHAR, "
        "model_version INTEGER, records INTEGER, new_records INTEGER, "
        "changed_records INTEGER, unchanged_records INTEGER, clusters_touched INTEGER, "
        "clusters_created INTEGER, merges INTEGER, splits INTEGER, seconds DOUBLE"
    ),
    "profiles": (
        'batch_id INTEGER, stage VARCHAR, source VARCHAR, "column" VARCHAR, '
        'rows BIGINT, missing BIGINT, completeness DOUBLE, "distinct" BIGINT, '
        "uniqueness DOUBLE, invalid BIGINT, validity DOUBLE, invalid_reasons VARCHAR, "
        "length_min BIGINT, length_mean DOUBLE, length_max BIGINT, top_patterns VARCHAR"
    ),
}
"""Tables whose columns do not depend on the model, by name: the column list."""


def create_tables(con: object, *, schema: str = "main") -> None:
    """Create the static tables in ``schema`` of the DuckDB connection ``con``."""
    for name, columns in STATIC_TABLES.items():
        con.execute(f"CREATE TABLE {schema}.{name} ({columns})")  # type: ignore[attr-defined]


def key_hash(blocker: int | pl.Expr, key: pl.Expr) -> pl.Expr:
    """Hash a blocker's key as the store keeps it: its position, a unit separator, the key.

    polars' own hash: fast, stable within a polars version. The store
    records :func:`key_hash_probe` beside the hashes, and a writer that
    finds it changed (another polars) hashes every stored record's keys
    again (:meth:`~er_toolkit.master.MasterStore.open`). Two keys sharing a
    hash only add a candidate pair, which is scored like any other.

    Examples
    --------
    >>> frame = pl.DataFrame({"k": ["ann", "bob", None]})
    >>> hashed = frame.select(key_hash(0, pl.col("k"))).to_series()
    >>> hashed.dtype, hashed.null_count(), hashed[0] != hashed[1]
    (UInt64, 1, True)
    """
    head = (
        pl.lit(f"{blocker}\x1f")
        if isinstance(blocker, int)
        else pl.concat_str(blocker.cast(pl.String), pl.lit("\x1f"))
    )
    # a null key pairs nothing: its hash stays null (polars would hash the null)
    text = pl.concat_str(head, key.cast(pl.String))
    return pl.when(text.is_not_null()).then(text.hash(seed=0)).alias(KEY_HASH)


def key_hash_probe() -> str:
    """Return the hash this polars gives a fixed text, to tell whether stored key hashes still hold."""
    return str(pl.select(pl.lit(_PROBE_TEXT).hash(seed=0)).item())


def read_keys(db: Database) -> tuple[np.ndarray, np.ndarray]:
    """Return every stored key's hash and store row, sorted by hash (ties by row)."""
    keys = db.frame(f"SELECT {KEY_HASH}, _row FROM keys ORDER BY {KEY_HASH}, _row")
    return (
        keys.get_column(KEY_HASH).cast(pl.UInt64).to_numpy(),
        keys.get_column(schema.ROW).cast(pl.Int64).to_numpy(),
    )


def _row_lineage(attribute: str) -> str:
    return attribute + schema.LINEAGE_SEPARATOR + ROW_LINEAGE


def _attributes(columns: Sequence[str], field: str) -> list[str]:
    tail = schema.LINEAGE_SEPARATOR + field
    return [c[: -len(tail)] for c in columns if c.endswith(tail)]


def golden_rule_names(
    golden: Sequence[pl.DataFrame], rules: Sequence[str]
) -> list[str]:
    """Return ``rules`` and, after them in sorted order, the rule names ``golden`` holds that they lack.

    ``golden`` is one or more frames of golden records; their
    ``<attribute>__rule`` columns are text or categorical.

    Examples
    --------
    >>> parts = [pl.DataFrame({"name__rule": ["unanimous", None]}),
    ...     pl.DataFrame({"name__rule": ["most_frequent"]})]
    >>> golden_rule_names(parts, ["tie_break", "unanimous"])
    ['tie_break', 'unanimous', 'most_frequent']
    """
    columns = [
        schema.lineage(a, schema.RULE)
        for a in (_attributes(golden[0].columns, schema.RULE) if golden else [])
    ]
    seen = (
        pl.concat(
            [
                frame.get_column(c).unique().cast(pl.String)
                for frame in golden
                for c in columns
            ]
        )
        .drop_nulls()
        .unique()
        .sort()
        .to_list()
        if columns and any(frame.height for frame in golden)
        else []
    )
    names = list(rules)
    return names + [n for n in seen if n not in names]


def encode_golden(
    golden: pl.DataFrame, rules: Sequence[str]
) -> tuple[pl.DataFrame, list[str]]:
    """Return golden records as the store keeps them, and the rule names their codes index.

    ``golden`` carries ``<attribute>__row`` lineage (as
    ``build_golden(lineage="rows")`` gives it); each ``<attribute>__rule``
    (text or categorical) becomes a code into ``rules``, which grows by
    the names it lacks, in sorted order.

    Examples
    --------
    >>> golden = pl.DataFrame({"cluster_id": ["c1", "c2"], "name": ["ann", None],
    ...     "name__row": [4, None], "name__rule": ["unanimous", None]})
    >>> stored, names = encode_golden(golden, ["tie_break"])
    >>> stored.row(0), names
    (('c1', 'ann', 4, 1), ['tie_break', 'unanimous'])
    """
    names = golden_rule_names([golden], rules)
    columns = [
        schema.lineage(a, schema.RULE) for a in _attributes(golden.columns, schema.RULE)
    ]
    codes = pl.Series(names, dtype=pl.String)
    return (
        golden.with_columns(
            (
                pl.col(c)
                if golden.schema[c] == pl.Categorical
                else pl.col(c).cast(pl.String)
            ).replace_strict(
                codes, pl.int_range(len(names), eager=True), return_dtype=pl.UInt16
            )
            for c in columns
        ),
        names,
    )


def decode_golden(
    stored: pl.DataFrame, ids: pl.DataFrame, rules: Sequence[str]
) -> pl.DataFrame:
    """Return stored golden records with their lineage as ``build_golden`` gives it.

    ``ids`` maps store rows to ``source`` and ``record_id`` (it must hold
    every row the lineage names); codes index ``rules``.

    Examples
    --------
    >>> stored = pl.DataFrame({"cluster_id": ["c1"], "name": ["ann"],
    ...     "name__row": [4], "name__rule": [0]}, schema_overrides={"name__rule": pl.UInt16})
    >>> ids = pl.DataFrame({"_row": [4], "source": ["crm"], "record_id": ["7"]})
    >>> decode_golden(stored, ids, ["unanimous"]).row(0)
    ('c1', 'ann', '7', 'crm', 'unanimous')
    """
    attributes = _attributes(stored.columns, ROW_LINEAGE)
    ids = ids.select(
        pl.col(schema.ROW).cast(pl.Int64),
        pl.col(schema.SOURCE).cast(pl.String),
        pl.col(schema.RECORD_ID).cast(pl.String),
    )
    names = pl.Series(list(rules), dtype=pl.String)
    out: list[pl.Series] = [stored.get_column(schema.CLUSTER_ID)]
    for attribute in attributes:
        row = _row_lineage(attribute)
        rule = schema.lineage(attribute, schema.RULE)
        found = stored.select(pl.col(row).cast(pl.Int64).alias(schema.ROW)).join(
            ids, on=schema.ROW, how="left", maintain_order="left"
        )
        codes = stored.get_column(rule)
        out += [
            stored.get_column(attribute),
            found.get_column(schema.RECORD_ID).alias(
                schema.lineage(attribute, schema.RECORD_ID)
            ),
            found.get_column(schema.SOURCE).alias(
                schema.lineage(attribute, schema.SOURCE)
            ),
            (
                names.gather(codes.cast(pl.UInt32))
                if names.len()
                else pl.Series(rule, [None] * len(codes), dtype=pl.String)
            ).alias(rule),
        ]
    return pl.DataFrame(out)


def read_golden(
    db: Database, where: str = "", params: Any = None, **frames: pl.DataFrame
) -> pl.DataFrame:
    """Read golden records (all, or those ``where`` selects), decoded, by cluster id.

    ``where`` is a SQL condition on the ``golden`` table's columns;
    ``frames`` are visible to it under their keyword names (as for
    :meth:`~er_toolkit.master.db.Database.frame`).
    """
    if not db.has_table("golden"):
        return pl.DataFrame(schema={schema.CLUSTER_ID: pl.String})
    clause = f" WHERE {where}" if where else ""
    stored = db.frame(
        f"SELECT * FROM golden{clause} ORDER BY cluster_id", params, **frames
    )
    columns = [_row_lineage(a) for a in _attributes(stored.columns, ROW_LINEAGE)]
    if columns and stored.height:
        wanted = (
            pl.concat([stored.get_column(c).cast(pl.Int64) for c in columns])
            .drop_nulls()
            .unique()
            .alias(schema.ROW)
            .to_frame()
        )
        ids = db.frame(
            "SELECT _row, source, record_id FROM records "
            "WHERE _row IN (SELECT _row FROM {rows})",
            rows=wanted,
        )
    else:
        ids = pl.DataFrame(
            schema={
                schema.ROW: pl.Int64,
                schema.SOURCE: pl.String,
                schema.RECORD_ID: pl.String,
            }
        )
    rules = json.loads(db.meta().get(GOLDEN_RULES, "[]"))
    return decode_golden(stored, ids, rules)
