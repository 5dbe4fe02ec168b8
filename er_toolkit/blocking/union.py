"""Run several blockers as one: each pair once, tagged with its first producer."""

from __future__ import annotations

import logging
import warnings
from collections.abc import Callable, Sequence
from typing import Literal

import numpy as np
import polars as pl

from er_toolkit import schema
from er_toolkit.blocking.base import (
    PAIR_SCHEMA,
    Blocker,
    pairs_of_key_codes,
    source_codes,
)
from er_toolkit.exceptions import BlockingError, ConfigError
from er_toolkit.pairs import pair_key, unpack_pair_keys
from er_toolkit.progress import progress_bar
from er_toolkit.schema import LinkType

log = logging.getLogger(__name__)

OnExplode = Literal["raise", "warn"]


def count_rule_pairs(
    records: pl.DataFrame, blockers: Sequence[Blocker], *, link_type: LinkType
) -> pl.DataFrame:
    """Report how many pairs each blocker would produce, before running it.

    Returns
    -------
    polars.DataFrame
        ``blocked_by`` and ``pairs``: each blocker's ``count_pairs`` (its own
        count, overlaps with other blockers included; an upper bound for
        blockers that document one).
    """
    counts = [int(b.count_pairs(records, link_type=link_type)) for b in blockers]
    return pl.DataFrame(
        {schema.BLOCKED_BY: [b.name for b in blockers], "pairs": counts},
        schema={schema.BLOCKED_BY: pl.String, "pairs": pl.Int64},
    )


def explode_message(name: str, n: int, limit: int) -> str:
    """Return the message refusing blocking rule ``name`` for its ``n`` pairs.

    Examples
    --------
    >>> explode_message("city", 2_000, 1_000)[:47]
    "Blocking rule 'city' would produce 2,000 pairs,"
    """
    return (
        f"Blocking rule {name!r} would produce {n:,} pairs, more than "
        f"max_pairs_per_rule={limit:,}; make it stricter (add a column, or use a "
        "prefix of another) or raise the limit."
    )


def block_pairs(
    records: pl.DataFrame,
    blockers: Sequence[Blocker],
    *,
    link_type: LinkType,
    max_pairs_per_rule: int | None = None,
    on_explode: OnExplode = "raise",
    counts: pl.DataFrame | None = None,
    key_codes: Callable[[Blocker], np.ndarray | None] | None = None,
) -> pl.DataFrame:
    """Return the union of the blockers' candidate pairs.

    Parameters
    ----------
    records
        The records frame (with ``_row``).
    blockers
        The blockers, in priority order.
    link_type
        ``"dedupe"``, ``"link"`` or ``"link_and_dedupe"``.
    max_pairs_per_rule
        A rule that would produce more pairs than this is refused
        (``on_explode="raise"``) or skipped with a warning (``"warn"``).
    on_explode
        What to do with such a rule.
    counts
        :func:`count_rule_pairs` of these records and blockers, when
        already made (it is made here otherwise).
    key_codes
        Each record's key code under a blocker, by position, or None (an
        engine's ``exact_key_codes``): a blocker with codes is paired from
        them (:func:`~er_toolkit.blocking.base.pairs_of_key_codes`), the
        same pairs as its ``block``, without keying the records again.

    Returns
    -------
    polars.DataFrame
        ``_row_l``, ``_row_r`` and ``blocked_by`` (an Enum of blocker names),
        each pair once, attributed to the first blocker that produced it.
    """
    check_blockers(blockers, on_explode=on_explode)
    report = (
        count_rule_pairs(records, blockers, link_type=link_type)
        if counts is None
        else counts
    )
    names = [b.name for b in blockers]
    enum = pl.Enum(names)
    seen: list[np.ndarray] = []
    parts = []
    run = blockers_to_run(
        blockers,
        report,
        max_pairs_per_rule=max_pairs_per_rule,
        on_explode=on_explode,
        stacklevel=3,
    )
    # An earlier rule paired from key codes is looked up by its codes (a pair
    # is its pair when both records have one key code), not by its pairs'
    # keys: a gather per pair instead of a binary search, and its tens of
    # millions of keys are not kept. Codes are by position; they are looked
    # up by row, so records whose rows are not 0 .. n-1 (a sample) have
    # theirs spread over their rows first.
    seen_codes: list[np.ndarray] = []
    rows = records.get_column(schema.ROW).to_numpy()
    by_position = _rows_are_positions(records)
    with progress_bar(total=len(run), desc="block", unit="rule") as bar:
        for blocker in run:
            bar.describe(blocker.name)
            codes = key_codes(blocker) if key_codes else None
            keys = _new_pair_keys(_rule_pairs(blocker, records, link_type, codes), seen)
            left, right = unpack_pair_keys(keys)
            if seen_codes:
                new = _not_paired_by(seen_codes, left, right)
                keys, left, right = keys[new], left[new], right[new]
            if codes is None:
                seen.append(keys)
            elif blocker is not run[-1]:  # the last rule's codes are not looked up
                seen_codes.append(codes if by_position else _by_row(codes, rows))
            del keys
            parts.append(
                pl.DataFrame({schema.ROW_L: left, schema.ROW_R: right}).with_columns(
                    pl.lit(blocker.name, dtype=enum).alias(schema.BLOCKED_BY)
                )
            )
            bar.update()
    if not parts:
        return pl.DataFrame(schema={**PAIR_SCHEMA, schema.BLOCKED_BY: enum})
    return pl.concat(parts, rechunk=False)


def check_blockers(blockers: Sequence[Blocker], *, on_explode: OnExplode) -> None:
    """Refuse an empty list of blockers, two blockers of one name, or a bad ``on_explode``."""
    if not blockers:
        raise ConfigError("Expected at least one blocker; got none.")
    names = [b.name for b in blockers]
    if len(set(names)) != len(names):
        raise ConfigError(f"Blocker names must be unique; got {names}.")
    if on_explode not in ("raise", "warn"):
        raise ConfigError(f"on_explode must be 'raise' or 'warn'; got {on_explode!r}.")


def blockers_to_run(
    blockers: Sequence[Blocker],
    counts: pl.DataFrame,
    *,
    max_pairs_per_rule: int | None,
    on_explode: OnExplode,
    stacklevel: int = 2,
) -> list[Blocker]:
    """Return the blockers whose pair counts are within ``max_pairs_per_rule``.

    Every engine's union of blockers refuses exploding rules here:
    a rule over the limit raises :class:`~er_toolkit.exceptions.BlockingError`
    (``on_explode="raise"``) or is skipped with a warning (``"warn"``).

    Parameters
    ----------
    blockers
        The blockers, in priority order.
    counts
        Their :func:`count_rule_pairs` report, in the same order.
    max_pairs_per_rule, on_explode
        As :func:`block_pairs`.
    stacklevel
        Where the warning points, counted from here.
    """
    names = [b.name for b in blockers]
    if counts.get_column(schema.BLOCKED_BY).to_list() != names:
        raise ConfigError(
            f"counts must list the blockers {names} in order; got "
            f"{counts.get_column(schema.BLOCKED_BY).to_list()}."
        )
    for name, n in counts.iter_rows():
        log.info("blocking rule %s: %s pairs", name, f"{n:,}")
    kept = []
    for blocker, n in zip(blockers, counts.get_column("pairs"), strict=True):
        if max_pairs_per_rule is not None and n > max_pairs_per_rule:
            message = explode_message(blocker.name, n, max_pairs_per_rule)
            if on_explode == "raise":
                raise BlockingError(message)
            warnings.warn(message, stacklevel=stacklevel)
            continue
        kept.append(blocker)
    return kept


def _rows_are_positions(records: pl.DataFrame) -> bool:
    """Whether ``_row`` is 0, 1, ..., n - 1 in order."""
    rows = records.get_column(schema.ROW).to_numpy()
    return bool(rows.size == 0 or (rows[0] == 0 and np.all(np.diff(rows) == 1)))


def _by_row(codes: np.ndarray, rows: np.ndarray) -> np.ndarray:
    """Return key codes by position as codes by row (-1 for a row not among ``rows``).

    Examples
    --------
    >>> _by_row(np.array([5, 7]), np.array([1, 3], dtype=np.uint32)).tolist()
    [-1, 5, -1, 7]
    """
    out = np.full(int(rows.max()) + 1 if rows.size else 0, -1, dtype=codes.dtype)
    out[rows] = codes
    return out


def _not_paired_by(
    seen_codes: Sequence[np.ndarray], left: np.ndarray, right: np.ndarray
) -> np.ndarray:
    """Return which pairs share no key code of any earlier rule (-1: no key)."""
    new = np.ones(left.size, dtype=bool)
    for start in range(0, left.size, _GATHER):
        lo, hi = left[start : start + _GATHER], right[start : start + _GATHER]
        out = new[start : start + _GATHER]
        for codes in seen_codes:
            key = codes[lo]
            out &= (key != codes[hi]) | (key < 0)
    return new


_GATHER = 4_000_000  # pairs looked up at a time


def _rule_pairs(
    blocker: Blocker,
    records: pl.DataFrame,
    link_type: LinkType,
    codes: np.ndarray | None,
) -> pl.DataFrame:
    """Return one blocker's pairs: from its key codes where given, else its ``block``."""
    if codes is None:
        return blocker.block(records, link_type=link_type)
    cross = link_type == "link" and schema.SOURCE in records.columns
    return pairs_of_key_codes(
        codes,
        records.get_column(schema.ROW).to_numpy(),
        source_codes(records) if cross else None,
    )


def _new_pair_keys(pairs: pl.DataFrame, seen: Sequence[np.ndarray]) -> np.ndarray:
    """Return the pairs as sorted unique ``_row_l << 32 | _row_r`` keys not in ``seen``.

    Each earlier rule's keys are kept sorted, so a pair produced before is
    found by binary search: the union streams rule by rule and never stacks
    every rule's pairs to de-duplicate them at once.
    """
    # A blocker's pairs have _row_l < _row_r (the Blocker protocol), so the
    # key packs without the min/max: at tens of millions of pairs that is
    # several full-length intermediate columns fewer. A plug-in that breaks
    # the promise still gets the orientation-free key.
    ordered = bool(
        pairs.select((pl.col(schema.ROW_L) < pl.col(schema.ROW_R)).all()).item()
    )
    # polars sorts in parallel, several times faster than numpy
    keys = pairs.select(pair_key(ordered=ordered).sort()).to_series().to_numpy()
    del pairs
    if keys.size > 1:
        keys = keys[np.r_[True, keys[1:] != keys[:-1]]]
    for earlier in seen:
        if keys.size == 0 or earlier.size == 0:
            continue
        at = np.searchsorted(earlier, keys)
        np.minimum(at, earlier.size - 1, out=at)
        keys = keys[earlier[at] != keys]
    return keys
