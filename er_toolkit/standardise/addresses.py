"""Postal addresses: abbreviations unified, house number split out, US parsing."""

from __future__ import annotations

import importlib.util
from dataclasses import dataclass
from typing import Any, ClassVar, Final, Literal

import polars as pl

from er_toolkit.exceptions import ConfigError
from er_toolkit.standardise.base import (
    RAW,
    REASON,
    VALUE,
    add_reason,
    as_text,
    check_choice,
    columnwise,
    columnwise_frame,
    options_dict,
    per_distinct,
    per_distinct_frame,
)
from er_toolkit.standardise.text import (
    APOSTROPHES,
    nfkc,
    null_if_empty,
)

AddressParser = Literal["rules", "usaddress"]
ADDRESS_PARSERS: Final[tuple[AddressParser, ...]] = ("rules", "usaddress")

ABBREVIATIONS: Final[dict[str, str]] = {
    # street types (USPS Publication 28 and Royal Mail forms)
    "street": "st", "str": "st", "strasse": "str", "road": "rd", "avenue": "ave",
    "av": "ave", "avn": "ave", "boulevard": "blvd", "drive": "dr", "lane": "ln",
    "court": "ct", "place": "pl", "square": "sq", "terrace": "ter",
    "crescent": "cres", "close": "cl", "gardens": "gdns", "grove": "gr",
    "highway": "hwy", "parkway": "pkwy", "circle": "cir", "trail": "trl",
    "mount": "mt", "mountain": "mtn", "heights": "hts", "center": "ctr",
    "centre": "ctr", "expressway": "expy", "freeway": "fwy", "junction": "jct",
    "point": "pt", "route": "rte", "saint": "st", "esplanade": "esp",
    "parade": "pde", "walk": "wlk", "view": "vw",
    # units and buildings
    "apartment": "apt", "apartments": "apt", "suite": "ste", "floor": "fl",
    "building": "bldg", "room": "rm", "department": "dept", "flat": "flat",
    "number": "no",
    # directions
    "north": "n", "south": "s", "east": "e", "west": "w", "northeast": "ne",
    "northwest": "nw", "southeast": "se", "southwest": "sw",
}  # fmt: skip
"""Words and their standard abbreviations (all lower case)."""

_UNIT_WORDS: Final = "flat|apt|unit|ste|rm|fl|bldg|lot"
HOUSE_NUMBER_PATTERN: Final = (
    rf"^(?:(?:{_UNIT_WORDS})\s+\S+\s+)?(\d+[a-z]?(?:[-/]\d+[a-z]?)?)(?:\s|$)"
)
"""The house number: the first number, after an optional leading unit."""

US_PARTS: Final = ("house_number", "street", "unit", "city", "state", "postcode")
_US_LABELS: Final = {
    "house_number": ("AddressNumberPrefix", "AddressNumber", "AddressNumberSuffix"),
    "street": (
        "StreetNamePreModifier",
        "StreetNamePreDirectional",
        "StreetNamePreType",
        "StreetName",
        "StreetNamePostType",
        "StreetNamePostDirectional",
        "StreetNamePostModifier",
    ),
    "unit": ("OccupancyType", "OccupancyIdentifier", "SubaddressType",
             "SubaddressIdentifier"),
    "city": ("PlaceName",),
    "state": ("StateName",),
    "postcode": ("ZipCode",),
}  # fmt: skip
_RULES_SCHEMA: Final = {VALUE: pl.String, REASON: pl.String, "house_number": pl.String}
_US_SCHEMA: Final = {
    VALUE: pl.String,
    REASON: pl.String,
    **dict.fromkeys(US_PARTS, pl.String),
}


def address_rules(values: pl.Expr) -> pl.Expr:
    """Normalise addresses with vectorised rules; blank results are null.

    Lower case, accents folded, punctuation to spaces (``-`` kept between
    digits, ``/`` kept), whitespace collapsed, and every word in
    :data:`ABBREVIATIONS` replaced by its abbreviation.

    Examples
    --------
    >>> pl.select(address_rules(pl.lit("Flat 3, 12-14 North Road, St. Albans"))).item()
    'flat 3 12-14 n rd st albans'
    """
    text = nfkc(as_text(values), fold=True).str.to_lowercase()
    text = text.str.replace_all(APOSTROPHES, "")
    text = text.str.replace_all(r"(\d)\s*[-\u2010-\u2015]\s*(\d)", "${1}\x00${2}")
    text = text.str.replace_all(r"[^\p{L}\p{N}/\x00]+", " ").str.replace_all(
        "\x00", "-"
    )
    # Every run of whitespace is inside a run the line above made one space,
    # so only the ends are left to trim (collapse_spaces would change nothing
    # more).
    text = text.str.replace_all(r"\s*/\s*", "/").str.strip_chars()
    words = text.str.split(" ").list.eval(pl.element().replace(ABBREVIATIONS))
    return null_if_empty(words.list.join(" "))


def house_number(address: pl.Expr) -> pl.Expr:
    """Return the house number of a rule-normalised address, or null.

    Examples
    --------
    >>> df = pl.DataFrame({"a": ["12 main st apt 4", "flat 3 7a high st", "po box 9"]})
    >>> df.select(house_number(pl.col("a"))).to_series().to_list()
    ['12', '7a', None]
    """
    return address.str.extract(HOUSE_NUMBER_PATTERN, 1)


@dataclass(frozen=True, kw_only=True)
class AddressStandardiser:
    """Normalise one-line postal addresses.

    The value is the address in lower case with punctuation removed and
    street types, unit words and directions abbreviated the USPS / Royal Mail
    way (``"12 Main Street, Apt. 4"`` → ``"12 main st apt 4"``). The
    ``house_number`` part holds the first number (after a leading flat or
    unit number).

    Parameters
    ----------
    parser
        ``"rules"`` (vectorised, any country) or ``"usaddress"``: US addresses
        are also parsed with the usaddress library (once per distinct value)
        into the parts ``house_number``, ``street``, ``unit``, ``city``,
        ``state`` and ``postcode``. Addresses usaddress cannot label keep their
        value and get null parts.

    Notes
    -----
    Reason: ``empty_after_cleaning`` (nothing but punctuation).

    Examples
    --------
    >>> df = pl.DataFrame({"address": ["12 Main Street Apt 4", "  ,.  "]})
    >>> std = AddressStandardiser()
    >>> df.select(std.standardise(pl.col("address")).alias("r")).unnest("r").rows()
    [('12 main st apt 4', None, '12'), (None, 'empty_after_cleaning', None)]
    """

    kind: ClassVar[str] = "address"

    parser: AddressParser = "rules"

    def __post_init__(self) -> None:
        check_choice("AddressStandardiser", "parser", self.parser, ADDRESS_PARSERS)
        if self.parser == "usaddress" and importlib.util.find_spec("usaddress") is None:
            raise ConfigError(
                "AddressStandardiser(parser='usaddress') needs the usaddress "
                "package; install it with 'pip install usaddress'."
            )

    @property
    def parts(self) -> tuple[str, ...]:
        """``house_number``, and with usaddress also the other US parts."""
        return US_PARTS if self.parser == "usaddress" else ("house_number",)

    def standardise(self, values: pl.Expr) -> pl.Expr:
        """Return the result struct (``value``, ``reason``, parts) of ``values``."""
        if self.parser == "rules":
            return columnwise(values, _build_rules, schema=_RULES_SCHEMA)
        return per_distinct(values, _parse_us, schema=_US_SCHEMA)

    def _standardise_distinct(self, values: pl.Series) -> pl.DataFrame:
        if self.parser == "rules":
            return columnwise_frame(values, _build_rules, schema=_RULES_SCHEMA)
        return per_distinct_frame(values, _parse_us, schema=_US_SCHEMA)

    def to_dict(self) -> dict[str, Any]:
        """Return the declaration of this standardiser."""
        return options_dict(self)


def _build_rules(frame: pl.LazyFrame) -> pl.LazyFrame:
    frame = frame.with_columns(address_rules(pl.col(RAW)).alias(VALUE))
    frame = frame.with_columns(house_number(pl.col(VALUE)).alias("house_number"))
    return add_reason(frame, "empty_after_cleaning")


def _parse_us(keys: list[str]) -> list[tuple[Any, ...]]:
    import usaddress  # imported here: only this parser needs it

    rules = pl.DataFrame({"raw": keys}, schema={"raw": pl.String}).select(
        address_rules(pl.col("raw")).alias("value"),
        house_number(address_rules(pl.col("raw"))).alias("house_number"),
    )
    out: list[tuple[Any, ...]] = []
    for raw, (value, number) in zip(keys, rules.iter_rows(), strict=True):
        if value is None:
            out.append((None, "empty_after_cleaning", *([None] * len(US_PARTS))))
            continue
        try:
            tagged, _ = usaddress.tag(raw)
        except usaddress.RepeatedLabelError:
            out.append((value, None, number, *([None] * (len(US_PARTS) - 1))))
            continue
        parts = []
        for part in US_PARTS:
            words = " ".join(
                tagged[label] for label in _US_LABELS[part] if label in tagged
            )
            parts.append(words or None)
        out.append((value, None, *parts))
    names = ["value", "reason", *US_PARTS]
    cleaned = pl.DataFrame(out, schema=dict.fromkeys(names, pl.String), orient="row")
    cleaned = cleaned.with_columns(
        address_rules(pl.col(p)).alias(p) for p in US_PARTS if p != "state"
    ).with_columns(pl.col("state").str.to_uppercase().str.replace_all(r"[^A-Z ]", ""))
    return list(cleaned.iter_rows())
