"""CPU seconds per column and standardiser of ``Linker.prepare``, one thread.

Run ``python -m benchmarks.profile_prepare --data RAW.parquet --config CONFIG``
(defaults: the side-by-side runner's raw 1M customers and
``benchmarks/configs/compare_er_toolkit_raw.toml``). Polars runs on one
thread (``POLARS_MAX_THREADS=1``, set before polars is imported, unless the
environment sets it), so each step's CPU seconds (``time.process_time``) are
its own, whatever else the shared machine runs. It prints a Markdown table:
per column, coding its distinct values (``distinct_codes``) and each
standardiser on them (``standardise_values``); then the data-quality
profile (``profile_standardisation`` less those), the lost-values warning,
the fail-fast screen of the blocking rules, and the whole ``Linker.prepare``
as the benchmark calls it (its CPU seconds, and its wall seconds on this
one thread).
"""

from __future__ import annotations

import argparse
import inspect
import os

os.environ.setdefault("POLARS_MAX_THREADS", "1")

import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import polars as pl

from er_toolkit import diagnostics
from er_toolkit.config import LinkageConfig
from er_toolkit.io import Source
from er_toolkit.pipeline import Linker
from er_toolkit.standardise import profile_standardisation
from er_toolkit.standardise.base import (
    VALUE,
    check_steps,
    distinct_codes,
    standardise_values,
)

HERE = Path(__file__).resolve().parent
RAW = Path("/tmp/speed_bench/data/customers_raw_n1000000_seed0.parquet")
CONFIG = HERE / "configs" / "compare_er_toolkit_raw.toml"


def cpu(function: Callable[..., Any], *args: Any, **kwargs: Any) -> tuple[Any, float]:
    """Return ``function(*args, **kwargs)`` and the CPU seconds it took."""
    start = time.process_time()
    out = function(*args, **kwargs)
    return out, time.process_time() - start


def main(argv: list[str] | None = None) -> int:
    """Print the table."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--data", type=Path, default=RAW)
    parser.add_argument("--config", type=Path, default=CONFIG)
    args = parser.parse_args(argv)
    config = LinkageConfig.from_toml(args.config)
    data = pl.read_parquet(args.data)
    steps = {c: s for c, s in config.standardise.items() if c in data.columns}
    linker = Linker(config)
    records = linker.engine.prepare_records(
        [Source("customers", data)], columns=config.columns, keep=["unique_id"]
    )
    print(f"{records.height:,} rows; POLARS_MAX_THREADS={pl.thread_pool_size()}")
    print("| column | standardiser | distinct | coding CPU s | standardiser CPU s |")
    print("|---|---|---:|---:|---:|")
    parts = 0.0
    for column, chain in check_steps(records, steps, reasons=True).items():
        (current, _), seconds = cpu(distinct_codes, records.get_column(column))
        parts += seconds
        n = current.len()
        for index, step in enumerate(chain):
            table, took = cpu(standardise_values, step, current, distinct=index == 0)
            parts += took
            print(
                f"| {column} | {step.kind} | {n:,} | "
                f"{seconds if index == 0 else 0.0:.2f} | {took:.2f} |"
            )
            current = table.get_column(VALUE)
    (standardised, profile), whole = cpu(
        lambda: profile_standardisation(records, steps)
    )
    print(f"| data-quality profile, before and after | | | | {whole - parts:.2f} |")
    check_kw = {"profile": profile}
    if "profile" not in inspect.signature(diagnostics.check_standardised).parameters:
        check_kw = {}  # older code, for before/after runs
    _, check = cpu(
        diagnostics.check_standardised, records, standardised, steps, **check_kw
    )
    print(f"| lost-values warning | | | | {check:.2f} |")
    _, screen = cpu(lambda: linker._refuse_exploding_rules(records))
    print(f"| fail-fast screen of the blocking rules | | | | {screen:.2f} |")
    wall = time.perf_counter()
    linker = Linker(config)
    _, total = cpu(
        lambda: linker.prepare([Source("customers", data)], keep=["unique_id"])
    )
    timings = {k: round(v, 2) for k, v in linker.timings_.items()}
    print(
        f"| Linker.prepare | | | | {total:.2f} "
        f"(wall {time.perf_counter() - wall:.2f}; {timings}) |"
    )
    print(f"load average {os.getloadavg()[0]:.1f}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
