"""Command line: print the data-quality profile of a file, optionally standardised."""

from __future__ import annotations

import json
import sys
from collections.abc import Sequence
from pathlib import Path

import polars as pl

from er_toolkit import schema
from er_toolkit.cli import ArgumentParser, run_cli
from er_toolkit.exceptions import ConfigError, InputFormatError
from er_toolkit.io import read_frame, write_csv_atomic, write_parquet_atomic
from er_toolkit.standardise import (
    STANDARDISERS,
    profile_frame,
    profile_standardisation,
    steps_from_dict,
)

__all__ = ["main", "parse_standardise", "run"]


def parse_standardise(specs: Sequence[str]) -> dict[str, list[object]]:
    """Turn ``column=kind`` or ``column={"kind": ..., ...}`` options into a declaration.

    A column given more than once gets its standardisers applied in turn.

    Examples
    --------
    >>> parse_standardise(["phone=phone", 'pc={"kind": "postcode", "country": "US"}'])
    {'phone': ['phone'], 'pc': [{'kind': 'postcode', 'country': 'US'}]}
    """
    out: dict[str, list[object]] = {}
    for spec in specs:
        column, sep, kind = spec.partition("=")
        column, kind = column.strip(), kind.strip()
        if not sep or not column or not kind:
            raise ConfigError(
                f"--standardise takes COLUMN=KIND or COLUMN=JSON; got {spec!r}. "
                f"Kinds: {', '.join(sorted(STANDARDISERS))}."
            )
        if kind.startswith("{"):
            try:
                declaration: object = json.loads(kind)
            except json.JSONDecodeError as exc:
                raise ConfigError(
                    f"--standardise {spec!r}: the JSON after '=' is not valid ({exc})."
                ) from exc
        else:
            declaration = kind
        out.setdefault(column, []).append(declaration)
    return out


def _parser() -> ArgumentParser:
    parser = ArgumentParser(
        prog="er-toolkit profile",
        description=(
            "Print the data-quality profile (completeness, validity, distinct "
            "values, lengths, patterns) of each column per source."
        ),
    )
    parser.add_argument("--input", required=True, help="CSV, TSV or Parquet file")
    parser.add_argument(
        "--encoding", default="utf8", help="text encoding of a CSV input (default utf8)"
    )
    parser.add_argument(
        "--source-column",
        default=schema.SOURCE,
        help="column naming each record's source (default: %(default)s; "
        "without it the whole file is one source)",
    )
    parser.add_argument(
        "--columns", nargs="+", default=None, help="columns to profile (default: all)"
    )
    parser.add_argument(
        "--standardise",
        action="append",
        default=[],
        metavar="COLUMN=KIND",
        help="standardise COLUMN with KIND (or a JSON declaration such as "
        '\'{"kind": "phone", "default_region": "US"}\') and profile before and '
        f"after; repeatable. Kinds: {', '.join(sorted(STANDARDISERS))}",
    )
    parser.add_argument("--top-n", type=int, default=5, help="most frequent values")
    parser.add_argument(
        "--output", default=None, help="write the profile (.csv/.parquet)"
    )
    return parser


def _write(profile: pl.DataFrame, output: str) -> None:
    path = Path(output)
    suffix = path.suffix.lower()
    if suffix == ".csv":
        write_csv_atomic(profile, path)
    elif suffix in (".parquet", ".pq"):
        write_parquet_atomic(profile, path)
    else:
        raise InputFormatError(
            f"--output must end in .csv, .parquet or .pq; got {path.name!r}."
        )


def run(argv: Sequence[str] | None = None) -> pl.DataFrame:
    """Run the command line with ``argv`` and return the profile it printed."""
    args = _parser().parse_args(argv)
    if args.top_n < 1:
        raise ConfigError(f"--top-n must be at least 1; got {args.top_n}.")
    frame = read_frame(args.input, name="--input", encoding=args.encoding)
    if args.source_column != schema.SOURCE and args.source_column not in frame.columns:
        raise ConfigError(
            f"--source-column {args.source_column!r} is not a column of the input; "
            f"valid columns: {frame.columns}."
        )
    if args.standardise:
        steps = steps_from_dict(parse_standardise(args.standardise))
        _, profile = profile_standardisation(
            frame, steps, source_column=args.source_column, top_n=args.top_n
        )
        if args.columns:
            profile = profile.filter(pl.col("column").is_in(args.columns))
    else:
        profile = profile_frame(
            frame,
            source_column=args.source_column,
            columns=args.columns,
            top_n=args.top_n,
        )
    if args.output:
        _write(profile, args.output)
    with pl.Config(tbl_rows=-1, tbl_cols=-1, fmt_str_lengths=60, tbl_width_chars=400):
        print(profile)
    return profile


def main(argv: Sequence[str] | None = None) -> int:
    """Entry point: return 0 on success, 2 with a one-line error on bad input."""

    def job() -> int:
        run(argv)
        return 0

    return run_cli(job)


if __name__ == "__main__":
    sys.exit(main())
