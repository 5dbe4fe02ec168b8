"""``import-splink`` and ``export-splink``: Splink 5 models in and out of er_toolkit."""

from __future__ import annotations

import argparse
import dataclasses
import hashlib
import json
import math
import sys
from collections.abc import Sequence

from er_toolkit.cli import run_cli, set_tracking_uri
from er_toolkit.interop.splink import from_splink, read_settings, to_splink

__all__ = ["export_main", "import_main", "main"]


def _import_parser(prog: str = "er-toolkit import-splink") -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(
        prog=prog,
        description="Read a trained Splink 5 model (settings JSON from "
        "linker.misc.save_model_to_json) into an er_toolkit model file; optionally "
        "log it to MLflow and register it like a trained model.",
    )
    p.add_argument("--settings", required=True, help="the Splink settings JSON file")
    p.add_argument("--output", required=True, help="where to write the model JSON")
    p.add_argument(
        "--name", default="splink_model", help="model name (and registered name)"
    )
    p.add_argument(
        "--threshold",
        type=float,
        default=0.5,
        help="match probability at which pairs link (default 0.5)",
    )
    p.add_argument(
        "--mlflow", action="store_true", help="log the model to MLflow and register it"
    )
    p.add_argument(
        "--no-register", action="store_true", help="with --mlflow, register no version"
    )
    p.add_argument("--experiment", default=None, help="MLflow experiment name")
    p.add_argument("--tracking-uri", default=None, help="MLflow tracking URI")
    return p


def _export_parser(prog: str = "er-toolkit export-splink") -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(
        prog=prog,
        description="Write an er_toolkit Fellegi-Sunter model (JSON path or "
        "models:/<name>/<version>) as Splink 5 settings JSON, which "
        "splink.Linker(table, settings, db_api) loads and predicts with.",
    )
    p.add_argument("--model", required=True, help="model JSON path or models:/ URI")
    p.add_argument("--output", required=True, help="where to write the settings JSON")
    p.add_argument(
        "--unique-id-column",
        default="unique_id",
        help="Splink's record id column (default unique_id)",
    )
    p.add_argument(
        "--source-dataset-column",
        default="source_dataset",
        help="Splink's source column, for link jobs (default source_dataset)",
    )
    p.add_argument(
        "--dates",
        choices=("text", "date"),
        default="text",
        help="date comparisons read text columns in the comparison's date_format "
        "(text, the default) or DATE columns (date)",
    )
    p.add_argument("--tracking-uri", default=None, help="MLflow tracking URI")
    return p


def import_splink(args: argparse.Namespace) -> int:
    """Run ``import-splink`` with parsed arguments; print a one-line summary."""
    settings = read_settings(args.settings)
    linker = from_splink(settings, name=args.name, threshold=args.threshold)
    if args.experiment:
        linker.config = dataclasses.replace(linker.config, experiment=args.experiment)
    linker.save(args.output)
    scorer = linker.scorer_
    lam = float(scorer.probability_two_random_records_match_)  # type: ignore[attr-defined]
    line = (
        f"imported Splink model: {len(linker.config.comparisons)} comparisons, "
        f"{len(linker.config.blocking.blockers)} blocking rules, lambda {lam:.3g}; "
        f"wrote {args.output}"
    )
    if args.mlflow:
        from er_toolkit.charts import match_weights_chart
        from er_toolkit.track import log_training_run

        set_tracking_uri(args.tracking_uri)
        report = scorer.report()
        digest = hashlib.sha256(
            json.dumps(settings, sort_keys=True).encode()
        ).hexdigest()
        logged = log_training_run(
            linker,
            records=None,
            metrics=dict(report.metrics),
            figures={
                "match_weights": match_weights_chart(
                    report.tables["match_weights"],
                    prior_weight=math.log2(lam) - math.log2(1.0 - lam),
                )
            },
            tables=dict(report.tables),
            register=not args.no_register,
            tags={
                **dict(report.tags),
                "imported_from": "splink",
                "splink_settings_sha256": digest,
            },
        )
        line += f"; mlflow run {logged['run_id']}"
        if logged.get("version") is not None:
            line += f", registered models:/{linker.config.name}/{logged['version']}"
    print(line)
    return 0


def export_splink(args: argparse.Namespace) -> int:
    """Run ``export-splink`` with parsed arguments; print a one-line summary."""
    from er_toolkit.track import load_linker

    set_tracking_uri(args.tracking_uri)
    linker = load_linker(args.model)
    settings = to_splink(
        linker,
        path=args.output,
        unique_id_column_name=args.unique_id_column,
        source_dataset_column_name=args.source_dataset_column,
        dates=args.dates,
    )
    print(
        f"wrote Splink 5 settings: {len(settings['comparisons'])} comparisons, "
        f"{len(settings['blocking_rules_to_generate_predictions'])} blocking rules "
        f"-> {args.output}"
    )
    return 0


def import_main(argv: Sequence[str] | None = None) -> int:
    """Entry point of ``er-toolkit import-splink``."""
    args = _import_parser().parse_args(argv)
    return run_cli(lambda: import_splink(args))


def export_main(argv: Sequence[str] | None = None) -> int:
    """Entry point of ``er-toolkit export-splink``."""
    args = _export_parser().parse_args(argv)
    return run_cli(lambda: export_splink(args))


def main(argv: Sequence[str] | None = None) -> int:
    """Entry point of ``python -m er_toolkit.interop import-splink|export-splink ...``."""
    argv = list(sys.argv[1:] if argv is None else argv)
    verbs = {"import-splink": import_main, "export-splink": export_main}
    if not argv or argv[0] not in verbs:
        print(
            "usage: python -m er_toolkit.interop {import-splink,export-splink} ...",
            file=sys.stderr,
        )
        return 2
    return verbs[argv[0]](argv[1:])
