"""Command line: propose blocking rules for a config (``er-toolkit advise-blocking``)."""

from __future__ import annotations

import sys
from collections.abc import Sequence
from pathlib import Path

import polars as pl

from er_toolkit.blocking.advisor import advise_blocking, estimated_matches
from er_toolkit.cli import ArgumentParser, run_cli
from er_toolkit.config import LinkageConfig
from er_toolkit.pairs import possible_pairs
from er_toolkit.pipeline import Linker

__all__ = ["main"]


def _parser() -> ArgumentParser:
    parser = ArgumentParser(
        prog="er-toolkit advise-blocking",
        description="Propose blocking rules that reach a target recall of known "
        "(labelled or EM-estimated) matches within a pair budget.",
    )
    parser.add_argument("--config", required=True, help="path to a TOML config")
    parser.add_argument("--target-recall", type=float, default=0.99)
    parser.add_argument("--max-pairs", type=int, default=5_000_000)
    parser.add_argument(
        "--columns",
        nargs="+",
        default=None,
        help="columns to build rules on (default: the columns the comparisons read)",
    )
    parser.add_argument(
        "--estimate",
        action="store_true",
        help="use EM-estimated matches even when the config has labels",
    )
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    """Entry point: print the advice as ``[[blocking.blockers]]`` tables and a summary."""
    args = _parser().parse_args(argv)

    def job() -> int:
        config = LinkageConfig.from_toml(Path(args.config))
        linker = Linker(config)
        records = linker.records()
        truth = None if args.estimate else linker.true_pairs(records)
        source = "labelled"
        if truth is None:
            truth, source = estimated_matches(linker, records), "EM-estimated"
        columns = args.columns or list(
            dict.fromkeys(
                c.column for c in config.comparisons if c.column in records.columns
            )
        )
        advice = advise_blocking(
            records,
            truth,
            link_type=config.link_type,
            target_recall=args.target_recall,
            max_pairs=args.max_pairs,
            columns=columns,
        )
        print(advice.to_toml())
        with pl.Config(tbl_rows=-1, tbl_hide_dataframe_shape=True):
            print(advice.steps)
        verdict = "reached" if advice.reached else "NOT reached"
        print(
            f"# recall {advice.recall:.4f} of {truth.height:,} {source} matches "
            f"({verdict}: target {args.target_recall}) with {advice.pairs:,} pairs "
            f"(reduction ratio "
            f"{1 - advice.pairs / max(possible_pairs(records, link_type=config.link_type), 1):.6f})"
        )
        return 0 if advice.reached else 1

    return run_cli(job)


if __name__ == "__main__":
    sys.exit(main())
