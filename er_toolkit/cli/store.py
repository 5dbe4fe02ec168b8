"""``er-toolkit store <action>``: the master store's verbs for schedulers and scripts.

``init``, ``apply``, ``lookup``, ``decide``, ``erase``, ``history``,
``golden``, ``export`` and ``drift``, each ``er-toolkit store <action>
--store FILE ...``. Every action prints one summary line and exits 0 on success, 2 on bad input
(one ``error:`` line on stderr), 75 when another process holds the store
(retry later), and ``drift`` exits 1 when a batch drifted.
"""

from __future__ import annotations

import argparse
import json
import sys
from collections.abc import Sequence
from pathlib import Path
from typing import Any, Final

import polars as pl

from er_toolkit.cli import ArgumentParser, run_cli, set_tracking_uri
from er_toolkit.exceptions import ConfigError, StoreLockedError
from er_toolkit.io import read_frame, write_parquet_atomic

__all__ = ["EXIT_DRIFT", "EXIT_LOCKED", "main", "parser"]

EXIT_DRIFT: Final = 1
EXIT_LOCKED: Final = 75
"""``EX_TEMPFAIL``: the store is locked by another process; try again later."""
PROG: Final = "er-toolkit store"


def parser() -> ArgumentParser:
    """Return the argument parser of ``store`` (usage errors: one line, exit 2)."""
    p = ArgumentParser(
        prog=PROG,
        description="The master store: records, clusters, golden records, steward "
        "decisions and the audit log in one DuckDB file.",
    )
    verbs = p.add_subparsers(
        dest="verb", required=True, metavar="ACTION", parser_class=ArgumentParser
    )

    def verb(name: str, text: str) -> argparse.ArgumentParser:
        sub = verbs.add_parser(name, help=text, description=text)
        sub.add_argument("--store", required=True, help="the store's DuckDB file")
        return sub

    def who(sub: argparse.ArgumentParser, *, required: bool) -> None:
        sub.add_argument(
            "--actor", required=required, default="system", help="who acts"
        )
        sub.add_argument("--reason", required=required, default=None, help="why")

    def inputs(sub: argparse.ArgumentParser, *, required: bool) -> None:
        sub.add_argument(
            "--input",
            action="append",
            required=required,
            default=None,
            help="CSV or Parquet records; repeat once per source, or give one file "
            "with a 'source' column",
        )
        sub.add_argument(
            "--source-name",
            action="append",
            default=None,
            help="each input's source name (default: its 'source' column)",
        )
        sub.add_argument("--id-column", default=None, help="column of record ids")

    init = verb("init", "create a store for a trained model")
    init.add_argument(
        "--model", required=True, help="model JSON path or models:/name/version"
    )
    init.add_argument("--tracking-uri", default=None, help="MLflow tracking URI")
    init.add_argument(
        "--tf-reference",
        default=None,
        help="records whose value frequencies the model's term-frequency levels use "
        "(default: the first batch)",
    )
    init.add_argument(
        "--keep", action="append", default=[], help="extra column to store"
    )
    inputs(init, required=False)
    who(init, required=False)

    apply = verb("apply", "apply a batch of new or changed records")
    inputs(apply, required=True)
    who(apply, required=False)

    lookup = verb("lookup", "find the clusters records would join, without writing")
    lookup.add_argument(
        "--input", default=None, help="CSV or Parquet records to look up"
    )
    lookup.add_argument("--json", default=None, help="one record as a JSON object")
    lookup.add_argument(
        "--output", default=None, help="Parquet file (default: JSON lines)"
    )
    lookup.add_argument("--top", type=int, default=5, help="clusters per record")
    lookup.add_argument("--min-probability", type=float, default=0.0)

    decide = verb("decide", "record a steward decision, or undo one")
    decide.add_argument(
        "--kind", choices=["must_link", "cannot_link", "own_entity"], default=None
    )
    decide.add_argument(
        "--record", action="append", default=[], help="SOURCE:RECORD_ID (once or twice)"
    )
    decide.add_argument(
        "--undo", type=int, default=None, help="decision id to withdraw"
    )
    who(decide, required=True)

    erase = verb("erase", "erase records for good (right to be forgotten)")
    erase.add_argument("--record", action="append", default=[], help="SOURCE:RECORD_ID")
    erase.add_argument(
        "--cluster", default=None, help="erase every member of a cluster"
    )
    who(erase, required=True)

    history = verb("history", "a cluster's audit events")
    history.add_argument("--cluster", required=True)
    history.add_argument("--output", default=None, help="Parquet file (default: lines)")

    golden = verb("golden", "write the golden records")
    golden.add_argument("--output", required=True, help="Parquet file")
    golden.add_argument("--cluster", action="append", default=None)

    export = verb("export", "write clusters, golden records, decisions and audit")
    export.add_argument("--output", required=True, help="folder for Parquet files")

    drift = verb("drift", "compare the latest batch's data quality with the baseline")
    drift.add_argument("--output", default=None, help="Parquet file of the report")
    return p


def _ref(text: str) -> tuple[str, str]:
    source, sep, record_id = text.partition(":")
    if not sep or not source or not record_id:
        raise ConfigError(
            f"A record is written SOURCE:RECORD_ID (e.g. crm:1042); got {text!r}."
        )
    return source, record_id


def _batch(args: argparse.Namespace) -> list[Any]:
    from er_toolkit.io import Source

    files = args.input or []
    names = args.source_name
    if names is not None and len(names) != len(files):
        raise ConfigError(
            f"Got {len(files)} --input file(s) but {len(names)} --source-name(s); give "
            "one name per input, or none (each file then needs a 'source' column)."
        )
    out: list[Any] = []
    for i, path in enumerate(files):
        frame = read_frame(path, name=f"input {path!r}")
        if names is not None:
            out.append(
                Source(
                    names[i],
                    frame.drop("source", strict=False),
                    id_column=args.id_column or "record_id",
                )
            )
        else:
            out.append(frame)
    return out


def _apply_all(store: Any, args: argparse.Namespace) -> list[Any]:
    summaries = []
    parts = _batch(args)
    sources = [p for p in parts if not isinstance(p, pl.DataFrame)]
    frames = [p for p in parts if isinstance(p, pl.DataFrame)]
    if sources:
        summaries.append(
            store.apply(
                sources, id_column=args.id_column, actor=args.actor, reason=args.reason
            )
        )
    if frames:
        summaries.append(
            store.apply(
                pl.concat(frames, how="diagonal_relaxed"),
                id_column=args.id_column,
                actor=args.actor,
                reason=args.reason,
            )
        )
    return summaries


def _write(frame: pl.DataFrame, output: str | None) -> None:
    if output is not None:
        write_parquet_atomic(frame, output)
        return
    for row in frame.iter_rows(named=True):
        print(json.dumps(row, default=str))


def _run(args: argparse.Namespace) -> int:
    from er_toolkit.master import MasterStore

    verb = args.verb
    if verb == "init":
        set_tracking_uri(args.tracking_uri)
        reference = (
            read_frame(args.tf_reference, name="tf reference")
            if args.tf_reference
            else None
        )
        with MasterStore.init(
            args.store,
            args.model,
            term_frequencies=reference,
            keep=args.keep,
            actor=args.actor,
            reason=args.reason or "store initialised",
        ) as store:
            lines = [s.line() for s in _apply_all(store, args)] if args.input else []
            counts = store.counts()
        print(
            f"store {args.store} created (model version 1): {counts['records']:,} records, "
            f"{counts['clusters']:,} clusters" + (f"; {lines[-1]}" if lines else "")
        )
        return 0
    read_only = verb in ("lookup", "history", "golden", "export", "drift")
    with MasterStore.open(args.store, read_only=read_only) as store:
        if verb == "apply":
            for summary in _apply_all(store, args):
                print(summary.line())
        elif verb == "lookup":
            if (args.input is None) == (args.json is None):
                raise ConfigError("lookup needs exactly one of --input and --json.")
            if args.json is not None:
                try:
                    record: Any = json.loads(args.json)
                except json.JSONDecodeError as exc:
                    raise ConfigError(f"--json is not valid JSON: {exc.msg}.") from exc
            else:
                record = read_frame(args.input, name=f"input {args.input!r}")
            out = store.lookup(
                record, top=args.top, min_probability=args.min_probability
            )
            _write(out.with_columns(pl.col("golden").struct.json_encode()), args.output)
            matched = out.filter(pl.col("is_match")).get_column("query").n_unique()
            queries = len(record) if not isinstance(record, dict) else 1
            print(
                f"looked up {queries:,} record(s): {matched:,} match a stored cluster, "
                f"{out.height:,} candidate cluster(s)",
                file=sys.stderr if args.output is None else sys.stdout,
            )
        elif verb == "decide":
            if args.undo is not None:
                summary = store.undo(args.undo, actor=args.actor, reason=args.reason)
                print(f"undid decision {args.undo}: " + summary.line())
            else:
                if args.kind is None:
                    raise ConfigError("decide needs --kind (or --undo DECISION_ID).")
                did = store.decide(
                    args.kind,
                    *(_ref(r) for r in args.record),
                    actor=args.actor,
                    reason=args.reason,
                )
                print(f"decision {did}: {args.kind} of {', '.join(args.record)}")
        elif verb == "erase":
            summary = store.erase(
                [_ref(r) for r in args.record],
                cluster_id=args.cluster,
                actor=args.actor,
                reason=args.reason,
            )
            print(summary.line())
        elif verb == "history":
            events = store.history(args.cluster)
            if args.output is not None:
                write_parquet_atomic(events, args.output)
            else:
                for e in events.iter_rows(named=True):
                    print(
                        f"{e['occurred_at']} {e['kind']} by {e['actor']}: "
                        f"{e['clusters_before']} -> {e['clusters_after']} ({e['reason']})"
                    )
            print(f"{events.height:,} event(s) name cluster {args.cluster}")
        elif verb == "golden":
            golden = store.golden(args.cluster)
            write_parquet_atomic(golden, args.output)
            print(f"wrote {golden.height:,} golden records -> {args.output}")
        elif verb == "export":
            written = store.export(args.output)
            print(f"exported {', '.join(sorted(written))} -> {Path(args.output)}")
        elif verb == "drift":
            report = store.drift()
            if args.output is not None:
                write_parquet_atomic(report, args.output)
            flagged = report.filter("drift")
            for row in flagged.iter_rows(named=True):
                print(
                    f"drift: {row['stage']} {row['source']} {row['column']} {row['metric']} "
                    f"{row['baseline']:.3f} -> {row['latest']:.3f}",
                    file=sys.stderr,
                )
            batch = int(report.get_column("batch_id")[0]) if report.height else None
            print(
                f"batch {batch}: {flagged.height} drifted measure(s) of {report.height}"
                if batch is not None
                else "fewer than two batches: nothing to compare"
            )
            return EXIT_DRIFT if flagged.height else 0
    return 0


def main(argv: Sequence[str] | None = None) -> int:
    """Entry point of ``store``: parse ``argv``, run the verb, return the exit code."""
    args = parser().parse_args(argv)

    def job() -> int:
        try:
            return _run(args)
        except StoreLockedError as exc:
            print(f"error: {' '.join(str(exc).split())}", file=sys.stderr)
            return EXIT_LOCKED

    return run_cli(job)


if __name__ == "__main__":
    raise SystemExit(main())
