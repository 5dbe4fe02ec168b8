"""``er-toolkit store`` actions: exit codes and one-line summaries."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import polars as pl
import pytest

from er_toolkit.cli.main import main as er_toolkit
from er_toolkit.cli.store import EXIT_DRIFT, EXIT_LOCKED
from er_toolkit.master import MasterStore
from tests.master_fixtures import (
    ROOT,
    customers,  # noqa: F401  (fixture)
    model_path,  # noqa: F401  (fixture)
)


def main(argv: list[str]) -> int:
    """``er-toolkit store ...`` through the one command line's dispatch."""
    return er_toolkit(["store", *argv])


def test_the_verbs_end_to_end(
    customers: pl.DataFrame,  # noqa: F811
    model_path: Path,  # noqa: F811
    tmp_path: Path,
    capsys: pytest.CaptureFixture[str],
) -> None:
    store = str(tmp_path / "master.duckdb")
    first, second = tmp_path / "first.parquet", tmp_path / "second.csv"
    customers.head(1200).write_parquet(first)
    customers.slice(1200).write_csv(second)

    assert (
        main(
            [
                "init",
                "--store",
                store,
                "--model",
                str(model_path),
                "--input",
                str(first),
            ]
        )
        == 0
    )
    out = capsys.readouterr().out.strip().splitlines()
    assert len(out) == 1 and out[0].startswith(f"store {store} created")
    assert "1,200 records" in out[0]

    assert (
        main(["apply", "--store", store, "--input", str(second), "--actor", "etl"]) == 0
    )
    line = capsys.readouterr().out.strip()
    assert line.startswith("apply batch 2: 800 records (800 new")

    with MasterStore.open(store, read_only=True) as opened:
        clusters = opened.clusters()
    pair = clusters.filter(pl.col("cluster_size") >= 2).sort("cluster_id").head(2)
    a = f"{pair['source'][0]}:{pair['record_id'][0]}"
    b = f"{pair['source'][1]}:{pair['record_id'][1]}"
    cluster = pair["cluster_id"][0]
    assert (
        main(
            [
                "decide",
                "--store",
                store,
                "--kind",
                "cannot_link",
                "--record",
                a,
                "--record",
                b,
                "--actor",
                "ann",
                "--reason",
                "different people",
            ]
        )
        == 0
    )
    assert capsys.readouterr().out.strip() == f"decision 1: cannot_link of {a}, {b}"
    assert (
        main(
            [
                "decide",
                "--store",
                store,
                "--undo",
                "1",
                "--actor",
                "ann",
                "--reason",
                "oops",
            ]
        )
        == 0
    )
    assert capsys.readouterr().out.startswith("undid decision 1: undo:")

    assert main(["history", "--store", store, "--cluster", cluster]) == 0
    lines = capsys.readouterr().out.strip().splitlines()
    assert lines[-1].endswith(f"event(s) name cluster {cluster}")
    assert any(" decide by ann: " in x for x in lines)

    probe = (
        customers.filter(
            (pl.col("source") == pair["source"][0])
            & (pl.col("record_id") == pair["record_id"][0])
        )
        .drop("record_id")
        .row(0, named=True)
    )
    assert (
        main(["lookup", "--store", store, "--json", json.dumps(probe), "--top", "1"])
        == 0
    )
    captured = capsys.readouterr()
    hit = json.loads(captured.out.strip().splitlines()[0])
    assert hit["cluster_id"] == cluster and hit["is_match"]
    assert json.loads(hit["golden"])["cluster_id"] == cluster
    assert captured.err.startswith("looked up 1 record(s): 1 match")

    golden = tmp_path / "golden.parquet"
    assert main(["golden", "--store", store, "--output", str(golden)]) == 0
    assert (
        pl.read_parquet(golden).height == clusters.get_column("cluster_id").n_unique()
    )
    capsys.readouterr()

    assert (
        main(
            [
                "erase",
                "--store",
                store,
                "--record",
                a,
                "--actor",
                "dpo",
                "--reason",
                "r",
            ]
        )
        == 0
    )
    assert capsys.readouterr().out.startswith("erase: 1 records removed")

    assert main(["export", "--store", store, "--output", str(tmp_path / "out")]) == 0
    assert (tmp_path / "out" / "audit.parquet").exists()
    capsys.readouterr()

    assert main(["drift", "--store", store]) in (0, EXIT_DRIFT)
    assert capsys.readouterr().out.startswith("batch 2: ")


def test_errors_are_one_line_with_exit_codes(
    model_path: Path,  # noqa: F811
    tmp_path: Path,
    capsys: pytest.CaptureFixture[str],
) -> None:
    store = str(tmp_path / "master.duckdb")
    assert main(["apply", "--store", store, "--input", "x.csv"]) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and err[0].startswith("error: No master store")
    assert main(["init", "--store", store, "--model", str(model_path)]) == 0
    capsys.readouterr()
    with MasterStore.open(store):
        assert main(["drift", "--store", store]) == EXIT_LOCKED
        err = capsys.readouterr().err.strip().splitlines()
        assert len(err) == 1 and "lock file" in err[0]
    assert (
        main(
            [
                "decide",
                "--store",
                store,
                "--kind",
                "own_entity",
                "--record",
                "nocolon",
                "--actor",
                "a",
                "--reason",
                "r",
            ]
        )
        == 2
    )
    assert "SOURCE:RECORD_ID" in capsys.readouterr().err
    # usage errors are one line too, and an unknown action names the choices
    assert main(["forget", "--store", store]) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and "invalid choice: 'forget'" in err[0]
    assert main(["apply", "--store", store]) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and "--input" in err[0]


def test_the_module_path_runs_the_same_verb(tmp_path: Path) -> None:
    done = subprocess.run(
        [
            sys.executable,
            "-m",
            "er_toolkit.master",
            "history",
            "--store",
            "x.duckdb",
            "--cluster",
            "c1",
        ],
        capture_output=True,
        text=True,
        cwd=tmp_path,
        env={**os.environ, "PYTHONPATH": str(ROOT)},
        check=False,
    )
    assert done.returncode == 2
    assert done.stderr.startswith("error: No master store")


@pytest.mark.slow  # logs and registers a model (about 45 s on the shared machine)
def test_init_from_a_registered_model_uri(
    customers: pl.DataFrame,  # noqa: F811
    model_path: Path,  # noqa: F811
    tmp_path: Path,
    capsys: pytest.CaptureFixture[str],
) -> None:
    """``store init --model models:/<name>/<version>`` reads a real MLflow registry (SQLite)."""
    mlflow = pytest.importorskip("mlflow")
    from er_toolkit.pipeline import Linker
    from er_toolkit.track import log_training_run

    linker = Linker.load(model_path)
    tracking = f"sqlite:///{tmp_path / 'mlflow.db'}"
    before = mlflow.get_tracking_uri()
    mlflow.set_tracking_uri(tracking)
    try:
        mlflow.create_experiment(
            linker.config.experiment, artifact_location=(tmp_path / "art").as_uri()
        )
        info = log_training_run(linker, records=None, metrics={}, figures={})
    finally:
        mlflow.set_tracking_uri(before)
    uri = f"models:/{linker.config.name}/{info['version']}"
    batch = tmp_path / "batch.parquet"
    customers.head(300).write_parquet(batch)
    store = str(tmp_path / "master.duckdb")
    argv = ["init", "--store", store, "--model", uri, "--tracking-uri", tracking]
    assert main([*argv, "--input", str(batch), "--actor", "ops"]) == 0
    assert "300 records" in capsys.readouterr().out

    with MasterStore.open(store, read_only=True) as opened:
        assert opened._db.frame("SELECT uri, actor FROM models").rows() == [
            (uri, "ops")
        ]
        assert opened.linker.to_dict() == linker.to_dict()
        probe = customers.row(0, named=True)
        found = opened.lookup({k: v for k, v in probe.items() if k != "record_id"})
        assert found.get_column("record_id")[0] == probe["record_id"]
    # the same store from the model JSON: the registry changed nothing
    with MasterStore.init(tmp_path / "from_json.duckdb", model_path) as direct:
        direct.apply(customers.head(300))
        with MasterStore.open(store, read_only=True) as opened:
            assert (
                direct.clusters()
                .sort("source", "record_id")
                .equals(opened.clusters().sort("source", "record_id"))
            )
    # a version the registry does not hold: one line, no store left behind
    missing = f"models:/{linker.config.name}/99"
    other = str(tmp_path / "other.duckdb")
    code = main(
        ["init", "--store", other, "--model", missing, "--tracking-uri", tracking]
    )
    assert code != 0
    assert "Could not fetch model" in capsys.readouterr().err
    assert not Path(other).exists()
