"""In-process tests of the Linker on the FEBRL-derived fixtures in tests/data."""

from __future__ import annotations

import json
from dataclasses import replace
from pathlib import Path

import numpy as np
import polars as pl
import pytest
from polars.testing import assert_frame_equal

from er_toolkit.cluster import ClusteringConfig, connected_components
from er_toolkit.config import LinkageConfig
from er_toolkit.exceptions import ModelFormatError, NotFittedError
from er_toolkit.io import Source
from er_toolkit.pipeline import MODEL_FORMAT_VERSION, Linker

DATA = Path(__file__).parent / "data"
DEDUPE_CONFIG = DATA / "people_dedupe.toml"
LINK_CONFIG = DATA / "people_link.toml"


@pytest.fixture(scope="module")
def config() -> LinkageConfig:
    return LinkageConfig.from_toml(DEDUPE_CONFIG)


@pytest.fixture(scope="module")
def fitted(config):
    linker = Linker(config)
    records = linker.records()
    pairs = linker.block(records)
    linker.fit(records, candidate_pairs=pairs)
    scored = linker.predict(records, candidate_pairs=pairs)
    clusters = linker.cluster(records, scored)
    return linker, records, pairs, scored, clusters


def test_config_reads_sources_relative_to_the_file(config):
    assert config.base_dir == DATA
    assert config.sources[0].path == "people.csv"
    assert config.model.u_sample_size == 100_000


def test_records_validated_and_labelled(fitted):
    _, records, *_ = fitted
    source = pl.read_csv(DATA / "people.csv", infer_schema=False)
    assert records.height == source.height == 502
    assert records.get_column("record_id").to_list() == source["rec_id"].to_list()
    assert set(records.get_column("source")) == {"people"}
    assert "entity_id" in records.columns
    assert records.get_column("_row").to_list() == list(range(records.height))


def test_fit_predict_cluster_find_the_people(fitted):
    linker, records, pairs, scored, clusters = fitted
    assert scored.height == pairs.height
    assert scored.get_column("match_probability").is_between(0, 1).all()
    # every record exactly once
    assert clusters.height == records.height
    assert clusters.get_column("record_id").is_unique().all()
    # the fixture holds 206 whole FEBRL3 entities
    n_entities = records.get_column("entity_id").n_unique()
    assert n_entities == 206
    assert abs(clusters.get_column("cluster_id").n_unique() - n_entities) <= 5
    assert 0.0 < linker.scorer_.probability_two_random_records_match_ < 0.5
    for stage in ("load", "block", "fit", "compare", "score", "cluster"):
        assert linker.timings_[stage] >= 0.0


def test_evaluate_returns_metrics(fitted):
    linker, records, pairs, scored, clusters = fitted
    truth = linker.true_pairs(records)
    assert truth is not None and truth.height > 0
    metrics, curve = linker.evaluate(
        records, candidate_pairs=pairs, scored=scored, clusters=clusters, truth=truth
    )
    for key in (
        "pairwise_precision",
        "pairwise_recall",
        "pairwise_f1",
        "cluster_f1",
        "bcubed_f1",
        "blocking_recall",
    ):
        assert 0.0 <= metrics[key] <= 1.0, key
    assert metrics["pairwise_f1"] >= 0.95
    assert metrics["true_pairs"] == truth.height
    assert metrics["candidate_pairs"] == pairs.height
    assert curve.height > 0


def test_evaluate_catches_a_bad_threshold(fitted, config):
    """The metrics move when the clusters are wrong: they are not constants."""

    linker, records, pairs, scored, _ = fitted
    clusters = linker.cluster(records, scored, threshold=1.0)
    metrics, _ = linker.evaluate(
        records,
        candidate_pairs=pairs,
        scored=scored,
        clusters=clusters,
        truth=linker.true_pairs(records),
        threshold=1.0,
    )
    assert metrics["pairwise_recall"] < 0.5
    assert metrics["cluster_f1"] < 0.5


def test_save_load_round_trip_gives_identical_predictions(fitted, tmp_path):
    linker, records, pairs, scored, clusters = fitted
    path = linker.save(tmp_path / "sub" / "model.json")
    loaded = Linker.load(path)
    assert loaded.config.name == linker.config.name
    rescored = loaded.predict(records, candidate_pairs=pairs)
    assert_frame_equal(rescored, scored)
    assert_frame_equal(loaded.cluster(records, rescored), clusters)
    # and the saved file is stable: saving the loaded model writes the same JSON
    again = loaded.save(tmp_path / "again.json")
    assert json.loads(again.read_text()) == json.loads(path.read_text())


def test_loaded_model_scores_new_frames(fitted, tmp_path):
    linker, _, _, scored, _ = fitted
    loaded = Linker.load(linker.save(tmp_path / "model.json"))
    frame = pl.read_csv(DATA / "people.csv", infer_schema=False)
    fresh = loaded.records([Source("people", frame, id_column="rec_id")])
    assert_frame_equal(
        loaded.predict(fresh).drop("blocked_by"),
        scored.drop("blocked_by"),
        check_row_order=False,
    )


def test_cluster_ids_identical_across_runs(config, fitted):
    _, _, _, _, clusters = fitted
    linker = Linker(config)
    records = linker.records()
    linker.fit(records)
    clusters_again = linker.cluster(records, linker.predict(records))
    assert_frame_equal(clusters_again, clusters)


def test_cluster_uses_the_configured_linkage(fitted):
    linker, records, _, scored, clusters = fitted
    average = replace(linker.config, clustering=ClusteringConfig(linkage="average"))
    other = Linker(average)
    other.scorer_ = linker.scorer_
    got = other.cluster(records, scored)
    expected = connected_components(
        records, scored, threshold=linker.threshold_, linkage="average"
    )
    assert_frame_equal(got, expected)
    # it only ever splits single linkage's clusters
    pairs = got.select("_row", a="cluster_id").join(
        clusters.select("_row", b="cluster_id"), on="_row"
    )
    assert pairs.group_by("a").agg(pl.col("b").n_unique()).get_column("b").max() == 1


def test_cluster_passes_not_compared(fitted):
    linker, records, _, scored, _ = fitted
    # the links less every third: records blocking never compared
    sparse = scored.filter(pl.col("match_probability") >= linker.threshold_).filter(
        pl.int_range(pl.len()) % 3 != 0
    )
    clustering = ClusteringConfig(linkage="average", not_compared="neutral")
    other = Linker(replace(linker.config, clustering=clustering))
    other.scorer_ = linker.scorer_
    expected = connected_components(
        records,
        sparse,
        threshold=linker.threshold_,
        linkage="average",
        not_compared="neutral",
    )
    assert_frame_equal(other.cluster(records, sparse), expected)
    far = connected_components(
        records, sparse, threshold=linker.threshold_, linkage="average"
    )
    # "far" splits what was never compared; "neutral" keeps more together
    assert (
        far.get_column("cluster_id").n_unique()
        > expected.get_column("cluster_id").n_unique()
    )


def test_cluster_passes_min_linkage_probability(fitted):
    linker, records, _, scored, _ = fitted
    clustering = ClusteringConfig(
        linkage="average", not_compared="neutral", min_linkage_probability=0.2
    )
    other = Linker(replace(linker.config, clustering=clustering))
    other.scorer_ = linker.scorer_
    expected = connected_components(
        records,
        scored,
        threshold=linker.threshold_,
        linkage="average",
        not_compared="neutral",
        min_linkage_probability=0.2,
    )
    got = other.cluster(records, scored)
    assert_frame_equal(got, expected)
    # the option reaches the clustering: here the looser cut keeps more together
    strict = connected_components(
        records,
        scored,
        threshold=linker.threshold_,
        linkage="average",
        not_compared="neutral",
    )
    assert (
        got.get_column("cluster_id").n_unique()
        < strict.get_column("cluster_id").n_unique()
    )


def test_cluster_ids_independent_of_record_order(fitted):
    linker, _, _, _, clusters = fitted
    frame = pl.read_csv(DATA / "people.csv", infer_schema=False)
    shuffled = frame.sample(fraction=1.0, shuffle=True, seed=3)
    assert shuffled["rec_id"].to_list() != frame["rec_id"].to_list()
    records = linker.records([Source("people", shuffled, id_column="rec_id")])
    again = linker.cluster(records, linker.predict(records))

    def by_id(c):
        return c.select("record_id", "cluster_id", "cluster_size").sort("record_id")

    assert_frame_equal(by_id(again), by_id(clusters))


def test_explain_contributions_add_up_to_match_weight(fitted):
    linker, records, pairs, scored, _ = fitted
    explained = linker.predict(records, candidate_pairs=pairs, explain=True)
    names = [c.name for c in linker.config.comparisons]
    bf_columns = [f"bf_{n}" for n in names]
    assert set(bf_columns) <= set(explained.columns)
    assert {f"gamma_{n}" for n in names} <= set(explained.columns)
    total = explained.select(bf_columns).to_numpy().sum(axis=1)
    np.testing.assert_allclose(
        total + linker.scorer_.prior_weight_,
        explained.get_column("match_weight").to_numpy(),
        rtol=0,
        atol=1e-9,
    )
    # explanation changes nothing about the scores
    assert_frame_equal(explained.select(scored.columns), scored, check_exact=True)
    # and the contributions are not all zero
    assert np.abs(explained.select(bf_columns).to_numpy()).max() > 1.0


def test_load_non_json_file(tmp_path):
    path = tmp_path / "model.json"
    path.write_text("this is not json {")
    with pytest.raises(ModelFormatError, match="is not JSON"):
        Linker.load(path)


def test_load_missing_file(tmp_path):
    with pytest.raises(ModelFormatError, match="does not exist"):
        Linker.load(tmp_path / "absent.json")


@pytest.mark.parametrize(
    "payload",
    [
        {"kind": "sklearn.Pipeline", "format_version": MODEL_FORMAT_VERSION},
        {"format_version": MODEL_FORMAT_VERSION},
        [1, 2, 3],
        "er_toolkit.Linker",
    ],
)
def test_load_wrong_kind(tmp_path, payload):
    path = tmp_path / "model.json"
    path.write_text(json.dumps(payload))
    with pytest.raises(ModelFormatError, match=r"er_toolkit\.Linker"):
        Linker.load(path)


@pytest.mark.parametrize("version", [MODEL_FORMAT_VERSION + 1, 0, None, "1"])
def test_load_wrong_format_version(fitted, tmp_path, version):
    linker = fitted[0]
    data = linker.to_dict()
    data["format_version"] = version
    path = tmp_path / "model.json"
    path.write_text(json.dumps(data))
    with pytest.raises(ModelFormatError, match="format_version"):
        Linker.load(path)


def test_predict_before_fit(config, tmp_path):
    linker = Linker(config)
    records = linker.records()
    with pytest.raises(NotFittedError):
        linker.predict(records)
    with pytest.raises(NotFittedError):
        linker.save(tmp_path / "never_written.json")
    assert not (tmp_path / "never_written.json").exists()


def test_link_config_links_across_sources():
    linker = Linker(LinkageConfig.from_toml(LINK_CONFIG))
    records = linker.records()
    assert records.height == 800
    assert records.group_by("source").len().sort("source").rows() == [
        ("people_a", 400),
        ("people_b", 400),
    ]
    pairs = linker.block(records)
    linker.fit(records, candidate_pairs=pairs)
    scored = linker.predict(records, candidate_pairs=pairs)
    assert (scored.get_column("source_l") == "people_a").all()
    assert (scored.get_column("source_r") == "people_b").all()
    clusters = linker.cluster(records, scored)
    metrics, _ = linker.evaluate(
        records,
        candidate_pairs=pairs,
        scored=scored,
        clusters=clusters,
        truth=linker.true_pairs(records),
    )
    assert metrics["true_pairs"] == 300
    assert metrics["pairwise_f1"] >= 0.95


def test_chunked_predict_equals_one_pass_and_filters(fitted):
    linker, records, pairs, _, _ = fitted
    whole = linker.predict(records, candidate_pairs=pairs)
    chunked = linker.predict(records, candidate_pairs=pairs, chunk_size=97)
    assert chunked.equals(whole)
    kept = linker.predict(
        records, candidate_pairs=pairs, chunk_size=97, min_probability=0.5
    )
    assert kept.height == whole.filter(pl.col("match_probability") >= 0.5).height
    assert kept.get_column("match_probability").min() >= 0.5


def test_predict_without_record_ids_keeps_rows_and_scores(fitted):
    linker, records, pairs, scored, _ = fitted
    bare = linker.predict(records, candidate_pairs=pairs, record_ids=False)
    assert "record_id_l" not in bare.columns
    assert "source_r" not in bare.columns
    assert bare.select("_row_l", "_row_r", "match_probability").equals(
        scored.select("_row_l", "_row_r", "match_probability")
    )


def test_standardising_a_small_batch_skips_the_full_garbage_collection(monkeypatch):
    import er_toolkit.pipeline as pipeline
    from benchmarks.compare_tools import ER_TOOLKIT_RAW_CONFIG
    from benchmarks.synthetic import generate_customers

    raw = generate_customers(120, seed=4, n_sources=1)
    assert isinstance(raw, pl.DataFrame)
    linker = Linker(LinkageConfig.from_toml(ER_TOOLKIT_RAW_CONFIG))
    assert linker.config.standardise
    source = Source("customers", raw, id_column="record_id")
    collections: list[int] = []
    monkeypatch.setattr(pipeline.gc, "collect", lambda: collections.append(1) or 0)
    small = linker.records([source])
    assert collections == []
    monkeypatch.setattr(pipeline, "COLLECT_AFTER_ROWS", raw.height)
    big = linker.records([source])
    assert collections == [1]
    assert_frame_equal(small, big)
