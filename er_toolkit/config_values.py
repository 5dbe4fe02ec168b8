"""Checks every config table uses: known keys, numbers, limits and choices."""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from typing import Any

from er_toolkit.exceptions import ConfigError

__all__ = [
    "NO_LIMIT",
    "check_keys",
    "choice",
    "flag",
    "limit",
    "number",
    "whole",
]

NO_LIMIT = "none"
"""How a TOML file says "no limit" (TOML has no null): ``max_block_size = "none"``."""


def check_keys(table: Mapping[str, Any], valid: set[str], where: str) -> None:
    """Refuse keys of ``table`` that are not in ``valid``, listing the valid ones.

    Examples
    --------
    >>> check_keys({"a": 1}, {"a", "b"}, "[x]")
    >>> check_keys({"c": 1}, {"a", "b"}, "[x]")
    Traceback (most recent call last):
    ...
    er_toolkit.exceptions.ConfigError: Unknown key(s) ['c'] in [x]; valid keys are ['a', 'b'].
    """
    if not isinstance(table, Mapping):
        raise ConfigError(f"{where} must be a table; got {type(table).__name__}.")
    unknown = sorted(set(table) - valid)
    if unknown:
        raise ConfigError(
            f"Unknown key(s) {unknown} in {where}; valid keys are {sorted(valid)}."
        )


def number(
    value: Any,
    name: str,
    *,
    low: float | None = None,
    high: float | None = None,
    low_open: bool = False,
    high_open: bool = False,
) -> float:
    """Return ``value`` as a float after checking its type and range.

    Examples
    --------
    >>> number(1, "threshold", low=0, high=1)
    1.0
    >>> number(2, "threshold", low=0, high=1)
    Traceback (most recent call last):
    ...
    er_toolkit.exceptions.ConfigError: 'threshold' must be a number in [0, 1]; got 2.
    """
    lo = "(" if low_open else "["
    hi = ")" if high_open else "]"
    span = f" in {lo}{'-inf' if low is None else f'{low:g}'}, {'inf' if high is None else f'{high:g}'}{hi}"
    if (
        isinstance(value, bool)
        or not isinstance(value, (int, float))
        or math.isnan(float(value))
    ):
        raise ConfigError(f"{name!r} must be a number{span}; got {value!r}.")
    x = float(value)
    bad = (
        (low is not None and (x < low or (low_open and x == low)))
        or (high is not None and (x > high or (high_open and x == high)))
        or math.isinf(x)
    )
    if bad:
        raise ConfigError(f"{name!r} must be a number{span}; got {value!r}.")
    return x


def whole(
    value: Any, name: str, *, minimum: int = 0, maximum: int | None = None
) -> int:
    """Return ``value`` after checking it is an int in [``minimum``, ``maximum``].

    Examples
    --------
    >>> whole(0, "max_iter", minimum=1)
    Traceback (most recent call last):
    ...
    er_toolkit.exceptions.ConfigError: 'max_iter' must be an integer >= 1; got 0.
    >>> whole(2**40, "seed", maximum=2**32 - 1)
    Traceback (most recent call last):
    ...
    er_toolkit.exceptions.ConfigError: 'seed' must be an integer in [0, 4294967295]; got 1099511627776.
    """
    if (
        isinstance(value, bool)
        or not isinstance(value, int)
        or value < minimum
        or (maximum is not None and value > maximum)
    ):
        expected = f">= {minimum}" if maximum is None else f"in [{minimum}, {maximum}]"
        raise ConfigError(f"{name!r} must be an integer {expected}; got {value!r}.")
    return value


def limit(value: Any, name: str, *, minimum: int = 1) -> int | None:
    """Return a size limit: an int of at least ``minimum``, or None for no limit.

    ``None`` and the string ``"none"`` (TOML has no null) mean no limit.

    Examples
    --------
    >>> limit("none", "max_block_size"), limit(200, "max_block_size")
    (None, 200)
    >>> limit(0, "max_block_size", minimum=2)
    Traceback (most recent call last):
    ...
    er_toolkit.exceptions.ConfigError: 'max_block_size' must be an integer >= 2, or "none" for no limit; got 0.
    """
    if value is None or (isinstance(value, str) and value.lower() == NO_LIMIT):
        return None
    if isinstance(value, bool) or not isinstance(value, int) or value < minimum:
        raise ConfigError(
            f'{name!r} must be an integer >= {minimum}, or "none" for no limit; '
            f"got {value!r}."
        )
    return value


def choice(value: Any, name: str, choices: Sequence[Any]) -> Any:
    """Return ``value`` after checking it is one of ``choices``.

    Examples
    --------
    >>> choice("warn", "on_explode", ("raise", "warn"))
    'warn'
    """
    if value not in choices:
        raise ConfigError(f"{name!r} must be one of {list(choices)}; got {value!r}.")
    return value


def flag(value: Any, name: str) -> bool:
    """Return ``value`` after checking it is true or false."""
    if not isinstance(value, bool):
        raise ConfigError(f"{name!r} must be true or false; got {value!r}.")
    return value
