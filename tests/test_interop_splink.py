"""Splink 5 models in and out of er_toolkit, checked against Splink itself."""

from __future__ import annotations

import copy
import dataclasses
import json
import logging
from fractions import Fraction
from pathlib import Path
from typing import Any

import numpy as np
import polars as pl
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from er_toolkit import schema
from er_toolkit.blocking import ExactRule
from er_toolkit.cli.main import main as cli_main
from er_toolkit.compare import (
    AndLevel,
    ColumnsReversedLevel,
    Comparison,
    ContainsLevel,
    DateDifferenceLevel,
    DistanceLevel,
    ExactLevel,
    NotLevel,
    NumericDifferenceLevel,
    OrLevel,
    SimilarityLevel,
    compare_batch,
    level_to_dict,
)
from er_toolkit.compare.comparators import fused_multiply_add, similarity
from er_toolkit.config import BlockingConfig, ClusteringConfig, LinkageConfig
from er_toolkit.exceptions import ConfigError, InteropError
from er_toolkit.interop import from_splink, to_splink
from er_toolkit.interop.splink import _float32_threshold
from er_toolkit.interop.sql import parse_condition
from er_toolkit.io import Source
from er_toolkit.pipeline import Linker
from er_toolkit.score.config import ModelConfig

splink = pytest.importorskip("splink")
duckdb = pytest.importorskip("duckdb")
import splink.comparison_level_library as cll  # noqa: E402
import splink.comparison_library as cl  # noqa: E402
from splink import DuckDBAPI, SettingsCreator, block_on  # noqa: E402
from splink import Linker as SplinkLinker  # noqa: E402

ROOT = Path(__file__).resolve().parents[1]
WEIGHT_TOLERANCE = 1e-6
THRESHOLDS = (0.5, 0.9)


@pytest.fixture(autouse=True)
def _quiet_splink() -> None:
    logging.getLogger("splink").setLevel(logging.ERROR)


# --------------------------------------------------------------------------- #
# helpers: the same records through both tools
# --------------------------------------------------------------------------- #
def splink_run(
    settings: dict[str, Any] | SettingsCreator,
    frames: list[pl.DataFrame],
    *,
    train: Any = None,
) -> tuple[pl.DataFrame, dict[float, set[frozenset[Any]]], dict[str, Any]]:
    """Train (optionally) and predict with Splink; return pairs, clusters and settings."""
    db = DuckDBAPI()
    tables = [
        db.register(f.to_pandas(), dataset_display_name=f"source_{i}")
        for i, f in enumerate(frames)
    ]
    linker = SplinkLinker(
        tables if len(tables) > 1 else tables[0], settings, log_level=logging.ERROR
    )
    if train is not None:
        train(linker)
    predictions = linker.inference.predict()
    frame = pl.from_pandas(predictions.as_pandas_dataframe())
    clusters = {}
    for t in THRESHOLDS:
        table = linker.clustering.cluster_pairwise_predictions_at_threshold(
            predictions, threshold_match_probability=t
        ).as_pandas_dataframe()
        clusters[t] = _partition(pl.from_pandas(table[["unique_id", "cluster_id"]]))
    return frame, clusters, linker.misc.save_model_to_json()


def _partition(frame: pl.DataFrame, id_col: str = "unique_id") -> set[frozenset[Any]]:
    groups = frame.group_by(schema.CLUSTER_ID).agg(pl.col(id_col))
    return {frozenset(ids) for ids in groups.get_column(id_col).to_list()}


def _pair_ids(frame: pl.DataFrame, left: str, right: str) -> list[pl.Expr]:
    return [
        pl.min_horizontal(left, right).alias("a"),
        pl.max_horizontal(left, right).alias("b"),
    ]


def er_toolkit_run(
    linker: Linker, frames: list[pl.DataFrame]
) -> tuple[pl.DataFrame, pl.DataFrame, dict[float, set[frozenset[Any]]]]:
    sources = [
        Source(f"source_{i}", f, id_column="unique_id") for i, f in enumerate(frames)
    ]
    records = linker.records(sources)
    scored = linker.predict(records, explain=True)
    clusters = {
        t: _partition(
            linker.cluster(records, scored, threshold=t), id_col=schema.RECORD_ID
        )
        for t in THRESHOLDS
    }
    return records, scored, clusters


def assert_same_scores(
    ours: pl.DataFrame, theirs: pl.DataFrame, comparisons: list[str]
) -> pl.DataFrame:
    """Same candidate pairs, same gamma levels, weights within 1e-6."""
    a = ours.select(
        *_pair_ids(ours, schema.RECORD_ID_L, schema.RECORD_ID_R),
        "match_weight",
        "match_probability",
        *[schema.gamma(c) for c in comparisons],
    )
    b = theirs.select(
        *_pair_ids(theirs, "unique_id_l", "unique_id_r"),
        pl.col("match_weight").alias("splink_weight"),
        pl.col("match_probability").alias("splink_probability"),
        *[pl.col(f"gamma_{c}").alias(f"splink_gamma_{c}") for c in comparisons],
    )
    joined = a.join(b, on=["a", "b"], how="full", coalesce=True)
    assert joined.height == a.height == b.height, "the candidate pairs differ"
    for c in comparisons:
        differ = joined.filter(
            pl.col(schema.gamma(c)).cast(pl.Int64)
            != pl.col(f"splink_gamma_{c}").cast(pl.Int64)
        )
        assert differ.height == 0, (c, differ.head())
    gap = (joined["match_weight"] - joined["splink_weight"]).abs().max()
    assert gap is not None and gap < WEIGHT_TOLERANCE, gap
    # d(probability) / d(weight) is at most ln(2) / 4: within the weight tolerance
    assert (
        joined["match_probability"] - joined["splink_probability"]
    ).abs().max() < WEIGHT_TOLERANCE
    return joined


# --------------------------------------------------------------------------- #
# data
# --------------------------------------------------------------------------- #
FEBRL_COLUMNS = (
    "given_name",
    "surname",
    "street_number",
    "address_1",
    "address_2",
    "suburb",
    "postcode",
    "state",
    "date_of_birth",
    "soc_sec_id",
)
CUSTOMER_COLUMNS = (
    "first_name",
    "surname",
    "date_of_birth",
    "email",
    "phone",
    "postcode",
    "city",
)


@pytest.fixture(scope="module")
def febrl3() -> pl.DataFrame:
    from er_toolkit.datasets import load_febrl

    frame = load_febrl("febrl3")[0]
    return frame.select(pl.col("rec_id").alias("unique_id"), *FEBRL_COLUMNS)


@pytest.fixture(scope="module")
def customers(tmp_path_factory: pytest.TempPathFactory) -> pl.DataFrame:
    from benchmarks.compare_prepare import prepare

    path = prepare(3_000, 5, tmp_path_factory.mktemp("customers"))
    return pl.read_parquet(path).select("unique_id", "source", *CUSTOMER_COLUMNS)


# --------------------------------------------------------------------------- #
# Splink-trained models, imported
# --------------------------------------------------------------------------- #
FEBRL_COMPARISONS = ("given_name", "surname", "date_of_birth", "soc_sec_id")


def _train_febrl(linker: Any) -> None:
    linker.training.estimate_probability_two_random_records_match(
        [block_on("given_name", "surname", "date_of_birth")], recall=0.8
    )
    linker.training.estimate_u_using_random_sampling(max_pairs=2e5, seed=1)
    linker.training.estimate_parameters_using_expectation_maximisation(
        block_on("given_name", "surname")
    )
    linker.training.estimate_parameters_using_expectation_maximisation(
        block_on("date_of_birth")
    )


@pytest.fixture(scope="module")
def splink_febrl3(febrl3: pl.DataFrame) -> dict[str, Any]:
    creator = SettingsCreator(
        link_type="dedupe_only",
        comparisons=[
            cl.NameComparison("given_name"),
            cl.NameComparison("surname"),
            cl.DateOfBirthComparison(
                "date_of_birth", input_is_string=True, datetime_format="%Y%m%d"
            ),
            cl.DamerauLevenshteinAtThresholds("soc_sec_id", [1, 2]),
            cl.ExactMatch("street_number"),
            cl.JaccardAtThresholds("address_1", [0.9, 0.7]),
            cl.JaroAtThresholds("address_2", [0.9]),
            cl.ExactMatch("suburb").configure(term_frequency_adjustments=True),
            cl.LevenshteinAtThresholds("postcode", [1]),
            cl.ExactMatch("state"),
        ],
        blocking_rules_to_generate_predictions=[
            block_on("given_name"),
            block_on("surname"),
            block_on("date_of_birth"),
            block_on("soc_sec_id"),
            block_on("substr(postcode,1,3)", "street_number"),
        ],
        max_iterations=20,
    )
    predictions, clusters, model = splink_run(creator, [febrl3], train=_train_febrl)
    return {"predictions": predictions, "clusters": clusters, "settings": model}


def test_imported_febrl3_model_scores_as_splink(
    splink_febrl3: dict[str, Any], febrl3: pl.DataFrame
) -> None:
    linker = from_splink(splink_febrl3["settings"])
    _, scored, clusters = er_toolkit_run(linker, [febrl3])
    names = [c.name for c in linker.config.comparisons]
    assert names == [
        c["output_column_name"] for c in splink_febrl3["settings"]["comparisons"]
    ]
    joined = assert_same_scores(scored, splink_febrl3["predictions"], names)
    assert joined.height > 50_000
    for t in THRESHOLDS:
        assert clusters[t] == splink_febrl3["clusters"][t], t


def test_imported_model_keeps_splink_parameters(splink_febrl3: dict[str, Any]) -> None:
    settings = splink_febrl3["settings"]
    model = from_splink(settings).scorer_
    assert model.probability_two_random_records_match_ == pytest.approx(
        settings["probability_two_random_records_match"], rel=0, abs=0
    )
    given_name = settings["comparisons"][0]["comparison_levels"]
    # gamma counts down from the first non-null level; the else level is 0
    assert model.m_["given_name"].tolist() == [
        lvl["m_probability"] for lvl in reversed(given_name[1:])
    ]
    assert model.u_["given_name"].tolist() == [
        lvl["u_probability"] for lvl in reversed(given_name[1:])
    ]
    exact = model.comparisons[0].levels[0]
    assert exact == ExactLevel(
        term_frequency=True, tf_weight=1.0, tf_min_u=0.0, precision="float64"
    )


@pytest.mark.slow
def test_imported_febrl4_link_model_scores_as_splink() -> None:
    """The full FEBRL4 link job (5,000 + 5,000 records) trained by Splink."""
    from er_toolkit.datasets import load_febrl

    frames = [
        f.select(pl.col("rec_id").alias("unique_id"), *FEBRL_COLUMNS)
        for f in load_febrl("febrl4")
    ]
    creator = SettingsCreator(
        link_type="link_only",
        comparisons=[
            cl.NameComparison("given_name"),
            cl.NameComparison("surname"),
            cl.DateOfBirthComparison(
                "date_of_birth", input_is_string=True, datetime_format="%Y%m%d"
            ),
            cl.DamerauLevenshteinAtThresholds("soc_sec_id", [1, 2]),
            cl.JaccardAtThresholds("address_1", [0.9, 0.7]),
            cl.ExactMatch("suburb").configure(term_frequency_adjustments=True),
            cl.LevenshteinAtThresholds("postcode", [1]),
        ],
        blocking_rules_to_generate_predictions=[
            block_on("given_name"),
            block_on("surname"),
            block_on("date_of_birth"),
            block_on("soc_sec_id"),
        ],
        max_iterations=20,
    )
    predictions, clusters, settings = splink_run(creator, frames, train=_train_febrl)
    linker = from_splink(settings)
    assert linker.config.link_type == "link"
    _, scored, ours = er_toolkit_run(linker, frames)
    names = [c.name for c in linker.config.comparisons]
    assert assert_same_scores(scored, predictions, names).height > 100_000
    for t in THRESHOLDS:
        assert ours[t] == clusters[t], t
    # and back: the same model exported predicts the same in Splink
    again, _, _ = splink_run(to_splink(linker), frames)
    assert_same_scores(scored, again, names)


def _train_customers(linker: Any) -> None:
    linker.training.estimate_probability_two_random_records_match(
        [block_on("first_name", "surname", "date_of_birth"), block_on("email")],
        recall=0.7,
    )
    linker.training.estimate_u_using_random_sampling(max_pairs=2e5, seed=1)
    linker.training.estimate_parameters_using_expectation_maximisation(
        block_on("first_name", "surname")
    )
    linker.training.estimate_parameters_using_expectation_maximisation(
        block_on("date_of_birth")
    )


@pytest.fixture(scope="module")
def splink_customers(customers: pl.DataFrame) -> dict[str, Any]:
    creator = SettingsCreator(
        link_type="dedupe_only",
        comparisons=[
            cl.NameComparison("first_name"),
            cl.NameComparison("surname"),
            cl.DateOfBirthComparison("date_of_birth", input_is_string=True),
            cl.EmailComparison("email"),
            cl.DamerauLevenshteinAtThresholds("phone", [1]),
            cl.PostcodeComparison("postcode"),
            cl.ExactMatch("city").configure(term_frequency_adjustments=True),
        ],
        blocking_rules_to_generate_predictions=[
            block_on("first_name", "surname"),
            block_on("surname", "date_of_birth"),
            block_on("email"),
            block_on("phone"),
            block_on("postcode", "substr(surname,1,2)"),
        ],
        max_iterations=20,
    )
    frame = customers.drop("source")
    predictions, clusters, model = splink_run(creator, [frame], train=_train_customers)
    return {"predictions": predictions, "clusters": clusters, "settings": model}


def test_imported_customers_model_scores_as_splink(
    splink_customers: dict[str, Any], customers: pl.DataFrame
) -> None:
    """The prebuilt name, email, postcode and date-of-birth comparisons."""
    linker = from_splink(splink_customers["settings"])
    email = next(c for c in linker.config.comparisons if c.name == "email")
    assert ExactLevel(extract="^[^@]+") in email.levels
    postcode = next(c for c in linker.config.comparisons if c.name == "postcode")
    assert sum(lvl.extract is not None for lvl in postcode.levels) == 3
    _, scored, clusters = er_toolkit_run(linker, [customers.drop("source")])
    names = [c.name for c in linker.config.comparisons]
    assert_same_scores(scored, splink_customers["predictions"], names)
    for t in THRESHOLDS:
        assert clusters[t] == splink_customers["clusters"][t], t


# --------------------------------------------------------------------------- #
# every importable level kind, with set m and u, against Splink
# --------------------------------------------------------------------------- #
def _set_parameters(settings: dict[str, Any], seed: int) -> dict[str, Any]:
    """Give every non-null level an m and u (Splink then predicts with them)."""
    rng = np.random.default_rng(seed)
    out = copy.deepcopy(settings)
    for comparison in out["comparisons"]:
        levels = [
            lvl
            for lvl in comparison["comparison_levels"]
            if not lvl.get("is_null_level")
        ]
        m = rng.dirichlet(np.ones(len(levels)))
        u = rng.dirichlet(np.ones(len(levels)))
        for lvl, mi, ui in zip(levels, m, u, strict=True):
            lvl["m_probability"] = float(mi)
            lvl["u_probability"] = float(ui)
    return out


def _custom(column: str, *levels: Any) -> Any:
    return cl.CustomComparison(
        output_column_name=column,
        comparison_levels=[cll.NullLevel(column), *levels, cll.ElseLevel()],
    )


@pytest.fixture(scope="module")
def kitchen_sink(customers: pl.DataFrame) -> pl.DataFrame:
    """Customers with a DATE column, an age, and some accents and case."""
    return customers.with_columns(
        pl.col("date_of_birth").str.to_date(strict=False).alias("dob_date"),
        (pl.col("unique_id") % 70 + 18).cast(pl.Int64).alias("age"),
        pl.when(pl.col("unique_id") % 7 == 0)
        .then(pl.col("surname").str.replace("e", "é"))
        .otherwise(pl.col("surname"))
        .alias("surname"),
    )


def _kitchen_settings() -> SettingsCreator:
    swap = (
        "year(try_strptime(\"date_of_birth_l\", '%Y-%m-%d')) = "
        "year(try_strptime(\"date_of_birth_r\", '%Y-%m-%d')) AND "
        "month(try_strptime(\"date_of_birth_l\", '%Y-%m-%d')) = "
        "day(try_strptime(\"date_of_birth_r\", '%Y-%m-%d')) AND "
        "day(try_strptime(\"date_of_birth_l\", '%Y-%m-%d')) = "
        "month(try_strptime(\"date_of_birth_r\", '%Y-%m-%d')) AND "
        "month(try_strptime(\"date_of_birth_l\", '%Y-%m-%d')) <> "
        "day(try_strptime(\"date_of_birth_l\", '%Y-%m-%d'))"
    )
    dob_null = cll.CustomLevel(
        "try_strptime(\"date_of_birth_l\", '%Y-%m-%d') IS NULL OR "
        "try_strptime(\"date_of_birth_r\", '%Y-%m-%d') IS NULL"
    ).configure(is_null_level=True)
    return SettingsCreator(
        link_type="dedupe_only",
        comparisons=[
            cl.CustomComparison(
                output_column_name="first_name",
                comparison_levels=[
                    cll.NullLevel("first_name"),
                    cll.ExactMatchLevel("first_name").configure(
                        tf_adjustment_column="first_name",
                        tf_adjustment_weight=0.5,
                        tf_minimum_u_value=0.002,
                    ),
                    cll.CustomLevel(
                        'jaro_winkler_similarity("first_name_l", "first_name_r") > 0.9'
                    ),
                    cll.CustomLevel(
                        '0.8 <= jaro_similarity("first_name_l", "first_name_r")'
                    ),
                    cll.ElseLevel(),
                ],
            ),
            _custom(
                "surname",
                cll.ExactMatchLevel("surname", term_frequency_adjustments=True),
                cll.JaccardLevel("surname", 0.8),
                cll.CustomLevel('levenshtein("surname_l", "surname_r") < 3'),
            ),
            cl.CustomComparison(
                output_column_name="date_of_birth",
                comparison_levels=[
                    dob_null,
                    cll.ExactMatchLevel("date_of_birth"),
                    cll.CustomLevel(swap),
                    cll.CustomLevel(
                        "abs(date_diff('day', try_strptime(\"date_of_birth_l\", "
                        "'%Y-%m-%d'), try_strptime(\"date_of_birth_r\", '%Y-%m-%d'))) < 45"
                    ),
                    cll.AbsoluteDateDifferenceLevel(
                        "date_of_birth",
                        input_is_string=True,
                        threshold=2,
                        metric="year",
                    ),
                    cll.ElseLevel(),
                ],
            ),
            cl.DateOfBirthComparison("dob_date", input_is_string=False),
            _custom(
                "age",
                cll.ExactMatchLevel("age"),
                cll.AbsoluteDifferenceLevel("age", 2),
                cll.CustomLevel('ABS("age_l" - "age_r") < 10.5'),
            ),
            cl.EmailComparison("email"),
            cl.PostcodeComparison("postcode"),
            cl.DamerauLevenshteinAtThresholds("phone", [1, 2]),
        ],
        blocking_rules_to_generate_predictions=[
            block_on("surname"),
            block_on("substr(first_name, 1, 3)", "substr(date_of_birth, 1, 4)"),
            block_on("email"),
        ],
    )


def test_every_importable_level_scores_as_splink(kitchen_sink: pl.DataFrame) -> None:
    frame = kitchen_sink.drop("source")
    creator = _kitchen_settings()
    db = DuckDBAPI()
    dialected = SplinkLinker(db.register(frame.head(10).to_pandas()), creator)
    settings = _set_parameters(dialected.misc.save_model_to_json(), seed=3)
    predictions, clusters, _ = splink_run(settings, [frame])
    linker = from_splink(settings)
    by_name = {c.name: c for c in linker.config.comparisons}
    assert by_name["dob_date"].date_format is None
    assert by_name["date_of_birth"].date_format == "%Y-%m-%d"
    _, scored, ours = er_toolkit_run(linker, [frame])
    assert_same_scores(scored, predictions, list(by_name))
    for t in THRESHOLDS:
        assert ours[t] == clusters[t]
    # and back: every level kind written as SQL Splink predicts the same with
    again, _, _ = splink_run(to_splink(linker, dates="date"), [frame])
    assert_same_scores(scored, again, list(by_name))


def test_link_only_model_scores_as_splink(kitchen_sink: pl.DataFrame) -> None:
    frames = [
        kitchen_sink.filter(pl.col("source") == s).drop("source")
        for s in ("crm", "erp")
    ]
    creator = dataclasses.replace(_kitchen_settings(), link_type="link_only")
    db = DuckDBAPI()
    dialected = SplinkLinker(
        [db.register(f.head(10).to_pandas()) for f in frames], creator
    )
    settings = _set_parameters(dialected.misc.save_model_to_json(), seed=4)
    predictions, clusters, _ = splink_run(settings, frames)
    linker = from_splink(settings)
    assert linker.config.link_type == "link"
    _, scored, ours = er_toolkit_run(linker, frames)
    assert_same_scores(scored, predictions, [c.name for c in linker.config.comparisons])
    for t in THRESHOLDS:
        assert ours[t] == clusters[t]


def test_untrained_levels_take_splink_defaults(
    kitchen_sink: pl.DataFrame, caplog: pytest.LogCaptureFixture, tmp_path: Path
) -> None:
    frame = kitchen_sink.drop("source").head(800)
    creator = SettingsCreator(
        link_type="dedupe_only",
        comparisons=[cl.NameComparison("first_name"), cl.EmailComparison("email")],
        blocking_rules_to_generate_predictions=[block_on("surname")],
    )
    predictions, _, settings = splink_run(creator, [frame])
    with caplog.at_level(logging.WARNING, logger="er_toolkit.interop.splink"):
        linker = from_splink(settings)
    assert "untrained level(s)" in caplog.text
    _, scored, _ = er_toolkit_run(linker, [frame])
    assert_same_scores(scored, predictions, ["first_name", "email"])
    loaded = Linker.load(linker.save(tmp_path / "imported.json"))
    _, again, _ = er_toolkit_run(loaded, [frame])
    assert_same_scores(again, predictions, ["first_name", "email"])
    # Splink's m and u (defaults mixed with trained ones) need not sum to
    # one: an imported model with such a row saves and loads
    linker.scorer_.m_["email"] = linker.scorer_.m_["email"] * 0.5
    loaded = Linker.load(linker.save(tmp_path / "halved.json"))
    assert loaded.scorer_.m_["email"].tolist() == linker.scorer_.m_["email"].tolist()


# --------------------------------------------------------------------------- #
# levels over two columns: ForenameSurnameComparison, columns reversed
# --------------------------------------------------------------------------- #
def _without_tf(comparison: dict[str, Any]) -> dict[str, Any]:
    """A comparison with its term-frequency adjustments removed.

    ForenameSurnameComparison adjusts its exact forename and exact surname
    levels each by its own column's frequencies (tested as it is below);
    without them the two-column levels are tested on their own.
    """
    out = copy.deepcopy(comparison)
    for level in out["comparison_levels"]:
        level.pop("tf_adjustment_column", None)
        level.pop("tf_adjustment_weight", None)
    return out


def _forename_surname_settings(
    link_type: str = "dedupe_only",
    *,
    keep_tf: tuple[str, ...] = (),
    concat: str | None = None,
) -> dict[str, Any]:
    """Settings with Splink's ForenameSurnameComparison, its TF levels kept as named.

    ``keep_tf="all"`` (any tuple holding ``"all"``) keeps the comparison as
    Splink's library writes it.
    """
    creator = SettingsCreator(
        link_type=link_type,
        comparisons=[
            cl.ForenameSurnameComparison(
                "given_name", "surname", forename_surname_concat_col_name=concat
            ),
            cl.DateOfBirthComparison(
                "date_of_birth", input_is_string=True, datetime_format="%Y%m%d"
            ),
            cl.ExactMatch("soc_sec_id"),
            cl.ExactMatch("postcode"),
        ],
        blocking_rules_to_generate_predictions=[
            block_on("given_name"),
            block_on("surname"),
            block_on("date_of_birth"),
            block_on("soc_sec_id"),
        ],
    )
    settings = creator.create_settings_dict("duckdb")
    if "all" in keep_tf:
        return settings
    names = settings["comparisons"][0]
    settings["comparisons"][0] = _without_tf(names)
    for kept, level in zip(
        settings["comparisons"][0]["comparison_levels"],
        names["comparison_levels"],
        strict=True,
    ):
        if level.get("tf_adjustment_column") in keep_tf:
            kept["tf_adjustment_column"] = level["tf_adjustment_column"]
    return settings


@pytest.fixture(scope="module")
def splink_forename_surname(febrl3: pl.DataFrame) -> dict[str, Any]:
    settings = _set_parameters(_forename_surname_settings(), seed=7)
    predictions, clusters, model = splink_run(settings, [febrl3])
    return {"predictions": predictions, "clusters": clusters, "settings": model}


def test_forename_surname_comparison_imports_as_two_column_levels(
    splink_forename_surname: dict[str, Any],
) -> None:
    linker = from_splink(splink_forename_surname["settings"])
    names = linker.config.comparisons[0]
    assert names.name == "given_name_surname"
    assert names.column == "given_name"
    assert names.null_columns == ("given_name", "surname")
    assert names.levels[:2] == (
        AndLevel((ExactLevel(), ExactLevel(column="surname"))),
        ColumnsReversedLevel(columns=("given_name", "surname")),
    )
    jw = SimilarityLevel("jaro_winkler", 0.92, precision="float64")
    assert names.levels[2] == AndLevel((jw, dataclasses.replace(jw, column="surname")))
    assert names.levels[4:] == (ExactLevel(column="surname"), ExactLevel())
    again = Comparison.from_dict(json.loads(json.dumps(names.to_dict())))
    assert again == names


def test_imported_forename_surname_model_scores_as_splink(
    splink_forename_surname: dict[str, Any], febrl3: pl.DataFrame
) -> None:
    """Same pairs, levels, weights (1e-6) and clusters as Splink, on FEBRL3."""
    linker = from_splink(splink_forename_surname["settings"])
    _, scored, clusters = er_toolkit_run(linker, [febrl3])
    names = [c.name for c in linker.config.comparisons]
    joined = assert_same_scores(scored, splink_forename_surname["predictions"], names)
    gamma = joined.get_column(schema.gamma("given_name_surname"))
    # every level is reached, the columns-reversed one (gamma 5) included
    assert set(gamma.unique().to_list()) == {-1, 0, 1, 2, 3, 4, 5, 6}
    assert (gamma == 5).sum() > 10
    for t in THRESHOLDS:
        assert clusters[t] == splink_forename_surname["clusters"][t], t


def test_two_column_comparison_keeps_one_term_frequency_level(
    febrl3: pl.DataFrame,
) -> None:
    """With only its surname level adjusted: that level, on its column, adjusted."""
    settings = _set_parameters(_forename_surname_settings(keep_tf=("surname",)), 5)
    predictions, clusters, model = splink_run(settings, [febrl3])
    linker = from_splink(model)
    names = linker.config.comparisons[0]
    assert names.column == "given_name"
    assert names.null_columns == ("given_name", "surname")
    assert names.tf_level == ExactLevel(
        term_frequency=True, column="surname", tf_min_u=0.0, precision="float64"
    )
    assert names.tf_columns == ("surname",)
    assert names.levels[4] is names.tf_level
    _, scored, ours = er_toolkit_run(linker, [febrl3])
    assert_same_scores(scored, predictions, [c.name for c in linker.config.comparisons])
    for t in THRESHOLDS:
        assert ours[t] == clusters[t], t


def test_link_only_forename_surname_model_scores_as_splink(
    febrl3: pl.DataFrame,
) -> None:
    """Two sources: crosswise columns read across the two sources' records."""
    frames = [
        febrl3.filter(pl.col("unique_id").str.contains("dup") == flag)
        for flag in (False, True)
    ]
    settings = _set_parameters(_forename_surname_settings("link_only"), seed=9)
    predictions, clusters, model = splink_run(settings, frames)
    linker = from_splink(model)
    assert linker.config.link_type == "link"
    _, scored, ours = er_toolkit_run(linker, frames)
    joined = assert_same_scores(
        scored, predictions, [c.name for c in linker.config.comparisons]
    )
    assert (joined.get_column(schema.gamma("given_name_surname")) == 5).sum() > 5
    for t in THRESHOLDS:
        assert ours[t] == clusters[t], t


def _adjusted(joined: pl.DataFrame, gamma: int) -> pl.Series:
    """The distinct match weights of pairs at one name level agreeing elsewhere alike."""
    others = [c for c in joined.columns if c.startswith("gamma_") and "given" not in c]
    at = joined.filter(pl.col(schema.gamma("given_name_surname")) == gamma)
    one = at.group_by(others).len().sort("len").row(-1, named=True)
    return at.filter(*[pl.col(c) == one[c] for c in others]).get_column("match_weight")


@pytest.mark.parametrize(
    ("variant", "weights"),
    [
        ("default", {}),
        # each level's own weight and minimum u
        ("weights", {"given_name": (0.6, 0.0), "surname": (1.0, 0.002)}),
    ],
)
def test_default_forename_surname_with_term_frequencies_scores_as_splink(
    febrl3: pl.DataFrame, variant: str, weights: dict[str, tuple[float, float]]
) -> None:
    """Splink's default ForenameSurnameComparison: TF on its exact surname and exact forename levels."""
    settings = _set_parameters(_forename_surname_settings(keep_tf=("all",)), seed=7)
    for level in settings["comparisons"][0]["comparison_levels"]:
        if level.get("tf_adjustment_column") in weights:
            weight, minimum = weights[level["tf_adjustment_column"]]
            level["tf_adjustment_weight"] = weight
            level["tf_minimum_u_value"] = minimum
    predictions, clusters, model = splink_run(settings, [febrl3])
    linker = from_splink(model)
    names = linker.config.comparisons[0]
    assert [(g, c) for g, _, c in names.tf_levels] == [
        (2, "surname"),
        (1, "given_name"),
    ]
    assert names.tf_levels[1][1].tf_weight == weights.get("given_name", (1.0,))[0]
    _, scored, ours = er_toolkit_run(linker, [febrl3])
    joined = assert_same_scores(
        scored, predictions, [c.name for c in linker.config.comparisons]
    )
    # the adjustment is there: pairs at one TF level (and alike elsewhere) differ
    for gamma in (1, 2):
        assert _adjusted(joined, gamma).n_unique() > 3, gamma
    for t in THRESHOLDS:
        assert ours[t] == clusters[t], t
    # and back: written as Splink settings, Splink predicts the same weights
    back = to_splink(linker)
    written = [
        (lvl.get("tf_adjustment_column"), lvl.get("tf_adjustment_weight"))
        for lvl in back["comparisons"][0]["comparison_levels"]
    ]
    assert written[-3:-1] == [
        ("surname", weights.get("surname", (1.0,))[0]),
        ("given_name", weights.get("given_name", (1.0,))[0]),
    ]
    again, again_clusters, _ = splink_run(back, [febrl3])
    assert_same_scores(scored, again, [c.name for c in linker.config.comparisons])
    assert again_clusters == clusters


def test_concatenated_name_term_frequencies_score_as_splink(
    febrl3: pl.DataFrame,
) -> None:
    """With a full-name column, the both-exact level is adjusted by its frequencies."""
    frame = febrl3.with_columns(
        pl.concat_str("given_name", "surname", separator=" ").alias("full_name")
    )
    settings = _forename_surname_settings(keep_tf=("all",), concat="full_name")
    predictions, clusters, model = splink_run(_set_parameters(settings, 3), [frame])
    linker = from_splink(model)
    names = linker.config.comparisons[0]
    assert names.tf_columns == ("full_name", "surname", "given_name")
    _, scored, ours = er_toolkit_run(linker, [frame])
    assert_same_scores(scored, predictions, [c.name for c in linker.config.comparisons])
    for t in THRESHOLDS:
        assert ours[t] == clusters[t], t
    again, _, _ = splink_run(to_splink(linker), [frame])
    assert_same_scores(scored, again, [c.name for c in linker.config.comparisons])


@pytest.mark.slow
def test_trained_forename_surname_model_scores_as_splink(febrl3: pl.DataFrame) -> None:
    """Trained by Splink (u by sampling, m by EM), not set: the same weights."""

    def train(linker: Any) -> None:
        linker.training.estimate_probability_two_random_records_match(
            [block_on("given_name", "surname", "date_of_birth")], recall=0.8
        )
        linker.training.estimate_u_using_random_sampling(max_pairs=2e5, seed=1)
        linker.training.estimate_parameters_using_expectation_maximisation(
            block_on("date_of_birth")
        )
        linker.training.estimate_parameters_using_expectation_maximisation(
            block_on("soc_sec_id")
        )

    # the default comparison, TF on its exact surname and exact forename levels
    settings = _forename_surname_settings(keep_tf=("all",))
    predictions, clusters, model = splink_run(settings, [febrl3], train=train)
    linker = from_splink(model)
    _, scored, ours = er_toolkit_run(linker, [febrl3])
    assert_same_scores(scored, predictions, [c.name for c in linker.config.comparisons])
    for t in THRESHOLDS:
        assert ours[t] == clusters[t], t


NULL_CASES = pl.DataFrame(
    {
        "unique_id": list(range(1, 13)),
        "grp": [1] * 12,
        "given_name": [
            "anna",
            "anna",
            None,
            None,
            "smith",
            "anna",
            None,
            "anna",
            "smith",
            None,
            "ann",
            "anna",
        ],
        "surname": [
            "smith",
            "smith",
            "smith",
            None,
            "anna",
            None,
            None,
            "jones",
            "anna",
            "smith",
            "smyth",
            None,
        ],
    }
)
"""Every mix of nulls in forename and surname, swapped names among them."""


def test_two_column_nulls_are_splinks() -> None:
    """A pair is null only when both columns are; a null keeps it off its levels."""
    comparison = _without_tf(
        _library(cl.ForenameSurnameComparison("given_name", "surname"))
    )
    settings = _set_parameters(
        {
            "link_type": "dedupe_only",
            "comparisons": [comparison],
            "blocking_rules_to_generate_predictions": [block_on("grp")],
        },
        seed=11,
    )
    predictions, clusters, model = splink_run(settings, [NULL_CASES])
    assert predictions.height == 66  # every pair
    linker = from_splink(model)
    _, scored, ours = er_toolkit_run(linker, [NULL_CASES])
    joined = assert_same_scores(scored, predictions, ["given_name_surname"])
    gamma = joined.get_column(schema.gamma("given_name_surname"))
    assert {-1, 0, 1, 5, 6}.issubset(set(gamma.to_list()))
    for t in THRESHOLDS:
        assert ours[t] == clusters[t], t
    # and er_toolkit's own compare kernel, on its own: (None, "smith") against
    # ("anna", "smith") is the surname level; (None, None) against ("anna",
    # None) is null
    names = linker.config.comparisons[0]
    out = compare_batch(
        [names],
        {"given_name": [None, None, "smith"], "surname": ["smith", None, None]},
        {"given_name": ["anna", "anna", "smith"], "surname": ["smith", None, "anna"]},
    )
    assert out[schema.gamma(names.name)].tolist() == [2, -1, 1]


def _two_column_comparisons() -> tuple[Comparison, ...]:
    """er_toolkit's own levels over two columns, each one Splink can express."""
    names = Comparison(
        "name",
        "given_name",
        (
            AndLevel((ExactLevel(), ExactLevel(column="surname"))),
            ColumnsReversedLevel(columns=("given_name", "surname")),
            ColumnsReversedLevel(
                columns=("given_name", "surname"),
                comparator="jaro_winkler",
                min_similarity=0.9,
            ),
            AndLevel(
                (
                    SimilarityLevel("jaro_winkler", 0.9),
                    SimilarityLevel("jaro_winkler", 0.9, column="surname"),
                )
            ),
            AndLevel(
                (
                    ExactLevel(column="surname"),
                    NotLevel(SimilarityLevel("jaro_winkler", 0.7)),
                )
            ),
            # term frequencies on two levels, each by its own column's
            ExactLevel(term_frequency=True, column="surname"),
            OrLevel(
                (
                    DistanceLevel(max_distance=1, column="surname"),
                    SimilarityLevel("jaro", 0.95, column="surname"),
                )
            ),
            ExactLevel(term_frequency=True),
        ),
        null_columns=("given_name", "surname"),
    )
    dob = Comparison(
        "date_of_birth",
        "date_of_birth",
        (ExactLevel(), DateDifferenceLevel(max_days=365)),
        date_format="%Y%m%d",
    )
    ssn = Comparison("soc_sec_id", "soc_sec_id", (ExactLevel(),))
    return (names, dob, ssn)


@pytest.fixture(scope="module")
def two_column_er_toolkit(febrl3: pl.DataFrame) -> Linker:
    config = LinkageConfig(
        name="two_columns",
        link_type="dedupe",
        comparisons=_two_column_comparisons(),
        blocking=BlockingConfig(
            blockers=(
                ExactRule(("given_name",)),
                ExactRule(("surname",)),
                ExactRule(("date_of_birth",)),
                ExactRule(("soc_sec_id",)),
            )
        ),
        model=ModelConfig(
            training_rules=(ExactRule(("date_of_birth",)), ExactRule(("soc_sec_id",))),
            u_sample_size=100_000,
            seed=3,
        ),
    )
    return _fit_er_toolkit(config, [febrl3])


def test_exported_two_column_model_predicts_the_same_in_splink(
    two_column_er_toolkit: Linker, febrl3: pl.DataFrame
) -> None:
    """er_toolkit's two-column levels as SQL: Splink gives the same weights."""
    settings = to_splink(two_column_er_toolkit)
    names = settings["comparisons"][0]["comparison_levels"]
    assert names[0]["sql_condition"] == (
        '("given_name_l" IS NULL OR "given_name_r" IS NULL) AND '
        '("surname_l" IS NULL OR "surname_r" IS NULL)'
    )
    assert names[2]["sql_condition"] == (
        '"given_name_l" = "surname_r" AND "given_name_r" = "surname_l"'
    )
    predictions, clusters, _ = splink_run(settings, [febrl3])
    _, scored, ours = er_toolkit_run(two_column_er_toolkit, [febrl3])
    comparisons = [c.name for c in two_column_er_toolkit.config.comparisons]
    joined = assert_same_scores(scored, predictions, comparisons)
    reached = set(joined.get_column(schema.gamma("name")).unique().to_list())
    assert {-1, 0, 1, 2, 3, 4, 5, 6, 7, 8}.issubset(reached)
    for t in THRESHOLDS:
        assert ours[t] == clusters[t], t


def test_two_column_export_round_trips(
    two_column_er_toolkit: Linker, febrl3: pl.DataFrame
) -> None:
    """Exported and imported again: the same levels where er_toolkit reads them back."""
    settings = to_splink(two_column_er_toolkit)
    # a NOT is written, not read back (SQL's NOT of a null is not er_toolkit's)
    with pytest.raises(InteropError, match=r"Splink comparison 'name', level 6 "):
        from_splink(settings)
    kept = copy.deepcopy(settings)
    del kept["comparisons"][0]["comparison_levels"][5]
    back = from_splink(kept)
    names = back.config.comparisons[0]
    assert names.null_columns == ("given_name", "surname")
    assert names.levels[:2] == _two_column_comparisons()[0].levels[:2]
    # the float32 crosswise similarity, read back at its float64 equivalent
    assert names.levels[2] == ColumnsReversedLevel(
        columns=("given_name", "surname"),
        comparator="jaro_winkler",
        min_similarity=_float32_threshold(0.9),
        precision="float64",
    )
    predictions, _, _ = splink_run(kept, [febrl3])
    _, scored, _ = er_toolkit_run(back, [febrl3])
    assert_same_scores(scored, predictions, [c.name for c in back.config.comparisons])


def test_two_column_export_refuses_what_splink_reads_otherwise(
    two_column_er_toolkit: Linker,
) -> None:
    model = copy.deepcopy(two_column_er_toolkit.scorer_)
    model.comparisons = (
        Comparison(
            "name",
            "given_name",
            (
                ContainsLevel(other="surname"),
                NumericDifferenceLevel(max_difference=1, column="surname"),
            ),
        ),
    )
    model.m_ = {"name": np.array([0.2, 0.3, 0.5])}
    model.u_ = {"name": np.array([0.8, 0.1, 0.1])}
    with pytest.raises(
        InteropError,
        match=r"level \"inside the other's surname \(tokens\)\": a column's words",
    ):
        to_splink(model)
    model.comparisons = (
        Comparison(
            "name",
            "given_name",
            (ExactLevel(), NumericDifferenceLevel(max_difference=1, column="surname")),
        ),
    )
    with pytest.raises(InteropError, match=r"it reads numbers of column 'surname'"):
        to_splink(model)


# --------------------------------------------------------------------------- #
# er_toolkit models, exported
# --------------------------------------------------------------------------- #
def _fit_er_toolkit(config: LinkageConfig, frames: list[pl.DataFrame]) -> Linker:
    linker = Linker(config)
    records = linker.records(
        [Source(f"source_{i}", f, id_column="unique_id") for i, f in enumerate(frames)]
    )
    return linker.fit(records)


@pytest.fixture(scope="module")
def febrl3_er_toolkit(febrl3: pl.DataFrame) -> Linker:
    config = LinkageConfig.from_toml(ROOT / "experiments" / "febrl3.toml")
    config = dataclasses.replace(
        config,
        sources=(),
        # Splink has no sorted neighbourhood: the exact rules only
        blocking=BlockingConfig(blockers=config.blocking.exact_rules),
        model=dataclasses.replace(config.model, u_sample_size=200_000),
    )
    return _fit_er_toolkit(config, [febrl3])


def test_exported_febrl3_model_predicts_the_same_in_splink(
    febrl3_er_toolkit: Linker, febrl3: pl.DataFrame
) -> None:
    settings = to_splink(febrl3_er_toolkit)
    predictions, clusters, _ = splink_run(settings, [febrl3])
    _, scored, ours = er_toolkit_run(febrl3_er_toolkit, [febrl3])
    names = [c.name for c in febrl3_er_toolkit.config.comparisons]
    assert_same_scores(scored, predictions, names)
    for t in THRESHOLDS:
        assert ours[t] == clusters[t], t


def test_export_then_import_round_trips(
    febrl3_er_toolkit: Linker, febrl3: pl.DataFrame
) -> None:
    back = from_splink(to_splink(febrl3_er_toolkit))
    model = febrl3_er_toolkit.scorer_
    for comparison in model.comparisons:
        np.testing.assert_array_equal(
            back.scorer_.m_[comparison.name], model.m_[comparison.name]
        )
    _, ours, _ = er_toolkit_run(febrl3_er_toolkit, [febrl3])
    _, theirs, _ = er_toolkit_run(back, [febrl3])
    gap = (ours["match_weight"] - theirs["match_weight"]).abs().max()
    assert gap is not None and gap < WEIGHT_TOLERANCE


def test_exported_customers_model_predicts_the_same_in_splink(
    customers: pl.DataFrame,
) -> None:
    from benchmarks import compare_tools

    config = LinkageConfig.from_toml(
        ROOT / "benchmarks" / "configs" / "compare_er_toolkit.toml"
    )
    email = Comparison(
        "email",
        "email",
        (
            ExactLevel(term_frequency=True),
            ExactLevel(extract="^[^@]+"),
            SimilarityLevel("jaro_winkler", 0.88, extract="^[^@]+"),
        ),
    )
    config = dataclasses.replace(
        config,
        comparisons=tuple(
            email if c.name == "email" else c for c in config.comparisons
        ),
        clustering=ClusteringConfig(),  # plain connected components, as Splink
        model=dataclasses.replace(config.model, u_sample_size=200_000),
        # Splink has no block purging: the rules its side of the benchmark uses
        blocking=dataclasses.replace(
            config.blocking,
            blockers=tuple(ExactRule(r) for r in compare_tools.BLOCKING_RULES),
        ),
    )
    frame = customers.drop("source")
    linker = _fit_er_toolkit(config, [frame])
    settings = to_splink(linker)
    predictions, clusters, _ = splink_run(settings, [frame])
    _, scored, ours = er_toolkit_run(linker, [frame])
    assert_same_scores(scored, predictions, [c.name for c in config.comparisons])
    for t in THRESHOLDS:
        assert ours[t] == clusters[t], t


def test_export_refuses_what_splink_cannot_express(febrl3_er_toolkit: Linker) -> None:
    with_sn = LinkageConfig.from_toml(ROOT / "experiments" / "febrl3.toml")
    linker = Linker(with_sn)
    linker.scorer_ = febrl3_er_toolkit.scorer_
    with pytest.raises(InteropError, match=r"'sorted_neighbourhood' blocker"):
        to_splink(linker)
    purged = dataclasses.replace(
        febrl3_er_toolkit.config,
        blocking=dataclasses.replace(
            febrl3_er_toolkit.config.blocking, max_block_size=50
        ),
    )
    linker = Linker(purged)
    linker.scorer_ = febrl3_er_toolkit.scorer_
    with pytest.raises(InteropError, match="purges blocks over 50 records"):
        to_splink(linker)
    token = Comparison(
        "address_1", "address_1", (SimilarityLevel("token_jaccard", 0.5),)
    )
    model = copy.deepcopy(febrl3_er_toolkit.scorer_)
    model.comparisons = (token,)
    model.m_ = {"address_1": np.array([0.2, 0.8])}
    model.u_ = {"address_1": np.array([0.9, 0.1])}
    with pytest.raises(
        InteropError, match=r"Comparison 'address_1', level 'token_jaccard >= 0.5'"
    ):
        to_splink(model)
    dob = Comparison(
        "dob",
        "dob",
        (ExactLevel(), DateDifferenceLevel(max_days=9)),
        unparsed="text",
    )
    model.comparisons = (dob,)
    model.m_ = {"dob": np.array([0.1, 0.2, 0.7])}
    model.u_ = {"dob": np.array([0.8, 0.15, 0.05])}
    with pytest.raises(InteropError, match=r"Comparison 'dob': unparsed='text'"):
        to_splink(model)


def test_export_writes_the_file_splink_loads(
    febrl3_er_toolkit: Linker, tmp_path: Path, febrl3: pl.DataFrame
) -> None:
    path = tmp_path / "splink.json"
    settings = to_splink(febrl3_er_toolkit, path=path, unique_id_column_name="rec")
    assert json.loads(path.read_text()) == settings
    db = DuckDBAPI()
    frame = febrl3.rename({"unique_id": "rec"}).head(300)
    linker = SplinkLinker(db.register(frame.to_pandas()), str(path))
    assert linker.inference.predict().as_pandas_dataframe().shape[0] > 0


# --------------------------------------------------------------------------- #
# refusals: named comparison, level and condition
# --------------------------------------------------------------------------- #
def _settings(*comparisons: Any, **extra: Any) -> dict[str, Any]:
    return {
        "link_type": "dedupe_only",
        "probability_two_random_records_match": 0.001,
        "sql_dialect": "duckdb",
        "blocking_rules_to_generate_predictions": [
            {"blocking_rule": 'l."x" = r."x"', "sql_dialect": "duckdb"}
        ],
        "comparisons": list(comparisons),
        **extra,
    }


def _comparison(*conditions: str, name: str = "x") -> dict[str, Any]:
    levels: list[dict[str, Any]] = [
        {"sql_condition": '"x_l" IS NULL OR "x_r" IS NULL', "is_null_level": True}
    ]
    levels += [
        {"sql_condition": c, "m_probability": 0.5, "u_probability": 0.5}
        for c in conditions
    ]
    levels.append({"sql_condition": "ELSE", "m_probability": 0.5, "u_probability": 0.5})
    return {"output_column_name": name, "comparison_levels": levels}


def _library(comparison: Any) -> dict[str, Any]:
    return comparison.get_comparison("duckdb").as_dict()


@pytest.mark.parametrize(
    ("comparison", "match"),
    [
        (
            _comparison('"x_l" = "y_r"'),
            r"level 2 .*'\"x_l\" = \"y_r\"'.*in one direction only",
        ),
        (
            _comparison('"x_l" = "y_r" AND "x_r" = "z_l"'),
            r"it asks x_l = y_r \(or their similarity\) without the same of y_l and x_r",
        ),
        (
            _comparison('jaro_winkler_similarity("x_l", "y_r") >= 0.9'),
            r"in one direction only",
        ),
        (
            _comparison(
                'jaro_winkler_similarity("x_l", "y_r") >= 0.9 AND '
                'jaro_winkler_similarity("x_r", "y_l") >= 0.8'
            ),
            r"without the same of y_l and x_r: one direction only",
        ),
        (
            _comparison('levenshtein("x_l", "y_r") <= 1'),
            r"its functions read several columns",
        ),
        (
            _comparison('NOT ("x_l" = "x_r" AND "y_l" = "y_r")'),
            r"SQL's NOT of an unknown \(null\) comparison is unknown",
        ),
        (
            _comparison(
                '"x_l" = "x_r" AND ABS(EPOCH(try_strptime("d_l", \'%Y-%m-%d\')) - '
                "EPOCH(try_strptime(\"d_r\", '%Y-%m-%d'))) <= 86400"
            ),
            r"compares dates of column 'd' together with other columns",
        ),
        (
            _comparison('ABS("n_l" - "n_r") <= 1'),
            r"compares numbers of column 'n'",
        ),
        (
            _comparison('"x_l" = "x_r" AND ("y_l" IS NULL OR "y_r" IS NULL)'),
            r"it tests for nulls inside a level",
        ),
        (
            _comparison('LOWER("x_l") = LOWER("x_r")'),
            r"level 2 \('LOWER\(\"x_l\"\) = LOWER\(\"x_r\"\)'\): the condition "
            r".* has no er_toolkit equivalent",
        ),
        (
            _library(
                cl.CustomComparison(
                    output_column_name="x",
                    comparison_levels=[
                        cll.NullLevel("x"),
                        cll.PercentageDifferenceLevel("x", 0.1),
                        cll.ElseLevel(),
                    ],
                )
            ),
            r"Splink comparison 'x', level 2 .*Percentage",
        ),
        (
            _comparison('array_length(list_intersect("x_l", "x_r")) >= 1'),
            r"no er_toolkit level computes it",
        ),
        (
            _comparison('jaro_winkler_similarity("x_l", "x_r") < 0.5'),
            r"similarity < a threshold has no equivalent",
        ),
        (
            _comparison(
                "NULLIF(regexp_extract(\"x_l\", '^\\d+', 0), '') = "
                "NULLIF(regexp_extract(\"x_r\", '^\\d+', 0), '')"
            ),
            r"reads as ASCII",
        ),
        (
            _comparison(
                "ABS(EPOCH(try_strptime(\"x_l\", '%Y-%m-%d %H')) - "
                "EPOCH(try_strptime(\"x_r\", '%Y-%m-%d %H'))) <= 86400"
            ),
            r"only for formats of %Y, %m and %d",
        ),
        (
            _library(
                cl.CustomComparison(
                    output_column_name="x",
                    comparison_levels=[
                        cll.NullLevel("x"),
                        cll.AbsoluteDateDifferenceLevel(
                            "x", input_is_string=True, threshold=1, metric="day"
                        ),
                        cll.ElseLevel(),
                    ],
                )
            ),
            r"its null level tests only for missing values",
        ),
        (
            {
                "output_column_name": "x",
                "comparison_levels": [
                    {"sql_condition": '"x_l" = "x_r"'},
                    {"sql_condition": "ELSE"},
                ],
            },
            r"level 1 .*the first level is not a null level",
        ),
        (
            {
                "output_column_name": "x",
                "comparison_levels": [
                    {
                        "sql_condition": '"x_l" IS NULL OR "x_r" IS NULL',
                        "is_null_level": True,
                    },
                    {"sql_condition": '"x_l" = "x_r"'},
                ],
            },
            r"the last level, and only the last, must be ELSE",
        ),
        (
            {
                "output_column_name": "x",
                "comparison_levels": [
                    {
                        "sql_condition": '"x_l" IS NULL OR "x_r" IS NULL',
                        "is_null_level": True,
                    },
                    {
                        "sql_condition": 'jaro_winkler_similarity("x_l", "x_r") >= 0.9',
                        "tf_adjustment_column": "x",
                    },
                    {"sql_condition": "ELSE"},
                ],
            },
            r"term-frequency adjusted, which er_toolkit does only on an exact match",
        ),
        (
            {
                "output_column_name": "x",
                "comparison_levels": [
                    {
                        "sql_condition": '"x_l" IS NULL OR "x_r" IS NULL',
                        "is_null_level": True,
                    },
                    {"sql_condition": '"x_l" = "x_r"', "m_u_weight": 2},
                    {"sql_condition": "ELSE"},
                ],
            },
            r"has key\(s\) \['m_u_weight'\]",
        ),
    ],
)
def test_refusals_name_the_comparison_and_condition(
    comparison: dict[str, Any], match: str
) -> None:
    with pytest.raises(InteropError, match=match):
        from_splink(_settings(comparison))


def test_refusals_of_settings() -> None:
    ok = _comparison('"x_l" = "x_r"')
    with pytest.raises(InteropError, match="dialect 'spark'"):
        from_splink(_settings(ok, sql_dialect="spark"))
    with pytest.raises(InteropError, match="'link_type' must be one of"):
        from_splink({**_settings(ok), "link_type": "dedupe"})
    with pytest.raises(InteropError, match=r"blocking rule number 1 .*no er_toolkit"):
        from_splink(
            _settings(
                ok,
                blocking_rules_to_generate_predictions=["levenshtein(l.x, r.x) <= 1"],
            )
        )
    with pytest.raises(InteropError, match="explodes arrays"):
        from_splink(
            _settings(
                ok,
                blocking_rules_to_generate_predictions=[
                    {"blocking_rule": "l.x = r.x", "arrays_to_explode": ["x"]}
                ],
            )
        )
    with pytest.raises(InteropError, match="not valid JSON"):
        from_splink("{not json")


def test_blocking_rules_become_exact_rules() -> None:
    linker = from_splink(
        _settings(
            _comparison('"x_l" = "x_r"'),
            blocking_rules_to_generate_predictions=[
                {
                    "blocking_rule": '(l."x" = r."x") AND (SUBSTRING(l.y, 1, 2) = SUBSTRING(r.y, 1, 2))'
                },
                "l.z = r.z",
                {
                    "blocking_rule": "substr(r.y,1,3) = substr(l.y,1,3)",
                    "salting_partitions": 4,
                },
            ],
        )
    )
    assert [b.to_dict() for b in linker.config.blocking.blockers] == [
        {"kind": "exact", "keys": ["x", "y[:2]"]},
        {"kind": "exact", "keys": ["z"]},
        {"kind": "exact", "keys": ["y[:3]"]},
    ]


# --------------------------------------------------------------------------- #
# the arithmetic under the exactness
# --------------------------------------------------------------------------- #
@settings(max_examples=300, deadline=None)
@given(
    a=st.floats(-1e6, 1e6, allow_nan=False, allow_infinity=False),
    b=st.floats(-1e6, 1e6, allow_nan=False, allow_infinity=False),
    c=st.floats(-1e6, 1e6, allow_nan=False, allow_infinity=False),
)
def test_fused_multiply_add_rounds_once(a: float, b: float, c: float) -> None:
    if 0 < abs(a * b) < 1e-290:
        return  # Dekker's product needs no underflow
    exact = float(Fraction(a) * Fraction(b) + Fraction(c))
    got = fused_multiply_add(np.array([a]), np.array([b]), np.array([c]))[0]
    assert got == exact


@settings(max_examples=300, deadline=None)
@given(
    t=st.floats(0, 1),
    x=st.floats(0, 1),
)
def test_float32_threshold_is_the_float32_comparison(t: float, x: float) -> None:
    tau = _float32_threshold(t)
    for y in (x, tau, float(np.nextafter(tau, -1)), float(np.nextafter(tau, 2))):
        if y < 0:
            continue  # similarities are never negative
        assert (y >= tau) == bool(np.float32(y) >= np.float32(t)), (t, y)


def test_float64_similarities_are_duckdb_bit_for_bit(febrl3: pl.DataFrame) -> None:
    rng = np.random.default_rng(0)
    values = pl.concat(
        [febrl3[c] for c in ("given_name", "surname", "address_1", "suburb")]
    ).drop_nulls()
    values = [*values.to_list(), "josé", "e\u0301x", "müller", "ab" * 40]
    n = 40_000
    left = [values[i] for i in rng.integers(0, len(values), n)]
    right = [values[i] for i in rng.integers(0, len(values), n)]
    for i in range(0, n, 2):  # near-duplicates, where the prefix boost matters
        s = left[i]
        k = int(rng.integers(0, len(s)))
        right[i] = s[:k] + "xé"[i % 4 // 2] + s[k + 1 :]
    frame = pl.DataFrame({"a": left, "b": right})
    con = duckdb.connect()
    con.register("pairs", frame.to_arrow())
    want = pl.from_arrow(
        con.sql(
            "select jaro_winkler_similarity(a, b) jaro_winkler, "
            "jaro_similarity(a, b) jaro, jaccard(a, b) character_jaccard from pairs"
        ).to_arrow_table()
    )
    assert isinstance(want, pl.DataFrame)
    for comparator in ("jaro_winkler", "jaro", "character_jaccard"):
        got = similarity(comparator, left, right, dtype=np.float64)
        np.testing.assert_array_equal(got, want[comparator].to_numpy(), comparator)


def test_term_frequency_weight_and_minimum_u() -> None:
    """m / u * (u / max(f, min_u)) ** weight, Splink's adjustment."""
    level = ExactLevel(
        term_frequency=True, tf_weight=0.5, tf_min_u=0.3, precision="float64"
    )
    comparison = Comparison("v", "v", (level,))
    out = compare_batch(
        [comparison],
        {"v": ["a", "b"]},
        {"v": ["a", "b"]},
        term_frequencies={"v": [0.3, 0.1]},
    )
    assert out["tf_v"].dtype == np.float64
    from er_toolkit.score import FellegiSunter

    model = FellegiSunter((comparison,))
    model.m_ = {"v": np.array([0.1, 0.9])}
    model.u_ = {"v": np.array([0.8, 0.2])}
    model.probability_two_random_records_match_ = 0.5
    model.threshold_ = 0.5
    vectors = pl.DataFrame({schema.ROW_L: [0, 1], schema.ROW_R: [2, 3], **out})
    scored = model.predict(vectors)
    want = [
        np.log2(0.9 / 0.2) + 0.5 * (np.log2(0.2) - np.log2(max(f, 0.3)))
        for f in (0.3, 0.1)
    ]
    np.testing.assert_allclose(scored["match_weight"].to_numpy(), want, rtol=1e-12)


def test_new_level_options_stay_out_of_older_declarations() -> None:
    assert level_to_dict(ExactLevel(term_frequency=True)) == {
        "kind": "exact",
        "term_frequency": True,
    }
    assert level_to_dict(SimilarityLevel("jaro", 0.8)) == {
        "kind": "similarity",
        "comparator": "jaro",
        "min_similarity": 0.8,
    }
    with pytest.raises(ConfigError, match="apply only with term_frequency = true"):
        ExactLevel(tf_weight=0.5)
    with pytest.raises(ConfigError, match="not a valid regular expression"):
        ExactLevel(extract="(")
    with pytest.raises(ConfigError, match="'precision' of a similarity level"):
        SimilarityLevel(precision="float16")  # type: ignore[arg-type]


def test_parser_reads_nested_conditions_and_evaluates_nothing() -> None:
    node = parse_condition(
        "(\"a_l\" IS NOT NULL) AND NOT (CAST(\"a_l\" AS TEXT) = 'it''s') OR -1.5e3 < x"
    )
    assert type(node).__name__ == "Or"
    with pytest.raises(InteropError, match="unexpected character ';'"):
        parse_condition('"a_l" = "a_r"; DROP TABLE t')
    with pytest.raises(InteropError, match="unexpected CASE"):
        parse_condition("CASE WHEN a THEN b END")


# --------------------------------------------------------------------------- #
# command line, MLflow, the classifier
# --------------------------------------------------------------------------- #
def test_cli_imports_and_exports_model_files(
    splink_febrl3: dict[str, Any],
    febrl3: pl.DataFrame,
    tmp_path: Path,
    capsys: pytest.CaptureFixture[str],
) -> None:
    settings_path = tmp_path / "splink_model.json"
    settings_path.write_text(json.dumps(splink_febrl3["settings"]))
    model_path = tmp_path / "linker.json"
    code = cli_main(
        [
            "import-splink",
            "--settings",
            str(settings_path),
            "--output",
            str(model_path),
            "--threshold",
            "0.9",
        ]
    )
    out = capsys.readouterr().out
    assert code == 0, out
    assert out.startswith("imported Splink model: 10 comparisons, 5 blocking rules")
    loaded = Linker.load(model_path)
    assert loaded.threshold_ == 0.9
    _, ours, _ = er_toolkit_run(loaded, [febrl3])
    names = [c.name for c in loaded.config.comparisons]
    assert_same_scores(ours, splink_febrl3["predictions"], names)
    code = cli_main(
        [
            "export-splink",
            "--model",
            str(model_path),
            "--output",
            str(tmp_path / "b.json"),
        ]
    )
    assert code == 0
    back = json.loads((tmp_path / "b.json").read_text())
    assert back["comparisons"][0]["comparison_levels"][1]["tf_minimum_u_value"] == 0.0
    predictions, _, _ = splink_run(back, [febrl3])
    assert_same_scores(ours, predictions, names)


def test_cli_logs_and_registers_an_imported_model(
    splink_febrl3: dict[str, Any],
    febrl3: pl.DataFrame,
    tmp_path: Path,
    capsys: pytest.CaptureFixture[str],
) -> None:
    import mlflow

    from er_toolkit.track import load_linker

    settings_path = tmp_path / "splink_model.json"
    settings_path.write_text(json.dumps(splink_febrl3["settings"]))
    # a local store in tmp_path: MLflow 3 refuses the file: backend by default
    uri = f"sqlite:///{tmp_path / 'mlflow.db'}"
    previous = mlflow.get_tracking_uri()
    try:
        code = cli_main(
            [
                "import-splink",
                "--settings",
                str(settings_path),
                "--output",
                str(tmp_path / "linker.json"),
                "--name",
                "febrl3_splink",
                "--mlflow",
                "--tracking-uri",
                uri,
                "--experiment",
                "interop-tests",
            ]
        )
        out = capsys.readouterr().out
        assert code == 0, out
        assert "registered models:/febrl3_splink/1" in out
        registered = load_linker("models:/febrl3_splink/1")
        client = mlflow.MlflowClient(tracking_uri=uri)
        run_id = out.split("mlflow run ")[1].split(",")[0]
        tags = client.get_run(run_id).data.tags
        assert tags["imported_from"] == "splink"
        assert tags["lambda_method"] == "splink"
        assert "data_fingerprint" not in tags
        # the registered pyfunc scores like the imported model, pair for pair
        sample = febrl3.head(1_500)
        served = pl.from_pandas(
            mlflow.pyfunc.load_model("models:/febrl3_splink/1").predict(
                sample.rename({"unique_id": schema.RECORD_ID}).to_pandas()
            )
        )
    finally:
        mlflow.set_tracking_uri(previous)
    _, direct, _ = er_toolkit_run(registered, [sample])
    key = [schema.RECORD_ID_L, schema.RECORD_ID_R]
    both = served.join(direct, on=key, how="full", coalesce=True, suffix="_direct")
    assert both.height == served.height == direct.height > 0
    gap = (both[schema.MATCH_WEIGHT] - both[f"{schema.MATCH_WEIGHT}_direct"]).abs()
    assert gap.max() == 0.0
    _, ours, _ = er_toolkit_run(registered, [febrl3])
    assert_same_scores(
        ours,
        splink_febrl3["predictions"],
        [c.name for c in registered.config.comparisons],
    )


def test_cli_errors_are_one_line(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    bad = tmp_path / "bad.json"
    bad.write_text(json.dumps(_settings(_comparison('LOWER("x_l") = LOWER("x_r")'))))
    code = cli_main(
        ["import-splink", "--settings", str(bad), "--output", str(tmp_path / "o.json")]
    )
    err = capsys.readouterr().err.strip()
    assert code == 2
    assert err.startswith("error: Splink comparison 'x', level 2") and "\n" not in err
    assert not (tmp_path / "o.json").exists()
    assert cli_main(["nonsense"]) == 2


def test_imported_model_stacks_under_a_classifier(
    splink_febrl3: dict[str, Any], febrl3: pl.DataFrame
) -> None:
    from er_toolkit.score import ClassifierScorer

    linker = from_splink(splink_febrl3["settings"])
    records = linker.records([Source("febrl3", febrl3, id_column="unique_id")])
    pairs = linker.block(records)
    vectors = linker.compare(records, pairs.sample(6_000, seed=0), raw_similarity=True)
    ids = records.get_column(schema.RECORD_ID).to_numpy()
    entity = np.array([s.split("-")[1] for s in ids])
    y = (
        entity[vectors[schema.ROW_L].to_numpy()]
        == entity[vectors[schema.ROW_R].to_numpy()]
    )
    model = ClassifierScorer(
        linker.config.comparisons,
        estimator="logistic_regression",
        fellegi_sunter=linker.scorer_,
        cv=3,
    ).fit(vectors, y)
    assert model.fellegi_sunter_ is linker.scorer_
    scored = model.predict(vectors)
    assert scored.filter(pl.col("match_probability") >= model.threshold_).height > 0
