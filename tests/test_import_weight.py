"""Import weight: the pipeline and a train run without tracking or report import
neither MLflow nor matplotlib nor scikit-learn (nor scipy.stats, which it
imports, nor scipy.cluster, which only re-cutting large clusters needs).

Each check runs in a fresh interpreter (``sys.modules`` of this one is full of
whatever other tests imported) and inspects ``sys.modules``; nothing is timed.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import textwrap
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent

#: Modules only tracking, charts/reports or the classifier scorer need.
HEAVY = (
    "mlflow",
    "matplotlib",
    "sklearn",
    "sklearn.ensemble",
    "sklearn.linear_model",
    "skops",
    "scipy.stats",
    "scipy.cluster",
)


def _loaded_after(code: str) -> list[str]:
    """Run ``code`` in a fresh interpreter; return which of HEAVY it loaded."""
    probe = textwrap.dedent(code) + textwrap.dedent(
        f"""
        import json, sys
        print(json.dumps([m for m in {HEAVY!r} if m in sys.modules]))
        """
    )
    env = {
        **os.environ,
        "PYTHONPATH": os.pathsep.join([str(ROOT), os.environ.get("PYTHONPATH", "")]),
    }
    env.pop("MLFLOW_TRACKING_URI", None)
    done = subprocess.run(
        [sys.executable, "-c", probe],
        capture_output=True,
        text=True,
        env=env,
        cwd=ROOT,
        timeout=300,
        check=False,
    )
    assert done.returncode == 0, done.stderr[-2000:]
    return json.loads(done.stdout.strip().splitlines()[-1])


def test_the_probe_sees_an_import():
    assert _loaded_after("import matplotlib") == ["matplotlib"]


def test_importing_loads_no_tracking_charts_or_classifier():
    modules = (
        "er_toolkit",
        "er_toolkit.pipeline",
        "er_toolkit.cli.train",
        "er_toolkit.train",
        "er_toolkit.track.setup",
    )
    assert _loaded_after("".join(f"import {m}\n" for m in modules)) == []


def test_a_train_run_without_tracking_or_report_loads_none(tmp_path):
    config = tmp_path / "job.toml"
    data = tmp_path / "people.csv"
    rows = ["id,first_name,surname,email,entity_id"]
    for i in range(60):
        entity = i // 2
        rows.append(
            f"{i},Name{entity % 7},Surname{entity},p{entity}@example.com,{entity}"
        )
    data.write_text("\n".join(rows) + "\n")
    config.write_text(
        textwrap.dedent(
            f"""
            name = "light"
            link_type = "dedupe"
            threshold = 0.5

            [[sources]]
            name = "people"
            path = "{data.as_posix()}"
            id_column = "id"

            [evaluation]
            entity_column = "entity_id"

            [standardise]
            first_name = "name"
            email = "email"

            [blocking]
            rules = [["surname"], ["email"]]

            [model]
            training_rules = [["surname"], ["email"]]
            u_sample_size = 500

            [[comparisons]]
            name = "first_name"
            column = "first_name_canonical"
            levels = [{{ kind = "exact" }}]

            [[comparisons]]
            name = "email"
            column = "email"
            levels = [{{ kind = "exact" }}]
            """
        )
    )
    loaded = _loaded_after(
        f"""
        from er_toolkit.cli.train import main
        assert main(["--config", {str(config)!r}, "--no-mlflow", "--no-report"]) == 0
        """
    )
    assert loaded == []
