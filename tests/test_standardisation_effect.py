"""Standardisation must pay for itself: F1 on messy multi-source customers, on and off."""

from __future__ import annotations

import tomllib
from pathlib import Path

import polars as pl
import pytest

from er_toolkit.cli.train import train
from er_toolkit.config import LinkageConfig

EXPERIMENTS = Path(__file__).resolve().parents[1] / "experiments"


def _run(config_name: str, folder: Path) -> dict[str, float]:
    spec = tomllib.loads((EXPERIMENTS / config_name).read_text())
    spec["model"]["u_sample_size"] = 200_000
    config = LinkageConfig.from_dict(spec, base_dir=folder)
    metrics = train(config, log_mlflow=False)["metrics"]
    assert isinstance(metrics, dict)
    return metrics


@pytest.mark.slow  # over 20 s; run with -m slow
def test_standardisation_raises_f1_on_synthetic_customers(tmp_path: Path) -> None:
    pytest.importorskip("faker")
    from benchmarks.synthetic import generate_customers

    frame = generate_customers(6_000, seed=7, n_sources=4)
    assert isinstance(frame, pl.DataFrame)
    (tmp_path / "data").mkdir()
    for (source,), part in frame.group_by("source"):
        part.drop("source").write_parquet(
            tmp_path / "data" / f"customers_{source}.parquet"
        )
    raw = _run("customers_raw.toml", tmp_path)
    standardised = _run("customers.toml", tmp_path)
    assert standardised["pairwise_f1"] > raw["pairwise_f1"] + 0.05
    assert standardised["cluster_f1"] > raw["cluster_f1"]
    assert standardised["blocking_recall"] > raw["blocking_recall"]
