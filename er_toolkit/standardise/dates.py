"""Dates in several formats to ISO dates, with ambiguous day/month flagged."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, ClassVar, Final

import polars as pl

from er_toolkit.exceptions import ConfigError
from er_toolkit.standardise.base import as_text, options_dict, result_struct
from er_toolkit.standardise.text import collapse_spaces

DATE_FORMATS: Final[tuple[str, ...]] = (
    "%d %B %Y",
    "%d %b %Y",
    "%B %d %Y",
    "%b %d %Y",
    "%Y %B %d",
    "%Y %b %d",
)
"""Formats with month names tried after the numeric forms, on text in lower
case with punctuation turned into spaces (``"Jan. 3rd, 2020"`` → ``"jan 3 2020"``)."""

_TIME: Final = (
    r"(?:t|\s)\d{1,2}:\d{2}(?::\d{2}(?:\.\d+)?)?\s*(?:z|utc|[+-]\d{2}:?\d{2}|am|pm)?$"
)
_NUMERIC: Final = r"^(\d{1,4})[/.\-\s](\d{1,2})[/.\-\s](\d{1,4})$"
_COMPACT: Final = r"^(\d{4})(\d{2})(\d{2})$"


def _int(text: pl.Expr, pattern: str, group: int) -> pl.Expr:
    return text.str.extract(pattern, group).cast(pl.Int32, strict=False)


@dataclass(frozen=True, kw_only=True)
class DateStandardiser:
    """Parse dates written in several ways into dates.

    Numeric dates are read as year-month-day when they start with a four-digit
    year (``"2020-04-03"``, ``"2020/4/3"``, ``"20200403"``), else as
    day/month/year (``dayfirst=True``) or month/day/year, with ``/``, ``.``,
    ``-`` or a space between the parts. A time of day after the date is
    ignored. Other text is tried against ``formats``.

    The ``ambiguous`` part is True where the day and the month could be
    swapped (``"03/04/2020"``), False where they could not, and null where
    there is no date.

    Parameters
    ----------
    formats
        strftime formats for dates with month names, tried in order.
    dayfirst
        Read ``"03/04/2020"`` as 3 April (True) or March 4 (False).
    pivot_year
        Two-digit years up to ``pivot_year`` are in the 2000s, later ones in
        the 1900s.
    min_year, max_year
        Dates outside these years are null, with reason ``out_of_range_date``
        (placeholders such as ``"0001-01-01"``).

    Notes
    -----
    Reasons: ``impossible_date`` (numeric, but no such day: ``"31/02/2020"``),
    ``out_of_range_date`` and ``unparseable_date`` (anything else).

    Examples
    --------
    >>> df = pl.DataFrame({"d": ["2020-04-03", "03/04/2020", "31/02/2020",
    ...                          "Jan. 3rd, 2020", "13/04/20", "soon"]})
    >>> out = df.select(DateStandardiser().standardise(pl.col("d")).alias("r"))
    >>> for row in out.unnest("r").iter_rows():
    ...     print(row)
    (datetime.date(2020, 4, 3), None, False)
    (datetime.date(2020, 4, 3), None, True)
    (None, 'impossible_date', None)
    (datetime.date(2020, 1, 3), None, False)
    (datetime.date(2020, 4, 13), None, False)
    (None, 'unparseable_date', None)
    """

    kind: ClassVar[str] = "date"
    parts: ClassVar[tuple[str, ...]] = ("ambiguous",)

    formats: tuple[str, ...] = DATE_FORMATS
    dayfirst: bool = True
    pivot_year: int = 30
    min_year: int = 1850
    max_year: int = 2100

    def __post_init__(self) -> None:
        if isinstance(self.formats, str) or not all(
            isinstance(f, str) and "%" in f for f in self.formats
        ):
            raise ConfigError(
                "The 'formats' parameter of DateStandardiser must be a sequence of "
                f"strftime formats such as '%d %B %Y'; got {self.formats!r}."
            )
        if not 0 <= self.pivot_year <= 99:
            raise ConfigError(
                "The 'pivot_year' parameter of DateStandardiser must be an int in "
                f"the range [0, 99]; got {self.pivot_year!r}."
            )
        if self.min_year > self.max_year:
            raise ConfigError(
                "The 'min_year' parameter of DateStandardiser must not exceed "
                f"'max_year'; got {self.min_year} > {self.max_year}."
            )

    def _full_year(self, year: pl.Expr, digits: pl.Expr) -> pl.Expr:
        return (
            pl.when(digits > 2)
            .then(year)
            .when(year <= self.pivot_year)
            .then(year + 2000)
            .otherwise(year + 1900)
        )

    def standardise(self, values: pl.Expr) -> pl.Expr:
        """Return the result struct (``value``, ``reason``, ``ambiguous``)."""
        text = as_text(values).str.normalize("NFKC").str.to_lowercase()
        text = collapse_spaces(text.str.replace(_TIME, ""))

        # Numeric dates: a, b, c are the three numbers in the order written.
        a = _int(text, _NUMERIC, 1)
        b = _int(text, _NUMERIC, 2)
        c = _int(text, _NUMERIC, 3)
        a_digits = text.str.extract(_NUMERIC, 1).str.len_chars()
        c_digits = text.str.extract(_NUMERIC, 3).str.len_chars()
        ymd = (a_digits == 4) | text.str.contains(_COMPACT)
        first, second = (a, b) if self.dayfirst else (b, a)
        year = (
            pl.when(text.str.contains(_COMPACT))
            .then(_int(text, _COMPACT, 1))
            .when(ymd)
            .then(a)
            .when(c_digits.is_in([2, 4]))
            .then(self._full_year(c, c_digits))
        )
        month = (
            pl.when(text.str.contains(_COMPACT))
            .then(_int(text, _COMPACT, 2))
            .when(ymd)
            .then(b)
            .otherwise(second)
        )
        day = (
            pl.when(text.str.contains(_COMPACT))
            .then(_int(text, _COMPACT, 3))
            .when(ymd)
            .then(c)
            .otherwise(first)
        )
        numeric_shape = year.is_not_null()
        iso = pl.format("{}-{}-{}", year, month, day)
        numeric = iso.str.to_date("%Y-%m-%d", strict=False)
        ambiguous = ~ymd & (a <= 12) & (b <= 12) & (a != b)

        # Dates with month names.
        words = collapse_spaces(
            text.str.replace_all(r"(\d)(?:st|nd|rd|th)\b", "${1}")
            .str.replace_all(r"[^\p{L}\p{N}]+", " ")
            .str.replace_all(r"\bsept\b", "sep")
        )
        short_year = words.str.extract(r"\s(\d{2})$", 1).cast(pl.Int32, strict=False)
        expand = (
            words.str.contains(r"\p{L}")
            & (words.str.count_matches(r"\d+") == 2)
            & short_year.is_not_null()
        )
        words = (
            pl.when(expand)
            .then(
                pl.concat_str(
                    words.str.replace(r"\s\d{2}$", " "),
                    self._full_year(short_year, pl.lit(2)).cast(pl.String),
                )
            )
            .otherwise(words)
        )
        named = pl.coalesce(
            [words.str.to_date(f, strict=False) for f in self.formats]
            or [pl.lit(None, dtype=pl.Date)]
        )

        parsed = pl.when(numeric_shape).then(numeric).otherwise(named)
        in_range = parsed.dt.year().is_between(self.min_year, self.max_year)
        value = pl.when(in_range).then(parsed)
        reason = (
            pl.when(parsed.is_not_null())
            .then(pl.lit("out_of_range_date"))
            .when(numeric_shape)
            .then(pl.lit("impossible_date"))
            .otherwise(pl.lit("unparseable_date"))
        )
        flag = pl.when(value.is_not_null()).then(
            pl.when(numeric_shape).then(ambiguous).otherwise(pl.lit(False))
        )
        return result_struct(values, value, reason=reason, parts={"ambiguous": flag})

    def to_dict(self) -> dict[str, Any]:
        """Return the declaration of this standardiser."""
        return options_dict(self)
