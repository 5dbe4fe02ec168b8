"""The MLflow pyfunc model, as another pipeline uses it: by URI, in-process and served.

A link and a dedupe model are trained once on the FEBRL-derived fixtures,
logged and registered into a temporary MLflow store (sqlite; artifacts in
the test's folder), then loaded with ``mlflow.pyfunc.load_model`` by their
``models:/`` URIs, loaded in a fresh interpreter that has only the model's
own code, and served with ``mlflow models serve`` on 127.0.0.1.
"""

from __future__ import annotations

import json
import os
import re
import signal
import socket
import subprocess
import sys
import time
import urllib.error
import urllib.request
from collections.abc import Iterator
from pathlib import Path

import mlflow
import numpy as np
import pandas as pd
import polars as pl
import pytest

from er_toolkit import schema
from er_toolkit.config import LinkageConfig
from er_toolkit.exceptions import ConfigError, EmptyInputError, SchemaError
from er_toolkit.pipeline import Linker
from er_toolkit.track import log_training_run
from er_toolkit.track.mlflow_model import LinkerModel
from er_toolkit.track.pyfunc import (
    CLUSTER_COLUMNS,
    PAIR_COLUMNS,
    example_input,
    model_requirements,
    model_signature,
    score_input,
)

DATA = Path(__file__).parent / "data"
LINK_CONFIG = DATA / "people_link.toml"
DEDUPE_CONFIG = DATA / "people_dedupe.toml"


def _fit(config: LinkageConfig) -> tuple[Linker, pl.DataFrame]:
    linker = Linker(config, progress=False)
    records = linker.records()
    linker.fit(records, candidate_pairs=linker.block(records))
    return linker, records


def _with_source(path: Path, name: str) -> pl.DataFrame:
    return pl.read_csv(path, infer_schema=False).with_columns(
        pl.lit(name).alias("source")
    )


def link_input() -> pl.DataFrame:
    """Both link sources in one frame, named by a ``source`` column."""
    return pl.concat(
        [
            _with_source(DATA / "people_a.csv", "people_a"),
            _with_source(DATA / "people_b.csv", "people_b"),
        ]
    )


def true_link_pairs(frame: pl.DataFrame) -> set[tuple[str, str]]:
    a = frame.filter(pl.col("source") == "people_a").select("rec_id", "entity_id")
    b = frame.filter(pl.col("source") == "people_b").select("rec_id", "entity_id")
    joined = a.join(b, on="entity_id", suffix="_b")
    return set(zip(joined["rec_id"], joined["rec_id_b"], strict=True))


@pytest.fixture(scope="module")
def store(tmp_path_factory: pytest.TempPathFactory) -> Iterator[dict[str, object]]:
    """Train, log and register a link and a dedupe model into a fresh store."""
    folder = tmp_path_factory.mktemp("mlflow_model")
    uri = f"sqlite:///{folder / 'mlflow.db'}"
    before = mlflow.get_tracking_uri()
    mlflow.set_tracking_uri(uri)
    try:
        out: dict[str, object] = {"folder": folder, "uri": uri}
        for key, path in (("link", LINK_CONFIG), ("dedupe", DEDUPE_CONFIG)):
            linker, records = _fit(LinkageConfig.from_toml(path))
            if mlflow.get_experiment_by_name(linker.config.experiment) is None:
                mlflow.create_experiment(
                    linker.config.experiment,
                    artifact_location=(folder / "artifacts").as_uri(),
                )
            info = log_training_run(linker, records=records, metrics={}, figures={})
            out[key] = {
                "linker": linker,
                "uri": f"models:/{linker.config.name}/{info['version']}",
            }
        yield out
    finally:
        mlflow.set_tracking_uri(before)


@pytest.fixture
def in_store(store: dict[str, object]) -> Iterator[dict[str, object]]:
    before = mlflow.get_tracking_uri()
    mlflow.set_tracking_uri(str(store["uri"]))
    yield store
    mlflow.set_tracking_uri(before)


def _entry(store: dict[str, object], key: str) -> dict[str, object]:
    entry = store[key]
    assert isinstance(entry, dict)
    return entry


# ------------------------------------------------------------ by models:/ URI
def test_registered_link_model_finds_its_true_matches(in_store):
    entry = _entry(in_store, "link")
    model = mlflow.pyfunc.load_model(str(entry["uri"]))
    frame = link_input()
    out = model.predict(frame.to_pandas())
    assert list(out.columns) == list(PAIR_COLUMNS)
    assert not [c for c in out.columns if c.startswith("_row")]
    matches = out[out["match_probability"] >= 0.5]
    found = set(zip(matches["record_id_l"], matches["record_id_r"], strict=True))
    truth = true_link_pairs(frame)
    assert len(truth) == 300
    tp = len(found & truth)
    assert tp / len(truth) >= 0.98  # recall
    assert tp / len(found) >= 0.98  # precision
    assert set(out["source_l"]) == {"people_a"}
    assert set(out["source_r"]) == {"people_b"}


def test_pyfunc_scores_equal_the_linker(in_store):
    entry = _entry(in_store, "link")
    linker = entry["linker"]
    assert isinstance(linker, Linker)
    model = mlflow.pyfunc.load_model(str(entry["uri"]))
    out = pl.from_pandas(model.predict(link_input().to_pandas()))
    records = linker.records()
    direct = linker.predict(records, candidate_pairs=linker.block(records))
    key = [schema.RECORD_ID_L, schema.RECORD_ID_R]
    joined = out.join(direct, on=key, how="full", suffix="_direct")
    assert joined.height == direct.height == out.height
    np.testing.assert_allclose(
        joined["match_probability"].to_numpy(),
        joined["match_probability_direct"].to_numpy(),
    )


def test_clusters_by_params_and_threshold(in_store):
    entry = _entry(in_store, "link")
    model = mlflow.pyfunc.load_model(str(entry["uri"]))
    frame = link_input().to_pandas()
    clusters = model.predict(frame, params={"output": "clusters"})
    assert list(clusters.columns) == list(CLUSTER_COLUMNS)
    assert len(clusters) == len(frame)  # every record once
    assert (clusters["cluster_size"] == 2).sum() >= 2 * 295
    # the threshold param is the one clusters are cut at
    linker = entry["linker"]
    assert isinstance(linker, Linker)
    records = linker.records()
    scored = linker.predict(records, candidate_pairs=linker.block(records))
    strict = float(scored["match_probability"].quantile(0.9))
    direct = linker.cluster(records, scored, threshold=strict)
    cut = model.predict(frame, params={"output": "clusters", "threshold": strict})
    assert cut["cluster_id"].tolist() == direct["cluster_id"].to_list()
    assert (cut["cluster_size"] == 2).sum() < (clusters["cluster_size"] == 2).sum()


def test_min_probability_filters_pairs(in_store):
    model = mlflow.pyfunc.load_model(str(_entry(in_store, "link")["uri"]))
    frame = link_input().to_pandas()
    everything = model.predict(frame)
    kept = model.predict(frame, params={"min_probability": 0.5})
    assert len(kept) == (everything["match_probability"] >= 0.5).sum()
    assert len(kept) < len(everything)


def test_dedupe_model_without_a_source_column(in_store):
    model = mlflow.pyfunc.load_model(str(_entry(in_store, "dedupe")["uri"]))
    frame = pl.read_csv(DATA / "people.csv", infer_schema=False)
    out = model.predict(frame.to_pandas())
    assert set(out["source_l"]) == {"people"}  # the model's one source
    named = model.predict(frame.to_pandas(), params={"source": "crm"})
    assert set(named["source_l"]) == {"crm"}
    assert len(named) == len(out)
    matches = out[out["match_probability"] >= 0.5]
    entity = dict(zip(frame["rec_id"], frame["entity_id"], strict=True))
    same = [
        entity[a] == entity[b]
        for a, b in zip(matches["record_id_l"], matches["record_id_r"], strict=True)
    ]
    assert len(same) > 100
    assert np.mean(same) >= 0.98


def test_signature_expects_the_trained_id_column(in_store):
    model = mlflow.pyfunc.load_model(str(_entry(in_store, "link")["uri"]))
    signature = model.metadata.signature
    inputs = {c.name: c for c in signature.inputs.inputs}
    assert inputs["rec_id"].required
    assert not inputs["source"].required
    assert {"given_name", "surname", "date_of_birth"} <= set(inputs)
    params = {p.name: p.default for p in signature.params.params}
    assert params == {
        "output": "pairs",
        "source": "",
        "threshold": 0.5,
        "min_probability": 0.0,
        "store": "",
        "top": 5,
    }
    renamed = link_input().rename({"rec_id": "record_id"}).to_pandas()
    with pytest.raises(Exception, match="rec_id"):
        model.predict(renamed)


def test_input_example_holds_no_training_values(in_store):
    entry = _entry(in_store, "link")
    local = Path(mlflow.artifacts.download_artifacts(str(entry["uri"])))
    example = json.loads((local / "input_example.json").read_text())
    values = {v for row in example["data"] for v in row if isinstance(v, str)}
    training = set(link_input().drop("source").to_pandas().to_numpy().ravel())
    assert not (values & training)
    assert (local / "serving_input_example.json").is_file()


def test_requirements_pin_dependencies_and_code_travels(in_store):
    entry = _entry(in_store, "link")
    local = Path(mlflow.artifacts.download_artifacts(str(entry["uri"])))
    lines = (local / "requirements.txt").read_text().split()
    assert lines == model_requirements()
    assert not [line for line in lines if line.lower().startswith("er_toolkit")]
    for line in lines:
        name, _, version = line.partition("==")
        assert re.fullmatch(r"[A-Za-z0-9][\w.-]*", name), line
        assert version, f"{line} is not pinned"
    assert {"polars", "mlflow", "numpy"} <= {line.split("==")[0] for line in lines}
    assert (local / "code" / "er_toolkit" / "__init__.py").is_file()
    assert not list((local / "code").rglob("__pycache__"))


def _clean_env(tracking_uri: str) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if k != "PYTHONPATH"}
    env["MLFLOW_TRACKING_URI"] = tracking_uri
    env["MLFLOW_DISABLE_TELEMETRY"] = "true"
    env["PATH"] = f"{Path(sys.executable).parent}{os.pathsep}{env.get('PATH', '')}"
    return env


def test_a_fresh_interpreter_loads_the_model_with_its_own_code(store, tmp_path):
    entry = _entry(store, "link")
    frame_path = tmp_path / "records.parquet"
    link_input().write_parquet(frame_path)
    script = (
        "import sys, mlflow, pandas as pd\n"
        f"model = mlflow.pyfunc.load_model({str(entry['uri'])!r})\n"
        f"out = model.predict(pd.read_parquet({str(frame_path)!r}))\n"
        "import er_toolkit\n"
        "print(er_toolkit.__file__)\n"
        "print(int((out['match_probability'] >= 0.5).sum()))\n"
    )
    proc = subprocess.run(
        [sys.executable, "-c", script],
        cwd=tmp_path,
        env=_clean_env(str(store["uri"])),
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert proc.returncode == 0, proc.stderr
    where, matches = proc.stdout.strip().splitlines()[-2:]
    assert Path(where).parent.parent.name == "code"  # code/er_toolkit/__init__.py
    assert int(matches) >= 295


# ------------------------------------------------------------------- serving
def _free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def _post(url: str, payload: dict[str, object]) -> dict[str, object]:
    request = urllib.request.Request(
        url,
        data=json.dumps(payload).encode(),
        headers={"Content-Type": "application/json"},
        method="POST",
    )
    with urllib.request.urlopen(request, timeout=60) as response:
        return dict(json.loads(response.read()))


def test_served_model_scores_posted_records(store, tmp_path):
    entry = _entry(store, "link")
    port = _free_port()
    log = (tmp_path / "server.log").open("w")
    server = subprocess.Popen(
        [
            sys.executable,
            "-m",
            "mlflow",
            "models",
            "serve",
            "-m",
            str(entry["uri"]),
            "--env-manager",
            "local",
            "-h",
            "127.0.0.1",
            "-p",
            str(port),
            "-w",
            "1",
        ],
        cwd=tmp_path,
        env=_clean_env(str(store["uri"])),
        stdout=log,
        stderr=subprocess.STDOUT,
        start_new_session=True,  # its own process group: uvicorn goes with it
    )
    base = f"http://127.0.0.1:{port}"
    try:
        deadline = time.monotonic() + 120
        for _ in range(480):
            if server.poll() is not None or time.monotonic() > deadline:
                break
            try:
                with urllib.request.urlopen(f"{base}/ping", timeout=2) as r:
                    if r.status == 200:
                        break
            except (urllib.error.URLError, ConnectionError, TimeoutError):
                time.sleep(0.25)
        else:
            pass
        assert server.poll() is None, (tmp_path / "server.log").read_text()[-3000:]
        frame = link_input()
        # a few true pairs and one record with no partner
        pick = frame.filter(
            pl.col("entity_id").is_in(
                frame.filter(pl.col("source") == "people_a")["entity_id"].head(40)
            )
        )
        records = pick.drop("entity_id").to_pandas().replace({np.nan: None})
        payload = {"dataframe_records": records.to_dict(orient="records")}
        answer = _post(f"{base}/invocations", payload)
        scored = pd.DataFrame(answer["predictions"])
        assert list(scored.columns) == list(PAIR_COLUMNS)
        matches = scored[scored["match_probability"] >= 0.5]
        found = set(zip(matches["record_id_l"], matches["record_id_r"], strict=True))
        truth = true_link_pairs(pick)
        assert len(truth) >= 30
        assert len(found & truth) >= 0.95 * len(truth)
        assert found <= truth
        clusters = _post(
            f"{base}/invocations", {**payload, "params": {"output": "clusters"}}
        )
        assert len(clusters["predictions"]) == len(records)  # type: ignore[arg-type]
    finally:
        if server.poll() is None:
            os.killpg(server.pid, signal.SIGTERM)
            try:
                server.wait(timeout=30)
            except subprocess.TimeoutExpired:
                os.killpg(server.pid, signal.SIGKILL)
                server.wait(timeout=30)
        log.close()


# ------------------------------------------------- the logic, without MLflow
@pytest.fixture(scope="module")
def link_model() -> tuple[Linker, pl.DataFrame]:
    return _fit(LinkageConfig.from_toml(LINK_CONFIG))


def test_link_input_without_sources_is_refused(link_model):
    linker, _ = link_model
    frame = link_input().drop("source")
    with pytest.raises(SchemaError, match=r"'source' column"):
        score_input(linker, frame)
    only_a = link_input().filter(pl.col("source") == "people_a")
    with pytest.raises(SchemaError, match="at least two sources"):
        score_input(linker, only_a)
    with pytest.raises(SchemaError, match="at least two sources"):
        score_input(linker, frame, {"source": "people_a"})


def test_sources_named_twice_or_params_wrong(link_model):
    linker, _ = link_model
    with pytest.raises(ConfigError, match="twice"):
        score_input(linker, link_input(), {"source": "people_a"})
    with pytest.raises(ConfigError, match=r"'output'.*'pairs', 'clusters'.*'lookups'"):
        score_input(linker, link_input(), {"output": "lookups"})
    with pytest.raises(ConfigError, match=r"threshold.*\[0, 1\].*2"):
        score_input(linker, link_input(), {"threshold": 2})
    with pytest.raises(ConfigError, match=r"Unknown parameter.*'explain'"):
        score_input(linker, link_input(), {"explain": True})
    with pytest.raises(EmptyInputError):
        score_input(linker, link_input().head(0))
    nulls = link_input().with_columns(
        pl.when(pl.col("rec_id") == "rec-6-org")
        .then(None)
        .otherwise(pl.col("source"))
        .alias("source")
    )
    with pytest.raises(SchemaError, match="null"):
        score_input(linker, nulls)


def test_unknown_source_names_link_too(link_model):
    linker, _ = link_model
    renamed = link_input().with_columns(
        pl.col("source").replace({"people_a": "crm", "people_b": "erp"})
    )
    out = score_input(linker, renamed)
    assert set(out["source_l"]) == {"crm"}
    assert (out["match_probability"] >= 0.5).sum() >= 295


def test_integer_ids_come_back_as_integers(link_model, tmp_path):
    spec = LinkageConfig.from_toml(DEDUPE_CONFIG).to_dict()
    frame = pl.read_csv(DATA / "people.csv", infer_schema=False).with_row_index(
        "customer_no", offset=1000
    )
    frame = frame.with_columns(pl.col("customer_no").cast(pl.Int64))
    frame.write_parquet(tmp_path / "people.parquet")
    spec["sources"] = [
        {"name": "crm", "path": "people.parquet", "id_column": "customer_no"}
    ]
    linker, records = _fit(LinkageConfig.from_dict(spec, base_dir=tmp_path))
    model = LinkerModel()
    model.linker = linker
    out = model.predict(None, frame.to_pandas())
    assert out["record_id_l"].dtype == np.int64
    assert out["record_id_l"].min() >= 1000
    clusters = model.predict(None, frame.to_pandas(), params={"output": "clusters"})
    assert clusters["record_id"].dtype == np.int64
    signature = model_signature(linker, records)
    ids = [c for c in signature.inputs.inputs if c.name == "customer_no"]
    assert ids and ids[0].type.name == "long" and ids[0].required
    example = example_input(linker, records)
    assert example["customer_no"].tolist() == [1, 2]
    assert model.predict(None, example)["record_id_l"].tolist() == [1]
