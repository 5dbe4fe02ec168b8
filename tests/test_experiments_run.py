"""experiments/run.py: the evaluation protocols, on the small shipped fixtures."""

from __future__ import annotations

import tomllib
from pathlib import Path

import polars as pl
import pytest
from threadpoolctl import threadpool_limits

from er_toolkit import schema
from er_toolkit.compare import compare_pairs
from er_toolkit.config import LinkageConfig
from er_toolkit.derive import apply_derivations
from er_toolkit.evaluate import pairwise_metrics
from er_toolkit.one_to_one import one_to_one_links
from er_toolkit.pipeline import Linker
from er_toolkit.train import train
from experiments import run

DATA = Path(__file__).parent / "data"
EXPERIMENTS = Path(__file__).parent.parent / "experiments"


@pytest.fixture(autouse=True)
def _one_thread():
    with threadpool_limits(limits=1):
        yield


@pytest.mark.slow
def test_scripted_labels_answer_from_the_truth(tmp_path: Path) -> None:
    config = LinkageConfig.from_toml(DATA / "people_dedupe.toml")
    path = tmp_path / "labels.csv"
    n = run.scripted_labels(config, None, path, budget=60, batch=10)
    assert n == 60
    labels = pl.read_csv(path, infer_schema=False)
    assert labels.height == 60
    linker = Linker(config)
    records = linker.records()
    truth = {tuple(r) for r in linker.true_pairs(records).rows()}
    ids = dict(
        zip(records[schema.RECORD_ID].cast(pl.String), records[schema.ROW], strict=True)
    )
    for rl, rr, answer in labels.select(
        schema.RECORD_ID_L, schema.RECORD_ID_R, schema.IS_MATCH
    ).rows():
        pair = tuple(sorted((ids[rl], ids[rr])))
        assert (answer == "y") == (pair in truth)
    assert 0 < (labels[schema.IS_MATCH] == "y").sum() < 60  # both classes asked


@pytest.mark.slow
def test_active_learning_protocol_runs_end_to_end() -> None:
    config = LinkageConfig.from_toml(DATA / "people_dedupe.toml")
    row = run.run_al(config, None, budget=100)
    assert row.protocol == "al100" and row.labels == 100
    assert row.estimator == max(row.choice, key=lambda e: row.choice[e])
    assert row.metrics["training_pairs"] <= 100
    assert row.metrics["cluster_f1"] > 0.9
    assert "100 labels picked by active learning" in run.table([row])


def _magellan_split(tmp_path: Path) -> Path:
    """people_a / people_b as a Magellan set: tables and fixed train/valid/test pairs."""
    a = pl.read_csv(DATA / "people_a.csv", infer_schema=False)
    b = pl.read_csv(DATA / "people_b.csv", infer_schema=False)
    for name, frame in (("tableA", a), ("tableB", b)):
        frame.rename({"rec_id": "id"}).write_csv(tmp_path / f"{name}.csv")
    pos = a.join(b, on="entity_id").select(
        pl.col("rec_id").alias("ltable_id"), pl.col("rec_id_right").alias("rtable_id")
    )
    neg = (
        a.select(pl.col("rec_id").alias("ltable_id"))
        .join(b.select(pl.col("rec_id").alias("rtable_id")), how="cross")
        .join(pos, on=["ltable_id", "rtable_id"], how="anti")
        .sample(900, seed=1)
    )
    pairs = pl.concat(
        [pos.with_columns(label=pl.lit(1)), neg.with_columns(label=pl.lit(0))]
    ).sample(fraction=1.0, shuffle=True, seed=2)
    n = pairs.height
    pairs[: n // 2].write_csv(tmp_path / "train.csv")
    pairs[n // 2 : 3 * n // 4].write_csv(tmp_path / "valid.csv")
    pairs[3 * n // 4 :].write_csv(tmp_path / "test.csv")
    spec = tomllib.loads((DATA / "people_link.toml").read_text())
    spec["sources"][0].update(path="tableA.csv", id_column="id")
    spec["sources"][1].update(path="tableB.csv", id_column="id")
    spec["evaluation"] = {"test_pairs_path": "test.csv"}
    spec["training"] = {"labels_path": "train.csv", "validation_path": "valid.csv"}
    # no stacking: no Fellegi-Sunter fit, so the test stays quick
    spec["model"].update(
        kind="classifier", estimator="logistic_regression", stack=False
    )
    return tmp_path, spec


def test_fixed_split_protocol_scores_exactly_the_test_pairs(tmp_path: Path) -> None:
    folder, spec = _magellan_split(tmp_path)
    config = LinkageConfig.from_dict(spec, base_dir=folder)
    summary = train(config, log_mlflow=False, register=False)
    metrics = summary["metrics"]
    test = pl.read_csv(folder / "test.csv", infer_schema=False)
    assert metrics["test_pairs"] == test.height
    # the same figure by hand: fit, score the test pairs, threshold chosen on valid
    linker = Linker(config)
    records = linker.records()
    linker.fit(records)
    valid = linker.validation_pairs(records)
    assert (
        valid is not None and valid.height == pl.read_csv(folder / "valid.csv").height
    )
    scorer = linker.scorer_
    assert scorer.n_train_ == pl.read_csv(folder / "train.csv").height
    test_pairs = linker.test_pairs(records)
    scored = linker.predict(
        records, candidate_pairs=test_pairs.select(schema.ROW_L, schema.ROW_R)
    )
    got = pairwise_metrics(
        scored.filter(pl.col(schema.MATCH_PROBABILITY) >= linker.threshold_),
        test_pairs.filter(pl.col(schema.IS_MATCH)),
    )
    assert metrics["test_f1"] == pytest.approx(got["f1"])
    assert metrics["test_f1"] > 0.9
    assert metrics["validation_f1"] > 0.9


def test_fixed_split_one_to_one_constrains_the_test_pairs_by_score(
    tmp_path: Path,
) -> None:
    folder, spec = _magellan_split(tmp_path)
    spec["clustering"] = {"one_to_one": "greedy"}
    config = LinkageConfig.from_dict(spec, base_dir=folder)
    metrics = train(config, log_mlflow=False, register=False)["metrics"]
    assert {"valid_f1", "valid_precision", "valid_recall"} <= set(metrics)
    # by hand: score the test pairs, keep one link per record best first, cut
    linker = Linker(config)
    records = linker.records()
    linker.fit(records)
    test_pairs = linker.test_pairs(records)
    scored = linker.predict(
        records, candidate_pairs=test_pairs.select(schema.ROW_L, schema.ROW_R)
    )
    kept = one_to_one_links(records, scored, threshold=linker.threshold_)
    links = kept.filter(pl.col(schema.MATCH_PROBABILITY) >= linker.threshold_)
    assert links.get_column(schema.ROW_L).is_unique().all()
    assert links.get_column(schema.ROW_R).is_unique().all()
    got = pairwise_metrics(links, test_pairs.filter(pl.col(schema.IS_MATCH)))
    assert metrics["test_f1"] == pytest.approx(got["f1"])
    row = run.Row("abt_buy", "split", one_to_one="greedy", metrics=metrics)
    assert "one-to-one link constraint (greedy) on the test pairs" in run.table([row])


def test_validation_path_and_fraction_are_exclusive(tmp_path: Path) -> None:
    _, spec = _magellan_split(tmp_path)
    spec["training"]["validation_fraction"] = 0.2
    with pytest.raises(Exception, match="one of validation_path"):
        LinkageConfig.from_dict(spec)


def test_missing_datasets_are_reported_not_raised(tmp_path: Path) -> None:
    rows = run.run_set("fake_1000", datasets=tmp_path / "absent")
    assert [r.protocol for r in rows] == ["fs", "al"]
    assert all(r.error.startswith("FileNotFoundError") for r in rows)
    assert "failed: FileNotFoundError" in run.table(rows)


def test_every_row_states_its_protocol() -> None:
    rows = [
        run.Row("febrl3", "fs", metrics={"cluster_f1": 1.0}),
        run.Row(
            "dblp_acm",
            "split",
            estimator="random_forest",
            choice={"random_forest": 0.98},
        ),
    ]
    text = run.section(rows, 600)
    assert "FS unsupervised, end to end over all records" in text
    assert "train on train, threshold on valid, F1 on test pairs" in text
    assert "random_forest (valid F1: random_forest 0.980)" in text


def test_an_active_learning_row_says_where_its_threshold_was_chosen() -> None:
    old = run.Row("fake_1000", "al600", labels=600, metrics={"cluster_f1": 0.9})
    new = run.Row(
        "fake_1000",
        "al600",
        labels=600,
        metrics={"cluster_f1": 0.9, run.THRESHOLD_ON_CANDIDATES: 1.0},
    )
    assert "threshold out of fold" in run.table([old])
    text = run.table([new])
    assert "expected F1 over the candidates (FS-weighted)" in text
    assert "out of fold" not in text


@pytest.mark.parametrize(
    ("name", "frame", "codes"),
    [
        (
            "abt_buy",
            {
                "name": ["Sony Bravia KDL-40V4100 40in LCD", "Cable", None],
                "description": ["model kdl40v4100, 1080p 120Hz", None, "v2.0 USB"],
            },
            ["1080p 120hz 40in kdl40v4100", None, "v20"],
        ),
        (
            "amazon_google",
            {"title": ["Adobe Photoshop CS3 v10.0 (Win)", "Quicken Basic", "X 1/2"]},
            ["cs3 v100", None, None],  # "12" is under 3 characters
        ),
    ],
)
def test_product_configs_derive_their_codes(
    name: str, frame: dict[str, list[str | None]], codes: list[str | None]
) -> None:
    """Digit-holding tokens, lower case, '-/.' dropped, >= 3 characters, sorted."""
    config = LinkageConfig.from_toml(EXPERIMENTS / f"{name}.toml")
    out = apply_derivations(pl.DataFrame(frame), config.derive)
    assert out["codes"].to_list() == codes


def test_abt_buy_finds_a_name_code_written_another_way() -> None:
    """`name_codes` holds the name's codes; the squashed level finds them split."""
    config = LinkageConfig.from_toml(EXPERIMENTS / "abt_buy.toml")
    names = [
        "tripp lite 25 foot svga monitor cable p502025",
        "tripp lite video cable p502 025",
        "panasonic dect 6 0 cordless phone kxtg9332t",
        "panasonic kx tg9332s dect 6 0 phone",
    ]
    frame = pl.DataFrame({"name": names, "description": [None] * 4})
    out = apply_derivations(frame, config.derive)
    assert out["name_codes"].to_list() == ["p502025", "p502", "kxtg9332t", "tg9332s"]
    records = out.with_columns(pl.Series(schema.ROW, range(4), dtype=pl.UInt32))
    (comparison,) = [c for c in config.comparisons if c.name == "name_codes_in_name"]
    pairs = pl.DataFrame(
        {schema.ROW_L: [0, 2, 0], schema.ROW_R: [1, 3, 3]},
        schema={schema.ROW_L: pl.UInt32, schema.ROW_R: pl.UInt32},
    )
    gamma = compare_pairs(records, pairs, [comparison])[schema.gamma(comparison.name)]
    # share 1.0 (level 3) for the split code; another colour's code is not found
    assert gamma.to_list() == [3, 0, 0]


def test_amazon_google_finds_codes_inside_the_other_title() -> None:
    config = LinkageConfig.from_toml(EXPERIMENTS / "amazon_google.toml")
    titles = [
        "adobe pagemaker v7.0 mac upg 17530402",
        "adobe pagemaker 17530-402 for mac",
        "punch software 20100 punch 5 in 1 home design",
        "punch 5 in 1 home design",
    ]
    out = apply_derivations(pl.DataFrame({"title": titles}), config.derive)
    records = out.with_columns(pl.Series(schema.ROW, range(4), dtype=pl.UInt32))
    (comparison,) = [c for c in config.comparisons if c.name == "codes_in_title"]
    pairs = pl.DataFrame(
        {schema.ROW_L: [0, 2, 0], schema.ROW_R: [1, 3, 3]},
        schema={schema.ROW_L: pl.UInt32, schema.ROW_R: pl.UInt32},
    )
    gamma = compare_pairs(records, pairs, [comparison])[schema.gamma(comparison.name)]
    # "17530402" inside "17530-402" squashed ("v70" is under 4 characters, so
    # the whole share: level 3); "20100" is not in the other title
    assert gamma.to_list() == [3, 0, 0]


def test_fodors_zagat_config_strips_the_quote_wrapping() -> None:
    config = LinkageConfig.from_toml(EXPERIMENTS / "fodors_zagat.toml")
    frame = pl.DataFrame(
        {
            c: ["'arnie morton\\'s of chicago'", "plain", " 'x' ", "'it\\''"]
            for c in ("name", "addr", "city", "phone", "type")
        }
    )
    out = apply_derivations(frame, config.derive)
    expected = ["arnie morton's of chicago", "plain", "x", "it'"]
    for column in frame.columns:
        assert out[column].to_list() == expected
    assert config.evaluation.entity_column == "class"


def test_a_skipped_protocol_says_it_was_not_re_run(tmp_path: Path) -> None:
    rows = run.run_set(
        "fake_1000", datasets=tmp_path / "absent", skip={"al": "over 25 min"}
    )
    assert [r.protocol for r in rows] == ["fs", "al600"]
    assert rows[0].error.startswith("FileNotFoundError") and not rows[0].not_run
    assert rows[1].not_run == "over 25 min" and not rows[1].metrics
    line = run.table(rows).splitlines()[-1]
    assert "not re-run with today's code: over 25 min" in line
    assert "**" not in line  # no figure that could pass for a current one


def test_chicago_childcare_reads_house_ranges_and_one_street() -> None:
    """A range is one building; the same street within a block is its own level."""
    from er_toolkit.standardise import apply_standardisers

    config = LinkageConfig.from_toml(EXPERIMENTS / "chicago_childcare.toml")
    addresses = [
        "1333-45 W. Argyle",
        "1333 W Argyle Street ",
        "4865 N. Sheridan Rd",
        "4846 N Sheridan Road",
        "4217 W 18th St",
        "4216 W 19th St",
        "2820 N Leavitt",
        "3030 N Leavitt",
    ]
    frame = pl.DataFrame(
        {"Address": addresses, "Site name": None, "Zip": None, "Phone": None},
        schema_overrides=dict.fromkeys(("Site name", "Zip", "Phone"), pl.String),
    )
    derived = apply_derivations(frame, config.derive)
    assert derived["House"].to_list() == [
        "1333", "1333", "4865", "4846", "4217", "4216", "2820", "3030"
    ]  # fmt: skip
    records, _ = apply_standardisers(derived, config.standardise)
    assert records["Street"].to_list()[:4] == [
        "w argyle", "w argyle st", "n sheridan rd", "n sheridan rd"
    ]  # fmt: skip
    records = records.with_columns(pl.Series(schema.ROW, range(8), dtype=pl.UInt32))
    (comparison,) = [c for c in config.comparisons if c.name == "address"]
    pairs = pl.DataFrame(
        {schema.ROW_L: [0, 2, 4, 6], schema.ROW_R: [1, 3, 5, 7]},
        schema={schema.ROW_L: pl.UInt32, schema.ROW_R: pl.UInt32},
    )
    gamma = compare_pairs(records, pairs, [comparison])[schema.gamma(comparison.name)]
    # the range: same house, similar text (level 3); another entrance on one
    # street (level 1); another street, and another block: else (0)
    assert gamma.to_list() == [3, 1, 0, 0]
