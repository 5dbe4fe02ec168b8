"""The report of one training run: every chart and table, from a fitted Linker."""

from __future__ import annotations

import os
import secrets
import sys
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any, TypeGuard

import polars as pl

from er_toolkit import charts, schema
from er_toolkit.compare import compare_pairs
from er_toolkit.evaluate import precision_recall_curve
from er_toolkit.report.html import build_report, write_report
from er_toolkit.report.inputs import (
    ExplainedPair,
    blocking_summary,
    comparison_importance,
    explain_sample,
    label_pairs,
    self_match_scores,
    term_frequency_table,
)
from er_toolkit.score import FellegiSunter

if TYPE_CHECKING:
    from matplotlib.figure import Figure

    from er_toolkit.pipeline import Linker
    from er_toolkit.score import ClassifierScorer


def _is_classifier(scorer: object) -> TypeGuard[ClassifierScorer]:
    """Whether ``scorer`` is a :class:`~er_toolkit.score.ClassifierScorer`.

    Asked without importing its module (and scikit-learn with it): a
    classifier scorer exists only once that module has been imported.
    """
    module = sys.modules.get("er_toolkit.score.classifier")
    return module is not None and isinstance(scorer, module.ClassifierScorer)


@dataclass(frozen=True)
class RunReport:
    """A built report: the page, and the charts and tables it shows.

    Attributes
    ----------
    html
        The self-contained HTML page.
    figures
        The charts by name, e.g. to log to MLflow as PNG.
    tables
        The tables by name (aggregates only; the profile's ``top_values``
        hold record values).
    explained
        The explained pairs (values raw).
    """

    html: str
    figures: dict[str, Figure] = field(default_factory=dict)
    tables: dict[str, pl.DataFrame] = field(default_factory=dict)
    explained: list[ExplainedPair] = field(default_factory=list)

    def write(self, path: str | os.PathLike[str]) -> Path:
        """Write the page to ``path`` (atomically) and return the path."""
        return write_report(path, self.html)


def _facts(
    linker: Linker, records: pl.DataFrame, pairs: pl.DataFrame
) -> dict[str, object]:
    scorer = linker.scorer_
    facts: dict[str, object] = {
        "name": linker.config.name,
        "link type": linker.config.link_type,
        "records": records.height,
        "sources": ", ".join(sorted(set(records.get_column(schema.SOURCE).to_list()))),
        "candidate pairs": pairs.height,
        "scorer": type(scorer).__name__,
        "threshold (match probability)": linker.threshold_,
    }
    if isinstance(scorer, FellegiSunter):
        facts["λ (probability two random records match)"] = (
            scorer.probability_two_random_records_match_
        )
    reason = scorer.report().tags.get("threshold_reason")
    if reason:
        facts["threshold reason"] = reason
    return facts


def training_report(
    linker: Linker,
    records: pl.DataFrame,
    *,
    candidate_pairs: pl.DataFrame,
    scored: pl.DataFrame,
    clusters: pl.DataFrame,
    truth: pl.DataFrame | None = None,
    curve: pl.DataFrame | None = None,
    summary: Mapping[str, Any] | None = None,
    title: str | None = None,
    show_values: bool = False,
    sample_size: int = 8,
    self_match_sample: int | None = 100_000,
    importance_sample: int = 5_000,
    seed: int = 0,
) -> RunReport:
    """Build the report of a run: config, data quality, blocking, model, metrics, pairs.

    Parameters
    ----------
    linker
        The fitted linker (after :meth:`~er_toolkit.pipeline.Linker.block`,
        fitted).
    records
        Its records.
    candidate_pairs
        The blocked pairs.
    scored
        The scored pairs (``Linker.predict``).
    clusters
        The clusters (``Linker.cluster``).
    truth
        True pairs, when labelled: adds the evaluation charts, false and
        missed matches among the explained pairs, and recall by blocker.
    curve
        The precision-recall curve, when already made (made here from
        ``truth`` otherwise).
    summary
        :func:`er_toolkit.train.train`'s summary: its ``metrics``,
        ``timings``, ``run_id`` and ``version`` are shown.
    title
        The page heading (default: the config's name).
    show_values
        Show record values (explained pairs, the profile's most frequent
        values, term-frequency labels); masked or hidden by default.
    sample_size
        How many pairs to explain.
    self_match_sample
        Records scored against themselves for the unlinkable-records chart
        (None: all).
    importance_sample
        Labelled candidate pairs on which a classifier's per-comparison
        importance is measured (in-sample: the classifier trained on them).
    seed
        Seed of every sample.

    Returns
    -------
    RunReport
        The page and its charts and tables.
    """
    scorer = linker.scorer_
    fs = (
        scorer
        if isinstance(scorer, FellegiSunter)
        else getattr(scorer, "fellegi_sunter_", None)
    )
    threshold = linker.threshold_
    summary = summary or {}
    metrics = dict(summary.get("metrics") or {})
    if truth is not None and not metrics:
        metrics, curve = linker.evaluate(
            records,
            candidate_pairs=candidate_pairs,
            scored=scored,
            clusters=clusters,
            truth=truth,
        )
    if truth is not None and curve is None:
        curve = precision_recall_curve(scored, truth, n_true=truth.height)
    key = None if show_values else secrets.token_bytes(16)
    figures: dict[str, Figure] = {}
    tables: dict[str, pl.DataFrame] = {}

    profile = linker.profile(records)
    figures["completeness"] = charts.completeness_chart(profile)
    from er_toolkit.standardise import plot_profile

    figures["profile"] = plot_profile(profile)
    tables["profile"] = profile

    report = linker.blocking_report(records)
    blocking = blocking_summary(report, candidate_pairs, truth=truth)
    figures["blocking"] = charts.blocking_chart(blocking)
    tables["blocking"] = blocking

    if fs is not None:
        weights = fs.bayes_factor_table()
        figures["match_weights"] = charts.match_weights_chart(
            weights, prior_weight=fs.prior_weight_
        )
        tables["match_weights"] = weights
        tf_table = term_frequency_table(records, fs, mask_key=key)
        if tf_table.height:
            figures["term_frequency"] = charts.term_frequency_chart(tf_table)
            tables["term_frequency"] = tf_table
    if _is_classifier(scorer):
        importance = scorer.feature_importance_table()
        by_comparison = None
        if truth is not None and candidate_pairs.height:
            sample = candidate_pairs.sample(
                min(importance_sample, candidate_pairs.height), seed=seed
            )
            vectors = compare_pairs(
                records, sample, linker.config.comparisons, workers=linker.n_jobs
            )
            labels = label_pairs(sample, truth).get_column(schema.IS_MATCH)
            by_comparison = comparison_importance(scorer, vectors, labels, seed=seed)
            tables["comparison_importance"] = by_comparison
        figures["feature_importance"] = charts.feature_importance_chart(
            importance, by_comparison=by_comparison
        )
        tables["feature_importance"] = importance
        validation = getattr(scorer, "validation_curve_", None)
        if validation is not None:
            figures["precision_recall_threshold_choice"] = (
                charts.precision_recall_chart(validation, threshold=scorer.threshold_)
            )

    blocking_recall = metrics.get("blocking_recall")
    if curve is not None:
        figures["precision_recall"] = charts.precision_recall_chart(
            curve, threshold=threshold, blocking_recall=blocking_recall
        )
        figures["threshold"] = charts.threshold_chart(
            curve, threshold=threshold, blocking_recall=blocking_recall
        )
    weights_of = scored.select(schema.ROW_L, schema.ROW_R, schema.MATCH_WEIGHT)
    if truth is not None:
        weights_of = label_pairs(weights_of, truth)
    figures["match_weight_histogram"] = charts.match_weight_histogram(
        weights_of, threshold=threshold
    )
    figures["cluster_sizes"] = charts.cluster_size_chart(clusters)
    figures["unlinkable"] = charts.unlinkable_chart(
        self_match_scores(linker, records, max_records=self_match_sample, seed=seed),
        threshold=threshold,
    )

    explained = explain_sample(
        linker, records, scored, truth=truth, n=sample_size, seed=seed
    )
    waterfalls: list[Figure | None] = []
    labels_of = {c.name: c.level_labels for c in linker.config.comparisons}
    for pair in explained:
        has_bf = any(k.startswith(schema.BF_PREFIX) for k in pair.explained)
        waterfalls.append(
            charts.waterfall_chart(
                pair.explained,
                prior_weight=fs.prior_weight_,
                level_labels=labels_of,
                threshold=threshold,
                title=(
                    "Fellegi-Sunter weight, step by step"
                    if _is_classifier(scorer)
                    else None
                ),
            )
            if fs is not None and has_bf
            else None
        )
    facts = _facts(linker, records, candidate_pairs)
    for name in ("run_id", "model_uri", "version"):
        if summary.get(name) is not None:
            facts[name.replace("_", " ")] = summary[name]
    page = build_report(
        title=title or f"er_toolkit run report: {linker.config.name}",
        facts=facts,
        config=linker.config.to_dict(with_sources=True),
        metrics=metrics,
        timings=summary.get("timings") or getattr(linker, "timings_", None),
        figures=figures,
        tables=tables,
        explained=explained,
        waterfalls=waterfalls,
        show_values=show_values,
    )
    return RunReport(html=page, figures=figures, tables=tables, explained=explained)
