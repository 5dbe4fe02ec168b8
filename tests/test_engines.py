"""The engine seam: protocol, registry, config, polars engine (no Spark here)."""

from __future__ import annotations

import builtins
import json
from pathlib import Path

import numpy as np
import polars as pl
import pytest

from er_toolkit import schema
from er_toolkit.config import LinkageConfig
from er_toolkit.engines import (
    ENGINE_KINDS,
    Engine,
    EngineConfig,
    PolarsEngine,
    SparkEngine,
    as_engine,
)
from er_toolkit.engines.spark._frames import require_pyspark, spark_ready
from er_toolkit.exceptions import ConfigError, MissingExtraError
from er_toolkit.pipeline import Linker
from er_toolkit.score.em import Patterns
from er_toolkit.score.sampling import record_sample_mask

ROOT = Path(__file__).resolve().parents[1]

PEOPLE = ROOT / "tests" / "data" / "people_dedupe.toml"


def test_both_kinds_registered_and_follow_the_protocol():
    assert set(ENGINE_KINDS) >= {"polars", "spark"}
    assert isinstance(PolarsEngine(), Engine)
    protocol = {n for n in vars(Engine) if not n.startswith("_")} - {"kind"}
    assert protocol <= set(dir(SparkEngine))


@pytest.mark.parametrize(
    ("spec", "kind", "options"),
    [
        ("spark", "spark", {}),
        ("polars", "polars", {}),
        ({"kind": "spark", "master": "local[2]"}, "spark", {"master": "local[2]"}),
        ({}, "polars", {}),
    ],
)
def test_engine_config_reads_a_kind_or_a_table(spec, kind, options):
    config = EngineConfig.from_dict(spec)
    assert (config.kind, dict(config.options)) == (kind, options)


@pytest.mark.parametrize(
    ("spec", "message"),
    [
        ("duckdb", "[engine] kind must be one of ['polars', 'spark']; got 'duckdb'."),
        (
            {"kind": "spark", "workers": 3},
            "Unknown key(s) ['workers'] in [engine] of kind 'spark'",
        ),
        (
            {"kind": "polars", "master": "x"},
            "Unknown key(s) ['master'] in [engine] of kind 'polars'",
        ),
        (3, "'engine' must be a kind"),
    ],
)
def test_engine_config_errors_name_what_was_expected(spec, message):
    with pytest.raises(ConfigError, match=None) as info:
        EngineConfig.from_dict(spec)
    assert message in str(info.value)


def test_config_engine_round_trips_and_stays_out_of_model_files(tmp_path):
    spec = LinkageConfig.from_toml(PEOPLE).to_dict()
    assert "engine" not in spec  # the default is not written
    spec["engine"] = {"kind": "spark", "master": "local[2]", "salt_above": 500}
    config = LinkageConfig.from_dict(spec)
    assert config.engine == EngineConfig(
        "spark", {"master": "local[2]", "salt_above": 500}
    )
    assert LinkageConfig.from_dict(config.to_dict()).engine == config.engine
    linker = Linker(LinkageConfig.from_toml(PEOPLE))
    linker.fit(linker.records())
    linker.config = config  # as if trained under a Spark config
    saved = json.loads(linker.save(tmp_path / "m.json").read_text())
    assert "engine" not in saved["config"]
    assert Linker.load(tmp_path / "m.json").engine.kind == "polars"


def test_as_engine_takes_engines_kinds_and_none():
    engine = PolarsEngine()
    assert as_engine(engine) is engine
    assert as_engine(None).kind == as_engine("polars").kind == "polars"
    with pytest.raises(ConfigError, match="engine must be an Engine"):
        as_engine(3)  # type: ignore[arg-type]


def test_missing_pyspark_names_the_extra(monkeypatch):
    real_import = builtins.__import__

    def no_pyspark(name, *args, **kwargs):
        if name == "pyspark" or name.startswith("pyspark."):
            raise ImportError("No module named 'pyspark'")
        return real_import(name, *args, **kwargs)

    monkeypatch.setattr(builtins, "__import__", no_pyspark)
    with pytest.raises(MissingExtraError, match=r"pip install 'er_toolkit\[spark\]'"):
        require_pyspark()
    with pytest.raises(ImportError):  # also an ImportError, for callers that catch it
        SparkEngine()


def test_linker_takes_an_engine_and_the_polars_engine_is_the_default():
    config = LinkageConfig.from_toml(PEOPLE)
    assert isinstance(Linker(config).engine, PolarsEngine)
    engine = PolarsEngine()
    assert Linker(config, engine=engine).engine is engine


def test_polars_engine_keeps_one_encoding_inside_cached():
    records = pl.DataFrame(
        {"_row": [0, 1], "record_id": [1, 2], "source": "a", "x": ["p", "q"]},
        schema_overrides={"_row": pl.UInt32},
    )
    engine = PolarsEngine()
    assert engine._encoding(records) is None
    with engine.cached(records):
        kept = engine._encoding(records)
        assert kept is not None and kept.records is records
        assert engine._encoding(records.clone()) is None
    # the last frame's encoding is kept after the block, for the compare or
    # predict that follows; another frame's replaces it
    assert engine._encoding(records) is kept
    other = records.with_columns(pl.lit("r").alias("x"))
    engine.compare(other, pl.DataFrame({"_row_l": [0], "_row_r": [1]}), [])
    assert engine._encoding(records) is None
    assert engine._encoding(other) is not None


def test_polars_engine_does_not_reuse_an_encoding_of_a_changed_frame():
    records = pl.DataFrame(
        {"_row": [0, 1], "record_id": [1, 2], "source": "a", "x": ["p", "q"]},
        schema_overrides={"_row": pl.UInt32},
    )
    engine = PolarsEngine()
    with engine.cached(records):
        pass
    records.insert_column(4, pl.Series("y", ["s", "t"]))  # changed in place
    assert engine._encoding(records) is None


def test_chunked_record_sample_draws_what_one_draw_does():
    # the Spark engine draws its EM-session record sample in chunks
    n, chunk = 25_001, 10_000
    rng = np.random.default_rng(7)
    chunked = np.concatenate(
        [rng.random(min(chunk, n - s)) < 0.3 for s in range(0, n, chunk)]
    )
    assert np.array_equal(chunked, record_sample_mask(n, share=0.3, seed=7))


def test_patterns_from_counts_sorts_and_gives_level_counts():
    vectors = pl.DataFrame(
        {"gamma_a": [1, 0, 1, -1, 1], "gamma_b": [2, 2, 2, 0, 1]},
        schema={"gamma_a": pl.Int8, "gamma_b": pl.Int8},
    )
    direct = Patterns.from_vectors(vectors, ["a", "b"])
    counted = Patterns.from_counts(
        vectors.group_by("gamma_a", "gamma_b").agg(pl.len().alias("_n")).reverse(),
        ["a", "b"],
    )
    assert np.array_equal(direct.gammas, counted.gammas)
    assert np.array_equal(direct.counts, counted.counts)
    assert direct.level_counts("a", 2).tolist() == [1.0, 3.0]
    assert direct.level_counts("b", 3).tolist() == [1.0, 1.0, 3.0]


def test_spark_ready_widens_unsigned_and_writes_enums_as_text():
    frame = pl.DataFrame(
        {
            schema.ROW: pl.Series([1], dtype=pl.UInt32),
            "small": pl.Series([1], dtype=pl.UInt8),
            schema.BLOCKED_BY: pl.Series(["r"], dtype=pl.Enum(["r"])),
            "none": pl.Series([None], dtype=pl.Null),
        }
    )
    assert spark_ready(frame).schema == pl.Schema(
        {
            schema.ROW: pl.Int64,
            "small": pl.Int32,
            schema.BLOCKED_BY: pl.String,
            "none": pl.String,
        }
    )
