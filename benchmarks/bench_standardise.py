"""Time standardisation: per column and all together, as the Linker runs it.

Run ``python benchmarks/bench_standardise.py [--n 1000000] [--repeat 3]``. It
generates ``--n`` synthetic customers (:func:`benchmarks.synthetic.generate_customers`,
seed 1), stacks them per source as the Linker does, and times the
standardisers of ``experiments/customers.toml``: each column alone
(``apply_standardisers``), all eight together, and the Linker's whole step
(``profile_standardisation``: standardisation and the before/after profile).
Each figure is the best of ``--repeat`` runs, in wall seconds and in CPU
seconds of all the process's threads (``time.process_time``): on a shared
machine the CPU figure moves less. The load average is printed with them.

``--messy`` instead times every standardiser option on messy rows drawn
from ``--entities`` customers (each written several ways), as before.
"""

from __future__ import annotations

import argparse
import os
import platform
import time
import tomllib
from collections.abc import Callable
from pathlib import Path
from typing import Any

import numpy as np
import polars as pl

from benchmarks.synthetic import generate_customers
from er_toolkit.io import Source, prepare_records
from er_toolkit.standardise import (
    AddressStandardiser,
    DateStandardiser,
    EmailStandardiser,
    NameStandardiser,
    PhoneStandardiser,
    PostcodeStandardiser,
    TextStandardiser,
    apply_standardisers,
    profile_standardisation,
    steps_from_dict,
)

CUSTOMERS = Path(__file__).resolve().parent.parent / "experiments" / "customers.toml"

FIRST = [
    "James",
    "John",
    "Robert",
    "Michael",
    "William",
    "David",
    "Richard",
    "Joseph",
    "Thomas",
    "Charles",
    "Mary",
    "Patricia",
    "Jennifer",
    "Linda",
    "Elizabeth",
    "Barbara",
    "Susan",
    "Jessica",
    "Sarah",
    "Karen",
    "Bill",
    "Liz",
    "Bob",
    "Mike",
    "Jim",
    "Kate",
    "Tom",
    "Dick",
    "Sue",
    "José",
    "Zoë",
    "Chloé",
    "Renée",
    "Søren",
    "Björn",
    "Ólafur",
]
LAST = [
    "Smith",
    "Jones",
    "Taylor",
    "Brown",
    "Williams",
    "Wilson",
    "Johnson",
    "Davies",
    "Robinson",
    "Wright",
    "Thompson",
    "Evans",
    "Walker",
    "White",
    "Roberts",
    "Green",
    "Hall",
    "Wood",
    "Jackson",
    "Clarke",
    "O'Neil",
    "McDonald",
    "Müller",
    "García",
    "Fernández",
    "Łukasiewicz",
    "Van-der-Berg",
    "D'Arcy",
]
TITLES = ["", "", "", "Mr ", "Mrs ", "Ms ", "Dr. ", "Prof "]
SUFFIXES = ["", "", "", "", " Jr.", " Sr", " III", " PhD"]
STREETS = [
    "Main",
    "High",
    "Church",
    "Station",
    "Victoria",
    "Green",
    "Park",
    "Mill",
    "Queen",
    "King",
    "Baker",
    "Oxford",
    "Pennsylvania",
    "Elm",
    "Oak",
    "Maple",
    "Cedar",
    "Washington",
    "Lake",
    "Hill",
]
TYPES = ["Street", "St.", "Road", "Rd", "Avenue", "Ave", "Lane", "Drive", "Close"]
UNITS = ["", "", "", "Apt 4, ", "Flat 2B, ", "Suite #100, "]
DOMAINS = ["gmail.com", "GMail.com", "outlook.com", "example.co.uk", "yahoo.com"]
MONTHS = [
    "January", "February", "March", "April", "May", "June", "July", "August",
    "September", "October", "November", "December",
]  # fmt: skip


def synthesise(rows: int, entities: int, seed: int = 0) -> pl.DataFrame:
    """Return ``rows`` messy customer rows drawn from ``entities`` customers."""
    rng = np.random.default_rng(seed)
    entity = rng.integers(0, entities, rows)
    variant = rng.integers(0, 4, rows)

    def pick(options: list[str]) -> list[str]:
        """One option per customer, the same in each of its rows."""
        index = rng.integers(0, len(options), entities)[entity]
        return [options[i] for i in index]

    def draw(low: int, high: int) -> np.ndarray:
        return rng.integers(low, high, entities)[entity]

    first, last, second = pick(FIRST), pick(LAST), pick(LAST)
    middle = pick(["", "", *(f" {c}." for c in "ABCDEFGHJKLMNPRSTW")])
    number = draw(1, 1000)
    phone = draw(70_000_000, 90_000_000)  # London numbers: 020 7xxx / 8xxx xxxx
    street, kind = pick(STREETS), pick(TYPES)
    year, month, day = draw(1930, 2006), draw(1, 13), draw(1, 29)
    out = []
    for i in range(rows):
        v = variant[i]
        f = first[i] + middle[i]
        s = last[i] if entity[i] % 7 else f"{last[i]}-{second[i]}"
        name = (
            f"{TITLES[(entity[i] + v) % 8]}{f} {s}{SUFFIXES[(entity[i] * 3 + v) % 8]}"
        )
        name = name.upper() if v == 1 else ("  " + name.lower() if v == 2 else name)
        p = f"{phone[i]:08d}"
        phone_text = (
            f"020 {p[:4]} {p[4:]}" if v == 0 else
            f"+44 (0)20 {p[:4]}-{p[4:]}" if v == 1 else
            f"020{p}" if v == 2 else "n/a"
        )  # fmt: skip
        local = f"{first[i]}.{s}".lower().replace("'", "")
        email = (
            f"{local}{entity[i] % 1000}@{DOMAINS[entity[i] % 5]}" if v < 2 else
            f" {local.upper()}+news{entity[i] % 1000}@{DOMAINS[entity[i] % 5]}" if v == 2
            else "not-an-email"
        )  # fmt: skip
        address = f"{UNITS[(entity[i] + v) % 6]}{number[i]} {street[i]} {kind[i]}"
        address = address.upper() if v == 3 else address
        postcode = f"SW{1 + entity[i] % 20} {entity[i] % 10}{'ABDEF'[v]}{'XYZ'[v % 3]}"
        postcode = postcode.replace(" ", "").lower() if v % 2 else postcode
        y, m, d = year[i], month[i], day[i]
        date = (
            f"{y}-{m:02d}-{d:02d}" if v == 0 else
            f"{d:02d}/{m:02d}/{y}" if v == 1 else
            f"{d} {MONTHS[m - 1]} {y}" if v == 2 else f"31/02/{y}"
        )  # fmt: skip
        out.append((name, phone_text, email, address, postcode, date))
    return pl.DataFrame(
        out,
        schema=["name", "phone", "email", "address", "postcode", "date"],
        orient="row",
    )


CASES = [
    ("text", "name", TextStandardiser(fold_accents=True)),
    ("name", "name", NameStandardiser()),
    ("phone (GB)", "phone", PhoneStandardiser(default_region="GB")),
    ("email", "email", EmailStandardiser(normalise_provider=True)),
    ("address (rules)", "address", AddressStandardiser()),
    ("address (usaddress)", "address", AddressStandardiser(parser="usaddress")),
    ("postcode (GB)", "postcode", PostcodeStandardiser(country="GB")),
    ("date", "date", DateStandardiser()),
]


def customer_records(n: int, seed: int = 1) -> pl.DataFrame:
    """``n`` synthetic customers, stacked per source as the Linker stacks them."""
    frame = generate_customers(n, seed=seed, n_sources=4)
    assert isinstance(frame, pl.DataFrame)
    sources = [
        Source(name=str(name), data=part.drop("source"))
        for (name,), part in frame.group_by("source", maintain_order=True)
    ]
    return prepare_records(sources, keep=[c for c in frame.columns if c != "source"])


def best_of(repeat: int, run: Callable[[], Any]) -> tuple[float, float, Any]:
    """Best wall and CPU seconds of ``repeat`` runs, and the last result."""
    wall = cpu = float("inf")
    result = None
    for _ in range(repeat):
        start, start_cpu = time.perf_counter(), time.process_time()
        result = run()
        wall = min(wall, time.perf_counter() - start)
        cpu = min(cpu, time.process_time() - start_cpu)
    return wall, cpu, result


def _load() -> str:
    return " ".join(f"{x:.1f}" for x in os.getloadavg())


def customers(n: int, repeat: int) -> None:
    """Print the per-column, all-together and Linker-step table."""
    start = time.perf_counter()
    records = customer_records(n)
    print(
        f"generated {records.height:,} records in {time.perf_counter() - start:.1f} s"
    )
    print(
        f"polars {pl.__version__}, {pl.thread_pool_size()} threads, "
        f"{os.cpu_count()} CPUs, Python {platform.python_version()}, "
        f"load average {_load()}\n"
    )
    steps = steps_from_dict(tomllib.loads(CUSTOMERS.read_text())["standardise"])
    print("| what | rows | distinct inputs | wall s | CPU s | nulls made |")
    print("|---|---:|---:|---:|---:|---:|")
    for column, chain in steps.items():
        frame = records.select(column)
        wall, cpu, (_, issues) = best_of(
            repeat, lambda f=frame, c=column, s=chain: apply_standardisers(f, {c: s})
        )
        nulls = int(issues["count"].sum() or 0)
        distinct = frame.get_column(column).n_unique()
        kinds = "+".join(step.kind for step in chain)
        print(
            f"| {column} ({kinds}) | {frame.height:,} | {distinct:,} | {wall:.2f} "
            f"| {cpu:.2f} | {nulls:,} |"
        )
    wall, cpu, _ = best_of(repeat, lambda: apply_standardisers(records, steps))
    print(
        f"| all {len(steps)} together | {records.height:,} | | {wall:.2f} | {cpu:.2f} | |"
    )
    wall, cpu, _ = best_of(repeat, lambda: profile_standardisation(records, steps))
    print(
        f"| Linker step (all {len(steps)} + profile) | {records.height:,} | "
        f"| {wall:.2f} | {cpu:.2f} | |"
    )
    print(f"\nload average after: {_load()}")


def messy(rows: int, entities: int, repeat: int, only: list[str] | None) -> None:
    """Print the table of every standardiser option on messy rows."""
    start = time.perf_counter()
    frame = synthesise(rows, entities)
    print(f"synthesised {frame.height:,} rows in {time.perf_counter() - start:.1f} s")
    print(
        f"polars {pl.__version__}, {pl.thread_pool_size()} threads, "
        f"Python {platform.python_version()}, {platform.machine()}, "
        f"load average {_load()}\n"
    )
    print(
        "| standardiser | rows | distinct inputs | wall s | CPU s | rows/s | nulls made |"
    )
    print("|---|---:|---:|---:|---:|---:|---:|")
    for label, column, standardiser in CASES:
        if only and label.split(" ")[0] not in only and label not in only:
            continue
        wall, cpu, (out, issues) = best_of(
            repeat,
            lambda c=column, s=standardiser: apply_standardisers(
                frame.select(c), {c: s}
            ),
        )
        assert out.height == frame.height
        distinct = frame.get_column(column).n_unique()
        nulls = int(issues["count"].sum() or 0)
        print(
            f"| {label} | {frame.height:,} | {distinct:,} | {wall:.2f} | {cpu:.2f} "
            f"| {frame.height / wall:,.0f} | {nulls:,} |"
        )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--n", type=int, default=1_000_000, help="customer records")
    parser.add_argument("--repeat", type=int, default=3)
    parser.add_argument("--messy", action="store_true", help="the option table")
    parser.add_argument("--rows", type=int, default=1_000_000, help="with --messy")
    parser.add_argument("--entities", type=int, default=200_000, help="with --messy")
    parser.add_argument(
        "--only", nargs="+", default=None, help="with --messy: standardiser labels"
    )
    args = parser.parse_args()
    if args.messy:
        messy(args.rows, args.entities, args.repeat, args.only)
    else:
        customers(args.n, args.repeat)


if __name__ == "__main__":
    main()
