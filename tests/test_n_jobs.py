"""One n_jobs setting reaches rapidfuzz, the compare threads and scikit-learn."""

from __future__ import annotations

from pathlib import Path

import pytest
from rapidfuzz import process

from er_toolkit.config import LinkageConfig
from er_toolkit.pipeline import Linker
from er_toolkit.score import classifier as classifier_module

DATA = Path(__file__).parent / "data"


@pytest.fixture
def cpdist_workers(monkeypatch):
    seen: list[int] = []
    real = process.cpdist

    def spy(*args, **kwargs):
        seen.append(kwargs.get("workers", 1))
        return real(*args, **kwargs)

    monkeypatch.setattr(process, "cpdist", spy)
    return seen


@pytest.mark.parametrize("n_jobs", [1, 2])
def test_linker_n_jobs_reaches_every_comparator(cpdist_workers, n_jobs):
    config = LinkageConfig.from_toml(DATA / "people_dedupe.toml")
    linker = Linker(config, n_jobs=n_jobs)
    records = linker.records()
    pairs = linker.block(records)
    linker.fit(records, candidate_pairs=pairs)
    linker.predict(records, candidate_pairs=pairs)
    assert cpdist_workers, "no string comparator ran"
    assert set(cpdist_workers) == {n_jobs}


def test_config_n_jobs_is_the_default_and_the_argument_wins(cpdist_workers):
    spec = LinkageConfig.from_toml(DATA / "people_dedupe.toml").to_dict()
    spec["n_jobs"] = 1
    config = LinkageConfig.from_dict(spec, base_dir=DATA)
    assert Linker(config).n_jobs == 1
    assert Linker(config, n_jobs=2).n_jobs == 2
    linker = Linker(config)
    records = linker.records()
    linker.compare(records, linker.block(records))
    assert set(cpdist_workers) == {1}


def test_classifier_fits_under_thread_limits(monkeypatch):
    calls: list[int | None] = []
    real = classifier_module.thread_limits

    def spy(n_jobs):
        calls.append(n_jobs)
        return real(n_jobs)

    monkeypatch.setattr(classifier_module, "thread_limits", spy)
    spec = LinkageConfig.from_toml(DATA / "people_dedupe.toml").to_dict()
    spec["model"].update(kind="classifier", estimator="logistic_regression", cv=3)
    config = LinkageConfig.from_dict(spec, base_dir=DATA)
    linker = Linker(config, n_jobs=1)
    records = linker.records()
    linker.fit(records)
    assert calls and set(calls) == {1}


def test_thread_limits_cap_openmp_and_blas():
    threadpoolctl = pytest.importorskip("threadpoolctl")
    with classifier_module.thread_limits(1):
        for pool in threadpoolctl.threadpool_info():
            assert pool["num_threads"] == 1, pool
