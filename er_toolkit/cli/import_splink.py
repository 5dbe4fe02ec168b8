"""``er-toolkit import-splink``: a trained Splink 5 model into an er_toolkit model file."""

from __future__ import annotations

import dataclasses
import hashlib
import json
import math
import sys
from collections.abc import Sequence

from er_toolkit.cli import ArgumentParser, run_cli, set_tracking_uri
from er_toolkit.exceptions import ConfigError

__all__ = ["main"]


def _parser() -> ArgumentParser:
    parser = ArgumentParser(
        prog="er-toolkit import-splink",
        description="Read a trained Splink 5 model (the settings JSON of "
        "linker.misc.save_model_to_json) into an er_toolkit model file; optionally "
        "log it to MLflow and register it like a trained model.",
    )
    parser.add_argument(
        "--settings", required=True, help="the Splink settings JSON file"
    )
    parser.add_argument("--output", required=True, help="the model JSON to write")
    parser.add_argument(
        "--name",
        default="splink_model",
        help="model name, and registered name (default: %(default)s)",
    )
    parser.add_argument(
        "--threshold",
        type=float,
        default=0.5,
        help="match probability at which pairs link (default: %(default)s)",
    )
    parser.add_argument(
        "--mlflow", action="store_true", help="log the model to MLflow and register it"
    )
    parser.add_argument(
        "--no-register", action="store_true", help="with --mlflow, register no version"
    )
    parser.add_argument("--experiment", default=None, help="MLflow experiment name")
    parser.add_argument("--tracking-uri", default=None, help="MLflow tracking URI")
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    """Entry point of ``er-toolkit import-splink``; print a one-line summary."""
    args = _parser().parse_args(argv)

    def job() -> int:
        from er_toolkit.interop.splink import from_splink, read_settings

        if not 0.0 < args.threshold < 1.0:
            raise ConfigError(
                f"--threshold must be a match probability in (0, 1); got {args.threshold}."
            )
        settings = read_settings(args.settings)
        linker = from_splink(settings, name=args.name, threshold=args.threshold)
        if args.experiment:
            linker.config = dataclasses.replace(
                linker.config, experiment=args.experiment
            )
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

    return run_cli(job)


if __name__ == "__main__":
    sys.exit(main())
