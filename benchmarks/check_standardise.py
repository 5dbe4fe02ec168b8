"""Check that standardisation gives the same results as a reference run, on big data.

Run the reference code (for example ``main`` checked out elsewhere) to write
the reference outputs, then this checkout to compare::

    PYTHONPATH=/path/to/main python benchmarks/check_standardise.py write OUT
    PYTHONPATH=$PWD python benchmarks/check_standardise.py check OUT

Both use the same inputs: synthetic customers from
:func:`benchmarks.synthetic.generate_customers` (``--n`` records, seed 1),
stacked the way the Linker stacks its sources (``_row``, ``record_id``,
``source`` first), and the messy rows of ``benchmarks/bench_standardise.py``.
The cases cover the Linker's step (``profile_standardisation`` with the
standardisers of ``experiments/customers.toml``), ``apply_standardisers``
with reasons and issue counts, ``profile_frame`` with validity, and every
standardiser option on the customer columns. Every output frame (every
column, every part, every reason, every profile figure) must be equal, floats
bit for bit. Only public functions that exist in both versions are used.
"""

from __future__ import annotations

import argparse
import sys
import time
import tomllib
from collections.abc import Callable
from pathlib import Path

import polars as pl
from polars.testing import assert_frame_equal

ROOT = Path(__file__).resolve().parent.parent
sys.path.append(str(ROOT))  # after PYTHONPATH, which picks the er_toolkit to run

from benchmarks.bench_standardise import customer_records, synthesise  # noqa: E402
from er_toolkit.standardise import (  # noqa: E402
    apply_standardisers,
    profile_frame,
    profile_standardisation,
    steps_from_dict,
)

CUSTOMERS = ROOT / "experiments" / "customers.toml"

EXTRA: dict[str, dict[str, object]] = {
    # Other options of each standardiser, one column at a time.
    "phone_valid_gb": {"phone": {"kind": "phone", "default_region": "GB"}},
    "phone_possible_us": {
        "phone": {"kind": "phone", "default_region": "US", "check": "possible"}
    },
    "phone_valid_de": {"phone": {"kind": "phone", "default_region": "DE"}},
    "phone_valid_fr": {"phone": {"kind": "phone", "default_region": "FR"}},
    "email_plain": {"email": "email"},
    "postcode_gb": {"postcode": {"kind": "postcode", "country": "GB"}},
    "postcode_us": {"postcode": {"kind": "postcode", "country": "US"}},
    "postcode_nl": {"postcode": {"kind": "postcode", "country": "NL"}},
    "address_usaddress": {"street_address": {"kind": "address", "parser": "usaddress"}},
    "text_default": {"city": "text", "street_address": "text"},
    "text_upper_keep_punct": {
        "street_address": {
            "kind": "text",
            "case": "upper",
            "strip_punctuation": False,
        },
        "city": {"kind": "text", "case": "title", "fold_accents": True},
    },
    "name_plain": {
        "first_name": {"kind": "name", "nicknames": False, "titles": []},
        "surname": {"kind": "name", "suffixes": []},
    },
    "date_monthfirst": {
        "date_of_birth": {"kind": "date", "dayfirst": False, "pivot_year": 10}
    },
    "chain": {
        "city": ["text", {"kind": "text", "case": "upper"}],
        "first_name": ["name", {"kind": "text", "fold_accents": True}],
    },
}

BENCH: dict[str, dict[str, object]] = {
    "bench_text": {"name": {"kind": "text", "fold_accents": True}},
    "bench_name": {"name": "name"},
    "bench_phone": {"phone": {"kind": "phone", "default_region": "GB"}},
    "bench_email": {"email": {"kind": "email", "normalise_provider": True}},
    "bench_address": {"address": "address"},
    "bench_address_us": {"address": {"kind": "address", "parser": "usaddress"}},
    "bench_postcode": {"postcode": {"kind": "postcode", "country": "GB"}},
    "bench_date": {"date": "date"},
}


def inputs(folder: Path, n: int, *, write: bool) -> tuple[pl.DataFrame, pl.DataFrame]:
    """Return the customer records and the messy benchmark rows (written by ``write``).

    The check reads the inputs the reference run wrote: the generator's
    Italian city list comes from faker in set order, which changes from one
    process to the next.
    """
    paths = folder / f"n{n}_input_records.parquet", folder / f"n{n}_input_bench.parquet"
    if write:
        records, bench = customer_records(n), synthesise(n, max(n // 5, 1))
        records.write_parquet(paths[0])
        bench.write_parquet(paths[1])
        return records, bench
    return pl.read_parquet(paths[0]), pl.read_parquet(paths[1])


def cases(
    records: pl.DataFrame, bench: pl.DataFrame
) -> dict[str, Callable[[], dict[str, pl.DataFrame]]]:
    """Each case: a function returning its named output frames."""
    linker_steps = steps_from_dict(tomllib.loads(CUSTOMERS.read_text())["standardise"])

    def linker() -> dict[str, pl.DataFrame]:
        standardised, profile = profile_standardisation(records, linker_steps)
        return {"standardised": standardised, "profile": profile}

    def applied() -> dict[str, pl.DataFrame]:
        out, issues = apply_standardisers(records, linker_steps, reasons=True)
        return {"standardised": out, "issues": issues}

    def validity() -> dict[str, pl.DataFrame]:
        return {"profile": profile_frame(records, validity=linker_steps, top_n=3)}

    def one(frame: pl.DataFrame, declaration: dict[str, object]) -> Callable[[], dict]:
        def run() -> dict[str, pl.DataFrame]:
            steps = steps_from_dict(declaration)
            out, issues = apply_standardisers(
                frame.select(list(steps)), steps, reasons=True
            )
            return {"standardised": out, "issues": issues}

        return run

    out: dict[str, Callable[[], dict[str, pl.DataFrame]]] = {
        "linker": linker,
        "apply": applied,
        "profile_validity": validity,
    }
    out.update({name: one(records, d) for name, d in EXTRA.items()})
    out.update({name: one(bench, d) for name, d in BENCH.items()})
    return out


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("mode", choices=["write", "check"])
    parser.add_argument("folder", type=Path)
    parser.add_argument("--n", type=int, default=1_000_000)
    parser.add_argument("--only", nargs="+", default=None, help="case names")
    args = parser.parse_args()
    args.folder.mkdir(parents=True, exist_ok=True)
    failures = 0
    records, bench = inputs(args.folder, args.n, write=args.mode == "write")
    for name, run in cases(records, bench).items():
        if args.only and name not in args.only:
            continue
        start = time.perf_counter()
        frames = run()
        seconds = time.perf_counter() - start
        for part, frame in frames.items():
            path = args.folder / f"n{args.n}_{name}_{part}.parquet"
            if args.mode == "write":
                frame.write_parquet(path)
                continue
            try:
                assert_frame_equal(frame, pl.read_parquet(path), check_exact=True)
            except AssertionError as exc:
                failures += 1
                print(f"DIFFERENT {name}/{part}: {exc}")
        print(f"{name}: {seconds:.2f} s", flush=True)
    if args.mode == "check":
        print("all equal" if not failures else f"{failures} output(s) differ")
    return 1 if failures else 0


if __name__ == "__main__":
    raise SystemExit(main())
