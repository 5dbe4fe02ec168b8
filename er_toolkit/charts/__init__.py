"""Matplotlib charts of a linkage run; each takes plain frames and returns a Figure.

The figures are built with :class:`matplotlib.figure.Figure` directly, not
pyplot, so they leave no global state behind, work without a display and
show inline in Jupyter as the value of a cell.
"""

from er_toolkit.charts._common import probability_to_weight, weight_to_probability
from er_toolkit.charts.blocking import blocking_chart
from er_toolkit.charts.curves import precision_recall_chart, threshold_chart
from er_toolkit.charts.distributions import (
    cluster_size_chart,
    match_weight_histogram,
    unlinkable_chart,
)
from er_toolkit.charts.importance import feature_importance_chart
from er_toolkit.charts.quality import completeness_chart
from er_toolkit.charts.weights import (
    match_weights_chart,
    term_frequency_chart,
    waterfall_chart,
)

__all__ = [
    "blocking_chart",
    "cluster_size_chart",
    "completeness_chart",
    "feature_importance_chart",
    "match_weight_histogram",
    "match_weights_chart",
    "precision_recall_chart",
    "probability_to_weight",
    "term_frequency_chart",
    "threshold_chart",
    "unlinkable_chart",
    "waterfall_chart",
    "weight_to_probability",
]
