"""EM sessions take known candidates' gammas instead of comparing again, and
the fit is identical either way."""

from __future__ import annotations

import dataclasses

import numpy as np
import polars as pl
import pytest

import er_toolkit.score.fellegi_sunter as fs
from benchmarks.compare_tools import BLOCKING_RULES, ER_TOOLKIT_CONFIG
from er_toolkit.blocking import ExactRule
from er_toolkit.config import LinkageConfig
from er_toolkit.engines.polars import PolarsEngine
from er_toolkit.io import Source
from er_toolkit.pipeline import Linker


@pytest.fixture(scope="module")
def job(fit_customers):
    records = fit_customers
    config = LinkageConfig.from_toml(ER_TOOLKIT_CONFIG)
    # The peers' rules, where first_name&surname (a training rule) is also a
    # blocking rule, so two of the three sessions are among the candidates.
    config = dataclasses.replace(
        config,
        blocking=dataclasses.replace(
            config.blocking, blockers=tuple(ExactRule(r) for r in BLOCKING_RULES)
        ),
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


@pytest.mark.parametrize("through_engine", [True, False])
def test_a_session_is_found_among_candidates_only_when_all_its_pairs_are(
    job, through_engine
):
    config, recs, _pairs, vectors = job
    names = [
        c.removeprefix("gamma_") for c in vectors.columns if c.startswith("gamma_")
    ]
    known = fs._KnownVectors(vectors, names)
    rule = ExactRule(("email",))
    engine = PolarsEngine()
    blocked = engine.block(recs, [rule], link_type=config.link_type)
    with engine.cached(recs):
        got = known.session(
            recs,
            recs,
            rule,
            blocked.height,
            engine=engine if through_engine else None,
        )
        assert got is not None
        # the same gammas as comparing the session's pairs afresh
        fresh = engine.compare(recs, blocked, config.comparisons, raw_similarity=False)
        key = ["_row_l", "_row_r"]
        expected = fresh.sort(key).select(known.columns)
        found = (
            vectors.join(blocked.select(key), on=key, how="semi")
            .sort(key)
            .select(known.columns)
        )
        assert found.equals(expected)
        assert sorted(got.rows()) == sorted(expected.rows())
        # a sample of the records: only candidates between sampled records
        sample = engine.sample_records(recs, share=0.5, seed=1)
        sample_pairs = engine.block(sample, [rule], link_type=config.link_type)
        in_sample = known.session(
            recs,
            sample,
            rule,
            sample_pairs.height,
            engine=engine if through_engine else None,
        )
        assert in_sample is not None and in_sample.height == sample_pairs.height
        # a wrong count (pairs missing from the candidates) is refused
        assert known.session(recs, recs, rule, blocked.height + 1) is None
        # a rule that is not a blocking rule is not looked up
        dob = ExactRule(("date_of_birth",))
        n_dob = engine.count_rule_pairs(recs, [dob], link_type=config.link_type)
        assert known.session(recs, recs, dob, int(n_dob["pairs"][0])) is None
        # block purging: its pairs are not all pairs sharing the key
        purged = ExactRule(("email",), max_block_size=2)
        assert known.session(recs, recs, purged, blocked.height) is None
    assert fs._KnownVectors(None, names).session(recs, recs, rule, 1) is None


def test_repeated_candidates_are_not_taken_for_the_session(job):
    config, recs, _pairs, vectors = job
    names = [
        c.removeprefix("gamma_") for c in vectors.columns if c.startswith("gamma_")
    ]
    rule = ExactRule(("email",))
    engine = PolarsEngine()
    blocked = engine.block(recs, [rule], link_type=config.link_type)
    key = ["_row_l", "_row_r"]
    theirs = vectors.join(blocked.select(key), on=key, how="semi")
    # one session pair dropped, another repeated: the count still matches
    doubled = pl.concat(
        [
            vectors.join(theirs.head(1).select(key), on=key, how="anti"),
            theirs.slice(1, 1),
        ]
    )
    known = fs._KnownVectors(doubled, names)
    assert known.session(recs, recs, rule, blocked.height) is None
