"""Reprs for notebooks: short text and HTML for the Linker, fitted models, results and reports."""

from __future__ import annotations

import html
import re
import warnings
from pathlib import Path

import numpy as np
import polars as pl
import pytest

from er_toolkit import schema
from er_toolkit.blocking import BlockingReport
from er_toolkit.compare import Comparison
from er_toolkit.config import LinkageConfig
from er_toolkit.evaluate import EvaluationResult
from er_toolkit.exceptions import SuspiciousParametersWarning
from er_toolkit.pipeline import Linker
from er_toolkit.score import ClassifierScorer, FellegiSunter

DATA = Path(__file__).parent / "data"
PII_COLUMNS = ("given_name", "surname", "address_1", "suburb")


def personal_values() -> set[str]:
    frame = pl.concat(
        [
            pl.read_csv(DATA / f, infer_schema=False)
            for f in ("people_a.csv", "people_b.csv")
        ]
    )
    return {
        v
        for c in PII_COLUMNS
        for v in frame.get_column(c).drop_nulls().to_list()
        if len(v) >= 5
    }


def text_of(markup: str) -> str:
    return html.unescape(re.sub(r"<[^>]+>", " ", markup))


@pytest.fixture(scope="module")
def run() -> dict[str, object]:
    linker = Linker(LinkageConfig.from_toml(DATA / "people_link.toml"), progress=False)
    records = linker.records()
    pairs = linker.block(records)
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        linker.fit(records, candidate_pairs=pairs)
    scored = linker.predict(records, candidate_pairs=pairs)
    clusters = linker.cluster(records, scored)
    truth = linker.true_pairs(records)
    assert truth is not None
    return {
        "linker": linker,
        "records": records,
        "pairs": pairs,
        "scored": scored,
        "clusters": clusters,
        "truth": truth,
        "warnings": caught,
    }


# ------------------------------------------------------------ suspicious levels
def test_floored_levels_are_flagged_warned_and_reported(run):
    linker = run["linker"]
    fs = linker.scorer_
    flagged = fs.suspicious_levels()
    assert flagged.height >= 1
    table = fs.bayes_factor_table()
    for row in flagged.iter_rows(named=True):
        gap = row["else_log2_bayes_factor"] - row["log2_bayes_factor"]
        assert row["m"] <= 1e-9 or (row["gamma"] > 0 and gap > 5)
    # every level that is floored is in the list
    floored = table.filter(pl.col("m") <= 1e-9).select("comparison", "level")
    assert set(floored.rows()) <= set(flagged.select("comparison", "level").rows())
    caught = [w for w in run["warnings"] if w.category is SuspiciousParametersWarning]
    assert len(caught) == 1
    message = str(caught[0].message)
    for comparison, level in flagged.select("comparison", "level").iter_rows():
        assert f"{comparison} {level!r}" in message
    assert not any(v in message for v in personal_values())
    report = fs.report()
    assert report.metrics["suspicious_levels"] == flagged.height
    assert "m floored" in report.tags["suspicious_levels"]
    assert report.tables["suspicious_levels"].height == flagged.height
    assert f"{flagged.height} suspicious level(s)" in repr(fs)
    assert "m floored" in text_of(fs._repr_html_())


def _one_comparison(m: list[float], u: list[float]) -> FellegiSunter:
    comparison = Comparison.from_dict(
        {
            "name": "name",
            "column": "name",
            "levels": [
                {"kind": "exact"},
                {
                    "kind": "similarity",
                    "comparator": "jaro_winkler",
                    "min_similarity": 0.8,
                },
            ],
        }
    )
    fs = FellegiSunter([comparison])
    fs.m_ = {"name": np.array(m)}
    fs.u_ = {"name": np.array(u)}
    return fs


def test_a_floored_else_is_flagged():
    # no match ever disagreed on the field: a disagreement rules a pair out
    fs = _one_comparison([1e-12, 0.2, 0.8], [0.9, 0.09, 0.01])
    assert fs.suspicious_levels().select("level", "reason").rows() == [
        ("else", "m floored")
    ]


def test_sensible_levels_are_not_flagged():
    fs = _one_comparison([0.1, 0.2, 0.7], [0.9, 0.09, 0.01])
    assert fs.suspicious_levels().height == 0
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        fs._warn_if_suspicious()


def test_a_level_far_below_else_is_flagged_without_a_floored_m():
    # m 1e-4 is not floored, but log2(1e-4 / 0.09) is ~6.6 bits below else's 0
    fs = _one_comparison([0.5, 1e-4, 0.4999], [0.5, 0.09, 0.41])
    flagged = fs.suspicious_levels()
    assert flagged.select("level", "reason").rows() == [
        ("jaro_winkler >= 0.8", "weight far below else")
    ]
    with pytest.warns(SuspiciousParametersWarning, match="jaro_winkler >= 0.8"):
        fs._warn_if_suspicious()


# ------------------------------------------------------------------- reprs
def test_linker_reprs(run):
    linker = run["linker"]
    assert repr(linker) == (
        "Linker('people_link', link, 10 comparisons, fitted FellegiSunter, threshold 0.5)"
    )
    text = text_of(linker._repr_html_())
    assert "people_link" in text
    assert "people_a, people_b" in text
    assert "given_name" in text and "soc_sec_id" in text
    assert "seconds per stage" in text
    assert "m floored" in text  # the scorer's warnings surface on the linker
    unfitted = Linker(linker.config)
    assert "not fitted" in repr(unfitted)
    assert "not fitted" in text_of(unfitted._repr_html_())


def test_fellegi_sunter_reprs_are_short_and_summarise_the_fit(run):
    fs = run["linker"].scorer_
    text = repr(fs)
    assert "\n" not in text and len(text) < 300
    assert re.search(r"λ=\d", text) and "threshold 0.5" in text
    bundle = fs._repr_mimebundle_()
    assert bundle["text/plain"] == text
    body = text_of(bundle["text/html"])
    assert "match weights per level" in body
    assert "estimator parameters" in body  # scikit-learn's diagram, folded
    for name in ("given_name", "date_of_birth"):
        assert name in body
    assert "not fitted" in repr(FellegiSunter(fs.comparisons))
    assert "not fitted" in text_of(FellegiSunter(fs.comparisons)._repr_html_())


def test_classifier_reprs(run):
    linker, records = run["linker"], run["records"]
    vectors = linker.compare(records, run["pairs"], raw_similarity=True)
    truth = run["truth"]
    y = (
        vectors.join(
            truth.with_columns(pl.lit(True).alias("t")),
            on=[schema.ROW_L, schema.ROW_R],
            how="left",
        )["t"]
        .fill_null(False)
        .to_numpy()
    )
    scorer = ClassifierScorer(
        linker.config.comparisons, estimator="logistic_regression", cv=3
    )
    assert "not fitted" in repr(scorer)
    scorer.fit(vectors, y)
    text = repr(scorer)
    assert "\n" not in text and "cross-validated F1" in text
    body = text_of(scorer._repr_mimebundle_()["text/html"])
    assert "permutation importance" in body
    assert "cross-validated" in body
    assert "logistic_regression" in body


def test_evaluation_result_unpacks_like_the_old_tuple(run):
    linker = run["linker"]
    result = linker.evaluate(
        run["records"],
        candidate_pairs=run["pairs"],
        scored=run["scored"],
        clusters=run["clusters"],
        truth=run["truth"],
    )
    assert isinstance(result, EvaluationResult)
    metrics, curve = result
    assert metrics == result.to_dict()
    assert result["pairwise_f1"] == metrics["pairwise_f1"] > 0.95
    assert result[0] == metrics and result[1] is curve
    assert set(curve.columns) == {"threshold", "precision", "recall", "f1"}
    assert result.threshold == linker.threshold_
    assert result.table()["measure"].to_list() == ["pairwise", "clusters", "B-cubed"]
    text = repr(result)
    f1 = metrics["pairwise_f1"]
    assert text.startswith(f"EvaluationResult(threshold 0.5: pairwise F1 {f1:.4f}, ")
    body = text_of(result._repr_html_())
    assert "B-cubed" in body and "blocking recall" in body
    assert result.chart().axes  # the precision-recall chart


def test_blocking_report(run):
    linker, records, pairs, truth = (
        run["linker"],
        run["records"],
        run["pairs"],
        run["truth"],
    )
    before = linker.analyse_blocking(records)
    assert isinstance(before, BlockingReport)
    assert before.candidate_pairs is None and before.reduction_ratio is None
    assert before.possible_pairs == 400 * 400
    assert "pairs before de-duplication" in repr(before)
    report = linker.analyse_blocking(records, pairs, truth=truth)
    assert report.candidate_pairs == pairs.height
    assert report.reduction_ratio == pytest.approx(1 - pairs.height / 160_000)
    assert report.recall == pytest.approx(
        report.table["cumulative_recall"].to_list()[-1]
    )
    assert report.table["new_pairs"].sum() == pairs.height
    assert f"{pairs.height:,} candidate pairs of 160,000" in repr(report)
    body = text_of(report._repr_html_())
    assert "reduction ratio" in body and "given_name" in body
    assert report.chart().axes
    # the older blocking_report is unchanged: a frame of each rule's own count
    assert linker.blocking_report(records).columns == ["blocked_by", "pairs"]
