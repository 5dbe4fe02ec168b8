"""Postcodes: case and spacing per country format."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, ClassVar, Final

import polars as pl

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
)
from er_toolkit.standardise.text import collapse_spaces, nfkc, null_if_empty

_SCHEMA: Final = {VALUE: pl.String, REASON: pl.String}
_FIVE_DIGITS: Final = ((r"^(\d{5})$", "${1}"),)
_FOUR_DIGITS: Final = ((r"^(\d{4})$", "${1}"),)

POSTCODE_FORMATS: Final[dict[str, tuple[tuple[str, str], ...]]] = {
    "GB": (
        (r"^([A-Z]{1,2}\d[A-Z\d]?)(\d[A-Z]{2})$", "${1} ${2}"),
        (r"^(GIR)(0AA)$", "${1} ${2}"),
    ),
    "US": ((r"^(\d{5})(\d{4})$", "${1}-${2}"), (r"^(\d{5})$", "${1}")),
    "CA": ((r"^([A-Z]\d[A-Z])(\d[A-Z]\d)$", "${1} ${2}"),),
    "IE": ((r"^([AC-FHKNPRTV-Y]\d{2}|D6W)([0-9AC-FHKNPRTV-Y]{4})$", "${1} ${2}"),),
    "NL": ((r"^(\d{4})([A-Z]{2})$", "${1} ${2}"),),
    "SE": ((r"^(\d{3})(\d{2})$", "${1} ${2}"),),
    "PL": ((r"^(\d{2})(\d{3})$", "${1}-${2}"),),
    "PT": ((r"^(\d{4})(\d{3})$", "${1}-${2}"),),
    "BR": ((r"^(\d{5})(\d{3})$", "${1}-${2}"),),
    "JP": ((r"^(\d{3})(\d{4})$", "${1}-${2}"),),
    "IN": ((r"^(\d{6})$", "${1}"),),
    "DE": _FIVE_DIGITS,
    "FR": _FIVE_DIGITS,
    "ES": _FIVE_DIGITS,
    "IT": _FIVE_DIGITS,
    "FI": _FIVE_DIGITS,
    "MX": _FIVE_DIGITS,
    "AU": _FOUR_DIGITS,
    "AT": _FOUR_DIGITS,
    "BE": _FOUR_DIGITS,
    "CH": _FOUR_DIGITS,
    "DK": _FOUR_DIGITS,
    "NO": _FOUR_DIGITS,
    "NZ": _FOUR_DIGITS,
    "ZA": _FOUR_DIGITS,
}
"""Per country: (pattern on the upper-case code without spaces, dashes and dots,
replacement) pairs; the first pattern that matches formats the code."""

COUNTRIES: Final = (*POSTCODE_FORMATS, None)


@dataclass(frozen=True, kw_only=True)
class PostcodeStandardiser:
    """Put postcodes in their country's standard case and spacing.

    Parameters
    ----------
    country
        ISO 3166 code of the country whose format to check and write (see
        :data:`POSTCODE_FORMATS`), or None (``"any"`` in TOML) to only
        upper-case and collapse whitespace without any check.

    Notes
    -----
    Reason: ``invalid_postcode`` (the code does not fit the country's format).
    US ZIP codes that lost a leading zero in a spreadsheet (``"2134"``) are
    invalid, not repaired.

    Examples
    --------
    >>> df = pl.DataFrame({"pc": ["sw1a1aa", " EC1A  1BB", "12345"]})
    >>> std = PostcodeStandardiser(country="GB")
    >>> df.select(std.standardise(pl.col("pc")).alias("r")).unnest("r").rows()
    [('SW1A 1AA', None), ('EC1A 1BB', None), (None, 'invalid_postcode')]
    """

    kind: ClassVar[str] = "postcode"
    parts: ClassVar[tuple[str, ...]] = ()

    country: str | None = "GB"

    def __post_init__(self) -> None:
        if self.country == "any":  # TOML has no null: "any" spells None there
            object.__setattr__(self, "country", None)
        check_choice("PostcodeStandardiser", "country", self.country, COUNTRIES)

    def standardise(self, values: pl.Expr) -> pl.Expr:
        """Return the result struct (``value``, ``reason``) of ``values``."""
        return columnwise(values, self._build, schema=_SCHEMA)

    def _standardise_distinct(self, values: pl.Series) -> pl.DataFrame:
        return columnwise_frame(values, self._build, schema=_SCHEMA)

    def _build(self, frame: pl.LazyFrame) -> pl.LazyFrame:
        text = nfkc(as_text(pl.col(RAW))).str.to_uppercase()
        if self.country is None:
            frame = frame.with_columns(
                null_if_empty(collapse_spaces(text)).alias(VALUE)
            )
        else:
            compact = text.str.replace_all(r"[\s.\-\u2010-\u2015]+", "")
            frame = frame.with_columns(compact.alias(VALUE))
            value = pl.col(VALUE)
            formats = POSTCODE_FORMATS[self.country]
            frame = frame.with_columns(
                pl.coalesce(
                    pl.when(value.str.contains(pattern)).then(
                        value.str.replace(pattern, replacement)
                    )
                    for pattern, replacement in formats
                ).alias(VALUE)
            )
        return add_reason(frame, "invalid_postcode")

    def to_dict(self) -> dict[str, Any]:
        """Return the declaration of this standardiser."""
        return options_dict(self)
