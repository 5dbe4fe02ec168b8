"""The side-by-side benchmark runner (benchmarks/compare.py) on a small sample."""

from __future__ import annotations

import json

import pytest

from benchmarks import compare

pytest.importorskip("psutil")

N = 2_000


@pytest.fixture(scope="module")
def finished(tmp_path_factory: pytest.TempPathFactory):
    out = tmp_path_factory.mktemp("compare")
    code = compare.main(
        [
            "--sizes",
            str(N),
            "--tools",
            "er_toolkit",
            "--time-limit",
            "300",
            "--out",
            str(out),
            "--results-md",
            str(out / "RESULTS.md"),
        ]
    )
    assert code == 0
    return out


def test_finished_run_records_every_field(finished) -> None:
    data = json.loads((finished / "results.json").read_text())
    assert {"cores", "memory_gib"} <= set(data["machine"])
    (run,) = data["runs"]
    assert run["tool"] == "er_toolkit"
    assert run["status"] == "ok"
    assert run["n_records"] == N
    for stage in ("load", "block", "train", "predict", "cluster"):
        assert run["stages_s"][stage] >= 0
    assert run["total_s"] == pytest.approx(sum(run["stages_s"].values()))
    assert run["peak_rss_mb"] > 0
    assert run["candidate_pairs"] > 0
    assert run["pairs_per_s"] > 0
    for key in (
        "pairwise_precision",
        "pairwise_recall",
        "pairwise_f1",
        "cluster_precision",
        "cluster_recall",
        "cluster_f1",
        "bcubed_f1",
    ):
        assert 0.5 < run[key] <= 1.0, key
    assert run["largest_cluster"] >= 2
    assert run["command"].startswith("python -m benchmarks.compare")
    table = (finished / "results.md").read_text()
    assert f"{N:,} records" in table and "| er_toolkit | ok |" in table
    assert (finished / "time_vs_records.png").stat().st_size > 0
    assert "Side-by-side" in (finished / "RESULTS.md").read_text()


def test_timeout_is_recorded_not_skipped(finished) -> None:
    compare.main(
        [
            "--sizes",
            str(N),
            str(2 * N),
            "--tools",
            "er_toolkit",
            "--time-limit",
            "0.01",
            "--out",
            str(finished),
        ]
    )
    runs = json.loads((finished / "results.json").read_text())["runs"]
    by_size = {r["n_records"]: r for r in runs}
    assert by_size[N]["status"] == "timeout"
    assert by_size[N]["time_limit_s"] == 0.01
    assert "pairwise_f1" not in by_size[N]
    # A larger size after a timeout is recorded, with the reason.
    assert by_size[2 * N]["status"] == f"skipped: timeout at {N:,} records"
    table = (finished / "results.md").read_text()
    assert "timeout > 0.01s" in table and "skipped" in table


def test_tool_setups_share_the_er_toolkit_config() -> None:
    from benchmarks import compare_tools
    from er_toolkit.config import LinkageConfig

    config = LinkageConfig.from_toml(compare_tools.ER_TOOLKIT_CONFIG)
    assert config.blocking.rules == compare_tools.BLOCKING_RULES
    assert config.model.training_rules == compare_tools.TRAINING_RULES
    assert config.model.deterministic_rules == compare_tools.DETERMINISTIC_RULES
    assert config.model.deterministic_recall == compare_tools.DETERMINISTIC_RECALL
    assert config.model.u_sample_size == compare_tools.U_SAMPLE_PAIRS
    assert config.model.seed == compare_tools.MODEL_SEED
    assert config.model.max_iter == compare_tools.MAX_ITER
    assert config.threshold == 0.9
