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
