"""Record ids keep their type through every output, so results join back."""

from __future__ import annotations

from pathlib import Path

import polars as pl
import pytest

from er_toolkit import schema
from er_toolkit.config import LinkageConfig
from er_toolkit.io import Source, prepare_records
from er_toolkit.pipeline import Linker

DATA = Path(__file__).parent / "data"


@pytest.fixture(scope="module")
def int_people() -> pl.DataFrame:
    """The people fixture with integer ids (as a Parquet file or frame holds them)."""
    frame = pl.read_csv(DATA / "people.csv", infer_schema=False)
    return frame.with_row_index("cust_no", offset=1000).with_columns(
        pl.col("cust_no").cast(pl.Int64)
    )


def test_prepare_records_keeps_integer_ids(int_people):
    records = prepare_records(
        [Source("crm", int_people, id_column="cust_no")], columns=["surname"]
    )
    assert records.schema[schema.RECORD_ID] == pl.Int64
    assert records.get_column(schema.RECORD_ID).to_list()[:2] == [1000, 1001]


def test_mixed_id_types_across_sources_become_text(int_people):
    text = int_people.with_columns(pl.col("cust_no").cast(pl.String))
    records = prepare_records(
        [
            Source("crm", int_people.head(3), id_column="cust_no"),
            Source("erp", text.head(3), id_column="cust_no"),
        ],
        columns=["surname"],
    )
    assert records.schema[schema.RECORD_ID] == pl.String
    assert (
        records.get_column(schema.RECORD_ID).to_list() == ["1000", "1001", "1002"] * 2
    )


def test_linker_outputs_join_back_to_the_callers_frame(int_people):
    config = LinkageConfig.from_toml(DATA / "people_dedupe.toml")
    linker = Linker(config)
    records = linker.records([Source("people", int_people, id_column="cust_no")])
    pairs = linker.block(records)
    linker.fit(records, candidate_pairs=pairs)
    scored = linker.predict(records, candidate_pairs=pairs)
    clusters = linker.cluster(records, scored)
    assert scored.schema[schema.RECORD_ID_L] == pl.Int64
    assert scored.schema[schema.RECORD_ID_R] == pl.Int64
    assert clusters.schema[schema.RECORD_ID] == pl.Int64
    joined = int_people.join(
        clusters, left_on="cust_no", right_on=schema.RECORD_ID, how="inner"
    )
    assert joined.height == int_people.height  # every record found, none doubled
    # the same entity's records share a cluster after the join
    per_entity = joined.group_by("entity_id").agg(
        pl.col(schema.CLUSTER_ID).n_unique().alias("n")
    )
    assert (per_entity.get_column("n") == 1).mean() > 0.9


def test_score_cli_parquet_keeps_integer_ids(int_people, tmp_path):
    from er_toolkit.cli.score import main as score_main

    config = LinkageConfig.from_toml(DATA / "people_dedupe.toml")
    linker = Linker(config)
    records = linker.records()
    linker.fit(records)
    model = linker.save(tmp_path / "model.json")
    source = tmp_path / "people.parquet"
    int_people.write_parquet(source)
    out = tmp_path / "out"
    code = score_main(
        [
            "--model",
            str(model),
            "--input",
            str(source),
            "--id-column",
            "cust_no",
            "--output",
            str(out),
        ]
    )
    assert code == 0
    scored = pl.read_parquet(out / "scored_pairs.parquet")
    clusters = pl.read_parquet(out / "clusters.parquet")
    assert scored.schema[schema.RECORD_ID_L] == pl.Int64
    assert clusters.schema[schema.RECORD_ID] == pl.Int64
    assert set(clusters.get_column(schema.RECORD_ID)) == set(int_people["cust_no"])
