"""er_toolkit alone at scale (up to 10M records): time and memory per stage.

Usage::

    python -m benchmarks.scale --n 10000000 --max-block-size 200 --chunk-size 10000000 \
        --results-md benchmarks/RESULTS.md [--data hard]

The records are the side-by-side benchmark's prepared synthetic customers
(:mod:`benchmarks.compare_prepare`; preparation is not timed). Blocking purges
blocks over ``--max-block-size`` records, EM sessions train on capped record
samples, λ comes from the sessions, and prediction compares and scores the
candidate pairs in chunks, keeping pairs at or above ``--min-probability``, so
memory holds one chunk of comparison vectors. Writes
``<out>/scale_n<N>.json``, prints a markdown row and, with ``--results-md``,
writes the table of every size measured so far into that file's
"er_toolkit alone at scale" section. ``--data hard`` runs on the generator's
``difficulty="hard"`` data instead, into ``<out>/scale_hard_n<N>.json`` and
a section of its own.
"""

from __future__ import annotations

import argparse
import json
import os
import resource
import sys
import time
from dataclasses import replace
from pathlib import Path
from typing import Any

import polars as pl

from benchmarks.compare_prepare import prepare
from benchmarks.markdown import replace_section
from benchmarks.synthetic import DIFFICULTIES, Difficulty
from er_toolkit.config import LinkageConfig
from er_toolkit.io import Source
from er_toolkit.pipeline import Linker

CONFIG = Path(__file__).resolve().parent / "configs" / "compare_er_toolkit.toml"


def _rss_gib() -> float:
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 2**20


def run(
    n: int,
    *,
    seed: int,
    out: Path,
    max_block_size: int,
    chunk_size: int,
    min_probability: float,
    data: Difficulty = "standard",
) -> dict[str, object]:
    """Run one size and return its measurements."""
    path = prepare(n, seed, out, data=data)
    config = LinkageConfig.from_toml(CONFIG)
    config = replace(
        config,
        blocking=replace(config.blocking, max_block_size=max_block_size or None),
        evaluation=replace(config.evaluation, entity_column="entity_id"),
    )
    linker = Linker(config)
    seconds: dict[str, float] = {}
    rss: dict[str, float] = {}
    start = time.perf_counter()

    def lap(stage: str) -> None:
        nonlocal start
        seconds[stage] = time.perf_counter() - start
        rss[stage] = _rss_gib()
        print(
            f"{stage}: {seconds[stage]:.1f}s, peak RSS {rss[stage]:.2f} GiB", flush=True
        )
        start = time.perf_counter()

    frame = pl.read_parquet(path)
    records = linker.records([Source("customers", frame, id_column="unique_id")])
    del frame
    lap("load")
    pairs = linker.block(records)
    lap("block")
    linker.fit(records, candidate_pairs=pairs)
    lap("train")
    scored = linker.predict(
        records,
        candidate_pairs=pairs,
        chunk_size=chunk_size,
        min_probability=min_probability,
        record_ids=False,
    )
    lap("predict")
    clusters = linker.cluster(records, scored)
    lap("cluster")
    truth = linker.true_pairs(records)
    assert truth is not None
    metrics, _ = linker.evaluate(
        records, candidate_pairs=pairs, scored=scored, clusters=clusters, truth=truth
    )
    result = {
        "command": "python -m benchmarks.scale " + " ".join(sys.argv[1:]),
        "records": records.height,
        "candidate_pairs": pairs.height,
        "kept_pairs": scored.height,
        "seconds": seconds,
        "total_seconds": sum(seconds.values()),
        "peak_rss_gib": _rss_gib(),
        "rss_after_stage_gib": rss,
        "lambda": linker.scorer_.probability_two_random_records_match_,
        "lambda_estimates": list(getattr(linker.scorer_, "lambda_estimates_", [])),
        "lambda_true": truth.height / max(linker.scorer_.total_pairs_, 1),
        "em_sessions": [
            {k: v for k, v in session.items() if k != "trained"}
            for session in linker.scorer_.sessions_
        ],
        "pairs_per_second": pairs.height / max(seconds["predict"], 1e-9),
        "metrics": metrics,
        "settings": {
            "max_block_size": max_block_size,
            "chunk_size": chunk_size,
            "min_probability": min_probability,
            "seed": seed,
            "data": data,
        },
    }
    out.mkdir(parents=True, exist_ok=True)
    (out / f"{_stem(data)}{n}.json").write_text(json.dumps(result, indent=2))
    return result


HEADING = "## er_toolkit alone at scale"
HEADING_HARD = "## er_toolkit alone at scale: hard data"


def _stem(data: str) -> str:
    """File-name stem of a size's JSON: ``scale_n`` or ``scale_hard_n``."""
    return "scale_n" if data == "standard" else f"scale_{data}_n"


COLUMNS = (
    "| records | candidate pairs | kept pairs (p ≥ min) | load s | block s | train s "
    "| predict s | cluster s | total s | peak RSS GiB | pairs/s (predict) | λ (true) "
    "| pairwise P | pairwise R | pairwise F1 | cluster F1 | B³ F1 "
    "| largest cluster |"
)


def table_row(r: dict[str, Any]) -> str:
    """Return one size's markdown row."""
    m, s = r["metrics"], r["seconds"]
    return (
        f"| {r['records']:,} | {r['candidate_pairs']:,} | {r['kept_pairs']:,} "
        + "".join(f"| {s[k]:.0f} " for k in ("load", "block", "train", "predict"))
        + f"| {s['cluster']:.0f} | {r['total_seconds']:.0f} "
        f"| {r['peak_rss_gib']:.1f} | {r['pairs_per_second']:,.0f} "
        f"| {r['lambda']:.3g} ({r.get('lambda_true', float('nan')):.3g}) "
        f"| {m['pairwise_precision']:.4f} "
        f"| {m['pairwise_recall']:.4f} | {m['pairwise_f1']:.4f} "
        f"| {m['cluster_f1']:.4f} | {m['bcubed_f1']:.4f} "
        f"| {int(m['largest_cluster'])} |"
    )


def write_results(
    out: Path, results_md: Path, command: str, data: str = "standard"
) -> None:
    """Write the sizes measured under ``out`` as one section of ``results_md``.

    Standard data is every ``scale_n*.json``, hard data ``scale_hard_n*.json``.
    """
    runs = sorted(
        (json.loads(p.read_text()) for p in out.glob(f"{_stem(data)}*.json")),
        key=lambda r: r["records"],
    )
    commands = "; ".join(f"`{r.get('command', command)}`" for r in runs)
    lines = [
        HEADING if data == "standard" else HEADING_HARD,
        "",
        f"Produced by {commands} ({time.strftime('%Y-%m-%d')}) on "
        f"{os.cpu_count()} cores. The side-by-side runner's prepared customers; "
        "blocks over `--max-block-size` records purged; prediction compares and "
        "scores `--chunk-size` pairs at a time and keeps pairs at or above "
        "`--min-probability`; stage times are wall seconds, peak RSS is the "
        "whole process (evaluation included).",
        "",
        COLUMNS,
        "|" + "---|" * (COLUMNS.count("|") - 1),
        *[table_row(r) for r in runs],
        "",
    ]
    replace_section(results_md, lines[0], "\n".join(lines), title="Benchmark results")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--n", type=int, required=True)
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--out", type=Path, default=Path("benchmarks/out"))
    parser.add_argument("--max-block-size", type=int, default=500)
    parser.add_argument("--chunk-size", type=int, default=20_000_000)
    parser.add_argument("--min-probability", type=float, default=0.01)
    parser.add_argument("--results-md", type=Path, default=None)
    parser.add_argument(
        "--data",
        choices=DIFFICULTIES,
        default="standard",
        help="generator difficulty (hard: households, look-alikes, placeholders)",
    )
    args = parser.parse_args()
    r = run(
        args.n,
        seed=args.seed,
        out=args.out,
        max_block_size=args.max_block_size,
        chunk_size=args.chunk_size,
        min_probability=args.min_probability,
        data=args.data,
    )
    m = r["metrics"]
    assert isinstance(m, dict)
    print(
        "| records | candidate pairs | total s | peak RSS GiB | pairs/s (predict) | "
        "pairwise F1 | cluster F1 | B-cubed F1 | largest cluster |"
    )
    print("|---|---|---|---|---|---|---|---|---|")
    print(
        f"| {r['records']:,} | {r['candidate_pairs']:,} | {r['total_seconds']:.0f} "
        f"| {r['peak_rss_gib']:.1f} | {r['pairs_per_second']:,.0f} "
        f"| {m['pairwise_f1']:.4f} | {m['cluster_f1']:.4f} | {m['bcubed_f1']:.4f} "
        f"| {int(m['largest_cluster'])} |"
    )
    if args.results_md is not None:
        write_results(
            args.out,
            args.results_md,
            "python -m benchmarks.scale " + " ".join(sys.argv[1:]),
            data=args.data,
        )


if __name__ == "__main__":
    main()
