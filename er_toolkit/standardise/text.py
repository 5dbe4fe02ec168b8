"""Generic text: trim, collapse spaces, case, punctuation, accents."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any, ClassVar, Final, Literal

import numpy as np
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

Case = Literal["lower", "upper", "title", "keep"]
CASES: Final[tuple[Case, ...]] = ("lower", "upper", "title", "keep")
_SCHEMA: Final = {VALUE: pl.String, REASON: pl.String}

_FOLDS: Final = {
    "ß": "ss",
    "ẞ": "SS",
    "æ": "ae",
    "Æ": "AE",
    "œ": "oe",
    "Œ": "OE",
    "ø": "o",
    "Ø": "O",
    "ł": "l",
    "Ł": "L",
    "đ": "d",
    "Đ": "D",
    "ð": "d",
    "Ð": "D",
    "þ": "th",
    "Þ": "TH",
    "\u0131": "i",  # dotless i
}
APOSTROPHES: Final = "['`\u2018\u2019\u02bc]"
"""Characters removed as apostrophes (``O'Neil`` → ``ONeil``)."""


_FEW_VALUES: Final = 64
"""Up to this many values, :func:`unless_ascii` tests them in Python, not in a query."""


def unless_ascii(values: pl.Expr, change: Callable[[pl.Expr], pl.Expr]) -> pl.Expr:
    """Apply ``change`` only to the values that are not all ASCII.

    For changes that leave every ASCII string as it is (Unicode
    normalisation, accent folding) this is ``change(values)``, with the
    work done only where there is something to change: customer data is
    mostly ASCII.

    Examples
    --------
    >>> df = pl.DataFrame({"x": ["Zoë", "Zoe", None]})
    >>> df.select(unless_ascii(pl.col("x"), lambda v: v.str.to_uppercase())).to_series().to_list()
    ['ZOË', 'Zoe', None]
    """

    def run(series: pl.Series) -> pl.Series:
        if len(series) <= _FEW_VALUES:  # ASCII: as many bytes as characters
            found = [v is not None and not v.isascii() for v in series.to_list()]
            if not any(found):
                return series
            rows = pl.Series(np.flatnonzero(found), dtype=pl.UInt32)
        else:
            other = (series.str.len_bytes() != series.str.len_chars()).fill_null(False)
            if not other.any():
                return series
            rows = other.arg_true()
        changed = series.gather(rows).to_frame("v").select(change(pl.col("v")))
        return series.clone().scatter(rows, changed.to_series())

    return values.map_batches(run, return_dtype=pl.String, is_elementwise=True)


def _fold(values: pl.Expr) -> pl.Expr:
    decomposed = values.str.normalize("NFKD").str.replace_all(r"\p{M}+", "")
    return decomposed.str.replace_many(_FOLDS).str.normalize("NFC")


def fold_accents(values: pl.Expr) -> pl.Expr:
    """Remove accents and fold letters such as ``ß`` and ``ø`` to ASCII.

    Examples
    --------
    >>> pl.select(fold_accents(pl.lit("José Ærø Straße"))).item()
    'Jose AEro Strasse'
    """
    return unless_ascii(values, _fold)


def nfkc(values: pl.Expr, *, fold: bool = False) -> pl.Expr:
    """Put text in Unicode NFKC form, and with ``fold`` fold its accents too.

    Examples
    --------
    >>> pl.select(nfkc(pl.lit("ﬁne Café"), fold=True)).item()
    'fine Cafe'
    """
    if fold:
        return unless_ascii(values, lambda v: _fold(v.str.normalize("NFKC")))
    return unless_ascii(values, lambda v: v.str.normalize("NFKC"))


def collapse_spaces(values: pl.Expr) -> pl.Expr:
    """Collapse runs of whitespace to one space and trim the ends."""
    return values.str.replace_all(r"\s+", " ").str.strip_chars()


def apply_case(values: pl.Expr, case: Case) -> pl.Expr:
    """Return ``values`` in ``case`` (``"keep"`` leaves them as they are)."""
    if case == "lower":
        return values.str.to_lowercase()
    if case == "upper":
        return values.str.to_uppercase()
    if case == "title":
        return values.str.to_titlecase()
    return values


def null_if_empty(values: pl.Expr) -> pl.Expr:
    """Return null where ``values`` is the empty string."""
    # One reference to ``values``: a when/then would compute it twice.
    return values.replace("", None)


@dataclass(frozen=True, kw_only=True)
class TextStandardiser:
    """Trim, collapse whitespace, fix case, strip punctuation, fold accents.

    Text is first put in Unicode NFKC form (full-width letters, ligatures and
    non-breaking spaces become their plain forms).

    Parameters
    ----------
    case
        ``"lower"``, ``"upper"``, ``"title"`` or ``"keep"``.
    strip_punctuation
        Remove apostrophes and turn other punctuation and symbols into spaces.
    fold_accents
        Remove accents (``"é"`` → ``"e"``) and fold ``"ß"``, ``"ø"`` and such.

    Examples
    --------
    >>> df = pl.DataFrame({"x": ["  ACME   Ltd.  ", "Café—Bar", "!!", None]})
    >>> std = TextStandardiser(fold_accents=True)
    >>> df.select(std.standardise(pl.col("x")).alias("r")).unnest("r").rows()
    [('acme ltd', None), ('cafe bar', None), (None, 'empty_after_cleaning'), (None, None)]
    """

    kind: ClassVar[str] = "text"
    parts: ClassVar[tuple[str, ...]] = ()

    case: Case = "lower"
    strip_punctuation: bool = True
    fold_accents: bool = False

    def __post_init__(self) -> None:
        check_choice("TextStandardiser", "case", self.case, CASES)

    def standardise(self, values: pl.Expr) -> pl.Expr:
        """Return the result struct (``value``, ``reason``) of ``values``."""
        return columnwise(values, self._build, schema=_SCHEMA)

    def _standardise_distinct(self, values: pl.Series) -> pl.DataFrame:
        return columnwise_frame(values, self._build, schema=_SCHEMA)

    def _build(self, frame: pl.LazyFrame) -> pl.LazyFrame:
        text = nfkc(as_text(pl.col(RAW)), fold=self.fold_accents)
        if self.strip_punctuation:
            text = text.str.replace_all(APOSTROPHES, "")
            text = text.str.replace_all(r"[\p{P}\p{S}]+", " ")
        text = null_if_empty(apply_case(collapse_spaces(text), self.case))
        return add_reason(frame.with_columns(text.alias(VALUE)), "empty_after_cleaning")

    def to_dict(self) -> dict[str, Any]:
        """Return the declaration of this standardiser."""
        return options_dict(self)
