"""Cluster quality on hard synthetic customers: a config against the baseline.

Usage::

    python -m benchmarks.hard_quality --n 100000 --seed 0 --out benchmarks/out \
        [--configs benchmarks/configs/compare_er_toolkit.toml \
                   benchmarks/configs/compare_er_toolkit_hard.toml]

Reads (or makes) the side-by-side runner's prepared hard data
(:func:`benchmarks.compare_prepare.prepare` with ``data="hard"``: households,
twins, namesakes, swapped and packed names, transliterations, placeholders)
and runs each config on it as the runner runs er_toolkit (one dedupe source;
block, compare once, fit unsupervised, score, cluster at the config's
threshold). Each run's clusters and pairs at the threshold go to
``OUT/runs/{config stem}_hard_n{n}_seed{seed}``, where
``python -m benchmarks.hard_errors --tool {config stem}`` reads them. Labels
are read only to evaluate: pairwise metrics of the pairs
at the threshold and cluster precision / recall / F1 over all records
(:func:`er_toolkit.evaluate.cluster_metrics`). Prints one markdown row per
config.
"""

from __future__ import annotations

import argparse
import time
from collections.abc import Sequence
from pathlib import Path

import polars as pl

from benchmarks.compare_prepare import prepare
from er_toolkit.config import LinkageConfig
from er_toolkit.evaluate import cluster_metrics
from er_toolkit.io import Source
from er_toolkit.pipeline import Linker

HERE = Path(__file__).resolve().parent
CONFIGS = (
    HERE / "configs" / "compare_er_toolkit.toml",
    HERE / "configs" / "compare_er_toolkit_hard.toml",
)
HEADER = (
    "| config | candidate pairs | pairwise P | pairwise R | pairwise F1 | cluster P "
    "| cluster R | cluster F1 | largest cluster | seconds |\n"
    "|---|---|---|---|---|---|---|---|---|---|"
)


def run(config_path: Path, data: Path, workdir: Path) -> str:
    """Run one config on the prepared file, write its run to ``workdir``; return its row."""
    start = time.perf_counter()
    config = LinkageConfig.from_toml(config_path)
    linker = Linker(config)
    records = linker.records([Source("customers", data)], keep=["unique_id"])
    pairs = linker.block(records)
    vectors = linker.compare(records, pairs)
    linker.fit(records, candidate_pairs=pairs, candidate_vectors=vectors)
    scored = linker.predict(records, candidate_vectors=vectors, record_ids=False)
    clusters = linker.cluster(records, scored)
    threshold = linker.scorer_.threshold_
    entity = records.select("_row", "entity_id")
    linked = (
        scored.filter(pl.col("match_probability") >= threshold)
        .join(entity.rename({"_row": "_row_l", "entity_id": "e_l"}), on="_row_l")
        .join(entity.rename({"_row": "_row_r", "entity_id": "e_r"}), on="_row_r")
    )
    true_pairs = int(
        entity.group_by("entity_id")
        .len()
        .select((pl.col("len") * (pl.col("len") - 1) // 2).sum())
        .item()
    )
    ids = records.select("_row", "unique_id")
    workdir.mkdir(parents=True, exist_ok=True)
    linked.join(
        ids.rename({"_row": "_row_l", "unique_id": "unique_id_l"}), on="_row_l"
    ).join(
        ids.rename({"_row": "_row_r", "unique_id": "unique_id_r"}), on="_row_r"
    ).select("unique_id_l", "unique_id_r").write_parquet(workdir / "pairs.parquet")
    clusters.join(ids, on="_row").select("unique_id", "cluster_id").write_parquet(
        workdir / "clusters.parquet"
    )
    tp = int((linked["e_l"] == linked["e_r"]).sum())
    precision = tp / linked.height if linked.height else 0.0
    recall = tp / true_pairs if true_pairs else 0.0
    f1 = 2 * precision * recall / (precision + recall) if tp else 0.0
    cm = cluster_metrics(
        clusters, records, entity_column="entity_id", link_type=config.link_type
    )
    largest = int(clusters.group_by("cluster_id").len()["len"].max() or 0)
    return (
        f"| {config_path.name} | {vectors.height:,} | {precision:.4f} | {recall:.4f} "
        f"| {f1:.4f} | {cm['cluster_precision']:.4f} | {cm['cluster_recall']:.4f} "
        f"| {cm['cluster_f1']:.4f} | {largest} | {time.perf_counter() - start:.0f} |"
    )


def main(argv: Sequence[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--n", type=int, default=100_000)
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--out", type=Path, default=HERE / "out")
    parser.add_argument("--configs", type=Path, nargs="+", default=list(CONFIGS))
    args = parser.parse_args(argv)
    data = prepare(args.n, args.seed, args.out / "data", data="hard")
    print(f"hard data, {args.n:,} records, seed {args.seed}\n\n{HEADER}", flush=True)
    for path in args.configs:
        workdir = args.out / "runs" / f"{path.stem}_hard_n{args.n}_seed{args.seed}"
        print(run(path, data, workdir), flush=True)


if __name__ == "__main__":
    main()
