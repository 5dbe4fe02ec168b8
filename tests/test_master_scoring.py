"""The store's scoring: bounded early drops keep exactly the pairs and scores of comparing everything."""

from __future__ import annotations

import polars as pl
import pytest
from polars.testing import assert_frame_equal

from er_toolkit import schema
from er_toolkit.master.scoring import TermFrequencies, score_pairs
from tests.master_fixtures import (
    as_sources,
    customers,  # noqa: F401  (fixture)
    linker,  # noqa: F401  (fixture)
    model_path,  # noqa: F401  (fixture)
)


@pytest.mark.parametrize("frozen", [True, False])
@pytest.mark.parametrize("cut", [None, 0.05, 0.5, 0.999, 0.999999])
def test_bounded_scoring_keeps_the_pairs_and_scores_of_comparing_everything(
    customers: pl.DataFrame,  # noqa: F811
    linker,  # noqa: F811
    cut: float | None,
    frozen: bool,
) -> None:
    records = linker.records(as_sources(customers))
    pairs = linker.block(records)
    threshold = linker.threshold_ if cut is None else cut
    frequencies = (
        TermFrequencies.from_records(records, linker.config.comparisons)
        if frozen
        else TermFrequencies()
    )
    everything = score_pairs(linker, records, pairs, frequencies)
    expected = everything.filter(pl.col(schema.MATCH_PROBABILITY) >= threshold)
    # small chunks: several of them, some losing every pair early
    got = score_pairs(
        linker,
        records,
        pairs,
        frequencies,
        min_probability=threshold,
        chunk_size=5_000,
    )
    assert 0 < expected.height < everything.height
    assert_frame_equal(got, expected)


def test_bounded_scoring_of_pairs_none_of_which_can_match(
    customers: pl.DataFrame,  # noqa: F811
    linker,  # noqa: F811
) -> None:
    records = linker.records(as_sources(customers))
    pairs = linker.block(records)
    everything = score_pairs(linker, records, pairs, TermFrequencies())
    worst = (
        everything.sort(schema.MATCH_WEIGHT).head(50).select(schema.ROW_L, schema.ROW_R)
    )
    got = score_pairs(
        linker, records, worst, TermFrequencies(), min_probability=linker.threshold_
    )
    assert got.height == 0
    assert got.columns == everything.columns
