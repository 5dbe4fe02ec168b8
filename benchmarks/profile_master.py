"""Where a master store's init, apply and lookups spend their time: wall, CPU and RSS per stage.

Usage (after ``python -m benchmarks.bench_master --n N`` has made the data)::

    python -m benchmarks.profile_master --n 100000 --phases init apply lookup

Each named stage function is wrapped with a timer; a stage's time includes
the stages it calls, so the rows overlap. ``rss+`` is the most the resident
memory grew during one call. Timings on a shared machine are noisy: compare
CPU seconds, and repeat.
"""

from __future__ import annotations

import argparse
import functools
import importlib
import shutil
import time
from collections import defaultdict
from collections.abc import Callable
from pathlib import Path
from typing import Any

import polars as pl

ROOT = Path(__file__).resolve().parents[1]
STAGES = (
    ("er_toolkit.pipeline", "Linker.prepare"),
    ("er_toolkit.pipeline", "Linker.block"),
    ("er_toolkit.master.store", "MasterStore._existing"),
    ("er_toolkit.master.store", "MasterStore._unchanged"),
    ("er_toolkit.master.incremental", "plan_change"),
    ("er_toolkit.master.incremental", "block_keys"),
    ("er_toolkit.master.incremental", "_new_edges"),
    ("er_toolkit.master.incremental", "_scope"),
    ("er_toolkit.master.incremental", "_golden_inputs"),
    ("er_toolkit.master.incremental", "write_plan"),
    ("er_toolkit.master.scoring", "score_pairs"),
    ("er_toolkit.compare.engine", "compare_pairs"),
    ("er_toolkit.master.resolve", "resolve"),
    ("er_toolkit.steward.audit", "membership_events"),
    ("er_toolkit.golden.build", "build_golden"),
    ("er_toolkit.master.db", "Database.frame"),
    ("er_toolkit.master.db", "Database.execute"),
    ("er_toolkit.master.lookup", "LookupIndex.load"),
    ("er_toolkit.master.lookup", "StandardiseMemo.standardise"),
    ("er_toolkit.master.lookup", "LookupIndex.candidates"),
    ("er_toolkit.master.lookup", "_score_few"),
    ("er_toolkit.master.lookup", "_score_many"),
)
_stats: dict[str, list[float]] = defaultdict(lambda: [0, 0.0, 0.0, 0.0])


def _rss_mib(field: str = "VmRSS") -> float:
    for line in Path("/proc/self/status").read_text().splitlines():
        if line.startswith(field + ":"):
            return int(line.split()[1]) / 1024
    return float("nan")


def _timed(name: str, function: Callable[..., Any]) -> Callable[..., Any]:
    @functools.wraps(function)
    def inner(*args: Any, **kwargs: Any) -> Any:
        wall, cpu, rss = time.perf_counter(), time.process_time(), _rss_mib()
        try:
            return function(*args, **kwargs)
        finally:
            row = _stats[name]
            row[0] += 1
            row[1] += time.perf_counter() - wall
            row[2] += time.process_time() - cpu
            row[3] = max(row[3], _rss_mib() - rss)

    return inner


def _instrument() -> None:
    """Wrap every stage, where it is defined and where it was imported by name."""
    import sys

    for module_name, qualname in STAGES:
        owner: Any = importlib.import_module(module_name)
        *path, attr = qualname.split(".")
        for part in path:
            owner = getattr(owner, part, None)
        if owner is None or not hasattr(owner, attr):
            continue
        original = getattr(owner, attr)
        wrapped = _timed(qualname, original)
        setattr(owner, attr, wrapped)
        if not path:
            for module in list(sys.modules.values()):
                name = getattr(module, "__name__", "") or ""
                if (
                    name.startswith("er_toolkit")
                    and getattr(module, attr, None) is original
                ):
                    setattr(module, attr, wrapped)


def _report(title: str, wall: float, cpu: float) -> None:
    print(
        f"== {title}: {wall:.2f} s wall, {cpu:.2f} CPU s, peak {_rss_mib('VmHWM'):,.0f} MiB"
    )
    for name, (n, w, c, r) in sorted(_stats.items(), key=lambda kv: -kv[1][2]):
        print(
            f"  {name:32s} calls {n:5.0f}  wall {w:8.2f}  cpu {c:8.2f}  rss+ {r:6.0f}"
        )
    _stats.clear()


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--n", type=int, default=100_000)
    parser.add_argument("--batch", type=int, default=10_000)
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--lookups", type=int, default=100)
    parser.add_argument("--out", type=Path, default=ROOT / "benchmarks" / "out")
    parser.add_argument("--phases", nargs="+", default=["init", "apply", "lookup"])
    args = parser.parse_args(argv)
    _instrument()
    from benchmarks.bench_master import _paths
    from er_toolkit.master import MasterStore

    paths = _paths(args.out, args.n, args.batch, args.seed)
    store_path = paths["store"].with_name(paths["store"].stem + "_profile.duckdb")
    if "init" in args.phases:
        for suffix in ("", ".wal", ".lock"):
            Path(str(store_path) + suffix).unlink(missing_ok=True)
        stored = pl.read_parquet(paths["stored"])
        wall, cpu = time.perf_counter(), time.process_time()
        with MasterStore.init(store_path, paths["model"]) as store:
            store.apply(stored)
        _report("init", time.perf_counter() - wall, time.process_time() - cpu)
    if "apply" in args.phases:
        work = store_path.with_name(store_path.name + ".apply")
        shutil.copyfile(store_path, work)
        with MasterStore.open(work) as store:
            _stats.clear()
            wall, cpu = time.perf_counter(), time.process_time()
            store.apply(pl.read_parquet(paths["batch"]))
            _report("apply", time.perf_counter() - wall, time.process_time() - cpu)
        work.unlink()
        Path(str(work) + ".lock").unlink(missing_ok=True)
    if "lookup" in args.phases:
        probes = pl.read_parquet(paths["probes"]).to_dicts()
        with MasterStore.open(store_path, read_only=True) as store:
            wall, cpu = time.perf_counter(), time.process_time()
            store.prepare_lookups()
            _report(
                "lookup index", time.perf_counter() - wall, time.process_time() - cpu
            )
            for probe in probes[:20]:
                store.lookup(probe)
            _stats.clear()
            wall, cpu = time.perf_counter(), time.process_time()
            for probe in probes[: args.lookups]:
                store.lookup(probe)
            _report(
                f"{args.lookups} lookups",
                time.perf_counter() - wall,
                time.process_time() - cpu,
            )


if __name__ == "__main__":
    main()
