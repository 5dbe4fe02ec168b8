"""experiments/labelled.py: FS, classifier and stacked on a held-out test split."""

from __future__ import annotations

from pathlib import Path

from threadpoolctl import threadpool_limits

from experiments import labelled

TOLERANCE = 0.02
FLOOR = 0.90


def test_fodors_zagat_classifier_at_least_fellegi_sunter(
    shared_datasets: Path,
) -> None:
    # logistic regression: seconds where gradient boosting's 36 fits (cv=5)
    # take minutes on a busy 2-core machine
    with threadpool_limits(limits=1):
        result = labelled.run_set(
            "fodors_zagat",
            datasets=shared_datasets,
            estimators=["logistic_regression"],
        )
    assert not result.error, result.error
    assert result.test_matches > 0 and result.test_pairs > result.test_matches
    assert result.blocking_recall is not None and result.blocking_recall > 0.95
    assert result.fs_f1 is not None
    assert result.classifier_f1 is not None and result.stacked_f1 is not None
    assert result.classifier_f1 >= result.fs_f1 - TOLERANCE
    assert result.stacked_f1 >= result.fs_f1 - TOLERANCE
    assert min(result.classifier_f1, result.stacked_f1) > FLOOR
    assert result.estimator == "logistic_regression"


def test_missing_datasets_are_reported_not_raised(tmp_path: Path) -> None:
    result = labelled.run_set("fake_1000", datasets=tmp_path / "absent")
    assert result.error.startswith("FileNotFoundError")
    main, _ = labelled.table([result])
    assert "| fake_1000 |" in main and "failed: FileNotFoundError" in main


def test_write_results_replaces_only_its_section(tmp_path: Path) -> None:
    path = tmp_path / "RESULTS.md"
    path.write_text("# Experiment results\n\n## Other\n\nkeep me\n")
    labelled.write_results(labelled.SECTION + "\n\nfirst\n", path)
    labelled.write_results(labelled.SECTION + "\n\nsecond\n", path)
    text = path.read_text()
    assert "keep me" in text and "second" in text and "first" not in text
    assert text.count(labelled.SECTION) == 1
