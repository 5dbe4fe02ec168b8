"""A classifier's threshold chosen on the candidate population (``threshold_on="candidates"``)."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import polars as pl
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from polars.testing import assert_frame_equal

from er_toolkit import schema
from er_toolkit.config import LinkageConfig, ModelConfig
from er_toolkit.exceptions import ConfigError, SchemaError
from er_toolkit.pipeline import Linker
from er_toolkit.score import ClassifierScorer
from er_toolkit.thresholds import curve_from_labels, expected_curve, pick_threshold

DATA = Path(__file__).parent / "data"
CLASSIFIER_CONFIG = DATA / "people_classifier.toml"
PEOPLE = DATA / "people.csv"


@pytest.fixture(autouse=True, scope="module")
def _one_thread():
    from threadpoolctl import threadpool_limits

    with threadpool_limits(1):
        yield


@settings(max_examples=50, deadline=None)
@given(
    data=st.lists(
        st.tuples(st.booleans(), st.sampled_from([0.1, 0.3, 0.5, 0.7, 0.9])),
        min_size=1,
        max_size=40,
    )
)
def test_expected_curve_of_hard_labels_is_the_labelled_curve(
    data: list[tuple[bool, float]],
) -> None:
    y = np.array([a for a, _ in data], dtype=np.float64)
    p = np.array([b for _, b in data])
    got = expected_curve(y, p)
    assert got["threshold"].to_list() == sorted(set(p.tolist()), reverse=True)
    if y.any():
        want = curve_from_labels(y, p)
        # sklearn drops the thresholds above the last match: compare where both are
        joined = got.join(want, on="threshold", suffix="_want")
        assert joined.height == want.height
        for c in ("precision", "recall", "f1"):
            assert np.allclose(joined[c], joined[f"{c}_want"])
    else:
        assert (got["f1"] == 0).all()


def test_expected_curve_brute_force_and_errors() -> None:
    q = np.array([0.9, 0.2, 0.6, 0.1])
    p = np.array([0.8, 0.8, 0.5, 0.1])
    curve = expected_curve(q, p)
    for t, precision, recall in curve.select("threshold", "precision", "recall").rows():
        at = p >= t
        assert precision == pytest.approx(q[at].sum() / at.sum())
        assert recall == pytest.approx(q[at].sum() / q.sum())
    assert expected_curve(np.array([]), np.array([])).height == 0
    with pytest.raises(SchemaError, match="one soft label per score"):
        expected_curve(q, p[:2])


def test_threshold_on_is_checked() -> None:
    with pytest.raises(ConfigError, match="'threshold_on' parameter"):
        ClassifierScorer(
            LinkageConfig.from_toml(CLASSIFIER_CONFIG).comparisons,
            threshold_on="population",  # type: ignore[arg-type]
        ).fit(pl.DataFrame({"x": [1]}), [True])
    with pytest.raises(ConfigError, match="threshold_on"):
        ModelConfig.from_dict({"kind": "classifier", "threshold_on": "everywhere"})
    with pytest.raises(ConfigError, match="only to kind = 'classifier'"):
        ModelConfig.from_dict({"threshold_on": "candidates"})
    model = ModelConfig.from_dict({"kind": "classifier", "threshold_on": "candidates"})
    assert ModelConfig.from_dict(model.to_dict()) == model


def _linker(tmp_path: Path, threshold_on: str) -> tuple[Linker, pl.DataFrame, object]:
    """A stacked classifier trained on labels picked near the FS boundary only."""
    spec = LinkageConfig.from_toml(CLASSIFIER_CONFIG).to_dict()
    spec["sources"][0]["path"] = str(PEOPLE)
    linker = Linker(LinkageConfig.from_dict(spec))
    records = linker.records()
    pairs = linker.block(records)
    truth = linker.true_pairs(records)
    vectors = linker.compare(records, pairs)
    # label the pairs an FS model is least sure of, as an active learner would
    classifier_keys = {"estimator", "stack", "calibration", "threshold_strategy", "cv"}
    fs_model = {k: v for k, v in spec["model"].items() if k not in classifier_keys}
    fs = Linker(
        LinkageConfig.from_dict(spec | {"model": fs_model | {"kind": "fellegi_sunter"}})
    )
    fs.fit(records, candidate_pairs=pairs, candidate_vectors=vectors)
    scored = fs.predict(records, candidate_vectors=vectors)
    keys = truth.with_columns(is_match=pl.lit(True))
    labelled = (
        scored.sort(pl.col(schema.MATCH_WEIGHT).abs())
        .head(150)
        .select(schema.ROW_L, schema.ROW_R)
        .join(keys, on=[schema.ROW_L, schema.ROW_R], how="left")
        .with_columns(pl.col("is_match").fill_null(False))
    )
    ids = records.select(schema.ROW, schema.RECORD_ID)
    for side in ("l", "r"):
        labelled = labelled.join(
            ids.rename(
                {schema.ROW: f"_row_{side}", schema.RECORD_ID: f"record_id_{side}"}
            ),
            on=f"_row_{side}",
        )
    path = tmp_path / f"labels_{threshold_on}.csv"
    labelled.select("record_id_l", "record_id_r", "is_match").write_csv(path)
    spec["model"].update(
        estimator="logistic_regression",
        calibration="sigmoid",
        threshold_on=threshold_on,
    )
    spec["training"] = {"labels_path": str(path)}
    trained = Linker(LinkageConfig.from_dict(spec))
    trained.fit(records, candidate_pairs=pairs, candidate_vectors=vectors)
    return trained, records, vectors


@pytest.mark.slow
def test_threshold_is_the_best_expected_f1_over_the_candidates(tmp_path: Path) -> None:
    on_labels, records, vectors = _linker(tmp_path, "labels")
    on_candidates, _, _ = _linker(tmp_path, "candidates")
    scorer = on_candidates.scorer_
    assert isinstance(scorer, ClassifierScorer)
    assert "candidate pairs" in scorer.threshold_reason_
    assert "candidate pairs" not in on_labels.scorer_.threshold_reason_
    # brute force: the FS probabilities as soft labels, the classifier's as scores
    p = scorer.predict_proba(vectors)
    q = (
        scorer.fellegi_sunter_.predict(vectors)
        .get_column(schema.MATCH_PROBABILITY)
        .to_numpy()
    )
    best_f1, best_t = -1.0, 0.0
    for t in sorted(set(p.tolist()), reverse=True):
        at = p >= t
        f1 = 2 * q[at].sum() / (at.sum() + q.sum())
        if f1 > best_f1 + 1e-12:
            best_f1, best_t = f1, t
    chosen, _ = pick_threshold(expected_curve(q, p))
    assert scorer.threshold_ == pytest.approx(chosen)
    below = p[p < best_t]
    lower = below.max() if below.size else 0.0
    assert lower <= scorer.threshold_ <= best_t
    # saved and loaded, the option and the threshold stay
    loaded = Linker.load(on_candidates.save(tmp_path / "linker.json"))
    assert loaded.scorer_.threshold_on == "candidates"  # type: ignore[attr-defined]
    assert loaded.threshold_ == on_candidates.threshold_
    assert_frame_equal(
        loaded.predict(records, candidate_vectors=vectors),
        on_candidates.predict(records, candidate_vectors=vectors),
    )
