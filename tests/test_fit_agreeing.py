"""Shortcuts of the fit give what the general paths give: comparisons on an exact
rule's own columns compared once per record, candidates of a session found
through their top levels, completeness from the kept encoding."""

from __future__ import annotations

import dataclasses

import numpy as np
import polars as pl
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

import er_toolkit.score.fellegi_sunter as fs
from benchmarks.compare_tools import ER_TOOLKIT_CONFIG
from er_toolkit.blocking import ExactRule
from er_toolkit.compare import Comparison
from er_toolkit.compare.levels import (
    DateDifferenceLevel,
    DistanceLevel,
    ExactLevel,
    SimilarityLevel,
)
from er_toolkit.config import LinkageConfig
from er_toolkit.engines.polars import PolarsEngine
from er_toolkit.io import Source
from er_toolkit.pipeline import Linker
from er_toolkit.score.sampling import completeness

NAMES = st.sampled_from(["ann", " ann", "anne", "bob", "", None])
DATES = st.sampled_from(["1990-01-02", " 1990-01-02", "1990-02-01", "1991-01-02", "x"])
ROWS = st.lists(
    st.tuples(NAMES, NAMES, st.one_of(st.none(), DATES)), min_size=2, max_size=40
)

COMPARISONS = [
    Comparison(
        "name",
        "name",
        levels=(
            ExactLevel(),
            SimilarityLevel(comparator="jaro_winkler", min_similarity=0.9),
        ),
    ),
    Comparison("other", "other", levels=(ExactLevel(term_frequency=True),)),
    Comparison(
        "dob",
        "dob",
        levels=(
            ExactLevel(),
            DistanceLevel(comparator="damerau_levenshtein", max_distance=1),
            DateDifferenceLevel(max_days=40),
        ),
    ),
    # reads two columns: once per record only when the rule holds both
    Comparison(
        "both",
        "name",
        levels=(ExactLevel(), ExactLevel(column="other")),
    ),
]


def _records(rows: list[tuple[str | None, str | None, str | None]]) -> pl.DataFrame:
    return pl.DataFrame(
        {
            "_row": list(range(len(rows))),
            "name": [r[0] for r in rows],
            "other": [r[1] for r in rows],
            "dob": [r[2] for r in rows],
        },
        schema={
            "_row": pl.UInt32,
            "name": pl.String,
            "other": pl.String,
            "dob": pl.String,
        },
    )


@settings(max_examples=80, deadline=None)
@given(
    rows=ROWS,
    keys=st.sampled_from([("name",), ("dob",), ("name", "other"), ("other",)]),
)
def test_comparisons_on_the_rules_columns_give_the_same_patterns(rows, keys):
    records = _records(rows)
    rule = ExactRule(keys)
    engine = PolarsEngine()
    with engine.cached(records):
        pairs = engine.block(records, [rule], link_type="dedupe")
        per_pair = engine.gamma_patterns(records, pairs, COMPARISONS)
        per_record = engine.gamma_patterns(
            records, pairs, COMPARISONS, agreeing=rule.columns
        )
    np.testing.assert_array_equal(per_record.gammas, per_pair.gammas)
    np.testing.assert_array_equal(per_record.counts, per_pair.counts)
    assert per_record.names == per_pair.names


def test_only_the_comparisons_on_agreeing_columns_are_compared_per_record(
    monkeypatch,
):
    records = _records([("ann", "x", "1990-01-02")] * 3 + [("bob", "y", None)])
    engine = PolarsEngine()
    seen: list[tuple[list[str], int]] = []
    import er_toolkit.compare as compare

    real = compare.compare_pairs

    def spy(records, pairs, comparisons, **kwargs):
        seen.append(([c.name for c in comparisons], pairs.height))
        return real(records, pairs, comparisons, **kwargs)

    monkeypatch.setattr(compare, "compare_pairs", spy)
    pairs = engine.block(records, [ExactRule(("name",))], link_type="dedupe")
    assert pairs.height == 3
    engine.gamma_patterns(records, pairs, COMPARISONS, agreeing=("name",))
    # the pairs on the other comparisons; the two left records with
    # themselves on the name
    assert seen == [(["other", "dob", "both"], 3), (["name"], 2)]


@pytest.fixture(scope="module")
def job(fit_customers):
    records = fit_customers
    config = LinkageConfig.from_toml(ER_TOOLKIT_CONFIG)
    config = dataclasses.replace(
        config, model=dataclasses.replace(config.model, u_sample_size=20_000)
    )
    linker = Linker(config)
    recs = linker.records([Source("customers", records, id_column="record_id")])
    pairs = linker.block(recs)
    vectors = linker.compare(recs, pairs)
    return config, recs, vectors


@pytest.mark.parametrize(
    "keys", [("email",), ("first_name", "surname"), ("phone",), ("postcode",)]
)
@pytest.mark.parametrize("share", [None, 0.5])
def test_sessions_found_through_top_levels_are_those_found_by_keys(job, keys, share):
    config, recs, vectors = job
    names = [c.name for c in config.comparisons]
    rule = ExactRule(keys)
    engine = PolarsEngine()
    with engine.cached(recs):
        sample = (
            recs if share is None else engine.sample_records(recs, share=share, seed=2)
        )
        n_pairs = int(
            engine.count_rule_pairs(sample, [rule], link_type=config.link_type)[
                "pairs"
            ][0]
        )
        by_keys = fs._KnownVectors(vectors, names)
        by_levels = fs._KnownVectors(vectors, names, comparisons=config.comparisons)
        if keys != ("postcode",):  # a comparison with an exact first level
            assert by_levels._top_levels(rule) is not None
        expected = by_keys.session(recs, sample, rule, n_pairs, engine=engine)
        got = by_levels.session(recs, sample, rule, n_pairs, engine=engine)
        if expected is None:
            assert got is None
        else:
            assert got is not None and got.equals(expected)
        # a wrong count is refused either way
        assert by_levels.session(recs, sample, rule, n_pairs + 1, engine=engine) is None


def test_a_date_comparison_does_not_stand_for_its_key():
    # gamma of a comparison reading dates is -1 for equal values that are
    # not dates, so its top level does not say which pairs share the key
    vectors = pl.DataFrame(
        {"_row_l": [0], "_row_r": [1], "gamma_dob": [4]},
        schema={"_row_l": pl.UInt32, "_row_r": pl.UInt32, "gamma_dob": pl.Int8},
    )
    dob = COMPARISONS[2]
    assert "date" in dob.known_as
    known = fs._KnownVectors(vectors, ["dob"], comparisons=[dob])
    assert known._top_levels(ExactRule(("dob",))) is None
    as_text = dataclasses.replace(dob, unparsed="text")
    known = fs._KnownVectors(vectors, ["dob"], comparisons=[as_text])
    assert known._top_levels(ExactRule(("dob",))) == [("gamma_dob", 3)]


@settings(max_examples=60, deadline=None)
@given(values=st.lists(st.sampled_from(["a", " ", "", None, " b "]), max_size=30))
def test_completeness_from_the_encoding_is_the_counted_share(values):
    records = pl.DataFrame(
        {"_row": list(range(len(values))), "x": values},
        schema={"_row": pl.UInt32, "x": pl.String},
    )
    engine = PolarsEngine()
    with engine.cached(records):
        coded = engine.completeness(records, "x")
    assert coded == completeness(records, "x")


@settings(max_examples=60, deadline=None)
@given(
    rows=ROWS,
    link_type=st.sampled_from(["dedupe", "link", "link_and_dedupe"]),
    keys=st.sampled_from([("name",), ("name", "other"), ("dob",)]),
    share=st.sampled_from([0.3, 0.7]),
)
def test_a_samples_pairs_counted_from_the_records_codes_are_its_counts(
    rows, link_type, keys, share
):
    records = _records(rows).with_columns(
        source=pl.Series(["s", "t"] * (len(rows) // 2) + ["s"] * (len(rows) % 2))
    )
    rule = ExactRule(keys)
    engine = PolarsEngine()
    with engine.cached(records):
        sample = engine.sample_records(records, share=share, seed=4)
        coded = engine.count_rule_pairs(sample, [rule], link_type=link_type)
    assert engine._sampled is None  # not kept past the fit
    counted = PolarsEngine().count_rule_pairs(sample, [rule], link_type=link_type)
    assert coded.equals(counted)
    assert int(coded["pairs"][0]) == rule.count_pairs(sample, link_type=link_type)


@settings(max_examples=60, deadline=None)
@given(
    rows=ROWS,
    link_type=st.sampled_from(["dedupe", "link", "link_and_dedupe"]),
    rules=st.sampled_from(
        [
            [ExactRule(("name",))],
            [ExactRule(("name", "other")), ExactRule(("dob",))],
            [ExactRule(("name[:1]",), max_block_size=3), ExactRule(("other",))],
        ]
    ),
    share=st.sampled_from([0.3, 0.7]),
)
def test_a_sample_of_a_column_subset_is_blocked_from_the_records_codes(
    rows, link_type, rules, share
):
    records = _records(rows).with_columns(
        source=pl.Series(["s", "t"] * (len(rows) // 2) + ["s"] * (len(rows) % 2))
    )
    engine = PolarsEngine()
    columns = ["_row", "source", *dict.fromkeys(c for r in rules for c in r.columns)]
    with engine.cached(records):
        sample = engine.sample_records(records, share=share, seed=4, columns=columns)
        assert sample.columns == columns
        assert engine._sampled is not None  # blocked from the records' codes
        codes = engine._sample_key_codes(rules[0], *engine._sampled[1:])
        blocked = engine.block(sample, rules, link_type=link_type)
    assert codes is not None
    own = PolarsEngine().block(sample, rules, link_type=link_type)
    assert blocked.sort(blocked.columns).equals(own.sort(own.columns))
    assert sample.equals(
        records.select(columns).filter(
            pl.Series(np.isin(records["_row"], sample["_row"]))
        )
    )


def test_a_fits_sampled_sessions_are_blocked_from_the_records_codes():
    # 40 records sharing one name: 780 pairs, sampled down to about 100
    records = _records([("ann", f"o{i % 7}", f"19{i % 5}0-01-01") for i in range(40)])
    sampled: list[str] = []

    class Spy(PolarsEngine):
        def _sample_key_codes(self, blocker, records, kept):
            sampled.append(blocker.name)
            return super()._sample_key_codes(blocker, records, kept)

    def fit(engine: PolarsEngine) -> fs.FellegiSunter:
        model = fs.FellegiSunter(
            comparisons=COMPARISONS,
            training_rules=[("name",), ("dob",)],
            u_sample_size=200,
            max_pairs_per_session=100,
            seed=3,
        )
        return model.fit(records, engine=engine)

    spied = fit(Spy())
    # counted and blocked from the codes, both sessions being sampled
    assert sampled.count("name") == 2 and sampled.count("dob") == 2
    plain = fit(PolarsEngine())
    assert spied.sessions_ == plain.sessions_
    for name in spied.m_:
        np.testing.assert_array_equal(spied.m_[name], plain.m_[name])
