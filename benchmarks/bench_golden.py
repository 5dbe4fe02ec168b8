"""Time golden-record building on synthetic customers (default one million records).

Run ``python -m benchmarks.bench_golden [--rows N] [--repeats N]``. Clusters
are the generator's true entities; each record gets a random ``updated_at``
and ``quality``. Ten attributes are mastered, each kind of rule at least
once; the clock covers the whole :func:`~er_toolkit.golden.build_golden`
call (joins, ranking, lineage, collecting the frame). A last run rebuilds
only a ``--touched`` share of the clusters, as the master store does after a
batch.
"""

from __future__ import annotations

import argparse
import platform
import time

import numpy as np
import polars as pl

from benchmarks.synthetic import generate_customers
from er_toolkit.golden import (
    BestQuality,
    Longest,
    Max,
    MostComplete,
    MostFrequent,
    MostRecent,
    SourcePriority,
    SqlRule,
    build_golden,
)


def prepare(rows: int, *, seed: int = 0) -> tuple[pl.DataFrame, pl.DataFrame]:
    """Return synthetic records (with timestamps, quality) and their clusters."""
    records = generate_customers(rows, seed=seed).with_row_index("_row")
    rng = np.random.default_rng(seed)
    start = np.datetime64("2015-01-01")
    records = records.with_columns(
        updated_at=pl.Series(start + rng.integers(0, 3650, records.height)),
        quality=pl.Series(rng.random(records.height)),
    )
    clusters = records.select(
        "_row",
        "record_id",
        "source",
        cluster_id=pl.format("e{}", pl.col("entity_id")),
    )
    return records.drop("entity_id"), clusters


RULES = {
    "first_name": MostFrequent(),
    "surname": Longest(),
    "email": MostRecent(timestamp="updated_at"),
    "phone": (
        SourcePriority(sources=("crm", "erp")),
        MostRecent(timestamp="updated_at"),
    ),
    "date_of_birth": BestQuality(quality="quality"),
    "street_address": MostComplete(columns=("street_address", "city", "postcode")),
    "city": MostComplete(columns=("street_address", "city", "postcode")),
    "postcode": MostComplete(columns=("street_address", "city", "postcode")),
    "country": SqlRule(expression="CASE WHEN source = 'crm' THEN 1 ELSE 0 END"),
    "updated_at": Max(),
}


def main() -> None:
    """Print the time of each repeat and the golden frame's shape."""
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--rows", type=int, default=1_000_000)
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument(
        "--touched",
        type=float,
        default=0.01,
        help="share of clusters rebuilt incrementally (cluster_ids=) after the full runs",
    )
    args = parser.parse_args()
    records, clusters = prepare(args.rows)
    n_clusters = clusters.get_column("cluster_id").n_unique()
    print(
        f"{records.height:,} records, {n_clusters:,} clusters, "
        f"{len(RULES)} attributes; polars {pl.__version__}, "
        f"{platform.processor() or platform.machine()}"
    )
    for repeat in range(args.repeats):
        start, cpu = time.perf_counter(), time.process_time()
        golden = build_golden(records, clusters, RULES, default=None)
        seconds, cpu = time.perf_counter() - start, time.process_time() - cpu
        print(
            f"repeat {repeat + 1}: {seconds:.2f} s wall, {cpu:.2f} s CPU (all "
            f"threads), golden {golden.shape}"
        )
    ids = clusters.get_column("cluster_id").unique().sort()
    touched = ids.sample(fraction=args.touched, seed=0)
    start, cpu = time.perf_counter(), time.process_time()
    part = build_golden(records, clusters, RULES, default=None, cluster_ids=touched)
    seconds, cpu = time.perf_counter() - start, time.process_time() - cpu
    print(
        f"incremental, {touched.len():,} touched clusters: {seconds:.2f} s wall, "
        f"{cpu:.2f} s CPU, golden {part.shape}"
    )


if __name__ == "__main__":
    main()
