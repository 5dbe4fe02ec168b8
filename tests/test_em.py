"""EM over comparison patterns recovers known m and λ from simulated vectors."""

from __future__ import annotations

import math

import numpy as np
import polars as pl
import pytest

from er_toolkit import schema
from er_toolkit.score.em import Patterns, log_bayes_factors, run_em

N_PAIRS = 200_000
LAMBDA = 0.05
NULL_SHARE = 0.03
# Per comparison, probabilities indexed by gamma (0 = else ... top = exact).
TRUE_M = {
    "first_name": np.array([0.03, 0.05, 0.12, 0.80]),
    "surname": np.array([0.02, 0.08, 0.90]),
    "dob": np.array([0.05, 0.10, 0.05, 0.80]),
    "city": np.array([0.15, 0.10, 0.75]),
    "postcode": np.array([0.10, 0.90]),
}
TRUE_U = {
    "first_name": np.array([0.85, 0.08, 0.05, 0.02]),
    "surname": np.array([0.93, 0.05, 0.02]),
    "dob": np.array([0.96, 0.01, 0.02, 0.01]),
    "city": np.array([0.70, 0.20, 0.10]),
    "postcode": np.array([0.97, 0.03]),
}
NAMES = tuple(TRUE_M)


def _simulate(seed: int = 7) -> tuple[pl.DataFrame, np.ndarray]:
    rng = np.random.default_rng(seed)
    is_match = rng.random(N_PAIRS) < LAMBDA
    columns = {}
    for name in NAMES:
        m, u = TRUE_M[name], TRUE_U[name]
        levels = np.arange(len(m))
        g = np.where(
            is_match,
            rng.choice(levels, size=N_PAIRS, p=m),
            rng.choice(levels, size=N_PAIRS, p=u),
        ).astype(np.int8)
        g[rng.random(N_PAIRS) < NULL_SHARE] = schema.NULL_LEVEL
        columns[schema.gamma(name)] = g
    return pl.DataFrame(columns), is_match


@pytest.fixture(scope="module")
def simulated() -> tuple[pl.DataFrame, np.ndarray]:
    return _simulate()


@pytest.fixture(scope="module")
def patterns(simulated: tuple[pl.DataFrame, np.ndarray]) -> Patterns:
    return Patterns.from_vectors(simulated[0], NAMES)


def _generic_m(n: int) -> np.ndarray:
    m = np.full(n, 0.2 / (n - 1))
    m[-1] = 0.8
    return m


def test_patterns_count_every_pair_once(
    simulated: tuple[pl.DataFrame, np.ndarray], patterns: Patterns
) -> None:
    vectors = simulated[0]
    assert patterns.names == NAMES
    assert patterns.counts.sum() == N_PAIRS
    # at most one pattern per combination of levels, the null level included
    assert len(patterns.counts) <= math.prod(len(TRUE_M[n]) + 1 for n in NAMES)
    assert patterns.gammas.shape == (len(patterns.counts), len(NAMES))
    assert patterns.gammas.dtype == np.int8
    assert len({tuple(row) for row in patterns.gammas}) == len(patterns.counts)
    # one pattern's count checked against the raw vectors
    top = [len(TRUE_M[n]) - 1 for n in NAMES]
    row = np.flatnonzero((patterns.gammas == top).all(axis=1))
    expected = vectors.filter(
        pl.all_horizontal(
            pl.col(schema.gamma(n)) == t for n, t in zip(NAMES, top, strict=True)
        )
    ).height
    assert expected > 0
    assert patterns.counts[row].tolist() == [expected]


def test_em_recovers_true_m_and_lambda(patterns: Patterns) -> None:
    result = run_em(
        patterns,
        m_init=[_generic_m(len(TRUE_M[n])) for n in NAMES],
        u=[TRUE_U[n] for n in NAMES],
        probability_match_init=0.5,
        fixed=[False] * len(NAMES),
        max_iter=500,
        tol=1e-7,
    )
    assert result.converged
    assert result.n_iter < 500
    assert result.probability_match == pytest.approx(LAMBDA, abs=0.01)
    for name, m in zip(NAMES, result.m, strict=True):
        assert m.sum() == pytest.approx(1.0)
        np.testing.assert_allclose(m, TRUE_M[name], atol=0.02, err_msg=name)


def test_em_from_a_small_lambda_start(patterns: Patterns) -> None:
    result = run_em(
        patterns,
        m_init=[_generic_m(len(TRUE_M[n])) for n in NAMES],
        u=[TRUE_U[n] for n in NAMES],
        probability_match_init=0.001,
        fixed=[False] * len(NAMES),
        max_iter=500,
        tol=1e-7,
    )
    assert result.probability_match == pytest.approx(LAMBDA, abs=0.01)
    for name, m in zip(NAMES, result.m, strict=True):
        np.testing.assert_allclose(m, TRUE_M[name], atol=0.02, err_msg=name)


def test_fixed_comparisons_keep_their_m(patterns: Patterns) -> None:
    m_init = [_generic_m(len(TRUE_M[n])) for n in NAMES]
    m_init[1] = TRUE_M["surname"].copy()
    m_init[3] = np.array([0.3, 0.3, 0.4])  # deliberately wrong, but fixed
    fixed = [False, True, False, True, False]
    result = run_em(
        patterns,
        m_init=m_init,
        u=[TRUE_U[n] for n in NAMES],
        probability_match_init=0.5,
        fixed=fixed,
        max_iter=300,
    )
    np.testing.assert_array_equal(result.m[1], TRUE_M["surname"])
    np.testing.assert_array_equal(result.m[3], [0.3, 0.3, 0.4])
    # the free ones moved away from their generic start
    assert not np.allclose(result.m[0], m_init[0], atol=0.02)
    np.testing.assert_allclose(result.m[0], TRUE_M["first_name"], atol=0.05)
    # and the inputs were not modified in place
    np.testing.assert_array_equal(m_init[0], _generic_m(4))


def test_max_iter_stops_early(patterns: Patterns) -> None:
    result = run_em(
        patterns,
        m_init=[_generic_m(len(TRUE_M[n])) for n in NAMES],
        u=[TRUE_U[n] for n in NAMES],
        probability_match_init=0.5,
        fixed=[False] * len(NAMES),
        max_iter=2,
        tol=1e-12,
    )
    assert result.n_iter == 2
    assert not result.converged


def test_zero_count_input_returns_init() -> None:
    empty = pl.DataFrame(
        {schema.gamma(n): pl.Series([], dtype=pl.Int8) for n in ("a", "b")}
    )
    patterns = Patterns.from_vectors(empty, ["a", "b"])
    assert patterns.gammas.shape == (0, 2)
    assert patterns.counts.sum() == 0
    m_init = [np.array([0.1, 0.9]), np.array([0.2, 0.3, 0.5])]
    result = run_em(
        patterns,
        m_init=m_init,
        u=[np.array([0.9, 0.1]), np.array([0.8, 0.1, 0.1])],
        probability_match_init=0.25,
        fixed=[False, False],
    )
    assert result.n_iter == 0
    assert result.converged
    assert result.probability_match == 0.25
    for got, want in zip(result.m, m_init, strict=True):
        np.testing.assert_array_equal(got, want)
        assert got is not want


def test_log_bayes_factors_null_contributes_nothing() -> None:
    gammas = np.array([[1, 0], [-1, 2], [0, -1]], dtype=np.int8)
    m = [np.array([0.2, 0.8]), np.array([0.1, 0.2, 0.7])]
    u = [np.array([0.9, 0.1]), np.array([0.8, 0.15, 0.05])]
    out = log_bayes_factors(gammas, m, u)
    expected = np.array(
        [
            [np.log2(0.8 / 0.1), np.log2(0.1 / 0.8)],
            [0.0, np.log2(0.7 / 0.05)],
            [np.log2(0.2 / 0.9), 0.0],
        ]
    )
    np.testing.assert_allclose(out, expected)
