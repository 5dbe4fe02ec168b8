"""End-to-end tests of ``python -m er_toolkit.train`` and ``python -m er_toolkit.score``.

Each command runs in a subprocess against a temporary MLflow store, on the
small FEBRL-derived fixtures in ``tests/data``. Training is the slow part
(~6 s a run), so each trained store is shared by the tests of this module.
"""

from __future__ import annotations

import json
import os
import re
import subprocess
import sys
from pathlib import Path

import mlflow
import polars as pl
import pytest
from polars.testing import assert_frame_equal

from er_toolkit.config import LinkageConfig
from er_toolkit.pipeline import Linker
from er_toolkit.track import data_fingerprint

DATA = Path(__file__).parent / "data"
DEDUPE_CONFIG = DATA / "people_dedupe.toml"
LINK_CONFIG = DATA / "people_link.toml"
PEOPLE = DATA / "people.csv"
PEOPLE_A = DATA / "people_a.csv"
PEOPLE_B = DATA / "people_b.csv"
DEDUPE_NAME = "people_dedupe"
LINK_NAME = "people_link"
EXPERIMENT = "er_toolkit-tests"
PII_COLUMNS = ("given_name", "surname", "address_1", "suburb")


def _env(tracking_uri: str | None = None) -> dict[str, str]:
    env = dict(os.environ)
    env.pop("MLFLOW_TRACKING_URI", None)
    env["MLFLOW_DISABLE_TELEMETRY"] = "true"
    if tracking_uri is not None:
        env["MLFLOW_TRACKING_URI"] = tracking_uri
    return env


def run_module(
    module: str, *args: str | Path, cwd: Path, env_uri: str | None = None
) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", module, *map(str, args)],
        cwd=cwd,
        env=_env(env_uri),
        capture_output=True,
        text=True,
        timeout=300,
    )


def ok(proc: subprocess.CompletedProcess[str]) -> subprocess.CompletedProcess[str]:
    assert proc.returncode == 0, f"exit {proc.returncode}\n{proc.stdout}\n{proc.stderr}"
    return proc


def one_line_error(proc: subprocess.CompletedProcess[str]) -> str:
    """Assert a non-zero exit with exactly one line on stderr; return it."""
    assert proc.returncode != 0, proc.stdout
    lines = proc.stderr.strip().splitlines()
    assert len(lines) == 1, proc.stderr
    assert lines[0].startswith("error: "), lines[0]
    return lines[0]


def sqlite_uri(folder: Path, name: str = "mlflow.db") -> str:
    return f"sqlite:///{folder / name}"


def pairwise_metrics_from_stdout(stdout: str) -> tuple[float, float, float]:
    match = re.search(
        r"^pairwise\s+precision (\d\.\d+)\s+recall (\d\.\d+)\s+F1 (\d\.\d+)$",
        stdout,
        flags=re.MULTILINE,
    )
    assert match, stdout
    p, r, f1 = (float(x) for x in match.groups())
    return p, r, f1


def run_id_from_stdout(stdout: str) -> str:
    match = re.search(r"^mlflow run: (\w+)", stdout, flags=re.MULTILINE)
    assert match, stdout
    return match.group(1)


def personal_values(path: Path, *, min_len: int = 4) -> set[str]:
    """Names and addresses in a fixture, as lower-case word tokens."""
    frame = pl.read_csv(path, infer_schema=False)
    values: set[str] = set()
    for column in PII_COLUMNS:
        for v in frame.get_column(column).drop_nulls().to_list():
            values.update(
                t for t in re.findall(r"[a-z]+", v.lower()) if len(t) >= min_len
            )
    return values


def tokens(text: str) -> set[str]:
    return set(re.findall(r"[a-z]+", text.lower()))


# --------------------------------------------------------------------- fixtures
@pytest.fixture(scope="module")
def dedupe_store(tmp_path_factory: pytest.TempPathFactory) -> dict[str, object]:
    """Train the dedupe config once (with --save) into a fresh store."""
    work = tmp_path_factory.mktemp("dedupe")
    uri = sqlite_uri(work)
    saved = work / "saved" / "people_dedupe.json"
    proc = ok(
        run_module(
            "er_toolkit.train",
            "--config",
            DEDUPE_CONFIG,
            "--tracking-uri",
            uri,
            "--save",
            saved,
            cwd=work,
        )
    )
    return {"work": work, "uri": uri, "saved": saved, "proc": proc}


@pytest.fixture(scope="module")
def link_store(tmp_path_factory: pytest.TempPathFactory) -> dict[str, object]:
    """Train the link config once, the store named by MLFLOW_TRACKING_URI only."""
    work = tmp_path_factory.mktemp("link")
    uri = sqlite_uri(work, "env-store.db")
    saved = work / "people_link.json"
    proc = ok(
        run_module(
            "er_toolkit.train",
            "--config",
            LINK_CONFIG,
            "--save",
            saved,
            cwd=work,
            env_uri=uri,
        )
    )
    return {"work": work, "uri": uri, "saved": saved, "proc": proc}


# ------------------------------------------------------------------- training
def test_train_dedupe_prints_metrics_and_registers(dedupe_store):
    stdout = dedupe_store["proc"].stdout
    precision, recall, f1 = pairwise_metrics_from_stdout(stdout)
    assert f1 >= 0.95
    assert precision >= 0.95 and recall >= 0.95
    assert re.search(r"^clusters\s+precision .* F1 \d\.\d+", stdout, re.MULTILINE)
    assert re.search(r"^blocking recall \d\.\d+$", stdout, re.MULTILINE)
    assert f"registered: models:/{DEDUPE_NAME}/1" in stdout.splitlines()
    assert "records: 502" in stdout


def test_train_logs_params_metrics_tags_artifacts(dedupe_store, tmp_path):
    client = mlflow.MlflowClient(tracking_uri=dedupe_store["uri"])
    run_id = run_id_from_stdout(dedupe_store["proc"].stdout)
    run = client.get_run(run_id)
    assert run.info.status == "FINISHED"
    assert client.get_experiment(run.info.experiment_id).name == EXPERIMENT

    params = run.data.params
    assert params["name"] == DEDUPE_NAME
    assert params["link_type"] == "dedupe"
    assert params["comparisons.surname.column"] == "surname"
    assert params["comparisons.date_of_birth.date_format"] == "%Y%m%d"
    assert params["model.u_sample_size"] == "100000"
    assert params["evaluation.entity_column"] == "entity_id"

    metrics = run.data.metrics
    assert metrics["pairwise_f1"] >= 0.95
    for key in ("cluster_f1", "bcubed_f1", "blocking_recall"):
        assert 0.9 <= metrics[key] <= 1.0, key
    assert metrics["n_records"] == 502
    for stage in ("load", "block", "fit", "score", "cluster", "total"):
        assert metrics[f"seconds_{stage}"] >= 0.0
    assert metrics["seconds_total"] >= metrics["seconds_fit"]

    config = LinkageConfig.from_toml(DEDUPE_CONFIG)
    records = Linker(config).records()
    assert run.data.tags["data_fingerprint"] == data_fingerprint(records)
    assert run.data.tags["link_type"] == "dedupe"

    charts = {a.path for a in client.list_artifacts(run_id, "charts")}
    assert {"charts/match_weights.png", "charts/precision_recall.png"} <= charts
    for chart in charts:
        png = Path(client.download_artifacts(run_id, chart, str(tmp_path)))
        assert png.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    assert [a.path for a in client.list_artifacts(run_id, "model_json")] == [
        "model_json/linker.json"
    ]

    version = client.get_model_version(DEDUPE_NAME, "1")
    assert version.run_id == run_id


def test_logged_artifacts_hold_no_personal_data(dedupe_store, tmp_path):
    client = mlflow.MlflowClient(tracking_uri=dedupe_store["uri"])
    run_id = run_id_from_stdout(dedupe_store["proc"].stdout)
    linker_json = Path(
        client.download_artifacts(run_id, "model_json/linker.json", str(tmp_path))
    )
    tables = sorted(
        Path(client.download_artifacts(run_id, "tables", str(tmp_path))).glob("*.csv")
    )
    assert {t.name for t in tables} >= {"match_weights.csv", "blocking_report.csv"}
    # words the declarations themselves use (column names, comparator names) are fine
    allowed = tokens(DEDUPE_CONFIG.read_text())
    pii = personal_values(PEOPLE) - allowed
    assert len(pii) > 100  # the check below has something to find
    for file in [linker_json, *tables]:
        leaked = sorted(pii & tokens(file.read_text()))
        assert not leaked, f"{file.name} holds record values: {leaked[:10]}"
    ids = set(
        pl.read_csv(PEOPLE, infer_schema=False).get_column("soc_sec_id").drop_nulls()
    )
    numbers = set(re.findall(r"\d{7}", linker_json.read_text()))
    assert not ids & numbers


@pytest.mark.slow  # over 20 s; run with -m slow
def test_train_twice_registers_version_2(dedupe_store):
    proc = ok(
        run_module(
            "er_toolkit.train",
            "--config",
            DEDUPE_CONFIG,
            "--tracking-uri",
            dedupe_store["uri"],
            cwd=dedupe_store["work"],
        )
    )
    assert f"registered: models:/{DEDUPE_NAME}/2" in proc.stdout.splitlines()
    client = mlflow.MlflowClient(tracking_uri=dedupe_store["uri"])
    versions = client.search_model_versions(f"name = '{DEDUPE_NAME}'")
    assert sorted(int(v.version) for v in versions) == [1, 2]
    assert client.get_model_version(DEDUPE_NAME, "2").run_id == run_id_from_stdout(
        proc.stdout
    )


# -------------------------------------------------------------------- scoring
def _check_score_output(proc, out: Path, inputs: dict[str, Path]) -> pl.DataFrame:
    """Check the summary line and both Parquet files; return the scored pairs."""
    lines = proc.stdout.strip().splitlines()
    assert len(lines) == 1, proc.stdout
    scored = pl.read_parquet(out / "scored_pairs.parquet")
    clusters = pl.read_parquet(out / "clusters.parquet")
    n_records = sum(pl.read_csv(p, infer_schema=False).height for p in inputs.values())
    assert lines[0].startswith(
        f"scored {n_records:,} records: {scored.height:,} candidate pairs"
    ), lines[0]
    assert scored.height > 0
    for column in (
        "record_id_l",
        "record_id_r",
        "source_l",
        "source_r",
        "blocked_by",
        "match_weight",
        "match_probability",
    ):
        assert column in scored.columns
    assert "_row_l" not in scored.columns
    assert scored.get_column("match_probability").is_between(0, 1).all()

    assert {"record_id", "source", "cluster_id", "cluster_size"} <= set(
        clusters.columns
    )
    keys = clusters.select("record_id", "source")
    assert not keys.is_duplicated().any()
    expected = {
        (rec_id, source)
        for source, path in inputs.items()
        for rec_id in pl.read_csv(path, infer_schema=False).get_column("rec_id")
    }
    assert set(keys.iter_rows()) == expected
    sizes = clusters.group_by("cluster_id").agg(pl.len(), pl.first("cluster_size"))
    assert (sizes.get_column("len") == sizes.get_column("cluster_size")).all()
    return scored.sort("record_id_l", "record_id_r", "source_l", "source_r")


def test_score_registered_and_saved_models_agree(dedupe_store, tmp_path):
    out_registry = tmp_path / "from_registry"
    out_json = tmp_path / "from_json"
    from_registry = ok(
        run_module(
            "er_toolkit.score",
            "--model",
            f"models:/{DEDUPE_NAME}/1",
            "--input",
            PEOPLE,
            "--output",
            out_registry,
            "--tracking-uri",
            dedupe_store["uri"],
            cwd=tmp_path,
        )
    )
    from_json = ok(
        run_module(
            "er_toolkit.score",
            "--model",
            dedupe_store["saved"],
            "--input",
            PEOPLE,
            "--output",
            out_json,
            "--tracking-uri",
            dedupe_store["uri"],
            cwd=tmp_path,
        )
    )
    inputs = {"people": PEOPLE}
    a = _check_score_output(from_registry, out_registry, inputs)
    b = _check_score_output(from_json, out_json, inputs)
    assert_frame_equal(a, b)
    clusters_a = pl.read_parquet(out_registry / "clusters.parquet").sort("record_id")
    clusters_b = pl.read_parquet(out_json / "clusters.parquet").sort("record_id")
    assert_frame_equal(clusters_a, clusters_b)
    # the fixture holds 206 people; scoring finds (nearly) them all again
    assert 200 <= clusters_a.get_column("cluster_id").n_unique() <= 212


def test_saved_json_is_the_registered_model(dedupe_store, tmp_path):
    client = mlflow.MlflowClient(tracking_uri=dedupe_store["uri"])
    run_id = client.get_model_version(DEDUPE_NAME, "1").run_id
    logged = client.download_artifacts(run_id, "model_json/linker.json", str(tmp_path))
    saved = json.loads(Path(dedupe_store["saved"]).read_text())
    assert json.loads(Path(logged).read_text()) == saved
    assert saved["kind"] == "er_toolkit.Linker"
    assert saved["config"]["name"] == DEDUPE_NAME


def test_link_train_and_score_with_env_tracking_uri(link_store, tmp_path):
    work = link_store["work"]
    stdout = link_store["proc"].stdout
    _, _, f1 = pairwise_metrics_from_stdout(stdout)
    assert f1 >= 0.95
    assert f"registered: models:/{LINK_NAME}/1" in stdout.splitlines()
    # the store came from MLFLOW_TRACKING_URI, not MLflow's default in the cwd
    assert (work / "env-store.db").is_file()
    assert not (work / "mlflow.db").exists()
    client = mlflow.MlflowClient(tracking_uri=link_store["uri"])
    assert client.get_model_version(LINK_NAME, "1").run_id == run_id_from_stdout(stdout)

    out = tmp_path / "out"
    proc = ok(
        run_module(
            "er_toolkit.score",
            "--model",
            f"models:/{LINK_NAME}/1",
            "--input",
            PEOPLE_A,
            "--input",
            PEOPLE_B,
            "--output",
            out,
            cwd=tmp_path,
            env_uri=link_store["uri"],
        )
    )
    scored = _check_score_output(
        proc, out, {"people_a": PEOPLE_A, "people_b": PEOPLE_B}
    )
    # a link job only pairs records across the two sources
    assert (scored.get_column("source_l") != scored.get_column("source_r")).all()
    clusters = pl.read_parquet(out / "clusters.parquet").with_columns(
        entity=pl.col("record_id").str.extract(r"^rec-(\d+)-", 1)
    )
    pairs = (
        clusters.filter(pl.col("cluster_size") == 2)
        .group_by("cluster_id")
        .agg(
            pl.col("entity").n_unique().alias("entities"),
            pl.col("source").n_unique().alias("sources"),
        )
    )
    right = pairs.filter((pl.col("entities") == 1) & (pl.col("sources") == 2)).height
    assert right >= 290  # 300 entities are in both files
    assert pairs.height - right <= 5
    assert clusters.get_column("cluster_size").max() <= 3


# ------------------------------------------------------------------- failures
def test_train_missing_config(tmp_path):
    proc = run_module(
        "er_toolkit.train",
        "--config",
        "no_such_config.toml",
        "--tracking-uri",
        sqlite_uri(tmp_path),
        cwd=tmp_path,
    )
    line = one_line_error(proc)
    assert "no_such_config.toml" in line
    assert "does not exist" in line
    assert not (tmp_path / "mlflow.db").exists()


def test_train_config_with_unknown_key(tmp_path):
    text = DEDUPE_CONFIG.read_text().replace(
        "threshold = 0.5", "threshold = 0.5\nthreshhold = 0.7", 1
    )
    config = tmp_path / "typo.toml"
    config.write_text(text)
    proc = run_module(
        "er_toolkit.train",
        "--config",
        config,
        "--tracking-uri",
        sqlite_uri(tmp_path),
        cwd=tmp_path,
    )
    line = one_line_error(proc)
    assert "threshhold" in line
    assert not (tmp_path / "mlflow.db").exists()


def _score(model, *inputs: Path | str, cwd: Path, uri: str | None = None):
    args: list[str | Path] = ["--model", model]
    for path in inputs:
        args += ["--input", path]
    args += ["--output", cwd / "out"]
    if uri is not None:
        args += ["--tracking-uri", uri]
    proc = run_module("er_toolkit.score", *args, cwd=cwd)
    assert not (cwd / "out" / "scored_pairs.parquet").exists()
    assert not (cwd / "out" / "clusters.parquet").exists()
    return proc


def test_score_missing_input_file(dedupe_store, tmp_path):
    proc = _score(dedupe_store["saved"], tmp_path / "absent.csv", cwd=tmp_path)
    line = one_line_error(proc)
    assert "absent.csv" in line
    assert "does not exist" in line


def test_score_input_lacking_a_model_column(dedupe_store, tmp_path):
    path = tmp_path / "no_surname.csv"
    pl.read_csv(PEOPLE, infer_schema=False).drop("surname").write_csv(path)
    line = one_line_error(_score(dedupe_store["saved"], path, cwd=tmp_path))
    assert "['surname']" in line


def test_score_duplicate_ids(dedupe_store, tmp_path):
    frame = pl.read_csv(PEOPLE, infer_schema=False)
    duplicated = frame.row(7, named=True)["rec_id"]
    path = tmp_path / "dup.csv"
    pl.concat([frame, frame.slice(7, 1)]).write_csv(path)
    line = one_line_error(_score(dedupe_store["saved"], path, cwd=tmp_path))
    assert duplicated in line
    assert "rec_id" in line


def test_score_header_only_csv(dedupe_store, tmp_path):
    path = tmp_path / "header_only.csv"
    pl.read_csv(PEOPLE, infer_schema=False).head(0).write_csv(path)
    assert path.read_text().count("\n") == 1
    line = one_line_error(_score(dedupe_store["saved"], path, cwd=tmp_path))
    assert re.search(r"no records|empty", line), line


def test_score_unknown_registered_model(dedupe_store, tmp_path):
    proc = _score(
        f"models:/{DEDUPE_NAME}_nope/1", PEOPLE, cwd=tmp_path, uri=dedupe_store["uri"]
    )
    line = one_line_error(proc)
    assert f"models:/{DEDUPE_NAME}_nope/1" in line


def test_score_link_model_with_one_input(link_store, tmp_path):
    proc = _score(link_store["saved"], PEOPLE_A, cwd=tmp_path)
    line = one_line_error(proc)
    assert LINK_NAME in line
    assert "two" in line
