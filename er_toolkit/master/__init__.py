"""The master store: records, clusters, golden records, steward decisions and audit in one DuckDB file.

``MasterStore`` (and the DuckDB it needs) is imported on first use, so
reading a config (which parses ``[monitoring]``) does not load DuckDB.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from er_toolkit.master.monitoring import MonitoringConfig, drift_report

if TYPE_CHECKING:
    from er_toolkit.master.store import BatchSummary, MasterStore

__all__ = ["BatchSummary", "MasterStore", "MonitoringConfig", "drift_report"]


def __getattr__(name: str) -> Any:
    if name in ("MasterStore", "BatchSummary"):
        from er_toolkit.master import store

        return getattr(store, name)
    raise AttributeError(f"module 'er_toolkit.master' has no attribute {name!r}")
