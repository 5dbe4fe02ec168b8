"""The static HTML report of a run: config, data quality, blocking, metrics, charts, pairs."""

from er_toolkit.report.html import (
    build_report,
    figure_png,
    log_report,
    table_html,
    write_report,
)
from er_toolkit.report.inputs import (
    ExplainedPair,
    blocking_summary,
    comparison_importance,
    explain_sample,
    label_pairs,
    mask_value,
    self_match_scores,
    term_frequency_table,
)
from er_toolkit.report.run import RunReport, training_report

__all__ = [
    "ExplainedPair",
    "RunReport",
    "blocking_summary",
    "build_report",
    "comparison_importance",
    "explain_sample",
    "figure_png",
    "label_pairs",
    "log_report",
    "mask_value",
    "self_match_scores",
    "table_html",
    "term_frequency_table",
    "training_report",
    "write_report",
]
