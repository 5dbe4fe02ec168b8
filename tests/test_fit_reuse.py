"""EM sessions take known candidates' gammas instead of comparing again, and
the fit is identical either way."""

from __future__ import annotations

import dataclasses

import numpy as np
import polars as pl
import pytest

import er_toolkit.score.fellegi_sunter as fs
from benchmarks.compare_tools import ER_TOOLKIT_CONFIG
from benchmarks.synthetic import generate_customers
from er_toolkit.config import LinkageConfig
from er_toolkit.engines.polars import PolarsEngine
from er_toolkit.io import Source
from er_toolkit.pipeline import Linker


@pytest.fixture(scope="module")
def job():
    raw = generate_customers(3000, seed=3, n_sources=4)
    assert isinstance(raw, pl.DataFrame)
    records = raw.select(
        pl.format("{}:{}", "source", "record_id").alias("record_id"),
        pl.col("first_name").str.to_lowercase(),
        pl.col("surname").str.to_lowercase(),
        "date_of_birth",
        "email",
        "phone",
        "postcode",
        "city",
    )
    config = LinkageConfig.from_toml(ER_TOOLKIT_CONFIG)
    config = dataclasses.replace(
        config,
        model=dataclasses.replace(config.model, u_sample_size=20_000),
    )
    linker = Linker(config)
    recs = linker.records([Source("customers", records, id_column="record_id")])
    pairs = linker.block(recs)
    vectors = linker.compare(recs, pairs)
    return config, recs, pairs, vectors


def _fit(config, recs, pairs, vectors):
    linker = Linker(config)
    linker.fit(recs, candidate_pairs=pairs, candidate_vectors=vectors)
    return linker.scorer_


@pytest.mark.filterwarnings("ignore::er_toolkit.exceptions.SuspiciousParametersWarning")
def test_sessions_reuse_candidate_vectors_and_fit_the_same(job, monkeypatch):
    config, recs, pairs, vectors = job
    compared: list[int] = []
    real = PolarsEngine.gamma_patterns

    def counting(self, records, pairs, *args, **kwargs):
        compared.append(pairs.height)
        return real(self, records, pairs, *args, **kwargs)

    # every comparison of fresh pairs in a fit goes through the engine
    monkeypatch.setattr(PolarsEngine, "gamma_patterns", counting)
    reused = _fit(config, recs, pairs, vectors)
    # u sample + the date_of_birth session (not a blocking rule); the
    # first_name&surname and email sessions are found among the candidates.
    assert len(compared) == 2
    compared.clear()
    fresh = _fit(config, recs, pairs, None)
    assert len(compared) == 4
    for name in fresh.m_:
        np.testing.assert_array_equal(reused.m_[name], fresh.m_[name])
        np.testing.assert_array_equal(reused.u_[name], fresh.u_[name])
    assert (
        reused.probability_two_random_records_match_
        == fresh.probability_two_random_records_match_
    )
    assert [s["patterns"] for s in reused.sessions_] == [
        s["patterns"] for s in fresh.sessions_
    ]


def test_a_session_with_unknown_pairs_is_compared(job):
    _, _, pairs, vectors = job
    names = [
        c.removeprefix("gamma_") for c in vectors.columns if c.startswith("gamma_")
    ]
    known = fs._KnownVectors(vectors, names)
    some = pairs.head(50).select("_row_l", "_row_r")
    got = known.of(some)
    assert got is not None
    assert got.to_dicts() == vectors.head(50).select(known.columns).to_dicts()
    # swapped orientation is the same pair
    swapped = some.select(
        pl.col("_row_r").alias("_row_l"), pl.col("_row_l").alias("_row_r")
    )
    assert known.of(swapped).to_dicts() == got.to_dicts()
    unknown = pl.DataFrame(
        {"_row_l": [0], "_row_r": [recs_height(vectors) + 10]},
        schema={"_row_l": pl.UInt32, "_row_r": pl.UInt32},
    )
    assert known.of(pl.concat([some, unknown])) is None
    assert fs._KnownVectors(None, names).of(some) is None


def recs_height(vectors: pl.DataFrame) -> int:
    return int(vectors.select(pl.max_horizontal("_row_l", "_row_r").max()).item())
