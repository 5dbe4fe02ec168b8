"""The master store's tables: their names, columns and the format version."""

from __future__ import annotations

from typing import Final

__all__ = [
    "FORMAT_VERSION",
    "READABLE_FORMAT_VERSIONS",
    "STATIC_TABLES",
    "create_tables",
]

FORMAT_VERSION: Final = 1
"""The layout this release writes (``meta`` key ``format_version``)."""
READABLE_FORMAT_VERSIONS: Final = (1,)

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
    "keys": "blocker SMALLINT, key VARCHAR, _row BIGINT",
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
