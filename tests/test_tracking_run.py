"""What a training run logs to MLflow, and the tracking store's setup beside the job.

Each test logs into its own SQLite store in ``tmp_path``; the tracking URI is
set for the test and restored after it.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Iterator
from pathlib import Path

import pytest

mlflow = pytest.importorskip("mlflow")

from er_toolkit.cli.train import train  # noqa: E402
from er_toolkit.config import LinkageConfig  # noqa: E402
from er_toolkit.exceptions import TrackingError  # noqa: E402
from er_toolkit.pipeline import Linker  # noqa: E402
from er_toolkit.standardise.quality import profile_metrics  # noqa: E402
from er_toolkit.track import log_training_run  # noqa: E402
from er_toolkit.track.setup import TrackingSetup  # noqa: E402

DATA = Path(__file__).parent / "data"
DEDUPE_CONFIG = DATA / "people_dedupe.toml"


@pytest.fixture
def store(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[str]:
    """A fresh SQLite tracking store, named by MLFLOW_TRACKING_URI and set in MLflow."""
    uri = f"sqlite:///{tmp_path / 'mlflow.db'}"
    before = mlflow.get_tracking_uri()
    monkeypatch.setenv("MLFLOW_TRACKING_URI", uri)
    mlflow.set_tracking_uri(uri)
    yield uri
    mlflow.set_tracking_uri(before)


def _config(tmp_path: Path) -> LinkageConfig:
    config = LinkageConfig.from_toml(DEDUPE_CONFIG)
    return dataclasses.replace(config, experiment=f"tracking-{tmp_path.name}")


def _make_experiment(config: LinkageConfig, tmp_path: Path) -> None:
    mlflow.create_experiment(
        config.experiment, artifact_location=(tmp_path / "artifacts").as_uri()
    )


def _fitted(config: LinkageConfig):
    linker = Linker(config, progress=False)
    prepared = linker.prepare()
    records = prepared.records
    linker.fit(records, candidate_pairs=linker.block(records))
    return linker, prepared


def _artifacts(client, run_id: str, path: str | None = None) -> set[str]:
    found: set[str] = set()
    for item in client.list_artifacts(run_id, path):
        if item.is_dir:
            found |= _artifacts(client, run_id, item.path)
        else:
            found.add(item.path)
    return found


# --------------------------------------------------------------- the setup
def test_setup_opens_the_store_and_makes_the_experiment(store, tmp_path):
    where = (tmp_path / "setup-artifacts").as_uri()
    setup = TrackingSetup.start("made-in-background", artifact_location=where)
    experiment_id = setup.wait()
    assert setup.done()
    experiment = mlflow.MlflowClient().get_experiment(experiment_id)
    assert experiment.name == "made-in-background"
    assert experiment.artifact_location == where
    # an existing experiment is found, not made again
    assert TrackingSetup.start("made-in-background").wait() == experiment_id
    # a setup never started runs when waited on
    assert TrackingSetup("made-in-background").wait() == experiment_id


def test_setup_warms_the_run_context_and_the_run_keeps_its_tags(store, tmp_path):
    from mlflow.tracking.context.registry import resolve_tags

    setup = TrackingSetup.start("warmed")
    experiment_id = setup.wait()
    with mlflow.start_run(experiment_id=experiment_id) as run:
        pass
    tags = mlflow.MlflowClient().get_run(run.info.run_id).data.tags
    # the tags start_run resolves itself, unchanged by the warm-up
    expected = {k: v for k, v in resolve_tags().items() if k.startswith("mlflow.")}
    assert expected
    assert {k: tags.get(k) for k in expected} == expected


def test_a_failing_run_context_warm_up_never_fails_the_setup(store, monkeypatch):
    import mlflow.tracking.context.registry as registry

    def broken() -> dict[str, str]:
        raise RuntimeError("no context here")

    monkeypatch.setattr(registry, "resolve_tags", broken)
    assert TrackingSetup.start("warm-up-fails").wait()


def test_model_requirements_are_read_once_and_handed_out_as_copies(monkeypatch):
    import importlib.metadata

    from er_toolkit.track.pyfunc import model_requirements

    first = model_requirements()

    def unread(name: str) -> str:
        raise AssertionError(f"{name}'s metadata read again")

    monkeypatch.setattr(importlib.metadata, "version", unread)
    again = model_requirements()
    assert again == first
    if again is not None:
        again.append("changed==1")
        assert model_requirements() == first


def test_a_setup_error_is_raised_by_wait(tmp_path, monkeypatch):
    blocker = tmp_path / "a-file"
    blocker.write_text("not a folder")
    monkeypatch.setenv("MLFLOW_TRACKING_URI", f"sqlite:///{blocker / 'mlflow.db'}")
    before = mlflow.get_tracking_uri()
    mlflow.set_tracking_uri(f"sqlite:///{blocker / 'mlflow.db'}")
    try:
        setup = TrackingSetup.start("never")
        with pytest.raises(Exception, match=r"(?i)file exists|unable to open|database"):
            setup.wait()
        # and the same error again, not a hang, on a second wait
        with pytest.raises(Exception, match=r"(?i)file exists|unable to open|database"):
            setup.wait()
    finally:
        mlflow.set_tracking_uri(before)


def test_train_surfaces_a_store_that_cannot_open(tmp_path, monkeypatch):
    blocker = tmp_path / "a-file"
    blocker.write_text("not a folder")
    uri = f"sqlite:///{blocker / 'mlflow.db'}"
    before = mlflow.get_tracking_uri()
    monkeypatch.setenv("MLFLOW_TRACKING_URI", uri)
    mlflow.set_tracking_uri(uri)
    try:
        with pytest.raises(TrackingError, match="could not open the tracking store"):
            train(_config(tmp_path), register=False, report=False)
    finally:
        mlflow.set_tracking_uri(before)


# ------------------------------------------------------------ what is logged
def test_train_logs_every_metric_once_linked_to_the_model(store, tmp_path):
    config = _config(tmp_path)
    _make_experiment(config, tmp_path)
    summary = train(config, register=False, report=False)
    client = mlflow.MlflowClient()
    run = client.get_run(str(summary["run_id"]))
    assert run.info.status == "FINISHED"
    logged = run.data.metrics
    metrics = summary["metrics"]
    assert isinstance(metrics, dict)
    for key, value in metrics.items():
        assert logged[key] == pytest.approx(value), key
    assert logged["n_records"] == 502
    assert any(k.startswith("profile.") for k in logged)
    model_id = run.outputs.model_outputs[0].model_id
    for key in logged:
        history = client.get_metric_history(run.info.run_id, key)
        assert len(history) == 1, key
    # and each is the logged model's metric too, once
    model_metrics = [m.key for m in client.get_logged_model(model_id).metrics or []]
    assert sorted(model_metrics) == sorted(logged)
    artifacts = _artifacts(client, run.info.run_id)
    # no report asked for: no charts at all, the profile as a table
    assert not [a for a in artifacts if a.endswith(".png")]
    assert {
        "model_json/linker.json",
        "profile/profile.csv",
        "tables/blocking_report.csv",
    } <= artifacts


def test_profile_metrics_and_table_match_the_profile(store, tmp_path):
    config = _config(tmp_path)
    _make_experiment(config, tmp_path)
    linker, prepared = _fitted(config)
    info = log_training_run(
        linker,
        records=prepared.records,
        metrics={},
        figures={},
        profile=prepared.profile,
        register=False,
        profile_chart=True,
    )
    client = mlflow.MlflowClient()
    run = client.get_run(info["run_id"])
    expected = profile_metrics(prepared.profile.drop("top_values", strict=False))
    assert expected
    for key, value in expected.items():
        assert run.data.metrics[key] == pytest.approx(value)
    artifacts = _artifacts(client, info["run_id"], "profile")
    assert artifacts == {"profile/profile.csv", "profile/profile.png"}
    local = Path(
        client.download_artifacts(info["run_id"], "profile/profile.csv", str(tmp_path))
    )
    header = local.read_text().splitlines()[0].split(",")
    assert "top_values" not in header
    assert {"source", "column", "completeness"} <= set(header)


def test_a_run_that_fails_while_logging_is_recorded_failed(
    store, tmp_path, monkeypatch
):
    config = _config(tmp_path)
    _make_experiment(config, tmp_path)
    linker, prepared = _fitted(config)

    def refuse(*args, **kwargs):
        raise RuntimeError("model store is down")

    monkeypatch.setattr(mlflow.pyfunc, "log_model", refuse)
    with pytest.raises(RuntimeError, match="model store is down"):
        log_training_run(
            linker,
            records=prepared.records,
            metrics={"pairwise_f1": 0.5},
            figures={},
            register=False,
        )
    experiment = mlflow.get_experiment_by_name(config.experiment)
    (run,) = mlflow.MlflowClient().search_runs([experiment.experiment_id])
    assert run.info.status == "FAILED"
    # its metrics are kept for whoever looks into it
    assert run.data.metrics["pairwise_f1"] == 0.5


def test_the_fingerprint_is_the_sha256_of_the_records_csv(monkeypatch):
    import hashlib

    import polars as pl

    from er_toolkit.track import data_fingerprint, mlflow_runs

    records = pl.DataFrame(
        {
            "_row": list(range(7)),
            "name": ["a", None, 'say "hi"', "é", "x,y", "", "b"],
            "n": [1, 2, None, 4, 5, 6, 7],
        }
    )
    expected = hashlib.sha256(
        ("name\x1fn" + records.drop("_row").write_csv()).encode()
    ).hexdigest()
    assert data_fingerprint(records) == expected
    # written a few rows at a time: the same bytes, so the same digest
    monkeypatch.setattr(mlflow_runs, "_FINGERPRINT_ROWS", 3)
    assert data_fingerprint(records) == expected
    changed = records.with_columns(pl.col("n").fill_null(3))
    assert data_fingerprint(changed) != expected
