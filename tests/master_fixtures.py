"""Shared fixtures of the master-store tests: synthetic customers and a model trained once."""

from __future__ import annotations

import tomllib
from pathlib import Path

import polars as pl
import pytest

from benchmarks.synthetic import generate_customers
from er_toolkit.config import LinkageConfig
from er_toolkit.io import Source
from er_toolkit.pipeline import Linker

ROOT = Path(__file__).resolve().parents[1]
N_CUSTOMERS = 2000


def customers_config(*, seed: int = 42, u_sample_size: int = 100_000) -> LinkageConfig:
    """experiments/customers.toml without its files, with a smaller u sample."""
    spec = tomllib.loads((ROOT / "experiments" / "customers.toml").read_text())
    spec.pop("sources")
    spec["model"]["u_sample_size"] = u_sample_size
    spec["model"]["seed"] = seed
    return LinkageConfig.from_dict(spec)


def as_sources(frame: pl.DataFrame) -> list[Source]:
    return [
        Source(str(name), part.drop("source"))
        for (name,), part in frame.group_by("source", maintain_order=True)
    ]


def train(frame: pl.DataFrame, config: LinkageConfig) -> Linker:
    linker = Linker(config, n_jobs=2)
    records = linker.records(as_sources(frame))
    linker.fit(records)
    return linker


@pytest.fixture(scope="session")
def customers() -> pl.DataFrame:
    """Synthetic customers from four sources, without the truth column."""
    return generate_customers(N_CUSTOMERS, seed=5, n_sources=4).drop("entity_id")


@pytest.fixture(scope="session")
def model_path(
    customers: pl.DataFrame, tmp_path_factory: pytest.TempPathFactory
) -> Path:
    """A Fellegi-Sunter model of the customers, saved as JSON."""
    path = tmp_path_factory.mktemp("model") / "customers.json"
    train(customers, customers_config()).save(path)
    return path


@pytest.fixture(scope="session")
def linker(model_path: Path) -> Linker:
    return Linker.load(model_path)


def partition(clusters: pl.DataFrame) -> set[frozenset[tuple[str, str]]]:
    """The clusters as sets of (source, record_id): equality up to id naming."""
    return {
        frozenset(zip(g["source"], g["record_id"].cast(pl.String), strict=True))
        for _, g in clusters.group_by("cluster_id")
    }


def members(clusters: pl.DataFrame) -> dict[str, frozenset[tuple[str, str]]]:
    """Cluster id -> its members."""
    return {
        str(cid): frozenset(
            zip(g["source"], g["record_id"].cast(pl.String), strict=True)
        )
        for (cid,), g in clusters.group_by("cluster_id")
    }
