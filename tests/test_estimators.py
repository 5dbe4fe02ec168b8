"""Scorers follow scikit-learn's estimator contract and the Scorer protocol."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import polars as pl
import pytest
import sklearn.exceptions
from sklearn.base import BaseEstimator, clone
from sklearn.impute import SimpleImputer
from sklearn.linear_model import LogisticRegression
from sklearn.pipeline import make_pipeline
from sklearn.preprocessing import StandardScaler
from sklearn.utils.validation import check_is_fitted

from er_toolkit.config import LinkageConfig
from er_toolkit.exceptions import NotFittedError
from er_toolkit.pipeline import Linker
from er_toolkit.score import (
    ClassifierScorer,
    FellegiSunter,
    LinkageData,
    Scorer,
    scorer_from_dict,
)
from er_toolkit.score.base import learned_attributes

DATA = Path(__file__).parent / "data"


@pytest.fixture(scope="module")
def people():
    config = LinkageConfig.from_toml(DATA / "people_dedupe.toml")
    linker = Linker(config)
    records = linker.records()
    pairs = linker.block(records)
    return config, linker, records, pairs


def _fs(config: LinkageConfig) -> FellegiSunter:
    return config.model.fellegi_sunter(
        config.comparisons,
        link_type=config.link_type,
        threshold=config.threshold,
        default_training_rules=config.blocking.exact_rules,
    )


def test_scorers_are_scikit_learn_estimators(people):
    config, *_ = people
    fs = _fs(config)
    classifier = ClassifierScorer(config.comparisons, fellegi_sunter=fs, cv=3)
    # the classifier is one; Fellegi-Sunter keeps the contract without the
    # base class, so that a Fellegi-Sunter job never imports scikit-learn
    assert isinstance(classifier, BaseEstimator)
    for est in (fs, classifier):
        params = est.get_params(deep=False)
        assert params["seed"] == est.seed
        copy = clone(est)
        assert copy is not est
        assert copy.get_params(deep=False).keys() == params.keys()
        est.set_params(seed=7)
        assert est.seed == 7
    # deep params reach the stacked model, as for any nested estimator
    assert classifier.get_params(deep=True)["fellegi_sunter__seed"] == fs.seed


def test_not_fitted_is_also_scikit_learns(people):
    config, *_ = people
    fs = _fs(config)
    with pytest.raises(sklearn.exceptions.NotFittedError):
        check_is_fitted(fs)
    with pytest.raises(NotFittedError) as info:
        fs.predict(pl.DataFrame())
    assert isinstance(info.value, sklearn.exceptions.NotFittedError)
    assert issubclass(NotFittedError, sklearn.exceptions.NotFittedError)


def test_fit_linkage_is_the_one_call_and_resets_state(people):
    config, _linker, records, pairs = people
    fs = _fs(config)
    data = LinkageData(records=records, candidate_pairs=pairs, link_type="dedupe")
    fs.fit_linkage(data)
    check_is_fitted(fs)
    assert isinstance(fs, Scorer)  # a fitted scorer offers all the protocol
    assert fs.threshold_ == config.threshold
    first = set(learned_attributes(fs))
    # a stale attribute from an earlier fit never survives a new fit
    fs.stale_ = "left over"
    fs.fit_linkage(data)
    assert "stale_" not in vars(fs)
    assert set(learned_attributes(fs)) == first


def test_every_learned_attribute_survives_save_and_load(people, tmp_path):
    config, linker, records, pairs = people
    fs = _fs(config).fit(records, candidate_pairs=pairs)
    classifier = ClassifierScorer(
        config.comparisons,
        estimator="logistic_regression",
        fellegi_sunter=_fs(config),
        cv=3,
    ).fit_linkage(
        LinkageData(
            records=records,
            candidate_pairs=pairs,
            link_type="dedupe",
            truth=linker.true_pairs(records),
        )
    )
    for est in (fs, classifier):
        path = tmp_path / f"{type(est).__name__}.json"
        est.save(path)
        loaded = type(est).load(path)
        assert learned_attributes(loaded) == learned_attributes(est)
        for name in learned_attributes(est):
            a, b = getattr(est, name), getattr(loaded, name)
            if name in ("model_", "fellegi_sunter_"):
                continue  # estimators: compared through their scores below
            if isinstance(a, dict):
                assert a.keys() == b.keys(), name
                for key in a:
                    assert np.array_equal(np.asarray(a[key]), np.asarray(b[key])), name
            elif isinstance(a, pl.DataFrame):
                assert a.equals(b), name
            elif isinstance(a, np.ndarray):
                assert np.array_equal(a, b), name
            else:
                assert a == b, name
        vectors = linker.compare(records, pairs, raw_similarity=True)
        assert est.predict(vectors).equals(loaded.predict(vectors))
        assert (
            scorer_from_dict(est.to_dict())
            .predict(vectors)
            .equals(est.predict(vectors))
        )


def test_classifier_takes_any_scikit_learn_pipeline(people):
    config, linker, records, pairs = people
    pipeline = make_pipeline(
        SimpleImputer(strategy="median"), StandardScaler(), LogisticRegression()
    )
    scorer = ClassifierScorer(
        config.comparisons, estimator=pipeline, calibration="sigmoid", cv=3
    ).fit_linkage(
        LinkageData(
            records=records,
            candidate_pairs=pairs,
            link_type="dedupe",
            truth=linker.true_pairs(records),
        )
    )
    assert scorer.cv_metrics_["f1"] > 0.9
    assert scorer.training_report_["training_pairs"] >= pairs.height
    # the caller's pipeline object is cloned, never fitted in place
    assert not hasattr(pipeline[-1], "coef_")


def test_classifier_refuses_a_regressor(people):
    from sklearn.linear_model import LinearRegression

    from er_toolkit.exceptions import ConfigError

    config, linker, records, pairs = people
    vectors = linker.compare(records, pairs, raw_similarity=True)
    y = np.zeros(vectors.height)
    y[:10] = 1
    with pytest.raises(ConfigError, match="scikit-learn classifier"):
        ClassifierScorer(config.comparisons, estimator=LinearRegression()).fit(
            vectors, y
        )


def test_linker_keeps_the_declared_threshold(people):
    config, _linker, records, pairs = people
    spec = config.to_dict()
    spec["model"] = {
        **spec["model"],
        "kind": "classifier",
        "estimator": "logistic_regression",
        "cv": 3,
    }
    classifier_config = LinkageConfig.from_dict(spec, base_dir=config.base_dir)
    fitted = Linker(classifier_config).fit(records, candidate_pairs=pairs)
    assert fitted.config == classifier_config  # nothing rewritten
    assert fitted.threshold_ == fitted.scorer_.threshold_
    assert fitted.threshold_ != classifier_config.threshold


def test_nested_params_reach_fellegi_sunter_through_set_params(people):
    config, *_ = people
    classifier = ClassifierScorer(config.comparisons, fellegi_sunter=_fs(config), cv=3)
    classifier.set_params(fellegi_sunter__u_sample_size=123)
    assert classifier.fellegi_sunter.u_sample_size == 123
    with pytest.raises(ValueError, match="Invalid parameter"):
        _fs(config).set_params(no_such_option=1)
    # every __init__ keyword is a parameter, in scikit-learn's (sorted) order
    names = list(_fs(config).get_params(deep=False))
    assert names == sorted(names)
    assert {"comparisons", "link_type", "training_rules", "seed"} <= set(names)
