"""Data quality over time: each batch's profile against the store's baseline, drift flagged."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any, Final, Literal

import polars as pl

from er_toolkit.config_values import check_keys, choice, number

__all__ = ["DRIFT_METRICS", "MonitoringConfig", "drift_report"]

DRIFT_METRICS: Final = ("completeness", "validity", "uniqueness")
"""The profile measures compared: share present, share valid (of present
values, where a standardiser checks them), distinct share (of present
values)."""

Baseline = Literal["first", "previous"]


@dataclass(frozen=True)
class MonitoringConfig:
    """When a batch's data quality has drifted (the ``[monitoring]`` table).

    Parameters
    ----------
    max_completeness_drop
        Flag a column whose share of present values fell by more than this
        (0.05: five points).
    max_validity_drop
        Flag a column whose share of valid values fell by more than this.
    max_uniqueness_change
        Flag a column whose distinct share moved by more than this either
        way. The distinct share of a small batch is naturally higher than
        that of a large baseline; set this loosely, or compare batches of a
        size.
    baseline
        ``"first"``: the store's first batch; ``"previous"``: the batch
        before the latest.

    Examples
    --------
    >>> MonitoringConfig.from_dict({"max_completeness_drop": 0.1}).max_completeness_drop
    0.1
    """

    max_completeness_drop: float = 0.05
    max_validity_drop: float = 0.05
    max_uniqueness_change: float = 0.25
    baseline: Baseline = "first"

    @classmethod
    def from_dict(cls, spec: Mapping[str, Any]) -> MonitoringConfig:
        """Build from the ``[monitoring]`` table."""
        check_keys(
            spec,
            {
                "max_completeness_drop",
                "max_validity_drop",
                "max_uniqueness_change",
                "baseline",
            },
            "[monitoring]",
        )
        default = cls()
        return cls(
            max_completeness_drop=number(
                spec.get("max_completeness_drop", default.max_completeness_drop),
                "[monitoring] max_completeness_drop",
                low=0,
                high=1,
            ),
            max_validity_drop=number(
                spec.get("max_validity_drop", default.max_validity_drop),
                "[monitoring] max_validity_drop",
                low=0,
                high=1,
            ),
            max_uniqueness_change=number(
                spec.get("max_uniqueness_change", default.max_uniqueness_change),
                "[monitoring] max_uniqueness_change",
                low=0,
                high=1,
            ),
            baseline=choice(  # type: ignore[arg-type]
                spec.get("baseline", default.baseline),
                "[monitoring] baseline",
                ("first", "previous"),
            ),
        )

    def to_dict(self) -> dict[str, Any]:
        """Return the ``[monitoring]`` table."""
        return {
            "max_completeness_drop": self.max_completeness_drop,
            "max_validity_drop": self.max_validity_drop,
            "max_uniqueness_change": self.max_uniqueness_change,
            "baseline": self.baseline,
        }


_KEYS: Final = ["stage", "source", "column"]
REPORT_SCHEMA: Final = pl.Schema(
    {
        "baseline_batch": pl.Int64,
        "batch_id": pl.Int64,
        "stage": pl.String,
        "source": pl.String,
        "column": pl.String,
        "metric": pl.String,
        "baseline": pl.Float64,
        "latest": pl.Float64,
        "change": pl.Float64,
        "limit": pl.Float64,
        "drift": pl.Boolean,
    }
)


def drift_report(
    profiles: pl.DataFrame, config: MonitoringConfig | None = None
) -> pl.DataFrame:
    """Compare the latest batch's profile with the baseline's, per source and column.

    Parameters
    ----------
    profiles
        Stored batch profiles (:meth:`MasterStore.profiles
        <er_toolkit.master.MasterStore.profiles>`): ``batch_id``, ``stage``,
        ``source``, ``column`` and the measures of :data:`DRIFT_METRICS`.
    config
        The thresholds; the defaults of :class:`MonitoringConfig` if None.

    Returns
    -------
    polars.DataFrame
        One row per stage, source, column and measure both batches have:
        ``baseline`` and ``latest`` values, ``change`` (latest - baseline),
        the ``limit`` and ``drift`` (the change is beyond the limit: a drop
        for completeness and validity, either way for uniqueness). Sources
        or columns new in the latest batch are left out. Empty with fewer
        than two batches.

    Examples
    --------
    >>> p = pl.DataFrame({"batch_id": [1, 2], "stage": "before", "source": "crm",
    ...                   "column": "email", "completeness": [0.95, 0.70],
    ...                   "validity": [0.99, 0.98], "uniqueness": [0.9, 0.9]})
    >>> drift_report(p).filter("drift").select("metric", "change").rows()
    [('completeness', -0.25)]
    """
    config = config or MonitoringConfig()
    if profiles.height == 0:
        return pl.DataFrame(schema=REPORT_SCHEMA)
    batches = profiles.get_column("batch_id").unique().sort()
    if batches.len() < 2:
        return pl.DataFrame(schema=REPORT_SCHEMA)
    latest = int(batches[-1])
    baseline = int(batches[0] if config.baseline == "first" else batches[-2])
    limits = {
        "completeness": config.max_completeness_drop,
        "validity": config.max_validity_drop,
        "uniqueness": config.max_uniqueness_change,
    }
    metrics = [m for m in DRIFT_METRICS if m in profiles.columns]

    def long(batch: int, name: str) -> pl.DataFrame:
        return (
            profiles.filter(pl.col("batch_id") == batch)
            .select(*_KEYS, *(pl.col(m).cast(pl.Float64) for m in metrics))
            .unpivot(index=_KEYS, on=metrics, variable_name="metric", value_name=name)
        )

    joined = long(baseline, "baseline").join(
        long(latest, "latest"), on=[*_KEYS, "metric"], how="inner"
    )
    change = pl.col("latest") - pl.col("baseline")
    limit = pl.col("metric").replace_strict(limits, return_dtype=pl.Float64)
    beyond = (
        pl.when(pl.col("metric") == "uniqueness")
        .then(change.abs() > limit)
        .otherwise(-change > limit)
    )
    return (
        joined.filter(pl.col("baseline").is_not_null() & pl.col("latest").is_not_null())
        .with_columns(change.alias("change"), limit.alias("limit"))
        .with_columns(beyond.alias("drift"))
        .select(
            pl.lit(baseline, dtype=pl.Int64).alias("baseline_batch"),
            pl.lit(latest, dtype=pl.Int64).alias("batch_id"),
            *_KEYS,
            "metric",
            "baseline",
            "latest",
            pl.col("change").round(12),
            "limit",
            "drift",
        )
        .sort(*_KEYS, "metric")
    )
