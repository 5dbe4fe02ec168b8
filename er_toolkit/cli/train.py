"""``python -m er_toolkit.train``: train, evaluate, log to MLflow, register."""

from __future__ import annotations

import argparse
import dataclasses
import os
import sys
import time
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import polars as pl

from er_toolkit import schema
from er_toolkit.cli import ArgumentParser, one_line, run_cli, set_tracking_uri
from er_toolkit.config import (
    EngineConfig,
    LinkageConfig,
    validate_experiment_name,
    validate_model_name,
)
from er_toolkit.evaluate import pairwise_metrics
from er_toolkit.exceptions import ConfigError, ErToolkitError, TrackingError
from er_toolkit.io import Source
from er_toolkit.pipeline import Linker
from er_toolkit.track import log_training_run
from er_toolkit.track.setup import TrackingSetup

__all__ = ["main", "train"]


def _parser() -> argparse.ArgumentParser:
    parser = ArgumentParser(
        prog="er-toolkit train",
        description="Train a linkage model from a TOML config, evaluate it against "
        "the config's labels, log the run to MLflow and register the model.",
    )
    parser.add_argument("--config", required=True, help="path to a TOML config")
    parser.add_argument(
        "--tracking-uri",
        default=None,
        help="MLflow tracking URI (default: MLFLOW_TRACKING_URI or MLflow's own default)",
    )
    parser.add_argument(
        "--no-register", action="store_true", help="log the run but register no version"
    )
    parser.add_argument(
        "--no-mlflow", action="store_true", help="do not log to MLflow at all"
    )
    parser.add_argument("--save", default=None, help="also write the model JSON here")
    parser.add_argument(
        "--report", default=None, help="also write the HTML run report here"
    )
    parser.add_argument(
        "--no-report",
        action="store_true",
        help="build no HTML run report (and log no charts)",
    )
    parser.add_argument(
        "--n-jobs",
        type=int,
        default=None,
        help="threads for comparing, scoring and scikit-learn (default: the "
        "config's n_jobs, else every core)",
    )
    parser.add_argument(
        "--engine",
        choices=("polars", "spark"),
        default=None,
        help="where the stages run (default: the config's engine, else polars); "
        "spark uses the active SparkSession or a local one",
    )
    return parser


def _pair_list_metrics(
    linker: Linker, records: pl.DataFrame, listed: pl.DataFrame, *, prefix: str
) -> dict[str, float]:
    """Precision / recall / F1 of a fixed pair list (``is_match``), each pair scored as given.

    With ``[clustering] one_to_one`` the constraint is applied to the
    list's scored pairs first (scores only, never its labels).
    """
    scored = linker.predict(
        records, candidate_pairs=listed.select(schema.ROW_L, schema.ROW_R)
    )
    true = listed.filter(pl.col(schema.IS_MATCH))
    out: dict[str, float] = {}
    if linker.config.clustering.one_to_one != "off":
        # the figures without it too, beside (the choice is made on valid)
        plain = scored.filter(pl.col(schema.MATCH_PROBABILITY) >= linker.threshold_)
        measured = pairwise_metrics(plain, true)
        out.update(
            {f"{prefix}_unconstrained_{k}": float(v) for k, v in measured.items()}
        )
        scored = linker.one_to_one(records, scored)
    predicted = scored.filter(pl.col(schema.MATCH_PROBABILITY) >= linker.threshold_)
    measured = pairwise_metrics(predicted, true)
    out.update({f"{prefix}_{k}": float(v) for k, v in measured.items()})
    return out


def train(
    config: LinkageConfig,
    *,
    log_mlflow: bool = True,
    register: bool = True,
    save: str | None = None,
    n_jobs: int | None = None,
    report: bool = True,
    report_path: str | Path | None = None,
    sources: Sequence[Source] | None = None,
) -> dict[str, object]:
    """Run a whole training job and return its summary.

    Parameters
    ----------
    config
        The job.
    log_mlflow
        Log the run to MLflow.
    register
        Register the model version under ``config.name``.
    save
        Where to also write the model JSON.
    n_jobs
        Threads (overrides the config's ``n_jobs``).
    report
        Build the HTML run report (:mod:`er_toolkit.report`; its charts are
        the run's charts) and log it with the run.
    report_path
        Also write the report here.
    sources
        The records, when not the config's ``[[sources]]``.

    Returns
    -------
    dict
        Metrics, timings and, when logged, the run id and model version.
    """
    if save:
        _check_save_target(Path(save))
    if log_mlflow:  # what MLflow would refuse after training, refused before it
        validate_model_name(config.name)
        validate_experiment_name(config.experiment)
    start = time.perf_counter()
    # MLflow's import and the tracking store's opening (a new SQLite store
    # migrates its schema) run beside the stages; logging waits for them
    setup = TrackingSetup.start(config.experiment) if log_mlflow else None
    linker = Linker(config, n_jobs=n_jobs)
    prepared = linker.prepare(sources)
    records = prepared.records
    pairs = linker.block(records)
    vectors = linker.compare(records, pairs)
    linker.fit(records, candidate_pairs=pairs, candidate_vectors=vectors)
    scored = linker.predict(records, candidate_vectors=vectors)
    del vectors
    clusters = linker.cluster(records, scored)
    if linker.engine.kind != "polars":
        # blocking, training, scoring and clustering ran on the engine; the
        # summary, evaluation and report are made here from their outputs
        # (the model is engine-neutral, so the answers are the same)
        from er_toolkit.engines import PolarsEngine

        here = linker.engine.collect
        records, pairs, scored, clusters = (
            here(records),
            here(pairs),
            here(scored),
            here(clusters),
        )
        linker.engine = PolarsEngine()
    truth = linker.true_pairs(records)
    sizes = clusters.get_column(schema.CLUSTER_SIZE)
    metrics: dict[str, float] = {
        "candidate_pairs": float(pairs.height),
        "n_clusters": float(clusters.get_column(schema.CLUSTER_ID).n_unique()),
        "largest_cluster": float(sizes.max() or 0),  # type: ignore[arg-type]
    }
    if prepared.placeholders is not None:  # [placeholders]: values set to null
        metrics["placeholder_values"] = float(prepared.placeholders.height)
        metrics["placeholder_records"] = float(
            prepared.placeholders.get_column("records").sum()
        )
    scorer_report = linker.scorer_.report()
    metrics.update(scorer_report.metrics)
    curve = None
    if truth is not None:
        measured, curve = linker.evaluate(
            records,
            candidate_pairs=pairs,
            scored=scored,
            clusters=clusters,
            truth=truth,
        )
        metrics.update(measured)
    test = linker.test_pairs(records)
    if test is not None:  # a fixed test split: scored as given, every pair
        metrics.update(_pair_list_metrics(linker, records, test, prefix="test"))
        metrics["test_pairs"] = float(test.height)
        valid = linker.validation_pairs(records)
        if valid is not None and config.clustering.one_to_one != "off":
            # the valid pairs under the constraint too, to decide on it without the test
            metrics.update(_pair_list_metrics(linker, records, valid, prefix="valid"))
    summary: dict[str, object] = {
        "name": config.name,
        "records": records.height,
        "metrics": metrics,
        "timings": linker.timings_,
        "scorer": type(linker.scorer_).__name__,
        "threshold": linker.threshold_,
        "tags": dict(scorer_report.tags),
    }
    figures: dict[str, Any] = {}
    html: str | None = None
    if report or report_path is not None:
        from er_toolkit.report import training_report, write_report

        began = time.perf_counter()
        run_report = training_report(
            linker,
            records,
            candidate_pairs=pairs,
            scored=scored,
            clusters=clusters,
            truth=truth,
            curve=curve,
            summary=summary,
        )
        figures, html = dict(run_report.figures), run_report.html
        if report_path is not None:
            write_report(report_path, html)
        linker.timings_["report"] = time.perf_counter() - began
    linker.timings_["total"] = time.perf_counter() - start
    summary["timings"] = dict(linker.timings_)
    if save:
        linker.save(save)
    if log_mlflow:
        tables = {
            "blocking_report": linker.blocking_report(records),
            **scorer_report.tables,
        }
        if setup is not None:
            try:
                setup.wait()
            except ErToolkitError:
                raise
            except Exception as exc:  # whatever MLflow, the database or the disk raised
                raise TrackingError(
                    "MLflow could not open the tracking store: "
                    f"{one_line(str(exc))[:300]}"
                ) from None
        try:
            logged = log_training_run(
                linker,
                records=records,
                metrics=metrics,
                figures=figures,
                tables=tables,
                profile=prepared.profile,
                register=register,
                params=dict(scorer_report.params),
                tags=dict(scorer_report.tags),
                report=html,
                setup=setup,
            )
        except ErToolkitError:
            raise
        except Exception as exc:
            if not type(exc).__module__.startswith(
                ("mlflow", "sqlalchemy", "requests")
            ):
                raise
            raise TrackingError(
                f"MLflow could not log the run: {one_line(str(exc))[:300]}"
            ) from None
        summary.update(logged)
    return summary


def _check_save_target(path: Path) -> None:
    """Refuse a --save path that cannot be written, before training, not after."""
    if path.is_dir():
        raise ConfigError(f"--save {str(path)!r} is a folder; give a file name.")
    for parent in path.parents:
        if parent.exists():
            if not parent.is_dir():
                raise ConfigError(
                    f"--save {str(path)!r}: {str(parent)!r} is a file, not a folder."
                )
            if not os.access(parent, os.W_OK):
                raise ConfigError(
                    f"--save {str(path)!r}: folder {str(parent)!r} is not writable."
                )
            break


def _print_summary(summary: dict[str, object]) -> None:
    metrics = summary["metrics"]
    assert isinstance(metrics, dict)
    timings = summary["timings"]
    assert isinstance(timings, dict)
    tags = summary.get("tags", {})
    assert isinstance(tags, dict)
    print(f"model: {summary['name']}  records: {summary['records']:,}")
    line = f"candidate pairs: {int(metrics['candidate_pairs']):,}"
    if "probability_two_random_records_match" in metrics:
        line += f"  lambda: {metrics['probability_two_random_records_match']:.3g}"
    line += f"  threshold: {summary['threshold']:.4g}"
    if "threshold_reason" in tags:
        line += f" ({tags['threshold_reason']})"
    print(line)
    print(
        f"clusters: {int(metrics['n_clusters']):,}  "
        f"largest cluster: {int(metrics['largest_cluster']):,}"
    )
    if "placeholder_values" in metrics:
        print(
            f"placeholders: {int(metrics['placeholder_values']):,} values in "
            f"{int(metrics['placeholder_records']):,} record fields set to null"
        )
    if "cv_f1" in metrics:
        print(
            "cross-validated  precision {cv_precision:.4f}  recall {cv_recall:.4f}  "
            "F1 {cv_f1:.4f}  average precision {cv_average_precision:.4f}  "
            "({training_pairs:,.0f} labelled pairs, {training_matches:,.0f} matches, "
            "{labelled_matches_missed_by_blocking:,.0f} labelled matches missed by "
            "blocking)".format(**metrics)
        )
    if "pairwise_f1" in metrics:
        print(
            "pairwise  precision {pairwise_precision:.4f}  recall {pairwise_recall:.4f}  "
            "F1 {pairwise_f1:.4f}".format(**metrics)
        )
        if "cluster_f1" in metrics:
            print(
                "clusters  precision {cluster_precision:.4f}  recall {cluster_recall:.4f}  "
                "F1 {cluster_f1:.4f}  (B-cubed F1 {bcubed_f1:.4f})".format(**metrics)
            )
        print(f"blocking recall {metrics['blocking_recall']:.4f}")
    if "test_f1" in metrics:
        print(
            "test pairs ({test_pairs:,.0f})  precision {test_precision:.4f}  recall "
            "{test_recall:.4f}  F1 {test_f1:.4f}".format(**metrics)
        )
    print("seconds: " + "  ".join(f"{k} {v:.2f}" for k, v in timings.items()))
    if summary.get("run_id"):
        print(f"mlflow run: {summary['run_id']}  model: {summary.get('model_uri')}")
        if summary.get("version") is not None:
            print(f"registered: models:/{summary['name']}/{summary['version']}")


def main(argv: list[str] | None = None) -> int:
    """Entry point of ``python -m er_toolkit.train``."""
    args = _parser().parse_args(argv)

    def job() -> int:
        set_tracking_uri(args.tracking_uri)
        config = LinkageConfig.from_toml(Path(args.config))
        if args.engine is not None:
            config = dataclasses.replace(
                config, engine=EngineConfig.from_dict(args.engine)
            )
        summary = train(
            config,
            log_mlflow=not args.no_mlflow,
            register=not args.no_register,
            save=args.save,
            n_jobs=args.n_jobs,
            report=not args.no_report,
            report_path=args.report,
        )
        _print_summary(summary)
        return 0

    return run_cli(job)


if __name__ == "__main__":
    sys.exit(main())
