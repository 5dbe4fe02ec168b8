"""Tampered or inconsistent model files are refused at load, naming the field."""

from __future__ import annotations

import copy
import json
import math
from dataclasses import replace
from pathlib import Path
from typing import Any

import numpy as np
import polars as pl
import pytest

from er_toolkit.compare import Comparison, ExactLevel, SimilarityLevel
from er_toolkit.config import LinkageConfig
from er_toolkit.exceptions import ModelFormatError
from er_toolkit.pipeline import Linker
from er_toolkit.score import ClassifierScorer, FellegiSunter
from er_toolkit.score.validation import (
    validate_classifier_dict,
    validate_fellegi_sunter_dict,
    validate_linker_dict,
)

DATA = Path(__file__).parent / "data"


@pytest.fixture(scope="module")
def linker_dict() -> dict[str, Any]:
    config = LinkageConfig.from_toml(DATA / "people_dedupe.toml")
    config = replace(config, model=replace(config.model, u_sample_size=5_000))
    linker = Linker(config)
    records = linker.records()
    linker.fit(records)
    return linker.to_dict()


@pytest.fixture(scope="module")
def classifier_dict() -> dict[str, Any]:
    name = Comparison(
        "name", "name", (ExactLevel(), SimilarityLevel("jaro_winkler", 0.9))
    )
    rng = np.random.default_rng(0)
    y = np.r_[np.ones(40), np.zeros(80)]
    sim = np.where(y == 1, rng.uniform(0.85, 1, 120), rng.uniform(0, 0.9, 120))
    vectors = pl.DataFrame(
        {
            "_row_l": np.arange(120),
            "_row_r": np.arange(120) + 500,
            "gamma_name": ((sim >= 0.9).astype(np.int8) + (sim > 0.99)).astype(np.int8),
            "sim_name": sim.astype(np.float32),
        }
    )
    scorer = ClassifierScorer(
        [name], estimator="logistic_regression", calibration="sigmoid", cv=2
    ).fit(vectors, y)
    return scorer.to_dict()


def _first(d: dict[str, Any]) -> str:
    return next(iter(d))


def _m(d):  # the first comparison's m row of a linker dict
    fitted = d["scorer"]["fitted"]
    return fitted["m_"][_first(fitted["m_"])]


def _set(*path: Any, value: Any):
    def change(d):
        node = d
        for key in path[:-1]:
            node = node[key]
        node[path[-1]] = value

    return change


def _delete(*path: Any):
    def change(d):
        node = d
        for key in path[:-1]:
            node = node[key]
        del node[path[-1]]

    return change


LINKER_CASES = [
    ("newer_version", _set("format_version", value=3), r"'format_version' is 3, newer"),
    (
        "version_string",
        _set("format_version", value="1"),
        r"'format_version' must be one of \[1, 2\]; got '1'",
    ),
    (
        "no_version",
        _delete("format_version"),
        r"'format_version' must be one of \[1, 2\]; got None",
    ),
    ("version_true", _set("format_version", value=True), r"'format_version'"),
    ("wrong_kind", _set("kind", value="Linker"), r"'kind' must be 'er_toolkit.Linker'"),
    ("no_config", _delete("config"), r"'config' is missing"),
    ("no_scorer", _delete("scorer"), r"'scorer' is missing"),
    ("config_list", _set("config", value=[]), r"'config' must be a JSON object"),
    ("threshold_high", _set("config", "threshold", value=1.5), r"'config'.*threshold"),
    (
        "threshold_nan",
        _set("config", "threshold", value=math.nan),
        r"'config'.*threshold",
    ),
    (
        "scorer_kind",
        _set("scorer", "kind", value="Forest"),
        r"'scorer.kind' must be one of",
    ),
    (
        "scorer_newer",
        _set("scorer", "format_version", value=7),
        r"'scorer.format_version' is 7",
    ),
    (
        "m_above_one",
        lambda d: _m(d).__setitem__(0, 1.5),
        r"'scorer.fitted.m_.given_name\[0\]'",
    ),
    (
        "m_nan",
        lambda d: _m(d).__setitem__(0, math.nan),
        r"m_.given_name\[0\]' must be a finite",
    ),
    (
        "m_inf",
        lambda d: _m(d).__setitem__(0, math.inf),
        r"m_.given_name\[0\]' must be a finite",
    ),
    (
        "m_negative",
        lambda d: _m(d).__setitem__(0, -0.1),
        r"m_.given_name\[0\]' must be a number in \(0, 1\)",
    ),
    ("m_zero", lambda d: _m(d).__setitem__(0, 0.0), r"m_.given_name\[0\]'"),
    ("m_string", lambda d: _m(d).__setitem__(0, "0.5"), r"m_.given_name\[0\]'"),
    ("m_bool", lambda d: _m(d).__setitem__(0, True), r"m_.given_name\[0\]'"),
    (
        "m_sum",
        lambda d: d["scorer"]["fitted"]["m_"].__setitem__(
            "given_name", [0.1, 0.1, 0.1, 0.1]
        ),
        r"'scorer.fitted.m_.given_name' must sum to 1",
    ),
    (
        "m_short",
        lambda d: _m(d).pop(),
        r"'scorer.fitted.m_.given_name' must be a list of 4",
    ),
    (
        "m_not_list",
        _set("scorer", "fitted", "m_", "given_name", value=0.5),
        r"m_.given_name' must be a list",
    ),
    (
        "m_missing_row",
        lambda d: d["scorer"]["fitted"]["m_"].pop("surname"),
        r"'scorer.fitted.m_' must be one row per comparison",
    ),
    (
        "m_extra_row",
        lambda d: d["scorer"]["fitted"]["m_"].__setitem__("zip", [0.5, 0.5]),
        r"'scorer.fitted.m_' must be one row per",
    ),
    (
        "u_nan",
        lambda d: d["scorer"]["fitted"]["u_"]["state"].__setitem__(1, math.nan),
        r"'scorer.fitted.u_.state\[1\]'",
    ),
    (
        "u_one",
        lambda d: d["scorer"]["fitted"]["u_"].__setitem__("state", [0.0, 1.0]),
        r"'scorer.fitted.u_.state\[0\]'",
    ),
    (
        "lambda_zero",
        _set("scorer", "fitted", "probability_two_random_records_match_", value=0.0),
        r"fitted.probability_two_random_records_match_' must be a number in \(0, 1\)",
    ),
    (
        "lambda_one",
        _set("scorer", "fitted", "probability_two_random_records_match_", value=1.0),
        r"fitted.probability_two_random_records_match_'",
    ),
    (
        "lambda_nan",
        _set(
            "scorer", "fitted", "probability_two_random_records_match_", value=math.nan
        ),
        r"fitted.probability_two_random_records_match_' must be a finite",
    ),
    (
        "lambda_none",
        _set("scorer", "fitted", "probability_two_random_records_match_", value=None),
        r"fitted.probability_two_random_records_match_'",
    ),
    (
        "lambda_missing",
        _delete("scorer", "fitted", "probability_two_random_records_match_"),
        r"fitted.probability_two_random_records_match_' is missing",
    ),
    (
        "given_lambda_high",
        _set("scorer", "params", "probability_two_random_records_match", value=3),
        r"params.probability_two_random_records_match'",
    ),
    (
        "max_iter_zero",
        _set("scorer", "params", "max_iter", value=0),
        r"'scorer.params.max_iter' must be an integer >= 1",
    ),
    (
        "u_sample_negative",
        _set("scorer", "params", "u_sample_size", value=-1),
        r"params.u_sample_size'",
    ),
    ("seed_negative", _set("scorer", "params", "seed", value=-1), r"params.seed'"),
    ("tol_zero", _set("scorer", "params", "tol", value=0), r"params.tol'"),
    (
        "recall_high",
        _set("scorer", "params", "deterministic_recall", value=2),
        r"params.deterministic_recall'",
    ),
    (
        "rules_string",
        _set("scorer", "params", "training_rules", value="given_name"),
        r"params.training_rules'",
    ),
    (
        "rules_empty_rule",
        _set("scorer", "params", "training_rules", value=[[]]),
        r"params.training_rules\[0\]' must be a non-empty list",
    ),
    ("params_missing", _delete("scorer", "params"), r"'scorer.params' is missing"),
    ("fitted_missing", _delete("scorer", "fitted"), r"'scorer.fitted' is missing"),
    (
        "n_records_negative",
        _set("scorer", "fitted", "n_records_", value=-3),
        r"fitted.n_records_'",
    ),
    (
        "n_records_total_pairs_negative",
        _set("scorer", "fitted", "total_pairs_", value=-1),
        r"fitted.total_pairs_' must be an integer >= 0",
    ),
    (
        "lambda_estimates_nan",
        _set("scorer", "fitted", "lambda_estimates_", value=[0.01, math.nan]),
        r"fitted.lambda_estimates_\[1\]' must be a finite number",
    ),
    (
        "lambda_candidate_share_high",
        _set("scorer", "fitted", "candidate_match_share_", value=1.5),
        r"fitted.candidate_match_share_' must be a number in \[0, 1\]",
    ),
    (
        "sessions_string",
        _set("scorer", "fitted", "sessions_", value="x"),
        r"fitted.sessions_'",
    ),
    (
        "link_type",
        _set("scorer", "link_type", value="merge"),
        r"'scorer.link_type' must be one of",
    ),
    (
        "link_type_mismatch",
        _set("scorer", "link_type", value="link"),
        r"'scorer.link_type' is 'link' but 'config.link_type'",
    ),
    (
        "comparisons_empty",
        _set("scorer", "comparisons", value=[]),
        r"'scorer.comparisons' must be a non-empty list",
    ),
    (
        "level_kind",
        lambda d: d["scorer"]["comparisons"][0]["levels"][0].__setitem__(
            "kind", "fuzzy"
        ),
        r"'scorer.comparisons\[0\]'.*kind",
    ),
    (
        "comparisons_differ",
        lambda d: d["scorer"]["comparisons"][0]["levels"][1].__setitem__(
            "min_similarity", 0.5
        ),
        r"'scorer.comparisons' differs from 'config.comparisons'",
    ),
    (
        "model_kind_mismatch",
        lambda d: d["config"]["model"].update(kind="classifier"),
        r"'scorer.kind' is 'FellegiSunter' but 'config.model.kind'",
    ),
]


@pytest.mark.parametrize(
    ("change", "match"), [c[1:] for c in LINKER_CASES], ids=[c[0] for c in LINKER_CASES]
)
def test_tampered_linker_files_are_refused_naming_the_field(
    linker_dict, tmp_path, change, match
):
    data = copy.deepcopy(linker_dict)
    change(data)
    with pytest.raises(ModelFormatError, match=match):
        Linker.from_dict(data)
    path = tmp_path / "model.json"
    path.write_text(json.dumps(data))  # NaN and Infinity as JSON allows them
    with pytest.raises(ModelFormatError, match=match):
        Linker.load(path)


def test_the_untouched_files_load(linker_dict, classifier_dict, tmp_path):
    validate_linker_dict(linker_dict)
    validate_fellegi_sunter_dict(linker_dict["scorer"])
    validate_classifier_dict(classifier_dict)
    path = tmp_path / "m.json"
    path.write_text(json.dumps(linker_dict))
    assert isinstance(Linker.load(path).scorer_, FellegiSunter)


FS_CASES = [
    c
    for c in LINKER_CASES
    if c[0].startswith(
        ("m_", "u_", "lambda_", "max_iter", "seed", "rules", "n_records")
    )
]


@pytest.mark.parametrize(
    ("change", "match"), [c[1:] for c in FS_CASES], ids=[c[0] for c in FS_CASES]
)
def test_fellegi_sunter_load_has_the_same_checks(linker_dict, tmp_path, change, match):
    data = copy.deepcopy(linker_dict)
    change(data)
    scorer = data["scorer"]
    bare = match.replace("scorer\\.", "").replace("scorer.", "")
    with pytest.raises(ModelFormatError, match=bare):
        FellegiSunter.from_dict(scorer)
    path = tmp_path / "fs.json"
    path.write_text(json.dumps(scorer))
    with pytest.raises(ModelFormatError, match=bare):
        FellegiSunter.load(path)


def _as_format_1(scorer: dict[str, Any]) -> dict[str, Any]:
    """The same Fellegi-Sunter model in the format 1 layout (``m``, not ``m_``)."""
    old = copy.deepcopy(scorer)
    fitted = old["fitted"]
    old["format_version"] = 1
    old["fitted"] = {
        name: fitted[name + "_"]
        for name in (
            "probability_two_random_records_match",
            "lambda_method",
            "n_records",
            "m",
            "u",
            "sessions",
        )
    }
    return old


@pytest.mark.parametrize(
    ("change", "match"),
    [
        (lambda f: f["m"]["given_name"].__setitem__(0, math.nan), r"m.given_name\[0\]"),
        (lambda f: f["u"].__setitem__("state", [0.5, 0.4]), r"u.state' must sum to 1"),
        (
            lambda f: f.__setitem__("probability_two_random_records_match", 1.0),
            r"fitted.probability_two_random_records_match' must be a number in \(0",
        ),
        (lambda f: f.pop("m"), r"'fitted.m' is missing"),
    ],
    ids=["m_nan", "u_sum", "lambda_one", "m_missing"],
)
def test_format_1_files_get_the_same_checks(linker_dict, change, match):
    old = _as_format_1(linker_dict["scorer"])
    loaded = FellegiSunter.from_dict(copy.deepcopy(old))
    assert loaded.m_.keys() == FellegiSunter.from_dict(linker_dict["scorer"]).m_.keys()
    change(old["fitted"])
    with pytest.raises(ModelFormatError, match=match):
        FellegiSunter.from_dict(old)


CLASSIFIER_CASES = [
    (
        "threshold_high",
        _set("fitted", "threshold_", value=2.0),
        r"'fitted.threshold_' must be a number in \[0, 1\]",
    ),
    (
        "threshold_nan",
        _set("fitted", "threshold_", value=math.nan),
        r"'fitted.threshold_' must be a finite",
    ),
    ("param_threshold", _set("params", "threshold", value=-0.5), r"'params.threshold'"),
    ("cv_one", _set("params", "cv", value=1), r"'params.cv' must be an integer >= 2"),
    (
        "calibration",
        _set("params", "calibration", value="platt"),
        r"'params.calibration' must be one of",
    ),
    (
        "estimator",
        _set("params", "estimator", value="xgboost"),
        r"'params.estimator' must be one of",
    ),
    (
        "strategy",
        _set("params", "threshold_strategy", value="best"),
        r"'params.threshold_strategy'",
    ),
    (
        "target",
        _set("params", "target_precision", value=0),
        r"'params.target_precision'",
    ),
    (
        "importances",
        _set("fitted", "feature_importances_", value=[0.1]),
        r"feature_names_' and 'fitted.feature_importances_' differ",
    ),
    (
        "importance_nan",
        lambda d: d["fitted"]["feature_importances_"].__setitem__(0, math.nan),
        r"'fitted.feature_importances_\[0\]'",
    ),
    (
        "metric_nan",
        lambda d: d["fitted"]["cv_metrics_"].__setitem__("f1", math.nan),
        r"'fitted.cv_metrics_.f1'",
    ),
    (
        "matches",
        lambda d: d["fitted"].__setitem__(
            "n_train_matches_", d["fitted"]["n_train_"] + 1
        ),
        r"'fitted.n_train_matches_' must be at most",
    ),
    (
        "skops_number",
        _set("fitted", "model_", value=5),
        r"'fitted.model_' must be a string",
    ),
    (
        "features",
        _set("fitted", "feature_names_", value="gamma_name"),
        r"'fitted.feature_names_' must be a list",
    ),
    (
        "stacked_bad",
        _set(
            "fitted",
            "fellegi_sunter_",
            value={"kind": "FellegiSunter", "format_version": 2},
        ),
        r"'fitted.fellegi_sunter_.link_type' is missing",
    ),
    ("newer", _set("format_version", value=3), r"'format_version' is 3, newer"),
    ("kind", _set("kind", value="FellegiSunter"), r"'kind' must be 'ClassifierScorer'"),
]


@pytest.mark.parametrize(
    ("change", "match"),
    [c[1:] for c in CLASSIFIER_CASES],
    ids=[c[0] for c in CLASSIFIER_CASES],
)
def test_tampered_classifier_files_are_refused(
    classifier_dict, tmp_path, change, match
):
    data = copy.deepcopy(classifier_dict)
    change(data)
    with pytest.raises(ModelFormatError, match=match):
        ClassifierScorer.from_dict(data)
    path = tmp_path / "clf.json"
    path.write_text(json.dumps(data))
    with pytest.raises(ModelFormatError, match=match):
        ClassifierScorer.load(path)


@pytest.mark.parametrize(
    ("content", "match"),
    [
        (b"PAR1\x00\x00\x15", r"is a Parquet file, not a text file"),
        (b"\x80\x04\x95\x00\x00", r"is a Python pickle"),
        (b"PK\x03\x04\x14\x00", r"is a zip archive"),
        (b"\x00\x01\x02", r"binary data"),
        (
            b'{"kind": "\xff"}',
            r"not valid UTF-8 text: the first bad byte is at offset 10",
        ),
        (b"not json", r"is not JSON: Expecting value at line 1, column 1"),
        (b"[" * 100_000 + b"]" * 100_000, r"nests too deeply|is not JSON"),
        (b"[1, 2]", r"'the model' must be a JSON object|a JSON object of kind"),
        (b"", r"is not JSON"),
    ],
    ids=[
        "parquet",
        "pickle",
        "zip",
        "nul",
        "utf8",
        "not_json",
        "deep",
        "list",
        "empty",
    ],
)
@pytest.mark.parametrize(
    "loader",
    [Linker.load, FellegiSunter.load, ClassifierScorer.load],
    ids=["linker", "fs", "classifier"],
)
def test_files_that_are_not_model_json_say_so(tmp_path, content, match, loader):
    path = tmp_path / "model.json"
    path.write_bytes(content)
    with pytest.raises(ModelFormatError, match=match):
        loader(path)


@pytest.mark.parametrize(
    "loader", [Linker.load, FellegiSunter.load], ids=["linker", "fs"]
)
def test_missing_and_folder_model_paths(tmp_path, loader):
    with pytest.raises(ModelFormatError, match="does not exist"):
        loader(tmp_path / "nope.json")
    with pytest.raises(ModelFormatError, match="is a folder; expected a file"):
        loader(tmp_path)


def test_saved_models_are_written_atomically_with_the_umask(linker_dict, tmp_path):
    import os

    linker = Linker.from_dict(copy.deepcopy(linker_dict))
    old = os.umask(0o027)
    try:
        path = linker.save(tmp_path / "deep" / "m.json")
    finally:
        os.umask(old)
    assert sorted(p.name for p in path.parent.iterdir()) == ["m.json"]
    assert path.stat().st_mode & 0o777 == 0o640
    assert Linker.load(path).to_dict() == Linker.from_dict(linker_dict).to_dict()
