"""Batch scoring of new records with a saved or registered model."""

from __future__ import annotations

import time
from collections.abc import Sequence
from pathlib import Path

import polars as pl

from er_toolkit import schema
from er_toolkit.cli import ArgumentParser, run_cli, set_tracking_uri
from er_toolkit.exceptions import ConfigError
from er_toolkit.io import OutputSet, Source, read_frame
from er_toolkit.pipeline import Linker
from er_toolkit.track import load_linker

__all__ = ["main", "parser", "score_files"]

SCORED_FILE = "scored_pairs.parquet"
CLUSTERS_FILE = "clusters.parquet"


def parser() -> ArgumentParser:
    """Return the argument parser of ``python -m er_toolkit.score``."""
    p = ArgumentParser(
        prog="er-toolkit score",
        description="Score new records with a saved model (JSON path) or a registered "
        "one (models:/<name>/<version>); write scored pairs and clusters as Parquet.",
    )
    p.add_argument(
        "--model", required=True, help="model JSON path or models:/name/version"
    )
    p.add_argument(
        "--input",
        required=True,
        action="append",
        help="CSV or Parquet file of records; repeat once per source for a link model",
    )
    p.add_argument(
        "--source-name",
        action="append",
        default=None,
        help="name of each input's source (default: the model's source names, else "
        "the file names)",
    )
    p.add_argument(
        "--id-column",
        default=None,
        help="column holding record ids (default: the one the model was trained with)",
    )
    p.add_argument(
        "--output",
        required=True,
        help="folder for the Parquet outputs: new, empty, or an earlier output (it "
        "is replaced as a whole, with a manifest.json)",
    )
    p.add_argument(
        "--encoding",
        default="utf8",
        help="text encoding of CSV inputs (default utf8; e.g. windows-1252, "
        "utf8-lossy)",
    )
    p.add_argument(
        "--threshold", type=float, default=None, help="match probability for clusters"
    )
    p.add_argument("--tracking-uri", default=None, help="MLflow tracking URI")
    p.add_argument(
        "--engine",
        choices=("polars", "spark"),
        default="polars",
        help="where blocking, scoring and clustering run (default polars); spark "
        "uses the active SparkSession or a local one, and the outputs are "
        "collected here to be written",
    )
    return p


def score_files(
    linker: Linker,
    inputs: Sequence[str],
    *,
    output: str | Path,
    source_names: Sequence[str] | None = None,
    id_column: str | None = None,
    encoding: str = "utf8",
    threshold: float | None = None,
) -> dict[str, int | float]:
    """Score ``inputs`` with ``linker``; write pairs and clusters to ``output``.

    ``threshold`` overrides the model's decision threshold for this run
    (the model itself is not changed).

    The output folder is checked and locked before any work, and the two
    files are published together (:class:`er_toolkit.io.OutputSet`): a
    reader sees both from this run, or both from the last, never a mix.

    Returns
    -------
    dict
        Counts for the one-line summary.
    """
    start = time.perf_counter()
    with OutputSet(output) as out:
        summary = _score(
            linker, inputs, source_names, id_column, encoding, threshold, out
        )
    summary["seconds"] = time.perf_counter() - start
    return summary


def _score(
    linker: Linker,
    inputs: Sequence[str],
    source_names: Sequence[str] | None,
    id_column: str | None,
    encoding: str,
    threshold: float | None,
    out: OutputSet,
) -> dict[str, int | float]:
    trained = linker.config.sources
    if source_names is None:
        if len(trained) == len(inputs):
            source_names = [s.name for s in trained]
        else:
            source_names = [Path(p).stem for p in inputs]
    if len(source_names) != len(inputs):
        raise ConfigError(
            f"Got {len(inputs)} --input file(s) but {len(source_names)} --source-name(s); "
            "give one name per input."
        )
    if linker.config.link_type == "link" and len(inputs) < 2:
        raise ConfigError(
            f"Model {linker.config.name!r} links sources, so it needs at least two "
            f"--input files; got {len(inputs)}."
        )
    sources = []
    for i, (path, name) in enumerate(zip(inputs, source_names, strict=True)):
        column = id_column
        if column is None:
            column = trained[i].id_column if i < len(trained) else schema.RECORD_ID
        frame = read_frame(path, name="--input", encoding=encoding)
        sources.append(Source(name, frame, id_column=column))
    records = linker.records(sources)
    pairs = linker.block(records)
    scored = linker.predict(records, candidate_pairs=pairs)
    cut = linker.threshold_ if threshold is None else threshold
    clusters = linker.cluster(records, scored, threshold=cut)
    n_records = linker.engine.height(records)
    scored = linker.engine.collect(scored)
    clusters = linker.engine.collect(clusters)
    summary: dict[str, int | float] = {
        "records": n_records,
        "pairs": scored.height,
        "matches": scored.filter(pl.col(schema.MATCH_PROBABILITY) >= cut).height,
        "clusters": clusters.get_column(schema.CLUSTER_ID).n_unique(),
    }
    out.publish(
        {
            SCORED_FILE: scored.drop(schema.ROW_L, schema.ROW_R),
            CLUSTERS_FILE: clusters.drop(schema.ROW),
        },
        metadata={"model": linker.config.name, "threshold": cut, **summary},
    )
    return summary


def main(argv: list[str] | None = None) -> int:
    """Entry point of ``python -m er_toolkit.score``."""
    args = parser().parse_args(argv)

    def job() -> int:
        set_tracking_uri(args.tracking_uri)
        linker = load_linker(args.model)
        if args.engine != "polars":
            from er_toolkit.engines import as_engine

            linker.engine = as_engine(args.engine)
        summary = score_files(
            linker,
            args.input,
            output=args.output,
            source_names=args.source_name,
            id_column=args.id_column,
            encoding=args.encoding,
            threshold=args.threshold,
        )
        print(
            "scored {records:,} records: {pairs:,} candidate pairs, {matches:,} matches, "
            "{clusters:,} clusters in {seconds:.1f}s -> ".format(**summary)
            + str(Path(args.output))
        )
        return 0

    return run_cli(job)
