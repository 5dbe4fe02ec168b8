"""The fit's fast paths give what the general ones do: agreement shares from
value codes, pair counts from key codes, pattern counts from packed levels."""

from __future__ import annotations

import numpy as np
import polars as pl
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from er_toolkit.blocking import ExactRule, count_rule_pairs
from er_toolkit.engines.polars import PolarsEngine, key_pairs
from er_toolkit.pipeline import Linker
from er_toolkit.score.em import Patterns
from er_toolkit.score.sampling import exact_agreement_share

VALUES = st.sampled_from(["a", "b", " a", "c", "", None])


def _records(rows: list[tuple[str | None, str | None, str]]) -> pl.DataFrame:
    return pl.DataFrame(
        {
            "_row": list(range(len(rows))),
            "x": [r[0] for r in rows],
            "y": [r[1] for r in rows],
            "source": [r[2] for r in rows],
        },
        schema={"_row": pl.UInt32, "x": pl.String, "y": pl.String, "source": pl.String},
    )


ROWS = st.lists(st.tuples(VALUES, VALUES, st.sampled_from(["s", "t"])), max_size=30)
LINK_TYPES = st.sampled_from(["dedupe", "link", "link_and_dedupe"])


@settings(max_examples=60, deadline=None)
@given(rows=ROWS, link_type=LINK_TYPES, columns=st.sampled_from([["x"], ["x", "y"]]))
def test_agreement_share_from_codes_is_the_counted_share(rows, link_type, columns):
    records = _records(rows)
    engine = PolarsEngine()
    counted = exact_agreement_share(records, columns, link_type=link_type)
    with engine.cached(records):
        coded = engine.exact_agreement_share(records, columns, link_type=link_type)
    assert coded == pytest.approx(counted, rel=1e-12)


@settings(max_examples=60, deadline=None)
@given(rows=ROWS, link_type=LINK_TYPES, keys=st.sampled_from([("x",), ("x", "y")]))
def test_rule_pairs_counted_from_codes_are_the_rules_counts(rows, link_type, keys):
    records = _records(rows)
    rules = [ExactRule(keys)]
    engine = PolarsEngine()
    expected = count_rule_pairs(records, rules, link_type=link_type)
    with engine.cached(records):
        assert engine.exact_key_codes(records, rules[0]) is not None
        got = engine.count_rule_pairs(records, rules, link_type=link_type)
    assert got.equals(expected)
    # and the blocked pairs are the pairs sharing a key code
    blocked = engine.block(records, rules, link_type=link_type)
    assert blocked.height == expected["pairs"][0]


def test_key_codes_of_prefixes_and_purged_blocks_pair_as_blocking_does():
    records = _records([("ab", "b", "s"), ("ac", "b", "t"), ("ab", "c", "s")])
    engine = PolarsEngine()
    with engine.cached(records):
        prefix = engine.exact_key_codes(records, ExactRule(("x[:1]",)))
        assert prefix is not None and len(set(prefix.tolist())) == 1
        whole = engine.exact_key_codes(records, ExactRule(("x",)))
        assert whole is not None and whole[0] == whole[2] != whole[1]
        # the block of x = "ab" holds two records: purged at one, kept at two
        purged = engine.exact_key_codes(records, ExactRule(("x",), max_block_size=2))
        assert purged is not None and purged.tolist() == whole.tolist()
        # the three records share x[:1]: purged at two, kept at three
        small = engine.exact_key_codes(records, ExactRule(("x[:1]",), max_block_size=2))
        assert small is not None and small.tolist() == [-1, -1, -1]
        kept = engine.exact_key_codes(records, ExactRule(("x[:1]",), max_block_size=3))
        assert kept is not None and kept.tolist() == prefix.tolist()
    # no encoding kept: nothing to read codes from
    assert PolarsEngine().exact_key_codes(records, ExactRule(("x",))) is None
    assert key_pairs(np.array([], dtype=np.int64)) == 0


@settings(max_examples=60, deadline=None)
@given(
    levels=st.lists(
        st.tuples(st.integers(-1, 3), st.integers(-1, 1), st.integers(-1, 5)),
        max_size=40,
    )
)
def test_packed_patterns_are_the_grouped_patterns(levels):
    vectors = pl.DataFrame(
        levels,
        schema={"gamma_a": pl.Int8, "gamma_b": pl.Int8, "gamma_c": pl.Int8},
        orient="row",
    )
    names = ["a", "b", "c"]
    packed = Patterns.from_vectors(vectors, names)
    grouped = Patterns.from_counts(
        vectors.group_by([f"gamma_{n}" for n in names]).agg(pl.len().alias("_n")),
        names,
    )
    np.testing.assert_array_equal(packed.gammas, grouped.gammas)
    np.testing.assert_array_equal(packed.counts, grouped.counts)
    assert packed.gammas.dtype == np.int8


def _customer_linker(n: int, seed: int) -> tuple[Linker, pl.DataFrame]:
    """A Linker with the benchmark's customers config and ``n`` prepared records."""
    from benchmarks.compare_tools import ER_TOOLKIT_CONFIG
    from benchmarks.synthetic import generate_customers
    from er_toolkit.config import LinkageConfig
    from er_toolkit.io import Source

    raw = generate_customers(n, seed=seed, n_sources=2)
    assert isinstance(raw, pl.DataFrame)
    frame = raw.select(
        pl.format("{}:{}", "source", "record_id").alias("record_id"),
        "first_name",
        "surname",
        "date_of_birth",
        "email",
        "phone",
        "postcode",
        "city",
    )
    linker = Linker(LinkageConfig.from_toml(ER_TOOLKIT_CONFIG))
    return linker, linker.records([Source("customers", frame, id_column="record_id")])


@pytest.mark.filterwarnings("ignore::er_toolkit.exceptions.SuspiciousParametersWarning")
def test_a_fit_keeps_the_records_encoding_and_counts_each_rule_once():
    linker, recs = _customer_linker(800, seed=5)
    pairs = linker.block(recs)
    engine = linker.engine
    assert isinstance(engine, PolarsEngine)
    encoding = engine._encoding(recs)
    assert encoding is not None and encoding.pair_counts
    vectors = linker.compare(recs, pairs)
    assert engine._encoding(recs) is encoding  # compare reused it
    linker.fit(recs, candidate_pairs=pairs, candidate_vectors=vectors)
    # the fit's record samples did not take the records' place
    assert engine._encoding(recs) is encoding
    report = linker.blocking_report(recs)
    assert report.equals(
        count_rule_pairs(recs, linker.config.blocking.compile(), link_type="dedupe")
    )


@pytest.mark.filterwarnings("ignore::er_toolkit.exceptions.SuspiciousParametersWarning")
def test_the_blocking_report_after_scoring_is_the_blocks_own_counts(monkeypatch):
    linker, recs = _customer_linker(600, seed=7)
    pairs = linker.block(recs)
    vectors = linker.compare(recs, pairs)
    linker.fit(recs, candidate_pairs=pairs, candidate_vectors=vectors)
    # scoring given vectors drops the kept encoding, and its counts with it
    linker.predict(recs, candidate_vectors=vectors, record_ids=False)
    engine = linker.engine
    assert isinstance(engine, PolarsEngine) and engine._encoding(recs) is None
    expected = count_rule_pairs(
        recs, linker.config.blocking.compile(), link_type="dedupe"
    )
    assert int(expected.get_column("pairs").sum()) > 0

    def counted_again(*args, **kwargs):
        raise AssertionError("the blocking report counted the rules again")

    monkeypatch.setattr(engine, "count_rule_pairs", counted_again)
    report = linker.blocking_report(recs)
    assert report.equals(expected)
    # another frame of the same records is counted, not given the kept counts
    monkeypatch.undo()
    import pickle

    copy = pickle.loads(pickle.dumps(linker))  # the kept counts stay behind
    assert copy._block_counts is None and linker._block_counts is not None
    other = recs.head(300)
    assert linker.blocking_report(other).equals(
        count_rule_pairs(other, linker.config.blocking.compile(), link_type="dedupe")
    )
