"""Column names and frame schemas shared by every stage."""

from __future__ import annotations

from typing import Final, Literal

RECORD_ID: Final = "record_id"
SOURCE: Final = "source"
ROW: Final = "_row"
"""Dense integer row number given to every record inside a run (UInt32)."""

LEFT: Final = "_l"
RIGHT: Final = "_r"
RECORD_ID_L: Final = RECORD_ID + LEFT
RECORD_ID_R: Final = RECORD_ID + RIGHT
SOURCE_L: Final = SOURCE + LEFT
SOURCE_R: Final = SOURCE + RIGHT
ROW_L: Final = ROW + LEFT
ROW_R: Final = ROW + RIGHT
BLOCKED_BY: Final = "blocked_by"
BLOCK_KEY: Final = "_block_key"
"""A key blocker's key (String): records sharing a key are paired."""

PAIR_KEY: Final = "__pair_key"
"""One UInt64 per pair, ``min(l, r) * 2**32 + max(l, r)`` (see :mod:`er_toolkit.pairs`)."""

GAMMA_PREFIX: Final = "gamma_"
SIM_PREFIX: Final = "sim_"
TF_PREFIX: Final = "tf_"
"""Term frequency of the left value, for term-frequency adjusted exact levels."""
BF_PREFIX: Final = "bf_"
"""Per-comparison log2 Bayes factor (its contribution to the match weight)."""
FS_MATCH_WEIGHT: Final = "fs_match_weight"
"""The Fellegi-Sunter match weight as a feature of a stacked classifier."""

MATCH_WEIGHT: Final = "match_weight"
MATCH_PROBABILITY: Final = "match_probability"
CLUSTER_ID: Final = "cluster_id"
CLUSTER_SIZE: Final = "cluster_size"
IS_MATCH: Final = "is_match"
RANK: Final = "rank"
"""Lookup output: a candidate cluster's place among one record's candidates (1: best)."""
MATCHED_PREFIX: Final = "matched_"
"""Lookup output: prefixes the best-matching stored member's ``source`` and ``record_id``."""
GOLDEN_PREFIX: Final = "golden_"
"""Lookup output: prefixes the candidate cluster's golden-record columns."""

NULL_LEVEL: Final = -1
"""Gamma value of a pair where either side of a comparison is null."""

LinkType = Literal["dedupe", "link", "link_and_dedupe"]
LINK_TYPES: Final[tuple[LinkType, ...]] = ("dedupe", "link", "link_and_dedupe")


def gamma(name: str) -> str:
    """Return the gamma column name of comparison ``name``."""
    return GAMMA_PREFIX + name


def sim(name: str) -> str:
    """Return the raw-similarity column name of comparison ``name``."""
    return SIM_PREFIX + name


def tf(name: str) -> str:
    """Return the term-frequency column name of comparison ``name``."""
    return TF_PREFIX + name


def bf(name: str) -> str:
    """Return the log2 Bayes-factor column name of comparison ``name``."""
    return BF_PREFIX + name


def left(column: str) -> str:
    """Return the left-hand name of ``column`` in a pair frame."""
    return column + LEFT


def right(column: str) -> str:
    """Return the right-hand name of ``column`` in a pair frame."""
    return column + RIGHT


LINEAGE_SEPARATOR: Final = "__"
"""Joins a golden attribute to its lineage fields: ``email__record_id``."""
ATTRIBUTE: Final = "attribute"
RULE: Final = "rule"
VALUE: Final = "value"
LineageField = Literal["record_id", "source", "rule"]
LINEAGE_FIELDS: Final[tuple[LineageField, ...]] = (RECORD_ID, SOURCE, RULE)
"""What the lineage of each golden value holds: the record that supplied it
(``record_id``, ``source``) and the ``rule`` that chose it."""


def lineage(attribute: str, field: LineageField) -> str:
    """Return the golden-records column of one lineage field of ``attribute``.

    Examples
    --------
    >>> lineage("email", "record_id")
    'email__record_id'
    """
    return attribute + LINEAGE_SEPARATOR + field
