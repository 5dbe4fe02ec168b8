"""``er-toolkit export-splink``: an er_toolkit Fellegi-Sunter model as Splink 5 settings."""

from __future__ import annotations

import sys
from collections.abc import Sequence

from er_toolkit.cli import ArgumentParser, run_cli, set_tracking_uri

__all__ = ["main"]


def _parser() -> ArgumentParser:
    parser = ArgumentParser(
        prog="er-toolkit export-splink",
        description="Write an er_toolkit Fellegi-Sunter model (JSON path or "
        "models:/<name>/<version>) as Splink 5 settings JSON, which "
        "splink.Linker(table, settings, db_api) loads and predicts with.",
    )
    parser.add_argument(
        "--model", required=True, help="model JSON path or MLflow URI (models:/name/1)"
    )
    parser.add_argument("--output", required=True, help="the settings JSON to write")
    parser.add_argument(
        "--unique-id-column",
        default="unique_id",
        help="Splink's record id column (default: %(default)s)",
    )
    parser.add_argument(
        "--source-dataset-column",
        default="source_dataset",
        help="Splink's source column, for link jobs (default: %(default)s)",
    )
    parser.add_argument(
        "--dates",
        choices=("text", "date"),
        default="text",
        help="date comparisons without a date_format read ISO text columns "
        "(text, the default) or DATE columns (date)",
    )
    parser.add_argument("--tracking-uri", default=None, help="MLflow tracking URI")
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    """Entry point of ``er-toolkit export-splink``; print a one-line summary."""
    args = _parser().parse_args(argv)

    def job() -> int:
        from er_toolkit.interop.splink import to_splink
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

    return run_cli(job)


if __name__ == "__main__":
    sys.exit(main())
