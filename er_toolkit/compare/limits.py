"""Bounds on comparison cost: string lengths a comparator sees."""

from __future__ import annotations

import os
from typing import Final

import numpy as np
import polars as pl

from er_toolkit.exceptions import ConfigError

MAX_COMPARED_LENGTH_ENV: Final = "ER_TOOLKIT_MAX_COMPARED_LENGTH"
DEFAULT_MAX_COMPARED_LENGTH: Final = 1_000
"""Characters of a value the string comparators read (the rest is ignored).

Jaro-Winkler and the edit distances cost time in the product of the two
lengths; one 20,000-character cell compared against a block of others can
hang a run. Names, addresses, phones and emails are far shorter than this
cap, so it changes no ordinary comparison. Set ``ER_TOOLKIT_MAX_COMPARED_LENGTH``
(a positive integer) or pass ``max_compared_length`` to
:class:`~er_toolkit.compare.RecordEncoding` to change it. Exact
comparisons always see the whole value.
"""


def max_compared_length(value: int | None = None) -> int:
    """Return the cap to use: ``value``, else the environment's, else the default.

    Examples
    --------
    >>> max_compared_length(50)
    50
    >>> max_compared_length(0)
    Traceback (most recent call last):
    ...
    er_toolkit.exceptions.ConfigError: max_compared_length must be a positive integer; got 0.
    """
    if value is None:
        raw = os.environ.get(MAX_COMPARED_LENGTH_ENV)
        if raw is None or not raw.strip():
            return DEFAULT_MAX_COMPARED_LENGTH
        try:
            value = int(raw)
        except ValueError:
            raise ConfigError(
                f"{MAX_COMPARED_LENGTH_ENV} must be a positive integer; got {raw!r}."
            ) from None
    if isinstance(value, bool) or not isinstance(value, int) or value < 1:
        raise ConfigError(
            f"max_compared_length must be a positive integer; got {value!r}."
        )
    return value


def cap_lengths(values: pl.Series, max_length: int) -> tuple[pl.Series, np.ndarray]:
    """Cut strings longer than ``max_length`` characters.

    Parameters
    ----------
    values
        Strings (a column's distinct values).
    max_length
        The most characters to keep.

    Returns
    -------
    tuple
        The strings, cut, and the positions of those that were cut.

    Examples
    --------
    >>> out, cut = cap_lengths(pl.Series(["abc", "x" * 10]), 4)
    >>> out.to_list(), cut.tolist()
    (['abc', 'xxxx'], [1])
    """
    long = np.flatnonzero(
        (values.str.len_chars() > max_length).fill_null(False).to_numpy()
    )
    if long.size == 0:
        return values, long
    return values.str.slice(0, max_length), long


def warn_cut(column: str, cut: np.ndarray, codes: np.ndarray, max_length: int) -> None:
    """Report, as a :class:`~er_toolkit.exceptions.DataQualityWarning`, values cut."""
    from er_toolkit.diagnostics import warn

    records = int(np.isin(codes, cut).sum())
    warn(
        f"column {column!r}: {cut.size:,} distinct value(s) ({records:,} record(s)) "
        f"longer than {max_length:,} characters are compared on their first "
        f"{max_length:,} only (set {MAX_COMPARED_LENGTH_ENV} to change the cap)."
    )
