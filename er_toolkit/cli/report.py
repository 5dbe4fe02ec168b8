"""``er-toolkit report``: score a config's records with a model and write the report."""

from __future__ import annotations

import sys
from collections.abc import Sequence
from pathlib import Path

from er_toolkit.cli import ArgumentParser, run_cli, set_tracking_uri
from er_toolkit.exceptions import ConfigError

__all__ = ["main"]


def _parser() -> ArgumentParser:
    parser = ArgumentParser(
        prog="er-toolkit report",
        description="Block, score and cluster a config's records with a trained model "
        "and write the static HTML run report (charts, tables, explained pairs).",
    )
    parser.add_argument(
        "--model", required=True, help="model JSON path or MLflow URI (models:/name/1)"
    )
    parser.add_argument(
        "--config",
        default=None,
        help="TOML config naming the records (default: the config saved in the model)",
    )
    parser.add_argument("--output", required=True, help="the HTML file to write")
    parser.add_argument(
        "--show-values",
        action="store_true",
        help="show record values in the report (masked by default)",
    )
    parser.add_argument(
        "--sample", type=int, default=8, help="explained pairs (default: %(default)s)"
    )
    parser.add_argument("--seed", type=int, default=0, help="seed of the samples")
    parser.add_argument("--tracking-uri", default=None, help="MLflow tracking URI")
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    """Entry point of ``python -m er_toolkit.report``."""
    args = _parser().parse_args(argv)

    def job() -> int:
        from er_toolkit.config import LinkageConfig
        from er_toolkit.pipeline import Linker
        from er_toolkit.report.run import training_report
        from er_toolkit.track import load_linker

        if args.sample < 0:
            raise ConfigError(f"--sample must be 0 or more; got {args.sample}.")
        set_tracking_uri(args.tracking_uri)
        linker = load_linker(args.model)
        if args.config:
            config = LinkageConfig.from_toml(Path(args.config))
            saved = [c.name for c in linker.config.comparisons]
            given = [c.name for c in config.comparisons]
            if saved != given:
                raise ConfigError(
                    f"--config declares comparisons {given}, but the model was trained "
                    f"with {saved}; give the config the model was trained from."
                )
            # the model's scorer, with its fitted threshold, scores these records
            scorer = linker.scorer_
            linker = Linker(config)
            linker.scorer_ = scorer
        records = linker.records()
        pairs = linker.block(records)
        scored = linker.predict(records, candidate_pairs=pairs)
        clusters = linker.cluster(records, scored)
        truth = linker.true_pairs(records)
        report = training_report(
            linker,
            records,
            candidate_pairs=pairs,
            scored=scored,
            clusters=clusters,
            truth=truth,
            show_values=args.show_values,
            sample_size=args.sample,
            seed=args.seed,
        )
        path = report.write(args.output)
        print(
            f"report: {path} ({len(report.figures)} charts, "
            f"{len(report.explained)} explained pairs, values "
            f"{'shown' if args.show_values else 'masked'})"
        )
        return 0

    return run_cli(job)


if __name__ == "__main__":
    sys.exit(main())
