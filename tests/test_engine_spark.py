"""The Spark engine gives the polars engine's answers: stage by stage, then whole runs.

One local SparkSession (``local[2]``) serves every test (the ``spark``
fixture in conftest.py). Each end-to-end test runs the same config on both
engines and compares candidate pairs, the fitted model, match weights
(within 1e-9), clusters and evaluation metrics.
"""

from __future__ import annotations

import dataclasses
import json
import warnings
from pathlib import Path
from typing import Any

import numpy as np
import polars as pl
import pytest

from er_toolkit import schema
from er_toolkit.blocking import ExactRule, SortedNeighbourhood
from er_toolkit.cluster import connected_components
from er_toolkit.compare import (
    AndLevel,
    ColumnsReversedLevel,
    Comparison,
    DistanceLevel,
    ExactLevel,
    SimilarityLevel,
)
from er_toolkit.config import LinkageConfig
from er_toolkit.engines import PolarsEngine, SparkEngine
from er_toolkit.engines.spark._frames import to_spark
from er_toolkit.exceptions import (
    BlockingError,
    ConfigError,
    DuplicateIdError,
    SchemaError,
)
from er_toolkit.golden import GoldenConfig
from er_toolkit.io import Source, load_source, prepare_records
from er_toolkit.pipeline import Linker
from er_toolkit.placeholders import PlaceholderConfig
from er_toolkit.score.fellegi_sunter import exact_level_shares

ROOT = Path(__file__).resolve().parents[1]

EXPERIMENTS = ROOT / "experiments"
POLARS = PolarsEngine()


@pytest.fixture(scope="module")
def engine(spark):
    return SparkEngine(spark)


def _people(n: int = 60, *, seed: int = 0) -> pl.DataFrame:
    """Small records with shared, prefixed, blank, null and padded values, two sources."""
    rng = np.random.default_rng(seed)
    names = ["ann", "anna", "bob", "bo", " ann", "cé", "", None, "zoë\u00a0", "bob "]
    towns = ["york", "yorke", "leeds", None, "hull", "\tleeds"]
    return pl.DataFrame(
        {
            "record_id": np.arange(n) * 3,
            "source": rng.choice(["crm", "web"], n).tolist(),
            "name": rng.choice(np.array(names, dtype=object), n).tolist(),
            "town": rng.choice(np.array(towns, dtype=object), n).tolist(),
            "year": rng.choice(["1990", "1991", "1990 ", None], n).tolist(),
        }
    ).with_row_index(schema.ROW)


def _on_spark(spark: Any, records: pl.DataFrame) -> Any:
    return to_spark(spark, records).persist()


BLOCKERS = (
    ExactRule(("name",)),
    ExactRule(("name[:2]", "town"), name="prefix"),
    ExactRule(("town",), max_block_size=12),
    SortedNeighbourhood(("year", "name"), window=3),
)


def _sorted_pairs(frame: pl.DataFrame) -> pl.DataFrame:
    return frame.select(
        pl.col(schema.ROW_L).cast(pl.UInt32),
        pl.col(schema.ROW_R).cast(pl.UInt32),
        pl.col(schema.BLOCKED_BY).cast(pl.String),
    ).sort(schema.ROW_L, schema.ROW_R)


@pytest.mark.parametrize("link_type", ["dedupe", "link", "link_and_dedupe"])
def test_blocking_gives_the_same_counts_and_pairs(spark, link_type):
    records = _people()
    hot = SparkEngine(spark, salt_above=3)  # salts every key of more than 3 records
    counts = POLARS.count_rule_pairs(records, BLOCKERS, link_type=link_type)
    expected = POLARS.block(records, BLOCKERS, link_type=link_type)
    on_spark = _on_spark(spark, records)
    assert hot.count_rule_pairs(on_spark, BLOCKERS, link_type=link_type).equals(counts)
    got = hot.collect(hot.block(on_spark, BLOCKERS, link_type=link_type))
    assert got.equals(expected)  # same pairs, same first producer, same order
    assert _sorted_pairs(got).height == expected.height > 0


def test_blocking_refuses_an_exploding_rule_as_the_polars_engine_does(spark, engine):
    records = _people()
    on_spark = _on_spark(spark, records)
    with pytest.raises(BlockingError) as polars_error:
        POLARS.block(records, BLOCKERS, link_type="dedupe", max_pairs_per_rule=10)
    with pytest.raises(BlockingError) as spark_error:
        engine.block(on_spark, BLOCKERS, link_type="dedupe", max_pairs_per_rule=10)
    assert str(spark_error.value) == str(polars_error.value)
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        got = engine.block(
            on_spark,
            BLOCKERS,
            link_type="dedupe",
            max_pairs_per_rule=40,
            on_explode="warn",
        )
    expected = POLARS.block(
        records, BLOCKERS, link_type="dedupe", max_pairs_per_rule=40, on_explode="warn"
    )
    assert caught and "max_pairs_per_rule=40" in str(caught[0].message)
    assert engine.collect(got).equals(expected)


def test_block_against_pairs_a_batch_with_stored_records(engine):
    records = _people(80, seed=1)
    new, old = records.slice(0, 20), records.slice(20)
    new = new.with_columns(pl.int_range(pl.len(), dtype=pl.UInt32).alias(schema.ROW))
    old = old.with_columns(pl.int_range(pl.len(), dtype=pl.UInt32).alias(schema.ROW))
    for blocker in (BLOCKERS[0], BLOCKERS[2]):
        for link_type in ("dedupe", "link"):
            expected = POLARS.block_against(blocker, new, old, link_type=link_type)
            got = engine.collect(
                engine.block_against(blocker, new, old, link_type=link_type)
            )
            assert got.sort(schema.ROW_L, schema.ROW_R).equals(
                expected.sort(schema.ROW_L, schema.ROW_R)
            )


COMPARISONS = (
    Comparison(
        "name",
        "name",
        (
            ExactLevel(term_frequency=True),
            SimilarityLevel("jaro_winkler", min_similarity=0.8),
        ),
    ),
    Comparison(
        "town", "town", (ExactLevel(), DistanceLevel("levenshtein", max_distance=1))
    ),
    Comparison("year", "year", (ExactLevel(term_frequency=True),)),
    # levels over several columns: the kernel is sent every column they read;
    # term frequencies on two levels, each by its own column's (one table per
    # column, shared with the comparisons above)
    Comparison(
        "name_town",
        "name",
        (
            AndLevel(levels=(ExactLevel(), ExactLevel(column="town"))),
            ColumnsReversedLevel(columns=("name", "town")),
            ExactLevel(column="town", term_frequency=True),
            ExactLevel(term_frequency=True),
        ),
        null_columns=("name", "town"),
    ),
)


def test_comparison_vectors_and_term_frequencies_are_the_kernels(spark, engine):
    records = _people(120, seed=2)
    pairs = POLARS.block(records, BLOCKERS, link_type="dedupe")
    on_spark = _on_spark(spark, records)
    expected = POLARS.compare(records, pairs, COMPARISONS, raw_similarity=True)
    # both TF levels of name_town are reached (town's, then name's frequencies)
    reached = expected.get_column(schema.gamma("name_town")).to_list()
    assert {1, 2} <= set(reached)
    got = engine.collect(engine.compare(on_spark, pairs, COMPARISONS))
    assert got.equals(
        expected.with_columns(pl.col(schema.BLOCKED_BY).cast(pl.String)).sort(
            schema.ROW_L, schema.ROW_R
        )
    )
    for column in ("name", "year"):
        tf_polars = POLARS.term_frequencies(records, column)
        tf_spark = engine.collect(engine.term_frequencies(on_spark, column))
        assert tf_spark.get_column("term_frequency").equals(
            tf_polars.get_column("term_frequency").fill_nan(None)
        )
    assert engine.completeness(on_spark, "name") == POLARS.completeness(records, "name")
    # u of leading exact levels, one column or several (an ``and`` of exact levels)
    several = Comparison(
        "name",
        "name",
        (
            AndLevel(levels=(ExactLevel(), ExactLevel(column="town"))),
            ExactLevel(),
            ExactLevel(column="year"),
        ),
    )
    for link_type in ("dedupe", "link"):
        for columns, given in (("town", None), (["name", "town"], "name")):
            assert engine.exact_agreement_share(
                on_spark, columns, link_type=link_type, given=given
            ) == POLARS.exact_agreement_share(
                records, columns, link_type=link_type, given=given
            )
        shares = exact_level_shares(POLARS, records, several, link_type)
        assert len(shares) == 3
        assert exact_level_shares(engine, on_spark, several, link_type) == shares


@pytest.mark.parametrize("agreeing", [(), ("name",)])
def test_gamma_patterns_on_the_driver_and_on_spark_are_the_polars_ones(
    spark, engine, agreeing
):
    records = _people(150, seed=4)
    on_spark = _on_spark(spark, records)
    # pairs of records sharing a trimmed name: "name" agrees on each of them
    pairs = POLARS.block(records, [ExactRule(("name",))], link_type="dedupe")
    assert pairs.height > 0
    expected = POLARS.gamma_patterns(records, pairs, COMPARISONS, agreeing=agreeing)
    on_spark_pairs = to_spark(spark, pairs)
    for driver_pairs in (engine.driver_pairs, 0):  # on the driver, then on Spark
        assert pairs.height <= engine.driver_pairs
        where = SparkEngine(spark, driver_pairs=driver_pairs)
        got = where.gamma_patterns(
            on_spark, on_spark_pairs, COMPARISONS, agreeing=agreeing
        )
        assert np.array_equal(got.gammas, expected.gammas)
        assert np.array_equal(got.counts, expected.counts)


def test_gamma_patterns_on_the_driver_need_every_record_of_the_pairs(spark, engine):
    records = _people(40, seed=5)
    pairs = pl.DataFrame(
        {schema.ROW_L: [0, 1], schema.ROW_R: [2, 99]},
        schema={schema.ROW_L: pl.UInt32, schema.ROW_R: pl.UInt32},
    )
    with pytest.raises(SchemaError, match="expected all of them"):
        engine.gamma_patterns(
            _on_spark(spark, records), to_spark(spark, pairs), COMPARISONS
        )


def test_session_patterns_are_counted_among_the_candidates(spark, engine):
    link_type = "link"  # pairs across sources only: the sources are checked too
    records = _people(150, seed=3)
    on_spark = _on_spark(spark, records)
    name, town = ExactRule(("name",)), ExactRule(("town",))
    candidates = engine.block(on_spark, [name, town], link_type=link_type)

    def fresh(sample: Any, rule: ExactRule) -> tuple[int, Any]:
        here = engine.collect(sample)
        pairs = POLARS.block(here, [rule], link_type=link_type)
        return pairs.height, POLARS.gamma_patterns(records, pairs, COMPARISONS)

    sample = engine.sample_records(on_spark, share=0.7, seed=5)
    for rule, frame in ((name, on_spark), (town, on_spark), (name, sample)):
        n_pairs, expected = fresh(frame, rule)
        got = engine.session_patterns(
            on_spark,
            frame,
            rule,
            n_pairs,
            candidates=candidates,
            comparisons=COMPARISONS,
            link_type=link_type,
        )
        assert got is not None
        assert np.array_equal(got.gammas, expected.gammas)
        assert np.array_equal(got.counts, expected.counts)
    common = dict(candidates=candidates, comparisons=COMPARISONS, link_type=link_type)
    n_pairs, _ = fresh(on_spark, name)
    # a count the candidates do not reach, a rule that made no candidates,
    # a purged rule: compared afresh (None)
    assert (
        engine.session_patterns(on_spark, on_spark, name, n_pairs + 1, **common) is None
    )
    year = ExactRule(("year",))
    assert engine.session_patterns(on_spark, on_spark, year, 5, **common) is None
    purged = ExactRule(("name",), max_block_size=12)
    assert engine.session_patterns(on_spark, on_spark, purged, 5, **common) is None
    # repeated candidates prove nothing
    doubled = candidates.unionByName(candidates)
    assert (
        engine.session_patterns(
            on_spark, on_spark, name, n_pairs, **{**common, "candidates": doubled}
        )
        is None
    )
    # the vectors made for the sessions are scored, not compared again
    scorer = _fitted_scorer(records, link_type)
    expected = POLARS.score(records, engine.collect(candidates), COMPARISONS, scorer)
    got = engine.collect(engine.score(on_spark, candidates, COMPARISONS, scorer))
    assert engine._kept_vectors(on_spark, candidates, COMPARISONS) is None  # used up
    got, expected = (f.sort(schema.ROW_L, schema.ROW_R) for f in (got, expected))
    assert got.select(schema.ROW_L, schema.ROW_R).equals(
        expected.select(schema.ROW_L, schema.ROW_R)
    )
    weights = got.get_column(schema.MATCH_WEIGHT) - expected.get_column(
        schema.MATCH_WEIGHT
    )
    assert weights.abs().max() <= 1e-12


def _fitted_scorer(records: pl.DataFrame, link_type: str) -> Any:
    from er_toolkit.score import FellegiSunter

    with warnings.catch_warnings():  # a few levels are never reached: suspicious
        warnings.simplefilter("ignore")
        return FellegiSunter(
            COMPARISONS,
            link_type=link_type,
            training_rules=[["year"], ["town"]],
            u_sample_size=2_000,
            seed=1,
        ).fit(records)


def _graph(n: int, seed: int) -> tuple[pl.DataFrame, pl.DataFrame]:
    rng = np.random.default_rng(seed)
    records = pl.DataFrame(
        {
            schema.ROW: np.arange(n, dtype=np.uint32),
            schema.RECORD_ID: rng.permutation(n).astype(str),
            schema.SOURCE: rng.choice(["b", "a", "c:d"], n),
        }
    )
    m = n * 2
    left = rng.integers(0, n, m)
    right = rng.integers(0, n, m)
    chain = np.arange(n - 1)  # a long path: many star rounds
    pairs = pl.DataFrame(
        {
            schema.ROW_L: np.r_[left, chain[: n // 2]],
            schema.ROW_R: np.r_[right, chain[: n // 2] + 1],
            schema.MATCH_PROBABILITY: np.r_[rng.random(m), np.full(n // 2, 0.95)],
        }
    )
    return records, pairs


@pytest.mark.parametrize(
    "options",
    [
        {},
        {"prune_weak_links": True, "min_prune_size": 3},
        {"max_cluster_size": 5},
        {"linkage": "average"},
        {"prune_weak_links": True, "linkage": "complete"},
        {"linkage": "average", "not_compared": "neutral"},
        {"max_cluster_size": 5, "linkage": "complete", "not_compared": "neutral"},
        {
            "linkage": "average",
            "not_compared": "neutral",
            "min_linkage_probability": 0.3,
        },
    ],
)
@pytest.mark.parametrize("where", ["spark", "driver"])
def test_connected_components_match_scipy_ids_and_all(spark, options, where):
    # driver_links=0: large-star / small-star on Spark; else the driver's scipy
    engine = SparkEngine(spark, driver_links=0 if where == "spark" else 10_000)
    records, pairs = _graph(300, seed=3)
    expected = connected_components(records, pairs, threshold=0.7, **options)
    got = engine.collect(
        engine.connected_components(records, pairs, threshold=0.7, **options)
    )
    assert got.equals(expected)
    sizes = expected.get_column(schema.CLUSTER_SIZE)
    assert sizes.max() > (5 if not options else 1)  # the graph has clusters to find


@pytest.mark.parametrize("bad", [-1, 1.5, True])
@pytest.mark.parametrize("option", ["driver_links", "driver_pairs"])
def test_driver_links_must_be_a_whole_number(spark, bad, option):
    with pytest.raises(ConfigError, match=option):
        SparkEngine(spark, **{option: bad})


def test_session_conf_advises_and_user_settings_win():
    from er_toolkit.engines.spark import _session_settings, session_conf

    assert session_conf("local[3]")["spark.sql.shuffle.partitions"] == "6"
    assert "spark.sql.shuffle.partitions" not in session_conf("spark://host:7077")
    mine = {"spark.sql.shuffle.partitions": 50, "spark.executor.cores": 4}
    settings = _session_settings("local[2]", mine)
    assert settings["spark.sql.shuffle.partitions"] == 50  # the user's, not 4
    assert settings["spark.executor.cores"] == 4
    assert settings["spark.sql.execution.arrow.maxRecordsPerBatch"] == "100000"


def test_golden_records_whole_clusters_across_batches(spark, engine):
    records = _people(90, seed=4).with_columns(
        pl.col("record_id").cast(pl.String), pl.col(schema.ROW).cast(pl.UInt32)
    )
    pairs = POLARS.block(records, BLOCKERS[:2], link_type="dedupe").with_columns(
        pl.lit(0.9).alias(schema.MATCH_PROBABILITY)
    )
    clusters = connected_components(records, pairs, threshold=0.5)
    config = GoldenConfig.from_dict(
        {
            "columns": ["name", "town", "year"],
            "attributes": {"town": "most_frequent", "year": "longest"},
        }
    )
    expected = POLARS.golden(config, records, clusters)
    spark.conf.set("spark.sql.execution.arrow.maxRecordsPerBatch", "7")
    try:
        got = engine.collect(engine.golden(config, records, clusters))
    finally:
        spark.conf.unset("spark.sql.execution.arrow.maxRecordsPerBatch")
    assert got.sort(schema.CLUSTER_ID).equals(expected)


def test_sources_read_by_spark_from_parquet_and_csv(engine, tmp_path):
    people = _people(50, seed=5).drop(schema.ROW, schema.SOURCE)
    people.head(30).write_parquet(tmp_path / "a.parquet")
    people.tail(20).with_columns(pl.col("record_id").cast(pl.String)).write_csv(
        tmp_path / "b.csv"
    )
    sources = [Source("a", tmp_path / "a.parquet"), Source("b", tmp_path / "b.csv")]
    columns = ["name", "town", "year"]
    expected = prepare_records(sources, columns=columns)
    got = engine.collect(engine.prepare_records(sources, columns=columns))
    assert got.equals(expected.select(got.columns))
    doubled = pl.concat([people.head(3), people.head(1)])
    doubled.write_parquet(tmp_path / "d.parquet")
    with pytest.raises(DuplicateIdError, match="1 id\\(s\\) repeat"):
        engine.prepare_records([Source("d", tmp_path / "d.parquet")], columns=columns)


# ------------------------------------------------------------- whole runs


def _config(name: str, *, link_type: str | None = None, kind: str) -> LinkageConfig:
    config = LinkageConfig.from_toml(EXPERIMENTS / f"{name}.toml")
    model = dataclasses.replace(config.model, u_sample_size=30_000)
    if kind == "classifier":  # stacked on Fellegi-Sunter weights for FEBRL3 only
        model = dataclasses.replace(
            model,
            kind="classifier",
            estimator="logistic_regression",
            cv=3,
            stack=name == "febrl3",
        )
    return dataclasses.replace(
        config, model=model, link_type=link_type or config.link_type
    )


def _sources(config: LinkageConfig, entities: int | None) -> list[Source] | None:
    """The config's sources, cut to the records of the first ``entities`` entities of the first."""
    if entities is None:
        return None
    sources = [load_source(s, base_dir=config.base_dir) for s in config.sources]
    column = config.evaluation.entity_column
    kept = sources[0].data.get_column(column).unique(maintain_order=True).head(entities)
    return [
        dataclasses.replace(s, data=s.data.filter(pl.col(column).is_in(kept.implode())))
        for s in sources
    ]


def _run(
    config: LinkageConfig, engine: Any, *, entities: int | None = None
) -> dict[str, Any]:
    linker = Linker(config, engine=engine)
    records = linker.records(_sources(config, entities))
    pairs = linker.block(records)
    linker.fit(records, candidate_pairs=pairs)
    scored = linker.predict(records, candidate_pairs=pairs)
    clusters = linker.cluster(records, scored)
    truth = linker.true_pairs(records)
    metrics, curve = linker.evaluate(
        records, candidate_pairs=pairs, scored=scored, clusters=clusters, truth=truth
    )
    collect = linker.engine.collect
    return {
        "pairs": collect(pairs),
        "scored": collect(scored),
        "clusters": collect(clusters),
        "metrics": metrics,
        "curve": curve,
        "model": linker.scorer_,
        "report": linker.blocking_report(records),
    }


def _assert_same_answers(polars_run: dict[str, Any], spark_run: dict[str, Any]) -> None:
    assert spark_run["report"].equals(polars_run["report"])
    assert spark_run["pairs"].equals(polars_run["pairs"])
    a, b = polars_run["scored"], spark_run["scored"]
    assert b.select(schema.ROW_L, schema.ROW_R).equals(
        a.select(schema.ROW_L, schema.ROW_R)
    )
    assert b.get_column(schema.RECORD_ID_L).equals(a.get_column(schema.RECORD_ID_L))
    weights = (
        b.get_column(schema.MATCH_WEIGHT) - a.get_column(schema.MATCH_WEIGHT)
    ).abs()
    assert weights.max() <= 1e-9
    p = b.get_column(schema.MATCH_PROBABILITY) - a.get_column(schema.MATCH_PROBABILITY)
    assert p.abs().max() <= 1e-12
    assert spark_run["clusters"].equals(polars_run["clusters"])
    assert spark_run["metrics"].keys() == polars_run["metrics"].keys()
    for key, value in polars_run["metrics"].items():
        assert spark_run["metrics"][key] == pytest.approx(value, abs=1e-12), key
    assert spark_run["curve"].height == polars_run["curve"].height


def _assert_same_run(
    name: str, link_type: str | None, kind: str, engine: Any, entities: int | None
) -> None:
    config = _config(name, link_type=link_type, kind=kind)
    polars_run = _run(config, POLARS, entities=entities)
    spark_run = _run(config, engine, entities=entities)
    _assert_same_answers(polars_run, spark_run)
    if kind == "fellegi_sunter":  # the same model, learned from Spark's counts
        a = json.dumps(polars_run["model"].to_dict(), sort_keys=True, default=str)
        b = json.dumps(spark_run["model"].to_dict(), sort_keys=True, default=str)
        assert a == b
    assert polars_run["metrics"]["pairwise_f1"] > 0.8


# In the default run: FEBRL3 dedupe with Fellegi-Sunter and FEBRL4
# link-and-dedupe with the classifier, cut to the records of 400 entities;
# the other two cuts and the whole runs are slow.
@pytest.mark.parametrize(
    ("name", "link_type", "kind", "entities"),
    [
        ("febrl3", None, "fellegi_sunter", 400),
        pytest.param("febrl3", None, "classifier", 400, marks=pytest.mark.slow),
        pytest.param("febrl4", None, "fellegi_sunter", 400, marks=pytest.mark.slow),
        ("febrl4", "link_and_dedupe", "classifier", 400),
    ],
    ids=[
        "febrl3-400-dedupe-fs",
        "febrl3-400-dedupe-classifier",
        "febrl4-400-link-fs",
        "febrl4-400-link_and_dedupe-classifier",
    ],
)
def test_spark_gives_the_polars_answers(engine, name, link_type, kind, entities):
    _assert_same_run(name, link_type, kind, engine, entities)


@pytest.mark.slow
@pytest.mark.parametrize("kind", ["fellegi_sunter", "classifier"])
def test_spark_gives_the_polars_answers_on_febrl3(engine, kind):
    _assert_same_run("febrl3", None, kind, engine, None)


_PREPARED_TOML = """
name = "people_prepared"
link_type = "dedupe"
experiment = "er_toolkit-tests"
threshold = 0.5

[[sources]]
name = "people"
path = "people.csv"
id_column = "rec_id"

[evaluation]
entity_column = "entity_id"

[[derive]]
name = "full_name"
kind = "concat"
columns = ["given_name", "surname"]

[[derive]]
name = "surname_raw"
kind = "copy"
column = "surname"

[[derive]]
name = "state"
kind = "case"
column = "state"
case = "upper"

[standardise]
surname = "name"
full_name = "text"

[placeholders]
columns = ["given_name", "soc_sec_id", "postcode"]
distinct_by = "surname"
factor = 4

[blocking]
rules = [["full_name"], ["date_of_birth"], ["soc_sec_id"], ["postcode", "street_number"]]
sorted_neighbourhood = [{ keys = ["surname_raw"], window = 4 }]

[model]
training_rules = [["surname"], ["date_of_birth"], ["soc_sec_id"], ["postcode"]]
u_sample_size = 20_000
seed = 42

[[comparisons]]
name = "full_name"
column = "full_name"
levels = [
  { kind = "exact", term_frequency = true },
  { kind = "similarity", comparator = "jaro_winkler", min_similarity = 0.9 },
]

[[comparisons]]
name = "surname"
column = "surname"
levels = [{ kind = "exact" }, { kind = "similarity", comparator = "jaro_winkler", min_similarity = 0.9 }]

[[comparisons]]
name = "date_of_birth"
column = "date_of_birth"
levels = [{ kind = "exact" }, { kind = "distance", comparator = "damerau_levenshtein", max_distance = 1 }]

[[comparisons]]
name = "soc_sec_id"
column = "soc_sec_id"
levels = [{ kind = "exact" }, { kind = "distance", comparator = "damerau_levenshtein", max_distance = 1 }]

[[comparisons]]
name = "postcode"
column = "postcode"
levels = [{ kind = "exact" }]

[[comparisons]]
name = "state"
column = "state"
levels = [{ kind = "exact" }]
"""


@pytest.fixture(scope="module")
def prepared_config(tmp_path_factory) -> Path:
    """A config with [[derive]], [standardise] and [placeholders] on FEBRL3 people with junk values."""
    folder = tmp_path_factory.mktemp("prepared")
    people = pl.read_csv(ROOT / "tests" / "data" / "people.csv", infer_schema=False)
    rng = np.random.default_rng(7)
    junk = rng.permutation(people.height)
    at = pl.int_range(pl.len())

    def put(column: str, value: str, rows: np.ndarray) -> pl.Expr:
        kept = pl.col(column)
        return (
            pl.when(at.is_in(rows.tolist()))
            .then(pl.lit(value))
            .otherwise(kept)
            .alias(column)
        )

    people.with_columns(
        put("given_name", "Unknown", junk[:15]),  # shape
        put("soc_sec_id", "0000000", junk[15:30]),  # shape (a run of one digit)
        put("postcode", "2000", junk[30:90]),  # frequency: 60 strangers
    ).write_csv(folder / "people.csv")
    path = folder / "people_prepared.toml"
    path.write_text(_PREPARED_TOML)
    return path


def test_derive_standardise_and_placeholders_give_the_polars_records(
    spark, engine, prepared_config
):
    config = LinkageConfig.from_toml(prepared_config)
    expected = Linker(config).prepare(keep_raw=True)
    # small Arrow batches: every per-batch step sees many splits of the records
    spark.conf.set("spark.sql.execution.arrow.maxRecordsPerBatch", "64")
    try:
        got = Linker(config, engine=engine).prepare(keep_raw=True)
        records = engine.collect(got.records)
        raw = engine.collect(got.raw)
    finally:
        spark.conf.unset("spark.sql.execution.arrow.maxRecordsPerBatch")
    assert records.equals(expected.records.select(records.columns))
    assert records.columns == expected.records.columns
    assert raw.equals(expected.raw.select(raw.columns))
    assert got.placeholders is not None and expected.placeholders is not None
    assert got.placeholders.equals(expected.placeholders)
    assert set(expected.placeholders.get_column("rule")) == {"shape", "frequency"}
    assert got.profile.equals(expected.profile)
    assert records.get_column("postcode").null_count() >= 60


@pytest.mark.slow
def test_derive_standardise_and_placeholders_give_the_polars_run(
    engine, prepared_config
):
    # the whole run: the same pairs, model (trained on Spark), weights,
    # clusters and metrics
    config = LinkageConfig.from_toml(prepared_config)
    polars_run = _run(config, POLARS)
    spark_run = _run(config, engine)
    _assert_same_answers(polars_run, spark_run)
    a = json.dumps(polars_run["model"].to_dict(), sort_keys=True, default=str)
    assert a == json.dumps(spark_run["model"].to_dict(), sort_keys=True, default=str)


def test_find_placeholders_on_spark_is_the_polars_finder(spark, engine):
    # values counted over every record, never per batch: the frequent value
    # is spread over batches of 7, each holding it too rarely alone
    rng = np.random.default_rng(11)
    n = 400
    email = [f"p{i}@mail.com" for i in rng.integers(0, 150, n)]
    born = [f"19{y}-0{m}-1{d}" for y, m, d in rng.integers(1, 10, (n, 3))]
    for i in rng.choice(n, 45, replace=False):
        email[i] = "help@acme.com"
    for i in rng.choice(n, 30, replace=False):
        born[i] = "1900-01-01" if i % 3 else " "
    surname = [f"s{i}" if i % 7 else None for i in rng.integers(0, 300, n)]
    records = pl.DataFrame(
        {
            schema.ROW: np.arange(n, dtype=np.uint32),
            schema.SOURCE: rng.choice(["crm", "web"], n).tolist(),
            "email": email,
            "surname": surname,
            "born": born,
        }
    )
    config = PlaceholderConfig(
        columns=("email", "born"), distinct_by="surname", min_count=10, factor=4
    )
    expected = POLARS.find_placeholders(records, config)
    assert set(expected.get_column("value")) == {"help@acme.com", "1900-01-01"}
    on_spark = _on_spark(spark, records)
    spark.conf.set("spark.sql.execution.arrow.maxRecordsPerBatch", "7")
    try:
        found = engine.find_placeholders(on_spark, config)
        counts = engine.placeholder_counts(on_spark, found, config.columns)
        nulled = engine.collect(engine.null_placeholders(on_spark, found))
    finally:
        spark.conf.unset("spark.sql.execution.arrow.maxRecordsPerBatch")
    assert found.equals(expected)
    order = ["source", "column"]
    assert counts.sort(order).equals(
        POLARS.placeholder_counts(records, expected, config.columns).sort(order)
    )
    assert nulled.equals(POLARS.null_placeholders(records, expected))
    with pytest.raises(SchemaError, match=r"reads column\(s\) \['x'\]"):
        engine.find_placeholders(on_spark, PlaceholderConfig(columns=("x",)))


@pytest.mark.slow
def test_train_command_on_spark_gives_the_polars_metrics(
    engine, prepared_config, tmp_path, capsys
):
    from er_toolkit.cli.train import main as train_main

    printed, models = {}, {}
    for kind in ("polars", "spark"):
        model = tmp_path / f"{kind}.json"
        argv = ["--config", str(prepared_config), "--no-mlflow", "--no-report"]
        assert train_main([*argv, "--save", str(model), "--engine", kind]) == 0
        out = capsys.readouterr().out.splitlines()
        printed[kind] = [line for line in out if not line.startswith("seconds:")]
        models[kind] = json.loads(model.read_text())
    assert printed["spark"] == printed["polars"]
    assert any(line.startswith("pairwise  precision") for line in printed["polars"])
    assert any(line.startswith("placeholders: ") for line in printed["polars"])
    assert json.dumps(models["spark"], sort_keys=True) == json.dumps(
        models["polars"], sort_keys=True
    )


@pytest.mark.slow
@pytest.mark.parametrize(
    "link_type", [None, "link_and_dedupe"], ids=["link", "link_and_dedupe"]
)
@pytest.mark.parametrize("kind", ["fellegi_sunter", "classifier"])
def test_spark_gives_the_polars_answers_on_febrl4(engine, link_type, kind):
    _assert_same_run("febrl4", link_type, kind, engine, None)


@pytest.mark.slow
def test_spark_gives_the_polars_answers_on_100k_customers(engine, tmp_path):
    from benchmarks.compare_prepare import prepare

    path = prepare(100_000, 0, tmp_path)
    config = LinkageConfig.from_toml(
        ROOT / "benchmarks" / "configs" / "compare_er_toolkit.toml"
    )
    config = dataclasses.replace(
        config,
        sources=(),
        evaluation=dataclasses.replace(config.evaluation, entity_column="entity_id"),
    )

    def run(engine_: Any) -> dict[str, Any]:
        linker = Linker(config, engine=engine_)
        records = linker.records([Source("customers", path, id_column="unique_id")])
        pairs = linker.block(records)
        linker.fit(records, candidate_pairs=pairs)
        scored = linker.predict(records, candidate_pairs=pairs)
        clusters = linker.cluster(records, scored)
        metrics, curve = linker.evaluate(
            records,
            candidate_pairs=pairs,
            scored=scored,
            clusters=clusters,
            truth=linker.true_pairs(records),
        )
        collect = linker.engine.collect
        return {
            "pairs": collect(pairs),
            "scored": collect(scored),
            "clusters": collect(clusters),
            "metrics": metrics,
            "curve": curve,
            "report": linker.blocking_report(records),
        }

    _assert_same_answers(run(POLARS), run(engine))


# ------------------------------------------------------------- command line


def test_score_command_on_spark_writes_the_polars_outputs(engine, tmp_path):
    from er_toolkit.cli.score import main as score_main

    data = ROOT / "tests" / "data"
    linker = Linker(LinkageConfig.from_toml(data / "people_dedupe.toml"))
    records = linker.records()
    linker.fit(records, candidate_pairs=linker.block(records))
    linker.save(tmp_path / "model.json")
    outputs = {}
    for kind in ("polars", "spark"):
        out = tmp_path / kind
        argv = [
            "--model",
            str(tmp_path / "model.json"),
            "--input",
            str(data / "people.csv"),
        ]
        assert score_main([*argv, "--output", str(out), "--engine", kind]) == 0
        outputs[kind] = {
            "scored": pl.read_parquet(out / "scored_pairs.parquet").sort(
                schema.RECORD_ID_L, schema.RECORD_ID_R
            ),
            "clusters": pl.read_parquet(out / "clusters.parquet").sort(
                schema.SOURCE, schema.RECORD_ID
            ),
        }
    a, b = outputs["polars"], outputs["spark"]
    assert b["clusters"].equals(a["clusters"])
    assert a["clusters"].height == 502
    assert b["scored"].columns == a["scored"].columns
    floats = [c for c, t in a["scored"].schema.items() if t.is_float()]
    assert b["scored"].drop(floats).equals(a["scored"].drop(floats))
    for column in floats:
        gap = (b["scored"].get_column(column) - a["scored"].get_column(column)).abs()
        assert (gap.max() or 0.0) <= 1e-9, column
