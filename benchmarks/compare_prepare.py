"""Shared data preparation for the side-by-side benchmark (``benchmarks.compare``).

Every tool reads the same prepared Parquet file, so no tool is timed on
standardisation and all see the same clean columns. The file holds, one row
per synthetic record (:func:`benchmarks.synthetic.generate_customers`):

``unique_id``
    Int64, 0..n-1 in file order; the row key every tool reports pairs and
    clusters with.
``record_id``
    ``<source>:<record id>``, unique over all records.
``source``, ``entity_id``
    The source system and the ground-truth entity (read only by the runner to
    evaluate; tools never read ``entity_id``).
``first_name``
    Canonical first name (lower case, accents folded, nickname mapped to its
    formal form: er_toolkit's ``NameStandardiser`` ``canonical`` part).
``surname``
    Lower case, accents folded.
``date_of_birth``
    ISO ``YYYY-MM-DD``: day first, and month first where day first is no
    date (``10/22/97``).
``email``, ``phone``, ``postcode``, ``city``
    Lower-cased email (provider rules applied), E.164 phone (default region
    GB; a number of digits alone that is no number there is read again with
    a "+" when it starts with a country code, as an ERP's numeric column
    writes 442079460958), upper-cased postcode with spaces collapsed,
    lower-cased accent-folded city.
``full_name``
    Hard data only (``data="hard"``): the support desk's single name field
    ("SMITH, John") as the source wrote it, null elsewhere; that source's
    ``first_name`` and ``surname`` are null, so a tool finds its names only
    by splitting this field.

Beside it, ``customers_raw_n{n}_seed{seed}.parquet`` holds the same records
with the same ``unique_id``, ``record_id``, ``source`` and ``entity_id`` and the
generator's values as the sources wrote them (mixed case, nicknames, several
date and phone formats): the input of a user's job, which er_toolkit
standardises inside its clock and the other tools read as it is.

Preparation runs once per (size, seed), outside every tool's clock, and is
cached: a file is reused while its sidecar ``.source.json`` records the same
fingerprint of the generator and of this module (:func:`source_fingerprint`);
after either changes, the file is made again.
"""

from __future__ import annotations

import contextlib
import hashlib
import json
import time
from collections.abc import Sequence
from pathlib import Path
from typing import Literal

import polars as pl

from benchmarks.synthetic import Difficulty, generate_customers
from er_toolkit.standardise import Standardiser, apply_standardisers, steps_from_dict

__all__ = [
    "COLUMNS",
    "INPUTS",
    "RAW_COLUMNS",
    "STANDARDISE",
    "Input",
    "prepare",
    "prepared_path",
    "source_fingerprint",
]

#: The standardisers, as in experiments/customers.toml (postcode aside).
STANDARDISE: dict[str, object] = {
    "first_name": "name",
    "surname": "name",
    # Sources writing month first share the column: where day first gives no
    # date, month first is read.
    "date_of_birth": {"kind": "date", "swap_impossible": True},
    "email": {"kind": "email", "normalise_provider": True},
    "phone": {"kind": "phone", "default_region": "GB", "check": "possible"},
    "city": {"kind": "text", "fold_accents": True},
    # Records come from several countries: upper-case and collapse spaces only
    # (country="GB" would null every non-British code).
    "postcode": {"kind": "postcode", "country": None},
}

#: Columns of the prepared file, in order.
COLUMNS: tuple[str, ...] = (
    "unique_id",
    "record_id",
    "source",
    "entity_id",
    "first_name",
    "surname",
    "date_of_birth",
    "email",
    "phone",
    "postcode",
    "city",
)


def _international_again(
    raw: pl.DataFrame, clean: pl.DataFrame, phone: Sequence[Standardiser]
) -> pl.Series:
    """Phones of digits alone that failed, read again as international numbers.

    A numeric phone column drops the "+" (442079460958), so the number reads
    as a national one of the default region and fails; read with a "+" it
    is the number it was.
    """
    digits = raw.get_column("phone").str.replace_all(r"[\s().\-]", "")
    again = pl.select(
        pl.when(
            clean.get_column("phone").is_null()
            & digits.str.contains(r"^[1-9]\d{7,14}$")
        ).then("+" + digits)
    ).to_series()
    out, _ = apply_standardisers(pl.DataFrame({"phone": again}), {"phone": phone})
    return out.get_column("phone")


#: Columns of the raw file (the generator's values as the sources wrote them).
RAW_COLUMNS: tuple[str, ...] = COLUMNS

#: What a run reads: ``"raw"`` records as the sources wrote them, or ``"clean"``
#: ones (standardised here, outside every tool's clock).
Input = Literal["raw", "clean"]
INPUTS: tuple[Input, ...] = ("raw", "clean")


def prepared_path(
    folder: Path,
    n: int,
    seed: int,
    *,
    data: Difficulty = "standard",
    input: Input = "clean",
) -> Path:
    """Return where the prepared file of ``n`` records, ``seed`` and ``data`` lives.

    ``input="raw"`` names the unstandardised file written beside it.
    """
    tag = "" if data == "standard" else f"{data}_"
    raw = "raw_" if input == "raw" else ""
    return Path(folder) / f"customers_{raw}{tag}n{n}_seed{seed}.parquet"


def source_fingerprint() -> str:
    """Hash of what makes the prepared data: the generator, this module, er_toolkit.

    A cached file made by an older generator (e.g. before namesakes got
    distinct emails) would silently benchmark the old data.
    """
    from importlib import metadata

    import benchmarks.synthetic as synthetic

    digest = hashlib.sha256()
    for module_file in (synthetic.__file__, __file__):
        digest.update(Path(module_file).read_bytes())
    with contextlib.suppress(metadata.PackageNotFoundError):
        digest.update(metadata.version("er_toolkit").encode())
    return digest.hexdigest()[:16]


def _sidecar(path: Path) -> Path:
    return path.with_suffix(".source.json")


def prepare(
    n: int,
    seed: int,
    folder: Path,
    *,
    force: bool = False,
    data: Difficulty = "standard",
) -> Path:
    """Generate, standardise and write ``n`` synthetic customers; return the path.

    Parameters
    ----------
    n
        Number of records.
    seed
        Generator seed.
    folder
        Where to write the Parquet file.
    force
        Rewrite the file even when it exists and is current.
    data
        The generator's ``difficulty``: ``"standard"`` or ``"hard"``
        (households, look-alikes, hard duplicates, placeholders).

    Returns
    -------
    pathlib.Path
        The prepared Parquet file.
    """
    path = prepared_path(folder, n, seed, data=data)
    raw_path = prepared_path(folder, n, seed, data=data, input="raw")
    fingerprint = source_fingerprint()
    sidecar = _sidecar(path)
    if path.exists() and raw_path.exists() and sidecar.exists() and not force:
        try:
            made_by = json.loads(sidecar.read_text()).get("fingerprint")
        except json.JSONDecodeError:
            made_by = None
        if made_by == fingerprint:
            return path
    path.parent.mkdir(parents=True, exist_ok=True)
    start = time.perf_counter()
    raw = generate_customers(n, seed=seed, n_sources=4, difficulty=data)
    assert isinstance(raw, pl.DataFrame)
    extra = ["full_name"] if "full_name" in raw.columns else []
    # The raw file: the same records, ids and columns, values as generated (no
    # trimming, no null for empty strings): what a user's job starts from.
    raw_out = raw.select(
        pl.int_range(pl.len(), dtype=pl.Int64).alias("unique_id"),
        pl.format("{}:{}", "source", "record_id").alias("record_id"),
        *RAW_COLUMNS[2:],
        *extra,
    )
    tmp = raw_path.with_suffix(".tmp.parquet")
    raw_out.write_parquet(tmp)
    tmp.replace(raw_path)
    del raw_out
    steps = steps_from_dict(STANDARDISE)
    clean, _ = apply_standardisers(raw, steps)
    clean = clean.with_columns(
        pl.coalesce("phone", _international_again(raw, clean, steps["phone"]))
    )
    out = clean.select(
        pl.int_range(pl.len(), dtype=pl.Int64).alias("unique_id"),
        pl.format("{}:{}", "source", "record_id").alias("record_id"),
        "source",
        "entity_id",
        pl.col("first_name_canonical").alias("first_name"),
        "surname",
        pl.col("date_of_birth").cast(pl.Date).dt.to_string("%Y-%m-%d"),
        "email",
        "phone",
        "postcode",
        "city",
        *extra,
    )
    # Empty strings are missing values for every tool.
    out = out.with_columns(
        [
            pl.when(pl.col(c).str.len_chars() > 0).then(pl.col(c)).alias(c)
            for c in (*COLUMNS[4:], *extra)
        ]
    )
    if out.get_column("record_id").is_duplicated().any():
        raise ValueError("record ids are not unique after prefixing the source")
    tmp = path.with_suffix(".tmp.parquet")
    out.write_parquet(tmp)
    tmp.replace(path)
    sidecar.write_text(
        json.dumps({"n": n, "seed": seed, "data": data, "fingerprint": fingerprint})
        + "\n"
    )
    print(
        f"prepared {n:,} {data} records (seed {seed}) in "
        f"{time.perf_counter() - start:.1f}s -> {path}",
        flush=True,
    )
    return path
