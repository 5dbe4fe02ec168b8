"""Time every standardiser on synthetic customer columns (default one million rows).

Run ``python benchmarks/bench_standardise.py [--rows N] [--entities N]``; it
prints a markdown table. Rows are drawn from ``--entities`` synthetic
customers, each written in several messy ways (case, spacing, punctuation,
formats), as in a customer table fed by several source systems.
"""

from __future__ import annotations

import argparse
import platform
import time

import numpy as np
import polars as pl

from er_toolkit.standardise import (
    AddressStandardiser,
    DateStandardiser,
    EmailStandardiser,
    NameStandardiser,
    PhoneStandardiser,
    PostcodeStandardiser,
    TextStandardiser,
    apply_standardisers,
)

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


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--rows", type=int, default=1_000_000)
    parser.add_argument("--entities", type=int, default=200_000)
    parser.add_argument("--repeat", type=int, default=1)
    parser.add_argument(
        "--only", nargs="+", default=None, help="labels of the standardisers to run"
    )
    args = parser.parse_args()

    start = time.perf_counter()
    frame = synthesise(args.rows, args.entities)
    print(f"synthesised {frame.height:,} rows in {time.perf_counter() - start:.1f} s")
    print(
        f"polars {pl.__version__}, {pl.thread_pool_size()} threads, "
        f"Python {platform.python_version()}, {platform.machine()}\n"
    )
    print("| standardiser | rows | distinct inputs | seconds | rows/s | nulls made |")
    print("|---|---:|---:|---:|---:|---:|")
    for label, column, standardiser in CASES:
        if (
            args.only
            and label.split(" ")[0] not in args.only
            and label not in args.only
        ):
            continue
        best = float("inf")
        for _ in range(args.repeat):
            start = time.perf_counter()
            out, issues = apply_standardisers(
                frame.select(column), {column: standardiser}
            )
            best = min(best, time.perf_counter() - start)
        assert out.height == frame.height
        distinct = frame.get_column(column).n_unique()
        nulls = int(issues["count"].sum() or 0)
        print(
            f"| {label} | {frame.height:,} | {distinct:,} | {best:.2f} | "
            f"{frame.height / best:,.0f} | {nulls:,} |"
        )


if __name__ == "__main__":
    main()
