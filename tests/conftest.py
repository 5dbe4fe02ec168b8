"""Shared fixtures and paths for the test suite."""

from __future__ import annotations

from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
SHARED_DATASETS = ROOT.parent / "shared" / "datasets"


@pytest.fixture
def shared_datasets() -> Path:
    """The labelled benchmark sets beside the checkout; skip when absent."""
    if not SHARED_DATASETS.is_dir():
        pytest.skip(f"labelled datasets not found at {SHARED_DATASETS}")
    return SHARED_DATASETS


@pytest.fixture(scope="session")
def spark():
    """One local SparkSession for the whole test run (2 cores, small shuffles, no UI)."""
    import os
    import sys

    # the Python workers must import er_toolkit: run them on this interpreter
    os.environ.setdefault("PYSPARK_PYTHON", sys.executable)
    from pyspark.sql import SparkSession

    session = (
        SparkSession.builder.master("local[2]")
        .appName("er_toolkit-tests")
        .config("spark.ui.enabled", "false")
        .config("spark.ui.showConsoleProgress", "false")
        .config("spark.sql.shuffle.partitions", "2")
        .config("spark.default.parallelism", "2")
        .config("spark.driver.memory", "2g")
        .config("spark.sql.session.timeZone", "UTC")
        .getOrCreate()
    )
    session.sparkContext.setLogLevel("ERROR")
    yield session
    session.stop()


@pytest.fixture(scope="session", autouse=True)
def _mlflow_sqlite_template(tmp_path_factory: pytest.TempPathFactory):
    """Create MLflow's SQLite schema once; each new test store starts as a copy of it.

    MLflow builds a new SQLite tracking store by running its schema migrations
    (several seconds each on this machine); dozens of tests each start their
    own store in ``tmp_path``. The first migration goes into a template file,
    and later new stores are copies of it: the same tables at the same
    revision, with no experiment in them (MLflow then creates the default
    experiment with the store's own artifact root, as it does for a fresh
    file). Stores opened in a subprocess migrate as usual.
    """
    try:
        import mlflow.store.db.utils as db_utils
        from mlflow.store.model_registry import sqlalchemy_store as registry_store
    except ImportError:  # mlflow missing: nothing to speed up
        yield
        return
    import shutil

    original = db_utils._initialize_tables
    template = tmp_path_factory.mktemp("mlflow-template") / "mlflow.db"

    def initialize_tables(engine) -> None:  # type: ignore[no-untyped-def]
        database = engine.url.database
        if (
            engine.url.get_backend_name() != "sqlite"
            or not database
            or database == ":memory:"
        ):
            original(engine)
            return
        if not template.exists():
            import sqlalchemy

            building = sqlalchemy.create_engine(f"sqlite:///{template}")
            original(building)
            building.dispose()
        engine.dispose()
        shutil.copyfile(template, database)

    db_utils._initialize_tables = initialize_tables
    registry_store._initialize_tables = initialize_tables  # imported by name there
    yield
    db_utils._initialize_tables = original
    registry_store._initialize_tables = original


@pytest.fixture(scope="session")
def fit_customers():
    """3,000 synthetic customers from four sources, names lower-cased, for fit tests.

    Session-scoped: a polars frame is never changed in place, so the tests
    that share it cannot disturb one another.
    """
    import polars as pl

    from benchmarks.synthetic import generate_customers

    raw = generate_customers(3000, seed=3, n_sources=4)
    assert isinstance(raw, pl.DataFrame)
    return raw.select(
        pl.format("{}:{}", "source", "record_id").alias("record_id"),
        pl.col("first_name").str.to_lowercase(),
        pl.col("surname").str.to_lowercase(),
        "date_of_birth",
        "email",
        "phone",
        "postcode",
        "city",
    )
