"""``python -m er_toolkit.train``: train, evaluate, log to MLflow, register."""

from __future__ import annotations

import argparse
import os
import sys
import time
from pathlib import Path

import polars as pl

from er_toolkit.charts import (
    feature_importance_chart,
    match_weights_chart,
    precision_recall_chart,
)
from er_toolkit.cli import ArgumentParser, one_line, run_cli, set_tracking_uri
from er_toolkit.config import (
    LinkageConfig,
    validate_experiment_name,
    validate_model_name,
)
from er_toolkit.exceptions import ConfigError, ErToolkitError, TrackingError
from er_toolkit.pipeline import Linker
from er_toolkit.score import ClassifierScorer, FellegiSunter
from er_toolkit.track import log_training_run


def _parser() -> argparse.ArgumentParser:
    parser = ArgumentParser(
        prog="python -m er_toolkit.train",
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
    return parser


def train(
    config: LinkageConfig,
    *,
    log_mlflow: bool = True,
    register: bool = True,
    save: str | None = None,
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
    linker = Linker(config)
    records = linker.records()
    pairs = linker.block(records)
    vectors = linker.compare(records, pairs)
    linker.fit(records, candidate_pairs=pairs, candidate_vectors=vectors)
    scored = linker.predict(records, candidate_vectors=vectors)
    del vectors
    clusters = linker.cluster(records, scored)
    truth = linker.true_pairs(records)
    metrics: dict[str, float] = {
        "candidate_pairs": float(pairs.height),
        "n_clusters": float(clusters.get_column("cluster_id").n_unique()),
    }
    scorer = linker.scorer_
    fs = scorer if isinstance(scorer, FellegiSunter) else scorer.fellegi_sunter
    figures = {}
    if fs is not None:
        figures["match_weights"] = match_weights_chart(
            fs.bayes_factor_table(), prior_weight=fs.prior_weight_
        )
    params: dict[str, str] = {}
    tags: dict[str, str] = {}
    if isinstance(scorer, ClassifierScorer):
        metrics.update({f"cv_{k}": v for k, v in scorer.cv_metrics_.items()})
        metrics.update(linker.training_report_)
        metrics["threshold"] = scorer.threshold_
        params = {f"estimator.{k}": v for k, v in scorer.estimator_params().items()}
        params["classifier.threshold_reason"] = scorer.threshold_reason_
        tags = {"threshold": f"{scorer.threshold_:.6g}"}
        tags["threshold_reason"] = scorer.threshold_reason_
        figures["feature_importance"] = feature_importance_chart(
            scorer.feature_importance_table()
        )
        figures["precision_recall_threshold_choice"] = precision_recall_chart(
            scorer.validation_curve_, threshold=scorer.threshold_
        )
    if truth is not None:
        measured, curve = linker.evaluate(
            records,
            candidate_pairs=pairs,
            scored=scored,
            clusters=clusters,
            truth=truth,
        )
        metrics.update(measured)
        figures["precision_recall"] = precision_recall_chart(
            curve, threshold=linker.config.threshold
        )
    linker.timings_["total"] = time.perf_counter() - start
    summary: dict[str, object] = {
        "name": config.name,
        "records": records.height,
        "metrics": metrics,
        "timings": dict(linker.timings_),
        "scorer": type(scorer).__name__,
        "threshold": linker.config.threshold,
    }
    if isinstance(scorer, FellegiSunter):
        summary["lambda"] = scorer.probability_two_random_records_match_
    else:
        summary["threshold_reason"] = scorer.threshold_reason_
    if save:
        linker.save(save)
    if log_mlflow:
        tables = {"blocking_report": linker.blocking_report_}
        if fs is not None:
            tables["match_weights"] = fs.bayes_factor_table()
            tables["em_sessions"] = pl.DataFrame(
                [
                    {k: (str(v) if isinstance(v, list) else v) for k, v in s.items()}
                    for s in fs.sessions_
                ]
            )
        if isinstance(scorer, ClassifierScorer):
            tables["feature_importance"] = scorer.feature_importance_table()
        try:
            logged = log_training_run(
                linker,
                records=records,
                metrics=metrics,
                figures=figures,
                tables=tables,
                profile=linker.profile(records),
                register=register,
                params=params,
                tags=tags,
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
    print(f"model: {summary['name']}  records: {summary['records']:,}")
    if "lambda" in summary:
        print(
            f"candidate pairs: {int(metrics['candidate_pairs']):,}  "
            f"lambda: {summary['lambda']:.3g}"
        )
    else:
        print(
            f"candidate pairs: {int(metrics['candidate_pairs']):,}  "
            f"threshold: {summary['threshold']:.4g} ({summary['threshold_reason']})"
        )
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
        summary = train(
            config,
            log_mlflow=not args.no_mlflow,
            register=not args.no_register,
            save=args.save,
        )
        _print_summary(summary)
        return 0

    return run_cli(job)


if __name__ == "__main__":
    sys.exit(main())
