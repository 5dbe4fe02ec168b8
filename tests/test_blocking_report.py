"""The blocking report (pair completeness, reduction ratio, largest blocks) and the rule advisor."""

from __future__ import annotations

import itertools
import tomllib
from pathlib import Path

import hypothesis.strategies as st
import polars as pl
import pytest
from hypothesis import given, settings

from er_toolkit import schema
from er_toolkit.blocking import (
    ExactRule,
    SortedNeighbourhood,
    TokenBlocker,
    blocker_from_dict,
)
from er_toolkit.blocking.advisor import advise_blocking, candidate_rules
from er_toolkit.blocking.report import analyse_blocking, largest_blocks, possible_pairs
from er_toolkit.cli.blocking import main
from er_toolkit.evaluate import blocking_recall
from er_toolkit.exceptions import ConfigError

DATA = Path(__file__).parent / "data"
LETTERS = st.sampled_from([None, "a", "b", "c", "ab", "b c"])


@st.composite
def frames(draw: st.DrawFn) -> tuple[pl.DataFrame, pl.DataFrame]:
    n = draw(st.integers(2, 12))
    rows = draw(
        st.lists(
            st.tuples(LETTERS, LETTERS, st.sampled_from("st")), min_size=n, max_size=n
        )
    )
    entity = draw(st.lists(st.integers(0, 3), min_size=n, max_size=n))
    recs = pl.DataFrame(
        {
            schema.ROW: range(n),
            schema.SOURCE: [r[2] for r in rows],
            "x": [r[0] for r in rows],
            "y": [r[1] for r in rows],
        },
        schema={
            schema.ROW: pl.UInt32,
            schema.SOURCE: pl.String,
            "x": pl.String,
            "y": pl.String,
        },
    )
    truth = [
        (i, j) for i, j in itertools.combinations(range(n), 2) if entity[i] == entity[j]
    ]
    return recs, pl.DataFrame(
        {schema.ROW_L: [p[0] for p in truth], schema.ROW_R: [p[1] for p in truth]},
        schema={schema.ROW_L: pl.UInt32, schema.ROW_R: pl.UInt32},
    )


def pairs_of(blocker, recs: pl.DataFrame, link_type: str) -> set[tuple[int, int]]:
    return set(
        blocker.block(recs, link_type=link_type)
        .select(schema.ROW_L, schema.ROW_R)
        .iter_rows()
    )


@settings(max_examples=60, deadline=None)
@given(data=frames(), link_type=st.sampled_from(["dedupe", "link"]))
def test_report_matches_brute_force(data, link_type: str) -> None:
    recs, truth = data
    blockers = [
        ExactRule(("x",)),
        TokenBlocker("y"),
        SortedNeighbourhood(("x",), window=2),
    ]
    report = analyse_blocking(recs, blockers, link_type=link_type, truth=truth)
    sources = recs.get_column(schema.SOURCE).to_list()
    n = recs.height
    possible = sum(
        1
        for i, j in itertools.combinations(range(n), 2)
        if link_type != "link" or sources[i] != sources[j]
    )
    assert (
        report.possible_pairs == possible == possible_pairs(recs, link_type=link_type)
    )
    true = set(truth.iter_rows())
    union: set[tuple[int, int]] = set()
    found: set[tuple[int, int]] = set()
    for row, blocker in zip(report.rules.iter_rows(named=True), blockers, strict=True):
        own = pairs_of(blocker, recs, link_type)
        assert row["pairs"] == len(own)
        assert row["new_pairs"] == len(own - union)
        assert row["matches"] == len(own & true)
        assert row["new_matches"] == len((own & true) - found)
        union |= own
        found |= own & true
        assert row["cumulative_pairs"] == len(union)
        assert row["reduction_ratio"] == pytest.approx(
            1 - len(union) / possible if possible else 1.0
        )
        assert row["pair_completeness"] == pytest.approx(
            len(found) / len(true) if true else 0.0
        )


def test_largest_blocks_lists_biggest_first_and_flags_purged() -> None:
    recs = pl.DataFrame(
        {
            schema.ROW: range(6),
            "org": ["acme ltd", "beta ltd", "ltd", "acme", "zeta", "acme co"],
        },
        schema_overrides={schema.ROW: pl.UInt32},
    )
    got = largest_blocks(TokenBlocker("org", max_block_size=2), recs, n=2)
    assert got.rows() == [("acme", 3, 3, True), ("ltd", 3, 3, True)]


@settings(max_examples=40, deadline=None)
@given(
    data=frames(), target=st.sampled_from([0.5, 0.9, 1.0]), budget=st.integers(1, 30)
)
def test_advice_keeps_its_budget_and_says_its_recall(
    data, target: float, budget: int
) -> None:
    recs, truth = data
    if truth.height == 0:
        with pytest.raises(ConfigError, match="at least one known match"):
            advise_blocking(recs, truth, link_type="dedupe", columns=["x", "y"])
        return
    advice = advise_blocking(
        recs,
        truth,
        link_type="dedupe",
        target_recall=target,
        max_pairs=budget,
        columns=["x", "y"],
    )
    union: set[tuple[int, int]] = set()
    for blocker in advice.blockers:
        union |= pairs_of(blocker, recs, "dedupe")
    assert len(union) == advice.pairs <= budget
    kept = pl.DataFrame(
        {schema.ROW_L: [p[0] for p in union], schema.ROW_R: [p[1] for p in union]},
        schema={schema.ROW_L: pl.UInt32, schema.ROW_R: pl.UInt32},
    )
    assert advice.recall == pytest.approx(blocking_recall(kept, truth))
    assert advice.reached == (advice.recall >= target)
    if advice.blockers:
        assert advice.steps.get_column("recall").to_list()[-1] == pytest.approx(
            advice.recall
        )
        assert (
            advice.steps.get_column("new_matches").min() > 0
        )  # every rule earns its place
    # the chosen rules round-trip through the TOML the advisor prints
    tables = tomllib.loads(advice.to_toml()).get("blocking", {}).get("blockers", [])
    assert [blocker_from_dict(t) for t in tables] == list(advice.blockers)


def test_advisor_prefers_the_rule_with_most_matches_per_pair() -> None:
    # "id" finds every match in few pairs; "city" finds them too but pairs everyone
    recs = pl.DataFrame(
        {
            schema.ROW: range(8),
            "id": ["1", "1", "2", "2", "3", "3", "4", "5"],
            "city": ["york"] * 8,
        },
        schema_overrides={schema.ROW: pl.UInt32},
    )
    truth = pl.DataFrame({schema.ROW_L: [0, 2, 4], schema.ROW_R: [1, 3, 5]})
    advice = advise_blocking(recs, truth, link_type="dedupe", columns=["city", "id"])
    assert [b.name for b in advice.blockers] == ["id"]
    assert advice.pairs == 3 and advice.reached


def test_candidate_rules_need_columns() -> None:
    with pytest.raises(ConfigError, match="at least one column"):
        candidate_rules([])


def test_advisor_cli_prints_rules_that_reach_the_target(
    capsys: pytest.CaptureFixture[str],
) -> None:
    code = main(
        [
            "--config",
            str(DATA / "people_dedupe.toml"),
            "--target-recall",
            "0.99",
            "--max-pairs",
            "5000",
            "--columns",
            "given_name",
            "surname",
            "date_of_birth",
            "soc_sec_id",
        ]
    )
    out = capsys.readouterr().out
    assert code == 0
    assert "[[blocking.blockers]]" in out
    assert "labelled matches (reached" in out
    tables = tomllib.loads(out.split("shape")[0].split("┌")[0])["blocking"]["blockers"]
    assert all(t["kind"] in ("exact", "token") for t in tables)
