"""Dates in several formats to ISO dates, with ambiguous day/month flagged."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, ClassVar, Final

import polars as pl

from er_toolkit.exceptions import ConfigError
from er_toolkit.standardise.base import (
    RAW,
    REASON,
    VALUE,
    add_reason,
    as_text,
    columnwise,
    columnwise_frame,
    options_dict,
)
from er_toolkit.standardise.text import collapse_spaces, nfkc

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

_SCHEMA: Final = {VALUE: pl.Date, REASON: pl.String, "ambiguous": pl.Boolean}
_TIME: Final = (
    r"(?:t|\s)\d{1,2}:\d{2}(?::\d{2}(?:\.\d+)?)?\s*(?:z|utc|[+-]\d{2}:?\d{2}|am|pm)?$"
)
_NUMERIC: Final = r"^(\d{1,4})[/.\-\s](\d{1,2})[/.\-\s](\d{1,4})$"
_COMPACT: Final = r"^(\d{4})(\d{2})(\d{2})$"


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
    swap_impossible
        Read a numeric date that is no date in the ``dayfirst`` order in the
        other order when that one is a date (``"10/22/97"`` with
        ``dayfirst=True`` is 22 October 1997): sources that write month first
        and day first can share a column.

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
    swap_impossible: bool = False

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
        return columnwise(values, self._build, schema=_SCHEMA)

    def _standardise_distinct(self, values: pl.Series) -> pl.DataFrame:
        return columnwise_frame(values, self._build, schema=_SCHEMA)

    def _build(self, frame: pl.LazyFrame) -> pl.LazyFrame:
        text = nfkc(as_text(pl.col(RAW))).str.to_lowercase()
        frame = frame.with_columns(
            collapse_spaces(text.str.replace(_TIME, "")).alias("text")
        )
        text = pl.col("text")

        # Numeric dates: a, b, c are the three numbers in the order written.
        frame = frame.with_columns(
            text.str.extract_groups(_NUMERIC).alias("numeric"),
            text.str.extract_groups(_COMPACT).alias("compact"),
        )
        group = pl.col("numeric").struct.field
        compact = pl.col("compact").struct.field
        frame = frame.with_columns(
            group("1").cast(pl.Int32, strict=False).alias("a"),
            group("2").cast(pl.Int32, strict=False).alias("b"),
            group("3").cast(pl.Int32, strict=False).alias("c"),
            group("1").str.len_chars().alias("a_digits"),
            group("3").str.len_chars().alias("c_digits"),
            compact("1").is_not_null().alias("is_compact"),
        )
        a, b, c = pl.col("a"), pl.col("b"), pl.col("c")
        first, second = (a, b) if self.dayfirst else (b, a)
        ymd = (pl.col("a_digits") == 4) | pl.col("is_compact")
        frame = frame.with_columns(
            ymd.alias("ymd"),
            pl.when(pl.col("is_compact"))
            .then(compact("1").cast(pl.Int32))
            .when(pl.col("a_digits") == 4)
            .then(a)
            .when(pl.col("c_digits").is_in([2, 4]))
            .then(self._full_year(c, pl.col("c_digits")))
            .alias("year"),
            pl.when(pl.col("is_compact"))
            .then(compact("2").cast(pl.Int32))
            .when(pl.col("a_digits") == 4)
            .then(b)
            .otherwise(second)
            .alias("month"),
            pl.when(pl.col("is_compact"))
            .then(compact("3").cast(pl.Int32))
            .when(pl.col("a_digits") == 4)
            .then(c)
            .otherwise(first)
            .alias("day"),
        )
        iso = pl.format("{}-{}-{}", pl.col("year"), pl.col("month"), pl.col("day"))
        numeric_date = iso.str.to_date("%Y-%m-%d", strict=False)
        if self.swap_impossible:
            other = pl.format(
                "{}-{}-{}", pl.col("year"), pl.col("day"), pl.col("month")
            )
            numeric_date = pl.coalesce(
                numeric_date,
                pl.when(~pl.col("ymd")).then(
                    other.str.to_date("%Y-%m-%d", strict=False)
                ),
            )
        frame = frame.with_columns(
            pl.col("year").is_not_null().alias("numeric_shape"),
            numeric_date.alias("numeric_date"),
            (~pl.col("ymd") & (a <= 12) & (b <= 12) & (a != b)).alias("swappable"),
        )

        # Other dates (month names, custom formats), where the text is not numeric.
        words = collapse_spaces(
            text.str.replace_all(r"(\d)(?:st|nd|rd|th)\b", "${1}")
            .str.replace_all(r"[^\p{L}\p{N}]+", " ")
            .str.replace_all(r"\bsept\b", "sep")
        )
        frame = frame.with_columns(
            pl.when(~pl.col("numeric_shape")).then(words).alias("words")
        )
        words = pl.col("words")
        short_year = words.str.extract(r"\s(\d{2})$", 1).cast(pl.Int32, strict=False)
        expand = (
            words.str.contains(r"\p{L}")
            & (words.str.count_matches(r"\d+") == 2)
            & short_year.is_not_null()
        )
        frame = frame.with_columns(
            pl.when(expand)
            .then(
                pl.concat_str(
                    words.str.replace(r"\s\d{2}$", " "),
                    self._full_year(short_year, pl.lit(2)).cast(pl.String),
                )
            )
            .otherwise(words)
            .alias("words")
        )
        named = pl.coalesce(
            [words.str.to_date(f, strict=False) for f in self.formats]
            or [pl.lit(None, dtype=pl.Date)]
        )
        frame = frame.with_columns(
            pl.when(pl.col("numeric_shape"))
            .then(pl.col("numeric_date"))
            .otherwise(named)
            .alias("parsed")
        )
        parsed = pl.col("parsed")
        in_range = parsed.dt.year().is_between(self.min_year, self.max_year)
        frame = frame.with_columns(pl.when(in_range).then(parsed).alias(VALUE))
        reason = (
            pl.when(parsed.is_not_null())
            .then(pl.lit("out_of_range_date"))
            .when(pl.col("numeric_shape"))
            .then(pl.lit("impossible_date"))
            .otherwise(pl.lit("unparseable_date"))
        )
        frame = frame.with_columns(
            pl.when(pl.col(VALUE).is_not_null())
            .then(pl.col("numeric_shape") & pl.col("swappable"))
            .alias("ambiguous")
        )
        return add_reason(frame, reason)

    def to_dict(self) -> dict[str, Any]:
        """Return the declaration of this standardiser."""
        return options_dict(self)
