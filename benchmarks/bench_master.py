"""Time the master store: initialise from N customers, apply a batch, look records up.

Usage::

    python -m benchmarks.bench_master --n 1000000 --batch 10000 --lookups 1000 \
        --results-md benchmarks/RESULTS.md

Raw synthetic customers (:func:`benchmarks.synthetic.generate_customers`,
shuffled) are split into the store's first ``--n`` records, a batch of
``--batch`` new records and ``--lookups`` records to look up (new ones and
stored ones, half each). The model is experiments/customers.toml trained
on a sample of ``--train`` records (not timed). Each phase runs in its own
process, so its peak memory is its own:

``init``
    ``MasterStore.init`` and ``apply`` of the first ``--n`` records (raw:
    standardisation, blocking, comparison, scoring, clustering, golden
    records, the DuckDB writes and commit all inside the clock).
``apply``
    ``apply`` of the batch to that store (the same stages, one transaction).
``lookup``
    A read-only open, loading the lookup index (timed apart), then one
    ``lookup`` per record, each timed alone: p50, p99 and max, and the
    p50 and p99 of each lookup's CPU time (every thread; on a loaded
    machine closer to what an idle one takes than the wall clock).

Writes ``<out>/master_n<N>.json`` and, with ``--results-md``, the
"Master store" section of that file.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import resource
import shutil
import subprocess
import sys
import time
import tomllib
from pathlib import Path
from typing import Any

import numpy as np
import polars as pl

ROOT = Path(__file__).resolve().parents[1]
HEADING = "## Master store"


def _rss_mib() -> float:
    """Return this process's peak resident memory in MiB.

    ``VmHWM`` (Linux), not ``getrusage``: a child's ``ru_maxrss`` starts at
    its parent's at the fork, so it would report the driver's peak.
    """
    try:
        for line in Path("/proc/self/status").read_text().splitlines():
            if line.startswith("VmHWM:"):
                return int(line.split()[1]) / 1024
    except OSError:
        pass
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


def _paths(out: Path, n: int, batch: int, seed: int) -> dict[str, Path]:
    tag = f"n{n}_b{batch}_s{seed}"
    return {
        "stored": out / f"master_{tag}_stored.parquet",
        "batch": out / f"master_{tag}_batch.parquet",
        "probes": out / f"master_{tag}_probes.parquet",
        "model": out / f"master_{tag}_model.json",
        "store": out / f"master_{tag}.duckdb",
    }


def prepare_data(
    n: int, batch: int, lookups: int, train: int, seed: int, out: Path
) -> None:
    """Generate and split the customers and train the model, once per size and seed."""
    from benchmarks.synthetic import generate_customers
    from er_toolkit.config import LinkageConfig
    from er_toolkit.io import Source
    from er_toolkit.pipeline import Linker

    paths = _paths(out, n, batch, seed)
    if all(paths[k].exists() for k in ("stored", "batch", "probes", "model")):
        return
    out.mkdir(parents=True, exist_ok=True)
    new_probes = lookups // 2
    frame = generate_customers(n + batch + new_probes, seed=seed, n_sources=4)
    frame = frame.drop("entity_id").sample(fraction=1.0, shuffle=True, seed=seed)
    stored = frame.head(n)
    stored.write_parquet(paths["stored"])
    frame.slice(n, batch).write_parquet(paths["batch"])
    probes = pl.concat(
        [
            frame.slice(n + batch, new_probes),
            stored.sample(lookups - new_probes, seed=seed),
        ]
    ).drop("record_id")
    probes.write_parquet(paths["probes"])
    spec = tomllib.loads((ROOT / "experiments" / "customers.toml").read_text())
    spec.pop("sources")
    linker = Linker(LinkageConfig.from_dict(spec))
    sample = stored.head(train)
    sources = [
        Source(str(s), p.drop("source"))
        for (s,), p in sample.group_by("source", maintain_order=True)
    ]
    linker.fit(linker.records(sources))
    linker.save(paths["model"])


def phase(name: str, paths: dict[str, Path]) -> dict[str, Any]:
    """Run one phase in this process and return its measurements."""
    from er_toolkit.master import MasterStore

    result: dict[str, Any] = {"phase": name, "load_average": os.getloadavg()[0]}
    cpu = time.process_time()
    if name == "init":
        store_path = paths["store"]
        for suffix in ("", ".wal", ".lock"):
            Path(str(store_path) + suffix).unlink(missing_ok=True)
        stored = pl.read_parquet(paths["stored"])
        start = time.perf_counter()
        with MasterStore.init(store_path, paths["model"]) as store:
            summary = store.apply(stored)
        result["seconds"] = time.perf_counter() - start
        result["summary"] = summary.line()
        result["records"] = stored.height
    elif name == "apply":
        batch = pl.read_parquet(paths["batch"])
        work = paths["store"].with_name(paths["store"].name + ".apply")
        shutil.copyfile(paths["store"], work)
        start = time.perf_counter()
        with MasterStore.open(work) as store:
            opened = time.perf_counter()
            summary = store.apply(batch)
            result["apply_seconds"] = time.perf_counter() - opened
        result["seconds"] = time.perf_counter() - start
        result["summary"] = summary.line()
        result["records"] = batch.height
        work.unlink()
        Path(str(work) + ".lock").unlink(missing_ok=True)
    elif name == "lookup":
        probes = pl.read_parquet(paths["probes"])
        rows = probes.to_dicts()
        start = time.perf_counter()
        with MasterStore.open(paths["store"], read_only=True) as store:
            store.prepare_lookups()
            result["index_seconds"] = time.perf_counter() - start
            for row in rows[:20]:  # warm up: first-call costs of each code path
                store.lookup(row)
            times = []
            cpus = []  # CPU of every thread: the load-independent cost
            found = 0
            for row in rows:
                c = time.process_time()
                t = time.perf_counter()
                out = store.lookup(row)
                times.append(time.perf_counter() - t)
                cpus.append(time.process_time() - c)
                found += int(out.height > 0 and bool(out.get_column("is_match")[0]))
        ms = np.array(times) * 1000
        cpu_ms = np.array(cpus) * 1000
        result.update(
            lookups=len(rows),
            p50_ms=float(np.percentile(ms, 50)),
            p95_ms=float(np.percentile(ms, 95)),
            p99_ms=float(np.percentile(ms, 99)),
            max_ms=float(ms.max()),
            cpu_p50_ms=float(np.percentile(cpu_ms, 50)),
            cpu_p95_ms=float(np.percentile(cpu_ms, 95)),
            cpu_p99_ms=float(np.percentile(cpu_ms, 99)),
            matched=found,
        )
    else:
        raise SystemExit(f"unknown phase {name!r}")
    result["peak_rss_mib"] = _rss_mib()
    result["cpu_seconds"] = time.process_time() - cpu
    return result


def _run_phase(name: str, args: argparse.Namespace) -> dict[str, Any]:
    command = [
        sys.executable,
        "-m",
        "benchmarks.bench_master",
        "--phase",
        name,
        "--n",
        str(args.n),
        "--batch",
        str(args.batch),
        "--lookups",
        str(args.lookups),
        "--seed",
        str(args.seed),
        "--out",
        str(args.out),
    ]
    done = subprocess.run(
        command,
        capture_output=True,
        text=True,
        check=False,
        env={**os.environ, "PYTHONPATH": str(ROOT)},
    )
    if done.returncode != 0:
        raise SystemExit(f"phase {name} failed:\n{done.stderr[-4000:]}")
    return json.loads(done.stdout.strip().splitlines()[-1])


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--n", type=int, default=1_000_000)
    parser.add_argument("--batch", type=int, default=10_000)
    parser.add_argument("--lookups", type=int, default=1000)
    parser.add_argument(
        "--train", type=int, default=100_000, help="records the model trains on"
    )
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--out", type=Path, default=ROOT / "benchmarks" / "out")
    parser.add_argument("--phases", nargs="+", default=["init", "apply", "lookup"])
    parser.add_argument("--phase", default=None, help=argparse.SUPPRESS)
    parser.add_argument("--results-md", type=Path, default=None)
    args = parser.parse_args(argv)
    paths = _paths(args.out, args.n, args.batch, args.seed)
    if args.phase:
        print(json.dumps(phase(args.phase, paths)))
        return
    start = time.perf_counter()
    prepare_data(
        args.n, args.batch, args.lookups, min(args.train, args.n), args.seed, args.out
    )
    print(f"data and model ready in {time.perf_counter() - start:.0f}s", flush=True)
    results = {}
    for name in args.phases:
        results[name] = _run_phase(name, args)
        print(json.dumps(results[name]), flush=True)
    record = {
        "n": args.n,
        "batch": args.batch,
        "lookups": args.lookups,
        "seed": args.seed,
        "date": time.strftime("%Y-%m-%d"),
        "machine": f"{os.cpu_count()} cores, {platform.machine()}, {platform.system()}",
        "store_mib": paths["store"].stat().st_size / 2**20
        if paths["store"].exists()
        else None,
        **results,
    }
    (args.out / f"master_n{args.n}.json").write_text(json.dumps(record, indent=2))
    if args.results_md:
        write_results(args.results_md, args)


def write_results(path: Path, args: argparse.Namespace) -> None:
    """Write the table of every size measured so far into ``path``'s section."""
    from benchmarks.markdown import replace_section

    rows = []
    measured = [p for p in args.out.glob("master_n*.json") if p.stem[8:].isdigit()]
    for file in sorted(measured, key=lambda p: int(p.stem[8:])):
        r = json.loads(file.read_text())
        init, apply, look = r.get("init", {}), r.get("apply", {}), r.get("lookup", {})
        rows.append(
            f"| {r['n']:,} | {init.get('seconds', float('nan')):.1f} "
            f"| {init.get('cpu_seconds', float('nan')):.1f} "
            f"| {init.get('peak_rss_mib', float('nan')):,.0f} "
            f"| {r['batch']:,} | {apply.get('apply_seconds', float('nan')):.2f} "
            f"| {apply.get('cpu_seconds', float('nan')):.1f} "
            f"| {apply.get('peak_rss_mib', float('nan')):,.0f} "
            f"| {look.get('index_seconds', float('nan')):.1f} "
            f"| {look.get('lookups', 0):,} "
            f"| {look.get('p50_ms', float('nan')):.1f} | {look.get('p99_ms', float('nan')):.1f} "
            f"| {look.get('peak_rss_mib', float('nan')):,.0f} "
            f"| {(r.get('store_mib') or float('nan')):,.0f} "
            f"| {_loads(r)} | {r['date']} |"
        )
    section = (
        f"{HEADING}\n\n"
        "Produced by `python -m benchmarks.bench_master --n N --batch B "
        "--lookups L --results-md benchmarks/RESULTS.md` (one row per N; the "
        "issue's target is N = 1,000,000, B = 10,000) on this 2-core machine "
        "(shared with other jobs: timings vary with the load; the load column is "
        "the 1-minute load average as each phase began, init / apply / lookup). Raw synthetic customers, standardised "
        "inside the clock; the model is experiments/customers.toml trained on up to 100k of "
        "them (not timed). Init: `MasterStore.init` and `apply` of every record in "
        "one transaction (standardise, block, compare, score, cluster, golden records, "
        "DuckDB writes). Apply: a batch of new records into that store, one "
        "transaction, the store already open. Lookup: one record at a time against "
        "the read-only store, the in-memory index loaded first (its load timed "
        "apart); half the probes are stored records, half new. Peak RSS is each "
        "phase's own process. CPU s is the phase process's CPU time (all its "
        "threads): on a loaded machine it is closer to what an idle one takes than "
        "the wall-clock seconds.\n\n"
        "| records | init s | init CPU s | init peak MiB | batch | apply s "
        "| apply CPU s | apply peak MiB "
        "| lookup index s | lookups | lookup p50 ms | lookup p99 ms | lookup peak MiB "
        "| store file MiB | load | date |\n"
        "|---|---|---|---|---|---|---|---|---|---|---|---|---|---|---|---|\n"
        + "\n".join(rows)
        + "\n"
    )
    replace_section(path, HEADING, section, title="Benchmark results")


def _loads(record: dict[str, Any]) -> str:
    """Return the load averages the phases began at, ``init / apply / lookup``."""
    loads = [record.get(p, {}).get("load_average") for p in ("init", "apply", "lookup")]
    return " / ".join("?" if v is None else f"{v:.1f}" for v in loads)


if __name__ == "__main__":
    main()
