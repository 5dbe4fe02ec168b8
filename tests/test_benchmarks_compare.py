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
    raw, run = data["runs"]
    assert (raw["input"], run["input"]) == ("raw", "clean")
    assert run["tool"] == raw["tool"] == "er_toolkit"
    assert run["status"] == raw["status"] == "ok"
    assert run["n_records"] == raw["n_records"] == N
    # The whole job, every stage in the clock; on raw records standardising
    # too. er_toolkit compares once; fit and predict reuse the vectors.
    stages = ["block", "compare", "train", "score", "cluster", "evaluate", "mlflow"]
    assert list(run["stages_s"]) == ["load", *stages]
    assert list(raw["stages_s"]) == ["load", "standardise", *stages]
    assert raw["table_stages_s"]["standardise"] > 0
    assert run["table_stages_s"]["standardise"] is None
    assert raw["mlflow_setup_wait_s"] >= 0
    # The same records, standardised by er_toolkit in or out of the clock.
    assert raw["candidate_pairs"] == pytest.approx(run["candidate_pairs"], rel=0.05)
    assert raw["cluster_f1"] == pytest.approx(run["cluster_f1"], abs=0.02)
    assert all(v >= 0 for v in run["stages_s"].values())
    assert run["total_s"] == pytest.approx(sum(run["stages_s"].values()))
    view = run["table_stages_s"]
    assert view["predict"] == pytest.approx(
        run["stages_s"]["compare"] + run["stages_s"]["score"]
    )
    assert run["pairs_per_s"] == pytest.approx(run["candidate_pairs"] / view["predict"])
    assert run["lambda_method"] == "sessions"
    assert [s["rule"] for s in run["em_sessions"]] == [
        "first_name&surname",
        "date_of_birth",
        "email",
    ]
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
    assert f"{N:,} records" in table and "| er_toolkit (clean) | ok |" in table
    assert "| er_toolkit (raw) | ok |" in table and "standardise s" in table
    assert "compare+score s" in table and "(sessions)" in table
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
            "--inputs",
            "clean",
            "--out",
            str(finished),
        ]
    )
    runs = json.loads((finished / "results.json").read_text())["runs"]
    by_size = {r["n_records"]: r for r in runs if compare.input_of(r) == "clean"}
    assert by_size[N]["status"] == "timeout"
    assert by_size[N]["time_limit_s"] == 0.01
    assert "pairwise_f1" not in by_size[N]
    # A larger size after a timeout is recorded, with the reason.
    assert by_size[2 * N]["status"] == f"skipped: timeout at {N:,} records"
    table = (finished / "results.md").read_text()
    assert "timeout > 0.01s" in table and "skipped" in table


def test_hard_data_runs_get_their_own_section(finished) -> None:
    code = compare.main(
        [
            "--sizes",
            str(N),
            "--tools",
            "er_toolkit",
            "--data",
            "hard",
            "--inputs",
            "clean",
            "--out",
            str(finished),
            "--results-md",
            str(finished / "RESULTS.md"),
        ]
    )
    assert code == 0
    runs = json.loads((finished / "results.json").read_text())["runs"]
    hard = [r for r in runs if r.get("data") == "hard"]
    assert [(r["tool"], r["n_records"], r["status"]) for r in hard] == [
        ("er_toolkit", N, "ok")
    ]
    assert any(compare.data_of(r) == "standard" for r in runs)  # kept, not replaced
    assert (finished / "data" / f"customers_hard_n{N}_seed0.parquet").exists()
    text = (finished / "RESULTS.md").read_text()
    assert text.count(compare.SECTION + "\n") == 1
    assert text.count(compare.SECTION_HARD) == 1
    hard_part = text.split(compare.SECTION_HARD)[1]
    assert f"{N:,} records on hard data" in hard_part
    assert "--data hard" in hard_part
    assert "## standard data" in (finished / "results.md").read_text()


def test_hard_errors_tables(finished, capsys) -> None:
    """Error analysis of the hard run above: every wrong pair in one kind."""
    from benchmarks import hard_errors

    assert hard_errors.main(["--n", str(N), "--out", str(finished)]) == 0
    text = capsys.readouterr().out
    for title in ("by kind", "Fields equal", "by cause"):
        assert title in text
    assert "household: " in text
    run = json.loads((finished / "results.json").read_text())["runs"]
    (hard,) = [r for r in run if r.get("data") == "hard"]
    table = text.split("### False positives at the threshold, by kind")[1]
    table = table.split("###")[0]
    counts = [
        int(line.split("|")[2].replace(",", ""))
        for line in table.splitlines()
        if line.startswith("| ") and not line.startswith("| kind")
    ]
    assert sum(counts) == hard["pairwise_fp"]


def test_tool_setups_share_the_er_toolkit_config() -> None:
    from benchmarks import compare_tools
    from er_toolkit.blocking import ExactRule
    from er_toolkit.config import LinkageConfig

    config = LinkageConfig.from_toml(compare_tools.ER_TOOLKIT_CONFIG)
    assert config.blocking.blockers == tuple(
        ExactRule(keys, max_block_size=size)
        for keys, size in compare_tools.ER_TOOLKIT_BLOCKING
    )
    assert config.model.training_rules == tuple(
        ExactRule(r) for r in compare_tools.TRAINING_RULES
    )
    # er_toolkit's λ: its default estimate from the EM sessions.
    assert config.model.deterministic_rules == ()
    assert config.model.probability_two_random_records_match is None
    assert config.clustering.prune_weak_links is True
    email = next(c for c in config.comparisons if c.name == "email")
    assert len(email.levels) == 1  # exact only, as in Splink and recordlinkage
    assert config.model.u_sample_size == compare_tools.U_SAMPLE_PAIRS
    assert config.model.seed == compare_tools.MODEL_SEED
    assert config.model.max_iter == compare_tools.MAX_ITER
    assert config.threshold == 0.9


def test_the_raw_config_is_the_clean_one_plus_standardisation() -> None:
    import dataclasses

    from benchmarks import compare_prepare, compare_tools
    from er_toolkit.config import LinkageConfig
    from er_toolkit.standardise import steps_from_dict

    clean = LinkageConfig.from_toml(compare_tools.ER_TOOLKIT_CONFIG)
    raw = LinkageConfig.from_toml(compare_tools.ER_TOOLKIT_RAW_CONFIG)
    assert raw.standardise == steps_from_dict(compare_prepare.STANDARDISE)
    assert clean.standardise == {}
    # The prepared file calls the canonical first name `first_name`.
    renamed = LinkageConfig.from_toml(compare_tools.ER_TOOLKIT_RAW_CONFIG).to_dict()
    text = json.dumps(renamed).replace("first_name_canonical", "first_name")
    as_clean = LinkageConfig.from_dict({**json.loads(text), "standardise": {}})
    assert (
        dataclasses.replace(as_clean, name=clean.name, base_dir=clean.base_dir) == clean
    )


def test_splink_settings_mirror_the_config() -> None:
    pytest.importorskip("splink")
    from benchmarks import compare_tools
    from er_toolkit.config import LinkageConfig

    config = LinkageConfig.from_toml(compare_tools.ER_TOOLKIT_CONFIG)
    settings = compare_tools.splink_settings().get_settings("duckdb").as_dict()
    comparisons = {c["output_column_name"]: c for c in settings["comparisons"]}
    assert list(comparisons) == [c.name for c in config.comparisons]
    for comp in config.comparisons:
        levels = comparisons[comp.name]["comparison_levels"]
        # Splink adds a null level and an else level around the same levels.
        assert len(levels) == len(comp.levels) + 2, comp.name
    assert len(settings["blocking_rules_to_generate_predictions"]) == len(
        compare_tools.BLOCKING_RULES
    )


def test_ratio_table_bounds_a_timeout() -> None:
    base = {
        "n_records": 10,
        "seed": 0,
        "threshold": 0.9,
        "time_limit_s": 100.0,
        "input": "raw",
    }
    ours = {
        **base,
        "tool": "er_toolkit",
        "status": "ok",
        "wall_s": 50.0,
        "total_s": 40.0,
        "peak_rss_mb": 1000.0,
        "cluster_f1": 0.9,
        "largest_cluster": 7,
        "pairs_per_s": 1e5,
    }
    theirs = {**base, "tool": "splink", "status": "timeout", "peak_rss_mb": 2000.0}
    table = compare.ratio_table([ours, theirs])
    assert "| 10 | timeout > 100s | 50.0 / > 100 | < 0.50 | < 0.40 |" in table
    assert "0.50 (at kill)" in table
    finished = {**theirs, **{k: v for k, v in ours.items() if k != "tool"}}
    finished["wall_s"] = 100.0
    table = compare.ratio_table([ours, finished])
    assert "| 10 | ok | 50.0 / 100.0 | 0.50 | 1.00 |" in table


def test_scale_results_section_lists_every_size_and_keeps_other_sections(tmp_path):
    from benchmarks import scale

    def run(n: int, f1: float) -> dict:
        return {
            "command": f"python -m benchmarks.scale --n {n}",
            "records": n,
            "candidate_pairs": 10 * n,
            "kept_pairs": n,
            "seconds": dict.fromkeys(
                ("load", "block", "train", "predict", "cluster"), 1.0
            ),
            "total_seconds": 5.0,
            "peak_rss_gib": 1.5,
            "pairs_per_second": 2e6,
            "lambda": 2e-6,
            "lambda_true": 1e-6,
            "metrics": {
                "pairwise_precision": 0.9,
                "pairwise_recall": 0.8,
                "pairwise_f1": f1,
                "cluster_f1": 0.7,
                "bcubed_f1": 0.6,
                "largest_cluster": 42.0,
            },
        }

    out = tmp_path / "out"
    out.mkdir()
    results = tmp_path / "RESULTS.md"
    results.write_text("# Benchmark results\n\n## Side-by-side\n\nkept\n")
    (out / "scale_n3000.json").write_text(json.dumps(run(3000, 0.85)))
    scale.write_results(out, results, "unused")
    (out / "scale_n1000.json").write_text(json.dumps(run(1000, 0.95)))
    scale.write_results(out, results, "unused")
    text = results.read_text()
    assert "## Side-by-side\n\nkept\n" in text
    assert text.count(scale.HEADING) == 1
    rows = [
        line
        for line in text.splitlines()
        if line.startswith("| 1,000 ") or line.startswith("| 3,000 ")
    ]
    assert [r.split("|")[1].strip() for r in rows] == ["1,000", "3,000"]
    assert "| 0.9500 |" in rows[0] and "| 0.8500 |" in rows[1]
    assert "2e-06 (1e-06)" in rows[0]
    assert (
        "`python -m benchmarks.scale --n 1000`; `python -m benchmarks.scale --n 3000`"
        in text
    )
    # Hard data: its own files and section; the standard section stays.
    (out / "scale_hard_n2000.json").write_text(json.dumps(run(2000, 0.5)))
    scale.write_results(out, results, "unused", data="hard")
    text = results.read_text()
    assert text.count(scale.HEADING_HARD) == 1
    standard, hard = text.split(scale.HEADING_HARD)
    assert "| 1,000 " in standard and "| 2,000 " not in standard
    assert "| 2,000 " in hard and "| 1,000 " not in hard
