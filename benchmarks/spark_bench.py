"""The Spark engine beside the polars engine: time, memory and throughput per stage.

Usage::

    python -m benchmarks.spark_bench --sizes 1000000 10000000 --engines polars spark \
        --master "local[2]" --results-md benchmarks/RESULTS.md

Each (size, engine) runs in its own process on the side-by-side benchmark's
prepared synthetic customers (:mod:`benchmarks.compare_prepare`; preparation
is not timed) with the same config (``benchmarks/configs/compare_er_toolkit.toml``,
blocks over ``--max-block-size`` records purged): load, block, train
(Fellegi-Sunter: u sample, EM sessions), predict (compare and score), cluster.
The Spark engine reads the Parquet file itself. Memory is sampled every
0.2 s over the whole process tree: the Python driver, and for Spark the JVM
(driver and executors are one JVM in local mode) and the Python workers
that run the compare kernel; so are the CPU seconds of that process tree
per stage (what load on a shared machine hardly changes, unlike wall time),
and Spark's jobs per stage. Writes ``<out>/spark_bench_<engine>_n<N>.json``
and, with ``--results-md``, the table and a 100M-record estimate from the
measured per-core throughput into ``benchmarks/RESULTS.md``.
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import threading
import time
from dataclasses import replace
from pathlib import Path
from typing import Any

CONFIG = Path(__file__).resolve().parent / "configs" / "compare_er_toolkit.toml"
HEADING = "## Spark engine beside the polars engine"


class MemorySampler:
    """Peak resident memory of this process and its children, sampled in a thread.

    Also the CPU seconds the whole process tree has used (driver, JVM,
    Python workers): each process's user + system time as last seen, so
    a worker that exits keeps what it used up to its last sample. CPU
    seconds, unlike wall seconds, hardly depend on what else the machine
    runs.
    """

    def __init__(self, interval: float = 0.2) -> None:
        import psutil

        self._me = psutil.Process()
        self.interval = interval
        self.peak: dict[str, float] = {"driver": 0.0, "jvm": 0.0, "python_workers": 0.0}
        self._cpu: dict[tuple[int, float], float] = {}
        self._lock = threading.Lock()
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, daemon=True)

    def cpu_seconds(self) -> float:
        """Return the CPU seconds used so far by this process and every child seen."""
        import psutil

        with self._lock:
            for process in [self._me, *self._me.children(recursive=True)]:
                try:
                    times = process.cpu_times()
                    key = (process.pid, process.create_time())
                except psutil.Error:
                    continue
                self._cpu[key] = times.user + times.system
            return sum(self._cpu.values())

    def __enter__(self) -> MemorySampler:
        self._thread.start()
        return self

    def __exit__(self, *_: object) -> None:
        self._stop.set()
        self._thread.join()

    def _run(self) -> None:
        import psutil

        while not self._stop.is_set():
            now = {"driver": 0.0, "jvm": 0.0, "python_workers": 0.0}
            try:
                now["driver"] = self._me.memory_info().rss
                for child in self._me.children(recursive=True):
                    try:
                        rss = child.memory_info().rss
                        name = child.name()
                    except psutil.Error:
                        continue
                    now["jvm" if "java" in name else "python_workers"] += rss
            except psutil.Error:
                pass
            for key, value in now.items():
                self.peak[key] = max(self.peak[key], value / 2**30)
            self.cpu_seconds()
            self._stop.wait(self.interval)


def _spark_session(master: str, driver_memory: str) -> Any:
    os.environ.setdefault("PYSPARK_PYTHON", sys.executable)
    from pyspark.sql import SparkSession

    from er_toolkit.engines.spark import session_conf

    builder = _event_log(SparkSession.builder)
    for key, value in session_conf(master).items():  # the engine's advised settings
        builder = builder.config(key, value)
    spark = (
        builder.master(master)
        .appName("er_toolkit-spark-bench")
        .config("spark.ui.enabled", "false")
        .config("spark.ui.showConsoleProgress", "false")
        .config("spark.driver.memory", driver_memory)
        .config("spark.ui.retainedJobs", "100000")
        .config("spark.ui.retainedStages", "100000")
        .config("spark.local.dir", os.environ.get("SPARK_LOCAL_DIRS", "/tmp"))
        .getOrCreate()
    )
    spark.sparkContext.setLogLevel("ERROR")
    return spark


def _event_log(builder: Any) -> Any:
    """Write Spark's event log (every job, stage and task) where ER_TOOLKIT_SPARK_EVENTS names."""
    folder = os.environ.get("ER_TOOLKIT_SPARK_EVENTS")
    if not folder:
        return builder
    Path(folder).mkdir(parents=True, exist_ok=True)
    return builder.config("spark.eventLog.enabled", "true").config(
        "spark.eventLog.dir", folder
    )


def _cores(master: str) -> int:
    if master.startswith("local[") and master[6:-1].isdigit():
        return int(master[6:-1])
    return os.cpu_count() or 1


def run_one(
    n: int,
    engine_kind: str,
    *,
    seed: int,
    out: Path,
    max_block_size: int,
    master: str,
    driver_memory: str,
) -> dict[str, Any]:
    """Run one size on one engine (in this process) and return its measurements."""
    from benchmarks.compare_prepare import prepare
    from er_toolkit.config import LinkageConfig
    from er_toolkit.io import Source
    from er_toolkit.pipeline import Linker

    path = prepare(n, seed, out)
    config = LinkageConfig.from_toml(CONFIG)
    config = replace(
        config,
        blocking=replace(config.blocking, max_block_size=max_block_size or None),
        evaluation=replace(config.evaluation, entity_column="entity_id"),
    )
    seconds: dict[str, float] = {}
    cpu: dict[str, float] = {}
    jobs: dict[str, int] = {}
    with MemorySampler() as memory:
        start = time.perf_counter()
        if engine_kind == "spark":
            from er_toolkit.engines import SparkEngine

            engine: Any = SparkEngine(_spark_session(master, driver_memory))
        else:
            engine = None
        seconds["start"] = time.perf_counter() - start
        linker = Linker(config, engine=engine)

        stages = iter(("load", "block", "train", "predict", "cluster", "end"))

        def group(stage: str) -> None:
            if engine is not None:  # Spark jobs counted per stage (job groups)
                engine.spark.sparkContext.setJobGroup(stage, stage)

        used = memory.cpu_seconds()

        def lap(stage: str) -> None:
            nonlocal start, used
            seconds[stage] = time.perf_counter() - start
            now = memory.cpu_seconds()
            cpu[stage], used = now - used, now
            if engine is not None:
                tracker = engine.spark.sparkContext.statusTracker()
                jobs[stage] = len(tracker.getJobIdsForGroup(stage))
            shown = f", {jobs[stage]} Spark jobs" if stage in jobs else ""
            print(
                f"{engine_kind} n={n:,} {stage}: {seconds[stage]:.1f}s, "
                f"{cpu[stage]:.1f} CPU s{shown}",
                flush=True,
            )
            group(next(stages))
            start = time.perf_counter()

        group(next(stages))
        start = time.perf_counter()
        used = memory.cpu_seconds()
        records = linker.records([Source("customers", path, id_column="unique_id")])
        lap("load")
        pairs = linker.block(records)
        lap("block")
        linker.fit(records, candidate_pairs=pairs)
        lap("train")
        scored = linker.predict(
            records, candidate_pairs=pairs, record_ids=False, min_probability=0.01
        )
        lap("predict")
        clusters = linker.cluster(records, scored)
        lap("cluster")
        n_pairs = linker.engine.height(pairs)
        n_clusters = linker.engine.collect(clusters, columns=["cluster_id"]).n_unique()
    cores = _cores(master) if engine_kind == "spark" else (os.cpu_count() or 1)
    result = {
        "command": os.environ.get(
            "ER_TOOLKIT_BENCH_COMMAND",
            "python -m benchmarks.spark_bench " + " ".join(sys.argv[1:]),
        ),
        "engine": engine_kind,
        "master": master if engine_kind == "spark" else "in-process",
        "cores": cores,
        "records": n,
        "candidate_pairs": n_pairs,
        "clusters": n_clusters,
        "seconds": seconds,
        "spark_jobs": jobs,
        "cpu_seconds": cpu,
        # the part of train spent comparing every candidate once (their
        # vectors give the EM sessions' patterns and are scored in predict)
        "train_compare_seconds": getattr(engine, "timings", {}).get("vectors", 0.0),
        "total_seconds": sum(v for k, v in seconds.items() if k != "start"),
        "peak_gib": memory.peak,
        "pairs_per_second": n_pairs / max(seconds["predict"], 1e-9),
        "pairs_per_second_per_core": n_pairs / max(seconds["predict"], 1e-9) / cores,
        "lambda": getattr(
            linker.scorer_, "probability_two_random_records_match_", None
        ),
        "settings": {"max_block_size": max_block_size, "seed": seed},
    }
    out.mkdir(parents=True, exist_ok=True)
    (out / f"spark_bench_{engine_kind}_n{n}.json").write_text(
        json.dumps(result, indent=2)
    )
    return result


COLUMNS = (
    "| records | engine | candidate pairs | load s | block s | train s | predict s "
    "| cluster s | total s | CPU s | peak driver GiB | peak JVM GiB "
    "| peak Python workers GiB | pairs/s (predict) | pairs/s per core |"
)


def table_row(r: dict[str, Any]) -> str:
    """Return one run's markdown row."""
    s, m = r["seconds"], r["peak_gib"]
    cpu = r.get("cpu_seconds") or {}
    used = f"{sum(v for k, v in cpu.items() if k != 'start'):.0f}" if cpu else ""
    return (
        f"| {r['records']:,} | {r['engine']} ({r['master']}) | {r['candidate_pairs']:,} "
        + "".join(
            f"| {s[k]:.0f} " for k in ("load", "block", "train", "predict", "cluster")
        )
        + f"| {r['total_seconds']:.0f} | {used} | {m['driver']:.2f} | {m['jvm']:.2f} "
        f"| {m['python_workers']:.2f} | {r['pairs_per_second']:,.0f} "
        f"| {r['pairs_per_second_per_core']:,.0f} |"
    )


LINEAR = ("load", "block", "predict", "cluster")
"""Stages whose work grows with the records (pairs per record held by purging)."""


def core_seconds(r: dict[str, Any]) -> dict[str, float]:
    """Return one run's core-seconds per stage, training split in two.

    CPU seconds of the whole process tree where measured (they hardly
    depend on the machine's load), else wall seconds times the cores.
    ``compare`` is the part of training that compares every candidate
    once (its share of training's wall time): it grows with the records,
    the rest of training (u sample, EM sessions on capped samples) does not.
    """
    wall, cpu = r["seconds"], r.get("cpu_seconds") or {}
    used = {k: cpu[k] if k in cpu else wall[k] * r["cores"] for k in (*LINEAR, "train")}
    share = r.get("train_compare_seconds", 0.0) / max(wall["train"], 1e-9)
    used["compare"] = used["train"] * min(share, 1.0)
    used["train"] -= used["compare"]
    return used


def estimate(runs: list[dict[str, Any]], *, records: int, cores: int) -> list[str]:
    """Write the 100M-record estimate from the largest Spark run's per-core throughput."""
    spark_runs = [r for r in runs if r["engine"] == "spark"]
    if not spark_runs:
        return ["No Spark run measured yet: no estimate."]
    r = max(spark_runs, key=lambda x: x["records"])
    scale = records / r["records"]
    pairs = r["candidate_pairs"] * scale  # blocks are purged: pairs grow ~linearly
    used = core_seconds(r)
    measured = "CPU seconds" if r.get("cpu_seconds") else "wall seconds x cores"
    pair_core = used["compare"] + used["predict"]  # compare and score
    per_core = r["candidate_pairs"] / max(pair_core, 1e-9)
    grown = {k: used[k] * scale / cores for k in (*LINEAR, "compare")}
    compare = (grown["compare"] + grown["predict"]) / 60
    rest = (grown["load"] + grown["block"] + grown["cluster"]) / 60
    # capped samples: training does not grow with the records; kept at its
    # measured wall time (its jobs are short and many: an upper bound)
    share = r.get("train_compare_seconds", 0.0) / max(r["seconds"]["train"], 1e-9)
    train = r["seconds"]["train"] * (1.0 - min(share, 1.0)) / 60
    total = compare + rest + train
    return [
        f"Estimate for {records:,} records on {cores} executor cores (e.g. "
        f"{cores // 8} executors x 8 cores, 4 GiB per core), from the {r['records']:,}-"
        f"record Spark run's measured core-seconds per stage ({measured} of the "
        f"driver, JVM and Python workers on {r['master']}): about {pairs:,.0f} "
        f"candidate pairs (pairs per record held at "
        f"{r['candidate_pairs'] / r['records']:.1f}, blocks purged at "
        f"{r['settings']['max_block_size']}); compare + score {per_core:,.0f} pairs "
        f"per core-second → {compare:,.1f} min; load, block and cluster scaled "
        f"linearly in records per core → {rest:,.1f} min; training's u sample and EM "
        f"sessions on capped samples (they do not grow with the records), kept at "
        f"their measured wall time, not spread over the executors (an upper bound) "
        f"→ {train:,.1f} min; about {total:,.0f} min in all. Linear scaling is an "
        "assumption: shuffles across machines cost more than on one, the largest "
        "blocks grow with the data (the salting spreads them), the driver's own "
        "work (sample draws, EM) does not spread over executors, and a cluster's "
        "start-up is not counted.",
    ]


def write_results(out: Path, results_md: Path, *, cores: int) -> None:
    """Write every measured run under ``out`` as one section of ``results_md``."""
    from benchmarks.markdown import replace_section

    runs = sorted(
        (json.loads(p.read_text()) for p in out.glob("spark_bench_*_n*.json")),
        key=lambda r: (r["records"], r["engine"]),
    )
    commands = sorted({f"`{r['command']}`" for r in runs})
    lines = [
        HEADING,
        "",
        f"Produced by {'; '.join(commands)} ({time.strftime('%Y-%m-%d')}) on "
        f"{os.cpu_count()} cores shared with other work. Same prepared customers, "
        "config and blocking (blocks over `--max-block-size` records purged) on "
        "both engines; each run in its own process; stage times are wall seconds; "
        "memory is the peak resident set of the Python driver, the JVM (driver and "
        "executors together in local mode) and the Python workers, sampled every "
        "0.2 s. Spark compares and scores in one pass, so its predict is both.",
        "",
        COLUMNS,
        "|" + "---|" * (COLUMNS.count("|") - 1),
        *[table_row(r) for r in runs],
        "",
        *estimate(runs, records=100_000_000, cores=cores),
        "",
    ]
    replace_section(results_md, HEADING, "\n".join(lines), title="Benchmark results")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--sizes", type=int, nargs="+", default=[1_000_000])
    parser.add_argument("--engines", nargs="+", default=["polars", "spark"])
    parser.add_argument("--master", default="local[2]")
    parser.add_argument("--driver-memory", default="12g")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--out", type=Path, default=Path("benchmarks/out"))
    parser.add_argument("--max-block-size", type=int, default=200)
    parser.add_argument("--time-limit", type=int, default=7200)
    parser.add_argument("--results-md", type=Path, default=None)
    parser.add_argument("--estimate-cores", type=int, default=200)
    parser.add_argument(
        "--one", nargs=2, metavar=("N", "ENGINE"), help=argparse.SUPPRESS
    )
    args = parser.parse_args()
    if args.one:  # the child process of one run
        run_one(
            int(args.one[0]),
            args.one[1],
            seed=args.seed,
            out=args.out,
            max_block_size=args.max_block_size,
            master=args.master,
            driver_memory=args.driver_memory,
        )
        return
    os.environ["ER_TOOLKIT_BENCH_COMMAND"] = (
        "python -m benchmarks.spark_bench " + " ".join(sys.argv[1:])
    )
    for n in args.sizes:
        for engine in args.engines:
            child = [
                sys.executable,
                "-m",
                "benchmarks.spark_bench",
                "--one",
                str(n),
                engine,
                "--seed",
                str(args.seed),
                "--out",
                str(args.out),
                "--max-block-size",
                str(args.max_block_size),
                "--master",
                args.master,
                "--driver-memory",
                args.driver_memory,
            ]
            try:
                subprocess.run(child, check=True, timeout=args.time_limit)
            except (subprocess.CalledProcessError, subprocess.TimeoutExpired) as exc:
                print(f"{engine} n={n:,}: did not finish ({exc})", flush=True)
    if args.results_md is not None:
        write_results(args.out, args.results_md, cores=args.estimate_cores)


if __name__ == "__main__":
    main()
