"""Splink 5 settings JSON to an er_toolkit Linker, and back.

:func:`from_splink` reads a trained Splink 5 model (what
``linker.misc.save_model_to_json`` writes) into a :class:`~er_toolkit.pipeline.Linker`
whose config holds the link type, blocking rules and comparisons and whose
fitted :class:`~er_toolkit.score.FellegiSunter` holds Splink's m, u, λ and
term-frequency settings: on the same records and candidate pairs it gives
Splink's match weights. :func:`to_splink` writes an er_toolkit
Fellegi-Sunter model as settings Splink 5 loads and predicts with.

Every SQL condition is parsed (:mod:`er_toolkit.interop.sql`, nothing is
evaluated) and matched against the shapes Splink's comparison-level library
writes for DuckDB; a level with no exact er_toolkit equivalent is refused
with an :class:`~er_toolkit.exceptions.InteropError` naming the comparison,
the level and the condition, never dropped or approximated.

Both tools must see the same values: er_toolkit trims values and reads
empty strings as missing before comparing, blocking and counting term
frequencies, while Splink's SQL reads values as stored. On standardised
data (trimmed, blanks as null, as er_toolkit's standardisers and readers
leave it) the two agree pair for pair.
"""

from __future__ import annotations

import dataclasses
import json
import logging
import math
import os
import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any, Final, Literal

import numpy as np

from er_toolkit.blocking import Blocker, ExactRule
from er_toolkit.blocking.base import parse_key
from er_toolkit.compare import (
    AndLevel,
    ColumnsReversedLevel,
    Comparison,
    ContainsLevel,
    DateDifferenceLevel,
    DateSwapLevel,
    DistanceLevel,
    ExactLevel,
    Level,
    NotLevel,
    NumericDifferenceLevel,
    OrLevel,
    SimilarityLevel,
)
from er_toolkit.exceptions import ConfigError, InteropError
from er_toolkit.interop.sql import (
    And,
    Binary,
    Call,
    Cast,
    Column,
    IsNull,
    Node,
    Not,
    Number,
    Or,
    String,
    parse_condition,
)
from er_toolkit.schema import LinkType

if TYPE_CHECKING:
    from er_toolkit.pipeline import Linker
    from er_toolkit.score import FellegiSunter

__all__ = [
    "SPLINK_LINK_TYPES",
    "from_splink",
    "read_settings",
    "to_splink",
]

log = logging.getLogger(__name__)

SPLINK_LINK_TYPES: Final[dict[str, LinkType]] = {
    "dedupe_only": "dedupe",
    "link_only": "link",
    "link_and_dedupe": "link_and_dedupe",
}
"""Splink's ``link_type`` -> er_toolkit's."""
_TO_SPLINK_LINK_TYPES: Final = {v: k for k, v in SPLINK_LINK_TYPES.items()}
SECONDS_PER_DAY: Final = 86_400
ISO_DATE: Final = "%Y-%m-%d"
LEVEL_NOT_OBSERVED: Final = "level not observed in training dataset"
"""What Splink keeps (in memory) for a level EM never saw; it scores it as 1e-6."""
_NOT_OBSERVED_PROBABILITY: Final = 1e-6

_SIMILARITY_FUNCTIONS: Final = {
    "jaro_winkler_similarity": "jaro_winkler",
    "jaro_similarity": "jaro",
    "jaccard": "character_jaccard",
}
_DISTANCE_FUNCTIONS: Final = {
    "levenshtein": "levenshtein",
    "damerau_levenshtein": "damerau_levenshtein",
}
_TEXT_TYPES: Final = frozenset({"text", "varchar", "string"})
_DATE_DIRECTIVE: Final = re.compile(r"%(.)")
_DATE_ONLY_DIRECTIVES: Final = frozenset("Ymd")
# Regex escapes whose meaning differs between RE2 (DuckDB: ASCII) and Rust
# (polars: Unicode).
_UNICODE_ESCAPES: Final = re.compile(r"\\[dDwWsSbBpP]")

_SETTINGS_KEYS: Final = frozenset(
    {
        "link_type",
        "comparisons",
        "blocking_rules_to_generate_predictions",
        "probability_two_random_records_match",
        "em_convergence",
        "max_iterations",
        "retain_matching_columns",
        "retain_intermediate_calculation_columns",
        "additional_columns_to_retain",
        "unique_id_column_name",
        "source_dataset_column_name",
        "match_weight_column_prefix",
        "term_frequency_adjustment_column_prefix",
        "comparison_vector_value_column_prefix",
        "bayes_factor_column_prefix",
        "sql_dialect",
        "linker_uid",
    }
)
_COMPARISON_KEYS: Final = frozenset(
    {"output_column_name", "comparison_levels", "comparison_description"}
)
_LEVEL_KEYS: Final = frozenset(
    {
        "sql_condition",
        "label_for_charts",
        "m_probability",
        "u_probability",
        "fix_m_probability",
        "fix_u_probability",
        "tf_adjustment_column",
        "tf_adjustment_weight",
        "tf_minimum_u_value",
        "is_null_level",
        "disable_tf_exact_match_detection",
        "comparison_vector_value",
    }
)
_RULE_KEYS: Final = frozenset(
    {"blocking_rule", "sql_dialect", "salting_partitions", "arrays_to_explode"}
)


# --------------------------------------------------------------------------- #
# reading conditions
# --------------------------------------------------------------------------- #
class _RefusedError(Exception):
    """Why a condition has no er_toolkit equivalent (reworded by the caller)."""


Reads = Literal["value", "text", "date", "part"]


@dataclass(frozen=True)
class _Side:
    """One side of a level's comparison: a column, as read."""

    column: str
    side: Literal["l", "r"]
    reads: Reads = "value"
    detail: str | None = None  # the date format, or the regex


@dataclass(frozen=True)
class _Parsed:
    """What one condition means in er_toolkit terms."""

    column: str | None  # None: a level over several columns (each level names its own)
    level: Level | None  # None: the null level
    dates: Literal["none", "parsed", "typed"] = "none"
    date_format: str | None = None
    null_columns: tuple[str, ...] = ()  # a null level over several columns


def _level_column(name: str) -> tuple[str, Literal["l", "r"]] | None:
    """Split ``first_name_l`` into the column and its side (as Splink does)."""
    lower = name.lower()
    if lower.endswith("_l"):
        return name[:-2], "l"
    if lower.endswith("_r"):
        return name[:-2], "r"
    return None


def _side(node: Node) -> _Side | None:
    """Read a level operand: a column, CAST to text, a parsed date, a regex part."""
    if isinstance(node, Column) and node.table is None:
        split = _level_column(node.name)
        return None if split is None else _Side(split[0], split[1])
    if isinstance(node, Cast) and node.type in _TEXT_TYPES:
        inner = _side(node.expr)
        if inner is not None and inner.reads == "value":
            return _Side(inner.column, inner.side, "text")
        return None
    if (
        isinstance(node, Call)
        and node.name == "try_strptime"
        and len(node.args) == 2
        and isinstance(node.args[1], String)
    ):
        inner = _side(node.args[0])
        if inner is not None and inner.reads == "value":
            return _Side(inner.column, inner.side, "date", node.args[1].value)
        return None
    if (
        isinstance(node, Call)
        and node.name == "nullif"
        and len(node.args) == 2
        and node.args[1] == String("")
    ):
        extract = node.args[0]
        if (
            isinstance(extract, Call)
            and extract.name == "regexp_extract"
            and len(extract.args) in (2, 3)
            and isinstance(extract.args[1], String)
            and (len(extract.args) == 2 or extract.args[2] == Number("0"))
        ):
            inner = _side(extract.args[0])
            if inner is not None and inner.reads == "value":
                return _Side(inner.column, inner.side, "part", extract.args[1].value)
        return None
    return None


def _pair(a: Node, b: Node) -> _Side | None:
    """Return the left side of two operands reading one column the same way, l and r."""
    sa, sb = _side(a), _side(b)
    if sa is None or sb is None:
        return None
    if sa.column != sb.column:
        raise _RefusedError(
            f"it compares column {sa.column!r} with column {sb.column!r} in one "
            "function; er_toolkit compares two columns crosswise only as an exact "
            "columns-reversed level (`a_l = b_r AND a_r = b_l`)"
        )
    if {sa.side, sb.side} != {"l", "r"} or (sa.reads, sa.detail) != (
        sb.reads,
        sb.detail,
    ):
        return None
    return sa


def _columns(node: Node) -> set[str]:
    """Every column a level condition reads."""
    out: set[str] = set()
    stack: list[Any] = [node]
    while stack:
        item = stack.pop()
        if isinstance(item, Column):
            split = _level_column(item.name)
            out.add(split[0] if split else item.name)
        elif isinstance(item, Call):
            stack.extend(item.args)
        elif isinstance(item, Cast):
            stack.append(item.expr)
        elif isinstance(item, Binary):
            stack.extend((item.left, item.right))
        elif isinstance(item, IsNull):
            stack.append(item.expr)
        elif isinstance(item, (And, Or)):
            stack.extend(item.items)
        elif isinstance(item, Not):
            stack.append(item.item)
    return out


_FLIP: Final = {"<": ">", "<=": ">=", ">": "<", ">=": "<=", "=": "=", "<>": "<>"}


def _threshold(node: Binary) -> tuple[str, Node, float] | None:
    """``f(...) OP number`` (either way round) as (op, f(...), number)."""
    if isinstance(node.right, Number) and not isinstance(node.left, Number):
        return node.op, node.left, node.right.value
    if isinstance(node.left, Number) and not isinstance(node.right, Number):
        return _FLIP[node.op], node.right, node.left.value
    return None


def _check_date_format(fmt: str) -> None:
    directives = set(_DATE_DIRECTIVE.findall(fmt))
    if not directives or not directives <= _DATE_ONLY_DIRECTIVES:
        raise _RefusedError(
            f"it parses dates with format {fmt!r}; er_toolkit reads the same dates "
            "as DuckDB only for formats of %Y, %m and %d (dates without a time)"
        )


def _check_pattern(pattern: str) -> None:
    if _UNICODE_ESCAPES.search(pattern):
        raise _RefusedError(
            f"its regular expression {pattern!r} uses a \\d, \\w, \\s, \\b or \\p "
            "class, which DuckDB (RE2) reads as ASCII and er_toolkit (Rust regex) "
            "as Unicode; write the class out, e.g. [0-9]"
        )


def _null(node: Node) -> _Parsed:
    """``a_l IS NULL OR a_r IS NULL`` (of the column, or of its parsed date)."""
    if (
        isinstance(node, Or)
        and len(node.items) == 2
        and all(isinstance(i, IsNull) and not i.negated for i in node.items)
    ):
        first, second = node.items
        assert isinstance(first, IsNull) and isinstance(second, IsNull)
        side = _pair(first.expr, second.expr)
        if side is not None and side.reads == "value":
            return _Parsed(side.column, None)
        if side is not None and side.reads == "date":
            assert side.detail is not None
            _check_date_format(side.detail)
            return _Parsed(side.column, None, "parsed", side.detail)
        if side is not None and side.reads == "part":
            raise _RefusedError(
                "it tests a regex part of the values for null (a "
                "valid_string_pattern); er_toolkit's null level is a missing value"
            )
    raise _RefusedError(
        "a null level must be `col_l IS NULL OR col_r IS NULL` (or the same of "
        "try_strptime(col, format))"
    )


def _dates_of(side: _Side) -> tuple[Literal["parsed", "typed"], str | None]:
    if side.reads == "date":
        assert side.detail is not None
        _check_date_format(side.detail)
        return "parsed", side.detail
    if side.reads == "value":
        return "typed", None
    raise _RefusedError("it reads dates from a transformed column")


def _equality(node: Binary) -> _Parsed:
    side = _pair(node.left, node.right)
    if side is None:
        raise _RefusedError("it is not an equality of the same column on both sides")
    if side.reads in ("value", "text"):
        return _Parsed(side.column, ExactLevel())
    if side.reads == "part":
        assert side.detail is not None
        _check_pattern(side.detail)
        return _Parsed(side.column, ExactLevel(extract=side.detail))
    assert side.detail is not None
    _check_date_format(side.detail)
    return _Parsed(side.column, DateDifferenceLevel(max_days=0), "parsed", side.detail)


def _min_similarity(op: str, value: float) -> float:
    """Return the ``min_similarity`` of ``similarity OP value``."""
    if op == ">=":
        threshold = value
    elif op == ">":
        threshold = float(np.nextafter(value, np.inf))
    else:
        raise _RefusedError(f"a level of similarity {op} a threshold has no equivalent")
    if not 0.0 <= threshold <= 1.0:
        raise _RefusedError(f"its threshold {value!r} is outside [0, 1]")
    return threshold


def _similarity(op: str, call: Call, value: float) -> _Parsed:
    comparator = _SIMILARITY_FUNCTIONS[call.name]
    if len(call.args) != 2:
        raise _RefusedError(f"{call.name} takes two arguments here")
    side = _pair(*call.args)
    if side is None or side.reads == "date":
        raise _RefusedError(f"{call.name} must compare one column's two values")
    threshold = _min_similarity(op, value)
    extract = side.detail if side.reads == "part" else None
    if extract is not None:
        _check_pattern(extract)
    return _Parsed(
        side.column,
        SimilarityLevel(
            comparator=comparator,
            min_similarity=threshold,
            precision="float64",
            extract=extract,
        ),
    )


def _distance(op: str, call: Call, value: float) -> _Parsed:
    comparator = _DISTANCE_FUNCTIONS[call.name]
    if len(call.args) != 2:
        raise _RefusedError(f"{call.name} takes two arguments here")
    side = _pair(*call.args)
    if side is None or side.reads not in ("value", "text"):
        raise _RefusedError(f"{call.name} must compare one column's two values")
    if op == "<=":
        limit = math.floor(value)
    elif op == "<":
        limit = math.ceil(value) - 1
    else:
        raise _RefusedError(f"a level of distance {op} a threshold has no equivalent")
    if limit < 0:
        raise _RefusedError(f"its threshold {value!r} admits no distance")
    return _Parsed(
        side.column, DistanceLevel(comparator=comparator, max_distance=limit)
    )


def _difference(op: str, call: Call, value: float) -> _Parsed:
    """``ABS(a_l - a_r)``, ``ABS(EPOCH(d_l) - EPOCH(d_r))``, ``ABS(date_diff('day', ...))``."""
    if len(call.args) != 1:
        raise _RefusedError("abs takes one argument")
    if op not in ("<=", "<"):
        raise _RefusedError(f"a level of difference {op} a threshold has no equivalent")
    inner = call.args[0]
    if isinstance(inner, Binary) and inner.op == "-":
        a, b = inner.left, inner.right
        if (
            isinstance(a, Call)
            and isinstance(b, Call)
            and a.name == b.name == "epoch"
            and len(a.args) == len(b.args) == 1
        ):
            side = _pair(a.args[0], b.args[0])
            if side is None:
                raise _RefusedError(
                    "its EPOCH difference is not of one column's two dates"
                )
            dates, fmt = _dates_of(side)
            days = value / SECONDS_PER_DAY
            return _Parsed(side.column, _date_level(op, days), dates, fmt)
        side = _pair(a, b)
        if side is None or side.reads != "value":
            raise _RefusedError("its difference is not of one column's two values")
        if value < 0 or (op == "<" and value == 0):
            raise _RefusedError(f"its threshold {value!r} admits no difference")
        limit = value if op == "<=" else float(np.nextafter(value, -np.inf))
        return _Parsed(side.column, NumericDifferenceLevel(max_difference=limit))
    if (
        isinstance(inner, Call)
        and inner.name in ("date_diff", "datediff")
        and len(inner.args) == 3
        and isinstance(inner.args[0], String)
    ):
        unit = inner.args[0].value.lower()
        if unit not in ("day", "days"):
            raise _RefusedError(
                f"date_diff in {unit!r} counts calendar boundaries; er_toolkit "
                "compares days apart (use 'day')"
            )
        side = _pair(inner.args[1], inner.args[2])
        if side is None:
            raise _RefusedError("its date_diff is not of one column's two dates")
        dates, fmt = _dates_of(side)
        return _Parsed(side.column, _date_level(op, value), dates, fmt)
    raise _RefusedError("abs(...) must hold a difference of one column's two values")


def _date_level(op: str, days: float) -> DateDifferenceLevel:
    limit = math.floor(days) if op == "<=" else math.ceil(days) - 1
    if limit < 0:
        raise _RefusedError(f"its threshold of {days!r} days admits no difference")
    return DateDifferenceLevel(max_days=int(limit))


_SWAP: Final = frozenset(
    {
        ("=", frozenset({("year", "l"), ("year", "r")})),
        ("=", frozenset({("month", "l"), ("day", "r")})),
        ("=", frozenset({("day", "l"), ("month", "r")})),
    }
)
_SWAP_DIFFERENT: Final = (
    ("<>", frozenset({("month", "l"), ("day", "l")})),
    ("<>", frozenset({("month", "r"), ("day", "r")})),
)


def _date_swap(node: And) -> _Parsed:
    """``year(d_l) = year(d_r) AND month(d_l) = day(d_r) AND day(d_l) = month(d_r) AND month(d_l) <> day(d_l)``."""
    clauses = set()
    sides: set[_Side] = set()
    for item in node.items:
        if not (
            isinstance(item, Binary)
            and item.op in ("=", "<>")
            and isinstance(item.left, Call)
            and isinstance(item.right, Call)
        ):
            raise _RefusedError("it is not a day/month swap of one column's dates")
        parts = []
        for call in (item.left, item.right):
            name = "day" if call.name == "dayofmonth" else call.name
            side = _side(call.args[0]) if len(call.args) == 1 else None
            if name not in ("year", "month", "day") or side is None:
                raise _RefusedError("it is not a day/month swap of one column's dates")
            parts.append((name, side.side))
            sides.add(_Side(side.column, "l", side.reads, side.detail))
        clauses.add((item.op, frozenset(parts)))
    if len(sides) != 1:
        raise _RefusedError("its parts read different columns or date formats")
    (side,) = sides
    if len(clauses) != 4 or not (
        clauses > _SWAP and any(c in clauses for c in _SWAP_DIFFERENT)
    ):
        raise _RefusedError("it is not a day/month swap of one column's dates")
    dates, fmt = _dates_of(side)
    return _Parsed(side.column, DateSwapLevel(), dates, fmt)


def _condition(sql: str) -> _Parsed:
    """Return what a level's SQL condition means, or raise :class:`_RefusedError`."""
    node = parse_condition(sql)
    if len(_columns(node)) > 1:
        return _several(node)
    return _one_column(node)


def _one_column(node: Node) -> _Parsed:
    """Read a condition over one column's two values."""
    if isinstance(node, Or) and any(isinstance(i, IsNull) for i in node.items):
        return _null(node)
    if isinstance(node, And) and _is_date_parts(node):
        return _date_swap(node)
    if isinstance(node, (And, Or)):
        return _Parsed(None, _several_level(node))
    if isinstance(node, Binary) and node.op == "=":
        return _equality(node)
    if isinstance(node, Binary) and node.op in ("<", "<=", ">", ">="):
        found = _threshold(node)
        if found is not None:
            op, call, value = found
            if isinstance(call, Call) and call.name in _SIMILARITY_FUNCTIONS:
                return _similarity(op, call, value)
            if isinstance(call, Call) and call.name in _DISTANCE_FUNCTIONS:
                return _distance(op, call, value)
            if isinstance(call, Call) and call.name == "abs":
                return _difference(op, call, value)
    raise _RefusedError("no er_toolkit level computes it")


def _is_date_parts(node: And) -> bool:
    """Whether every part compares years, months or days (a day/month swap's shape)."""
    parts = ("year", "month", "day", "dayofmonth")
    return all(
        isinstance(i, Binary)
        and isinstance(i.left, Call)
        and isinstance(i.right, Call)
        and i.left.name in parts
        and i.right.name in parts
        for i in node.items
    )


def _is_null_test(node: Node) -> bool:
    return (
        isinstance(node, Or)
        and len(node.items) == 2
        and all(isinstance(i, IsNull) and not i.negated for i in node.items)
    )


@dataclass(frozen=True)
class _Crosswise:
    """``a_l = b_r`` or ``f(a_l, b_r) >= t``: one record's column against the other's other."""

    left: str  # the column read on the left record
    right: str  # the column read on the right record
    comparator: str | None = None  # None: equality
    min_similarity: float = 0.0

    @property
    def mirror(self) -> _Crosswise:
        return _Crosswise(self.right, self.left, self.comparator, self.min_similarity)


def _plain_sides(a: Node, b: Node) -> tuple[str, str] | None:
    """(left column, right column) of two plain values of different columns and records."""
    sa, sb = _side(a), _side(b)
    if (
        sa is None
        or sb is None
        or sa.column == sb.column
        or sa.side == sb.side
        or sa.reads != "value"
        or sb.reads != "value"
    ):
        return None
    first, second = (sa, sb) if sa.side == "l" else (sb, sa)
    return first.column, second.column


def _crosswise(node: Node) -> _Crosswise | None:
    """Read ``a_l = b_r`` or a similarity of ``a_l`` and ``b_r`` at least a threshold."""
    if not isinstance(node, Binary):
        return None
    if node.op == "=":
        sides = _plain_sides(node.left, node.right)
        return None if sides is None else _Crosswise(*sides)
    found = _threshold(node) if node.op in ("<", "<=", ">", ">=") else None
    if found is None:
        return None
    op, call, value = found
    if not (
        isinstance(call, Call)
        and call.name in _SIMILARITY_FUNCTIONS
        and len(call.args) == 2
    ):
        return None
    sides = _plain_sides(*call.args)
    if sides is None:
        return None
    comparator = _SIMILARITY_FUNCTIONS[call.name]
    return _Crosswise(*sides, comparator, _min_similarity(op, value))


def _several(node: Node) -> _Parsed:
    """Read a condition over several columns: a null level, columns reversed, AND / OR."""
    if isinstance(node, And) and all(_is_null_test(i) for i in node.items):
        columns = []
        for item in node.items:
            null = _null(item)
            if null.dates != "none":
                raise _RefusedError(
                    "its null test over several columns parses dates; er_toolkit "
                    "reads a null level over several columns of missing values only"
                )
            assert null.column is not None
            columns.append(null.column)
        if len(set(columns)) != len(columns):
            raise _RefusedError("its null tests repeat a column")
        return _Parsed(columns[0], None, null_columns=tuple(columns))
    return _Parsed(None, _several_level(node))


def _several_level(node: Node) -> Level:
    """Return the level of a condition over several columns (each part names its column)."""
    if isinstance(node, Not):
        raise _RefusedError(
            "it negates a condition: SQL's NOT of an unknown (null) comparison is "
            "unknown, er_toolkit's not level of it holds"
        )
    if _crosswise(node) is not None:
        raise _RefusedError(
            "it compares one record's column with the other record's other column in "
            "one direction only, which depends on which record is on the left; "
            "er_toolkit's columns_reversed level asks for both directions "
            "(`a_l = b_r AND a_r = b_l`, Splink's ColumnsReversedLevel with "
            "symmetrical=True)"
        )
    if isinstance(node, Or):
        return OrLevel(tuple(_sub_level(i) for i in node.items))
    if isinstance(node, And):
        crossed = [(i, _crosswise(i)) for i in node.items]
        pending = [found for _, found in crossed if found is not None]
        levels: list[Any] = []  # Level, or one of several columns
        for found in _reversed_pairs(pending):
            if found.comparator is None:
                levels.append(ColumnsReversedLevel(columns=(found.left, found.right)))
            else:
                levels.append(
                    ColumnsReversedLevel(
                        columns=(found.left, found.right),
                        comparator=found.comparator,
                        min_similarity=found.min_similarity,
                        precision="float64",
                    )
                )
        levels += [_sub_level(i) for i, found in crossed if found is None]
        return levels[0] if len(levels) == 1 else AndLevel(tuple(levels))
    if len(_columns(node)) > 1:
        raise _RefusedError(
            "its functions read several columns; er_toolkit's levels over several "
            "columns are ANDs and ORs of one-column levels and the columns-reversed "
            "level (`a_l = b_r AND a_r = b_l`, or a similarity of each crosswise "
            "pair at one threshold)"
        )
    return _sub_level(node)


def _reversed_pairs(found: list[_Crosswise]) -> list[_Crosswise]:
    """Pair ``a_l = b_r`` with ``b_l = a_r``; refuse a comparison left without its mirror."""
    rest = list(found)
    out = []
    while rest:
        first = rest.pop(0)
        if first.mirror not in rest:
            a, b = first.left, first.right
            raise _RefusedError(
                f"it asks {a}_l = {b}_r (or their similarity) without the same of "
                f"{b}_l and {a}_r: one direction only, which depends on which "
                "record is on the left; er_toolkit's columns_reversed level asks "
                "for both directions, at one threshold"
            )
        rest.remove(first.mirror)
        out.append(first)
    return out


def _sub_level(node: Node) -> Level:
    """Return a part of a condition over several columns as a level naming its column."""
    if len(_columns(node)) > 1:
        return _several_level(node)
    parsed = _one_column(node)
    level = parsed.level
    if level is None:
        raise _RefusedError(
            "it tests for nulls inside a level; er_toolkit's only null test is the "
            "null level"
        )
    _check_other_column(level, parsed)
    if parsed.column is None:
        return level  # an AND / OR of one column: its parts name it
    return _named(level, parsed.column)


def _check_other_column(level: Level, parsed: _Parsed) -> None:
    """Refuse a level er_toolkit reads differently off the comparison's own column."""
    if parsed.dates != "none" or level.reads != "text":
        raise _RefusedError(
            f"it compares {level.reads}s of column {parsed.column!r} together with "
            "other columns (or off the comparison's own column); er_toolkit reads "
            "numbers and dates (and their nulls) of a comparison's own column only, "
            "so only text levels (exact, similarities, distances) are read on the "
            "other columns"
        )


def _named(level: Level, column: str) -> Level:
    """``level`` on ``column`` (its ``column`` option set)."""
    return dataclasses.replace(level, column=column)  # type: ignore[type-var]


def _relative(level: Level, own: str) -> Level:
    """``level`` with ``column`` left out where it is the comparison's own column."""
    if isinstance(level, (AndLevel, OrLevel)):
        return dataclasses.replace(
            level, levels=tuple(_relative(sub, own) for sub in level.levels)
        )
    if getattr(level, "column", None) == own:
        return dataclasses.replace(level, column=None)  # type: ignore[type-var]
    return level


# --------------------------------------------------------------------------- #
# reading settings
# --------------------------------------------------------------------------- #
def read_settings(
    settings: Mapping[str, Any] | str | os.PathLike[str],
) -> dict[str, Any]:
    """Return Splink settings from a dict, a JSON text or a JSON file path.

    Raises
    ------
    InteropError
        If the text or file is not a JSON object.
    """
    if isinstance(settings, Mapping):
        return dict(settings)
    text: str
    if isinstance(settings, str) and settings.lstrip().startswith("{"):
        text = settings
        where = "the Splink settings text"
    else:
        path = Path(settings)
        if not path.is_file():
            raise InteropError(
                f"Expected Splink settings: a dict, JSON text or a JSON file; "
                f"{str(path)!r} is not a file."
            )
        text = path.read_text(encoding="utf-8")
        where = f"Splink settings file {str(path)!r}"
    try:
        data = json.loads(text)
    except json.JSONDecodeError as exc:
        raise InteropError(f"{where} is not valid JSON: {exc}.") from exc
    if not isinstance(data, dict):
        raise InteropError(
            f"{where} must hold a JSON object (Splink settings); got "
            f"{type(data).__name__}."
        )
    return data


def _unknown_keys(spec: Mapping[str, Any], valid: frozenset[str], where: str) -> None:
    unknown = sorted(set(spec) - valid)
    if unknown:
        raise InteropError(
            f"{where} has key(s) {unknown} that er_toolkit does not know, so it cannot "
            f"say they do not change the scores; known keys are {sorted(valid)}."
        )


def _probability(value: Any, what: str, where: str) -> float:
    if value == LEVEL_NOT_OBSERVED:
        return _NOT_OBSERVED_PROBABILITY
    if (
        isinstance(value, bool)
        or not isinstance(value, (int, float))
        or not 0.0 <= value <= 1.0
    ):
        raise InteropError(
            f"{where}: {what} must be a number in [0, 1]; got {value!r}."
        )
    return float(value)


def _splink_default_m(n_levels: int) -> list[float]:
    """Splink's m of a level never trained (``_default_m_values``), by gamma."""
    remainder = (1 - 0.95) / (n_levels - 1)
    return [remainder] * (n_levels - 1) + [0.95]


def _splink_default_u(n_levels: int) -> list[float]:
    """Splink's u of a level never trained (``_default_u_values``), by gamma."""
    m = _splink_default_m(n_levels)
    if n_levels == 2:
        weights: list[float] = [-5]
    else:
        step = (3 - -5) / (n_levels - 2)
        weights = [-5 + i * step for i in range(n_levels - 1)]
    weights = [*weights, 10]
    return [mi / 2**w for mi, w in zip(m, weights, strict=True)]


def _identifier(name: str, taken: set[str]) -> str:
    base = re.sub(r"\W", "_", name.strip()) or "comparison"
    if base[0].isdigit():
        base = "c_" + base
    out, k = base, 2
    while out in taken:
        out, k = f"{base}_{k}", k + 1
    taken.add(out)
    return out


@dataclass(frozen=True)
class _ImportedComparison:
    comparison: Comparison
    m: np.ndarray
    u: np.ndarray
    defaults: tuple[str, ...]


def _comparison(spec: Any, number: int, taken: set[str]) -> _ImportedComparison:
    if not isinstance(spec, Mapping):
        raise InteropError(
            f"Splink comparison number {number} must be an object; got "
            f"{type(spec).__name__}."
        )
    title = spec.get("output_column_name") or f"number {number}"
    where = f"Splink comparison {title!r}"
    _unknown_keys(spec, _COMPARISON_KEYS, where)
    levels = spec.get("comparison_levels")
    if not isinstance(levels, Sequence) or isinstance(levels, str) or not levels:
        raise InteropError(
            f"{where} needs a list of 'comparison_levels'; got {levels!r}."
        )
    parsed: list[_Parsed] = []
    for i, level in enumerate(levels):
        if not isinstance(level, Mapping):
            raise InteropError(
                f"{where}, level {i + 1}: expected an object; got {level!r}."
            )
        sql = level.get("sql_condition")
        label = level.get("label_for_charts", sql)
        here = f"{where}, level {i + 1} ({label!r})"
        _unknown_keys(level, _LEVEL_KEYS, here)
        if not isinstance(sql, str):
            raise InteropError(f"{here} needs a 'sql_condition' (text); got {sql!r}.")
        is_else = sql.strip().upper() == "ELSE"
        is_null = bool(level.get("is_null_level", False))
        try:
            if i == 0 and not is_null:
                raise _RefusedError(
                    "the first level is not a null level: er_toolkit gives a pair with "
                    "a missing value the null level (Bayes factor 1), Splink would "
                    "give it the level its condition reaches (often the else level); "
                    "add a NullLevel first"
                )
            if i > 0 and is_null:
                raise _RefusedError("only the first level may be the null level")
            if is_else != (i == len(levels) - 1):
                raise _RefusedError(
                    "the last level, and only the last, must be ELSE (er_toolkit's "
                    "else level: no condition holds)"
                )
            if is_else:
                continue
            result = _condition(sql)
            if is_null != (result.level is None):
                raise _RefusedError(
                    "its condition tests for nulls but is_null_level is not set"
                    if is_null is False
                    else "is_null_level is set but its condition is not a null test"
                )
            result = _with_tf(result, level)
        except _RefusedError as why:
            raise InteropError(
                f"{here}: the condition {sql!r} has no er_toolkit equivalent: {why}."
            ) from None
        except InteropError as exc:
            raise InteropError(f"{here}: {exc}") from None
        except ConfigError as exc:
            raise InteropError(
                f"{here}: the condition {sql!r} has no er_toolkit equivalent: {exc}"
            ) from None
        parsed.append(result)
    null, body = parsed[0], parsed[1:]
    if not body:
        raise InteropError(
            f"{where} has only a null and an else level; er_toolkit needs at least "
            "one level between them."
        )
    column = _own_column(null)
    sqls = [level["sql_condition"] for level in levels[1:-1]]
    level_objs: list[Level] = []
    for k, (p, sql) in enumerate(zip(body, sqls, strict=True)):
        assert p.level is not None
        label = levels[k + 1].get("label_for_charts", sql)
        here = f"{where}, level {k + 2} ({label!r})"
        refusal = _off_own_column(p, column)
        if refusal is not None:
            raise InteropError(
                f"{here}: the condition {sql!r} has no er_toolkit equivalent: "
                f"{refusal}."
            )
        if p.column is not None and p.column != column:
            p = _Parsed(column, _named(p.level, p.column))
        assert p.level is not None
        level_objs.append(_relative(p.level, column))
    date_format = _comparison_dates(
        where, null, [p for p in body if p.column == column]
    )
    name = _identifier(str(spec.get("output_column_name") or column), taken)
    comparison = Comparison(
        name,
        column,
        tuple(level_objs),
        date_format=date_format,
        null_columns=null.null_columns,
    )
    m, u, defaults = _probabilities(where, levels[1:])
    return _ImportedComparison(comparison, m, u, defaults)


def _own_column(null: _Parsed) -> str:
    """Return the own column: the null level's (of several, the first)."""
    assert null.column is not None
    return null.column


def _off_own_column(p: _Parsed, column: str) -> str | None:
    """Why a level cannot be read beside the comparison's own ``column`` (None: it can)."""
    assert p.level is not None
    if p.column is not None and p.column != column:
        try:
            _check_other_column(p.level, p)
        except _RefusedError as why:
            return str(why)
    return None


def _with_tf(result: _Parsed, level: Mapping[str, Any]) -> _Parsed:
    """Apply a level's term-frequency settings (only to a plain exact level)."""
    column = level.get("tf_adjustment_column")
    if column is None:
        return result
    weight = level.get("tf_adjustment_weight")
    weight = 1.0 if weight is None else weight  # Splink's default on load
    minimum = level.get("tf_minimum_u_value")
    minimum = 0.0 if minimum is None else minimum
    if not (
        isinstance(result.level, ExactLevel)
        and result.level.extract is None
        and result.column is not None
    ):
        raise _RefusedError(
            "it is term-frequency adjusted, which er_toolkit does only on an exact "
            "match of a whole column"
        )
    if str(column).strip('"').lower() != result.column.lower():
        raise _RefusedError(
            f"it is adjusted by the frequencies of column {column!r}, not of the "
            f"column it compares ({result.column!r})"
        )
    if (
        isinstance(weight, bool)
        or not isinstance(weight, (int, float))
        or not (0.0 <= weight <= 1.0)
    ):
        raise _RefusedError(f"its tf_adjustment_weight {weight!r} is outside [0, 1]")
    if weight == 0:
        return result  # Splink adds nothing
    return _Parsed(
        result.column,
        ExactLevel(
            term_frequency=True,
            tf_weight=float(weight),
            tf_min_u=float(minimum),
            precision="float64",
        ),
        result.dates,
        result.date_format,
    )


def _comparison_dates(where: str, null: _Parsed, body: list[_Parsed]) -> str | None:
    """Return the comparison's date format, checking nulls mean the same in both tools."""
    reads_dates = [
        p for p in body if isinstance(p.level, (DateDifferenceLevel, DateSwapLevel))
    ]
    parsed = {p.date_format for p in body if p.dates == "parsed"}
    typed = any(p.dates == "typed" for p in body)
    if null.dates == "parsed":
        if not reads_dates:
            raise InteropError(
                f"{where}: its null level parses dates (an unreadable date is null) but "
                "no level compares dates, so er_toolkit would read unreadable dates "
                "as values; add a date level or make the null level a plain null test."
            )
        if typed or parsed - {null.date_format}:
            raise InteropError(
                f"{where}: its levels read dates with formats "
                f"{sorted(str(f) for f in parsed | ({None} if typed else set()))} but "
                f"its null level with {null.date_format!r}; er_toolkit reads one "
                "format per comparison."
            )
        return null.date_format
    if parsed:
        raise InteropError(
            f"{where}: its levels parse dates (try_strptime) but its null level tests "
            "only for missing values: Splink scores an unreadable date as a "
            "disagreement, er_toolkit as missing. Make the null level test the parsed "
            "date (NullLevel of the parsed column, as DateOfBirthComparison and "
            "AbsoluteDateDifferenceAtThresholds write it)."
        )
    return None


def _probabilities(
    where: str, levels: Sequence[Mapping[str, Any]]
) -> tuple[np.ndarray, np.ndarray, tuple[str, ...]]:
    """Return m and u by gamma (else = 0) from the non-null levels, in Splink's order."""
    n = len(levels)
    m = np.empty(n)
    u = np.empty(n)
    default_m, default_u = _splink_default_m(n), _splink_default_u(n)
    defaults = []
    for k, level in enumerate(levels):
        gamma = n - 1 - k
        label = level.get("label_for_charts", level.get("sql_condition"))
        here = f"{where}, level {label!r}"
        for what, out, default in (
            ("m_probability", m, default_m),
            ("u_probability", u, default_u),
        ):
            value = level.get(what)
            if value is None:
                out[gamma] = default[gamma]
                defaults.append(f"{what} of {label!r}")
            else:
                out[gamma] = _probability(value, what, here)
    return m, u, tuple(defaults)


def _blocking_rule(spec: Any, number: int) -> ExactRule:
    if isinstance(spec, Mapping):
        _unknown_keys(spec, _RULE_KEYS, f"Splink blocking rule number {number}")
        if spec.get("arrays_to_explode"):
            raise InteropError(
                f"Splink blocking rule number {number} explodes arrays "
                f"({spec['arrays_to_explode']}); er_toolkit blocks on values."
            )
        sql = spec.get("blocking_rule")
    else:
        sql = spec
    if not isinstance(sql, str):
        raise InteropError(
            f"Splink blocking rule number {number} must hold a SQL 'blocking_rule'; "
            f"got {sql!r}."
        )
    node = parse_condition(sql)
    items = node.items if isinstance(node, And) else (node,)
    keys = []
    for item in items:
        key = _blocking_key(item)
        if key is None:
            raise InteropError(
                f"Splink blocking rule number {number} ({sql!r}) has no er_toolkit "
                "equivalent: er_toolkit blocks on exact agreement of columns or their "
                "first characters, `l.col = r.col` or `SUBSTRING(l.col, 1, n) = "
                "SUBSTRING(r.col, 1, n)`, joined by AND."
            )
        keys.append(key)
    return ExactRule(tuple(keys))


def _blocking_key(node: Node) -> str | None:
    if not (isinstance(node, Binary) and node.op == "="):
        return None
    sides = [_rule_side(n) for n in (node.left, node.right)]
    if any(s is None for s in sides):
        return None
    (ta, ca, pa), (tb, cb, pb) = sides  # type: ignore[misc]
    if {ta, tb} != {"l", "r"} or ca != cb or pa != pb:
        return None
    return ca if pa is None else f"{ca}[:{pa}]"


def _rule_side(node: Node) -> tuple[str, str, int | None] | None:
    if isinstance(node, Column) and node.table in ("l", "r"):
        return node.table, node.name, None
    if (
        isinstance(node, Call)
        and node.name in ("substring", "substr")
        and len(node.args) == 3
        and isinstance(node.args[0], Column)
        and node.args[0].table in ("l", "r")
        and node.args[1] == Number("1")
        and isinstance(node.args[2], Number)
    ):
        width = node.args[2].value
        if width >= 1 and width == int(width):
            return str(node.args[0].table), node.args[0].name, int(width)
    return None


def from_splink(
    settings: Mapping[str, Any] | str | os.PathLike[str],
    *,
    name: str = "splink_model",
    threshold: float = 0.5,
) -> Linker:
    """Build an er_toolkit Linker from a trained Splink 5 model.

    Parameters
    ----------
    settings
        The model: what Splink's ``linker.misc.save_model_to_json`` returns or
        writes (a dict, its JSON text, or the file's path), trained on DuckDB.
    name
        The config's (and the registered model's) name.
    threshold
        Match probability at which pairs link (Splink models carry none).

    Returns
    -------
    Linker
        Fitted: ``config`` holds the link type, Splink's prediction blocking
        rules (as exact rules) and the comparisons; ``scorer_`` a
        :class:`~er_toolkit.score.FellegiSunter` with Splink's m, u, λ and
        term-frequency settings (``lambda_method_ == "splink"``). Give the
        records with ``Source(name, frame, id_column=...)`` naming Splink's
        ``unique_id_column_name``.

    Raises
    ------
    InteropError
        For a level, comparison, blocking rule or setting with no exact
        er_toolkit equivalent, naming it and saying why.

    Notes
    -----
    What is read, and how:

    - ``col_l IS NULL OR col_r IS NULL`` (first level): er_toolkit's null
      level (Bayes factor 1); of ``try_strptime(col, fmt)``: the same, with
      the comparison reading dates in ``fmt`` (unreadable dates are null).
    - ``col_l = col_r``: exact; with ``tf_adjustment_column`` term-frequency
      adjusted, with Splink's ``tf_adjustment_weight`` and
      ``tf_minimum_u_value``. Several levels of one comparison may be, each
      by the frequencies of its own column (``ForenameSurnameComparison``'s
      exact surname and exact forename levels).
    - ``jaro_winkler_similarity``, ``jaro_similarity``, ``jaccard`` at or
      above a threshold: similarity levels in float64, with DuckDB's exact
      arithmetic (``jaccard`` is over character sets).
    - ``levenshtein``, ``damerau_levenshtein`` at most a threshold
      (``CAST(... AS TEXT)`` of a date column too): distance levels.
    - ``ABS(col_l - col_r) <= d``: numeric difference;
      ``ABS(EPOCH(d_l) - EPOCH(d_r)) <= s`` and ``ABS(date_diff('day', ...))``
      of dates (parsed with ``try_strptime`` or of a DATE column): date
      difference in whole days.
    - ``NULLIF(regexp_extract(col_l, pattern, 0), '') = ...`` and
      similarities of such parts (the email user name, postcode sector,
      district and area): levels with ``extract``.
    - ``ELSE`` (last level): the else level.
    - Missing m or u (a level Splink never trained): Splink's own default for
      the level, what Splink predicts with, with a warning.

    - Over two columns: ``(a_l IS NULL OR a_r IS NULL) AND (b_l IS NULL OR
      b_r IS NULL)`` (``ForenameSurnameComparison``'s null level): the
      comparison's ``null_columns``, null only when both are; ``a_l = b_r
      AND a_r = b_l`` (``ColumnsReversedLevel(symmetrical=True)``): an exact
      ``columns_reversed`` level, and ``f(a_l, b_r) >= t AND f(a_r, b_l) >=
      t`` of a similarity ``f`` one in float64; ANDs and ORs of one-column text levels
      (exact, similarities, distances): ``and`` / ``or`` levels whose parts
      name their columns; a text level on another column than the
      comparison's own: that level with its ``column``. A null in one column
      keeps a pair off the levels that read it, as SQL's unknown does.

    Refused: term-frequency adjustments of anything but an exact match of a
    whole column by that column's frequencies (a concatenated-name column's
    frequencies on an AND of exact levels, a similarity level's), one-directional ``a_l = b_r``
    (``symmetrical=False``, which depends on which record is left) and
    crosswise similarities not asked both ways at one threshold, ``NOT`` (SQL's NOT of an unknown is
    unknown, er_toolkit's not level holds), number and date levels off the
    comparison's own column, transformed columns (``lower``, ``substr``,
    phonetic arrays), percentage differences, distances in km, cosine and
    array levels, comparisons without a null first level or an ELSE last,
    and settings for other SQL dialects.

    er_toolkit trims values and reads empty strings as null, in every
    column a level or a null level over several columns reads; Splink
    compares them as they are. The weights equal Splink's on records whose values
    have no surrounding spaces and no empty strings (clean them so before
    either tool sees them); elsewhere a pair such as ``"Kent "`` and
    ``"Kent"`` is exact here and not in Splink.

    Examples
    --------
    >>> null = {"sql_condition": '"city_l" IS NULL OR "city_r" IS NULL', "is_null_level": True}
    >>> exact = {"sql_condition": '"city_l" = "city_r"', "m_probability": 0.9,
    ...          "u_probability": 0.01, "tf_adjustment_column": "city",
    ...          "tf_adjustment_weight": 1.0}
    >>> other = {"sql_condition": "ELSE", "m_probability": 0.1, "u_probability": 0.99}
    >>> linker = from_splink({
    ...     "link_type": "dedupe_only",
    ...     "probability_two_random_records_match": 0.001,
    ...     "blocking_rules_to_generate_predictions": [{"blocking_rule": 'l."city" = r."city"'}],
    ...     "comparisons": [{"output_column_name": "city",
    ...                      "comparison_levels": [null, exact, other]}],
    ... })
    >>> linker.config.comparisons[0].levels
    (ExactLevel(term_frequency=True, column=None, tf_weight=1.0, tf_min_u=0.0, precision='float64', extract=None),)
    >>> linker.scorer_.m_["city"].tolist()
    [0.1, 0.9]
    """
    spec = read_settings(settings)
    _unknown_keys(spec, _SETTINGS_KEYS, "The Splink settings")
    dialect = spec.get("sql_dialect", "duckdb")
    if dialect != "duckdb":
        raise InteropError(
            f"The Splink settings are for SQL dialect {dialect!r}; er_toolkit "
            "reproduces DuckDB's similarity functions, so it imports models "
            "trained with Splink's DuckDB backend only."
        )
    link_type = spec.get("link_type")
    if link_type not in SPLINK_LINK_TYPES:
        raise InteropError(
            f"The Splink settings' 'link_type' must be one of "
            f"{sorted(SPLINK_LINK_TYPES)}; got {link_type!r}."
        )
    lam = spec.get("probability_two_random_records_match", 0.0001)
    if isinstance(lam, bool) or not isinstance(lam, (int, float)) or not 0 < lam < 1:
        raise InteropError(
            "The Splink settings' 'probability_two_random_records_match' must be in "
            f"(0, 1); got {lam!r}."
        )
    comparisons_spec = spec.get("comparisons")
    if not isinstance(comparisons_spec, Sequence) or not comparisons_spec:
        raise InteropError(
            f"The Splink settings need a non-empty list of 'comparisons'; got "
            f"{comparisons_spec!r}."
        )
    taken: set[str] = set()
    imported = [_comparison(c, i + 1, taken) for i, c in enumerate(comparisons_spec)]
    rules = [
        _blocking_rule(r, i + 1)
        for i, r in enumerate(spec.get("blocking_rules_to_generate_predictions", []))
    ]
    if not rules:
        log.warning(
            "The Splink settings have no blocking rules for predictions (Splink then "
            "compares every pair); add [[blocking.blockers]] before blocking."
        )
    for item in imported:
        if item.defaults:
            log.warning(
                "Splink comparison %r has untrained level(s); using Splink's defaults "
                "for them, as Splink does: %s",
                item.comparison.name,
                "; ".join(item.defaults),
            )
    return _linker(
        name=name,
        link_type=SPLINK_LINK_TYPES[link_type],
        imported=imported,
        rules=rules,
        lam=float(lam),
        threshold=threshold,
    )


def _linker(
    *,
    name: str,
    link_type: LinkType,
    imported: Sequence[_ImportedComparison],
    rules: Sequence[Blocker],
    lam: float,
    threshold: float,
) -> Linker:
    from er_toolkit.config import BlockingConfig, LinkageConfig
    from er_toolkit.pipeline import Linker
    from er_toolkit.score import FellegiSunter

    comparisons = tuple(i.comparison for i in imported)
    config = LinkageConfig(
        name=name,
        link_type=link_type,
        comparisons=comparisons,
        blocking=BlockingConfig(blockers=tuple(rules)),
        threshold=threshold,
    )
    model = FellegiSunter(comparisons, link_type=link_type, threshold=threshold)
    model._validate()
    model.threshold_ = float(threshold)
    model.m_ = {i.comparison.name: i.m for i in imported}
    model.u_ = {i.comparison.name: i.u for i in imported}
    model.probability_two_random_records_match_ = lam
    model.lambda_method_ = "splink"
    model.sessions_ = []
    # trained on no records here: every term-frequency level carries its tf_min_u
    model.n_records_ = 0
    linker = Linker(config)
    linker.scorer_ = model
    return linker


# --------------------------------------------------------------------------- #
# writing settings
# --------------------------------------------------------------------------- #
def _float32_threshold(t: float) -> float:
    """Return the double threshold equivalent to a float32 one.

    A float32 similarity level holds a pair when ``float32(sim) >=
    float32(t)``; that is ``sim >= τ`` for the returned double τ (the
    midpoint below ``float32(t)``, or the double above it when
    round-half-to-even sends the midpoint down).

    Examples
    --------
    >>> tau = _float32_threshold(0.9)
    >>> bool(np.float32(tau) >= np.float32(0.9)), bool(
    ...     np.float32(np.nextafter(tau, -1.0)) >= np.float32(0.9)
    ... )
    (True, False)
    """
    top = np.float32(t)
    if top <= 0:
        return 0.0
    below = np.nextafter(top, np.float32(-np.inf))
    middle = (float(top) + float(below)) / 2.0
    even = int(np.array(top).view(np.uint32)) % 2 == 0
    return middle if even else float(np.nextafter(middle, np.inf))


def _literal(value: float | int) -> str:
    if isinstance(value, (int, np.integer)) and not isinstance(value, bool):
        return str(int(value))
    return repr(float(value))


def _quote(column: str, side: str) -> str:
    return '"' + f"{column}_{side}".replace('"', '""') + '"'


def _string(text: str) -> str:
    return "'" + text.replace("'", "''") + "'"


class _Writer:
    """SQL of one comparison's levels, as Splink's library writes them."""

    def __init__(self, comparison: Comparison, dates: Literal["text", "date"]) -> None:
        self.comparison = comparison
        # a comparison with a date format parses text; one without reads ISO
        # text or, with dates="date", a DATE column
        self.dates = "text" if comparison.date_format is not None else dates
        self.fmt = comparison.date_format or ISO_DATE
        self.reads_dates = "date" in comparison.reads

    def refuse(self, level: Any, why: str) -> InteropError:
        return InteropError(
            f"Comparison {self.comparison.name!r}, level {level.label!r}: {why}; "
            "Splink 5 has no equivalent, so the model cannot be exported."
        )

    def col(self, side: str, column: str | None = None) -> str:
        return _quote(column or self.comparison.column, side)

    def own(self, column: str | None) -> bool:
        return column in (None, self.comparison.column)

    def date(self, side: str) -> str:
        if self.dates == "date":
            return self.col(side)
        return f"try_strptime({self.col(side)}, {_string(self.fmt)})"

    def text(self, side: str, column: str | None = None) -> str:
        if self.own(column) and self.reads_dates and self.dates == "date":
            return f"CAST({self.col(side)} AS TEXT)"
        return self.col(side, column)

    def part(self, side: str, pattern: str | None, column: str | None = None) -> str:
        if pattern is None:
            return self.text(side, column)
        return (
            f"NULLIF(regexp_extract({self.col(side, column)}, {_string(pattern)}, 0), "
            "'')"
        )

    def null(self) -> str:
        if self.reads_dates and self.dates == "text":
            own = f"{self.date('l')} IS NULL OR {self.date('r')} IS NULL"
        else:
            own = f"{self.col('l')} IS NULL OR {self.col('r')} IS NULL"
        if not self.comparison.null_columns:
            return own
        tests = [
            own
            if self.own(c)
            else f"{self.col('l', c)} IS NULL OR {self.col('r', c)} IS NULL"
            for c in self.comparison.null_columns
        ]
        return " AND ".join(f"({t})" for t in tests)

    def similarity(self, level: Any, comparator: str) -> str:
        """Return the DuckDB function of an er_toolkit comparator."""
        functions = {v: k for k, v in _SIMILARITY_FUNCTIONS.items()}
        if comparator not in functions:
            raise self.refuse(
                level, f"no DuckDB function computes {comparator!r} similarity"
            )
        return functions[comparator]

    def level(self, level: Any) -> str:
        column = getattr(level, "column", None)
        if not self.own(column) and level.reads != "text":
            raise self.refuse(
                level,
                f"it reads {level.reads}s of column {column!r}, off the comparison's "
                "own column, where er_toolkit's nulls of unreadable values differ "
                "from SQL's",
            )
        if isinstance(level, (AndLevel, OrLevel)):
            joint = " AND " if isinstance(level, AndLevel) else " OR "
            return joint.join(f"({self.level(sub)})" for sub in level.levels)
        if isinstance(level, NotLevel):
            # er_toolkit's not of a null holds; SQL's NOT NULL is unknown
            return f"NOT COALESCE(({self.level(level.level)}), FALSE)"
        if isinstance(level, ColumnsReversedLevel):
            a, b = level.columns
            if self.reads_dates and self.comparison.column in level.columns:
                raise self.refuse(
                    level, "it compares a date column crosswise with another column"
                )
            pairs = (
                (self.col("l", a), self.col("r", b)),
                (self.col("r", a), self.col("l", b)),
            )
            if level.comparator is None:
                return " AND ".join(f"{x} = {y}" for x, y in pairs)
            function = self.similarity(level, level.comparator)
            cut = _literal(
                level.min_similarity
                if level.precision == "float64"
                else _float32_threshold(level.min_similarity)
            )
            return " AND ".join(f"{function}({x}, {y}) >= {cut}" for x, y in pairs)
        if isinstance(level, ExactLevel):
            return (
                f"{self.part('l', level.extract, column)} = "
                f"{self.part('r', level.extract, column)}"
            )
        if isinstance(level, SimilarityLevel):
            function = self.similarity(level, level.comparator)
            threshold = (
                level.min_similarity
                if level.precision == "float64"
                else _float32_threshold(level.min_similarity)
            )
            left = self.part("l", level.extract, column)
            right = self.part("r", level.extract, column)
            return f"{function}({left}, {right}) >= {_literal(threshold)}"
        if isinstance(level, DistanceLevel):
            return (
                f"{level.comparator}({self.text('l', column)}, "
                f"{self.text('r', column)}) <= {_literal(level.max_distance)}"
            )
        if isinstance(level, NumericDifferenceLevel):
            if level.relative:
                raise self.refuse(
                    level,
                    "a difference relative to the larger magnitude (Splink's "
                    "PercentageDifferenceLevel divides by the signed larger value, "
                    "strictly)",
                )
            return (
                f"ABS({self.col('l')} - {self.col('r')}) <= "
                f"{_literal(level.max_difference)}"
            )
        if isinstance(level, DateDifferenceLevel):
            seconds = level.max_days * SECONDS_PER_DAY
            return (
                f"ABS(EPOCH({self.date('l')}) - EPOCH({self.date('r')})) <= "
                f"{_literal(seconds)}"
            )
        if isinstance(level, DateSwapLevel):
            dl, dr = self.date("l"), self.date("r")
            return (
                f"year({dl}) = year({dr}) AND month({dl}) = day({dr}) AND "
                f"day({dl}) = month({dr}) AND month({dl}) <> day({dl})"
            )
        if isinstance(level, ContainsLevel):
            raise self.refuse(
                level,
                "a column's words (or text) inside another column's, with "
                "er_toolkit's word splitting and minimum length, which no Splink "
                "level writes",
            )
        raise self.refuse(level, f"er_toolkit level kind {level.kind!r}")


def _check_exportable_format(comparison: Comparison) -> None:
    if comparison.unparsed != "null" and comparison.reads - {"text"}:
        raise InteropError(
            f"Comparison {comparison.name!r}: unparsed={comparison.unparsed!r} (text "
            "levels compare values that do not parse) has no Splink 5 null level; "
            "the model cannot be exported."
        )
    if "date" not in comparison.reads or comparison.date_format is None:
        return
    try:
        _check_date_format(comparison.date_format)
    except _RefusedError as why:
        raise InteropError(
            f"Comparison {comparison.name!r}: {why}; the model cannot be exported."
        ) from None


def _export_comparison(
    comparison: Comparison,
    m: np.ndarray,
    u: np.ndarray,
    *,
    tf_floor: float,
    dates: Literal["text", "date"],
) -> dict[str, Any]:
    _check_exportable_format(comparison)
    writer = _Writer(comparison, dates)
    levels: list[dict[str, Any]] = [
        {
            "sql_condition": writer.null(),
            "label_for_charts": " and ".join(
                comparison.null_columns or (comparison.column,)
            )
            + " NULL",
            "is_null_level": True,
        }
    ]
    n = len(comparison.levels)
    for i, level in enumerate(comparison.levels):
        gamma = n - i
        out: dict[str, Any] = {
            "sql_condition": writer.level(level),
            "label_for_charts": level.label,
            "m_probability": float(m[gamma]),
            "u_probability": float(u[gamma]),
        }
        if isinstance(level, ExactLevel) and level.term_frequency and level.tf_weight:
            out["tf_adjustment_column"] = level.column or comparison.column
            out["tf_adjustment_weight"] = float(level.tf_weight)
            out["tf_minimum_u_value"] = float(
                tf_floor if level.tf_min_u is None else level.tf_min_u
            )
        levels.append(out)
    levels.append(
        {
            "sql_condition": "ELSE",
            "label_for_charts": "All other comparisons",
            "m_probability": float(m[0]),
            "u_probability": float(u[0]),
        }
    )
    return {
        "output_column_name": comparison.name,
        "comparison_levels": levels,
        "comparison_description": f"er_toolkit comparison {comparison.name}",
    }


def _export_rule(blocker: Blocker) -> dict[str, Any]:
    if not isinstance(blocker, ExactRule):
        raise InteropError(
            f"Blocker {blocker.name!r} is a {blocker.kind!r} blocker; Splink 5 blocks "
            "on SQL conditions, so only exact rules can be exported."
        )
    if blocker.max_block_size is not None:
        raise InteropError(
            f"Blocker {blocker.name!r} purges blocks over {blocker.max_block_size} "
            "records; Splink 5 has no block purging, so its pairs would differ."
        )
    parts = []
    for key in blocker.keys:
        column, width = parse_key(key)
        left, right = (f'{side}."{column}"' for side in ("l", "r"))
        if width is not None:
            left = f"SUBSTRING({left}, 1, {width})"
            right = f"SUBSTRING({right}, 1, {width})"
        parts.append(f"({left} = {right})")
    return {"blocking_rule": " AND ".join(parts), "sql_dialect": "duckdb"}


def to_splink(
    model: Linker | FellegiSunter,
    *,
    path: str | os.PathLike[str] | None = None,
    blocking: Sequence[Blocker] | None = None,
    unique_id_column_name: str = "unique_id",
    source_dataset_column_name: str = "source_dataset",
    dates: Literal["text", "date"] = "text",
) -> dict[str, Any]:
    """Write a fitted er_toolkit Fellegi-Sunter model as Splink 5 settings.

    Parameters
    ----------
    model
        A fitted Linker (its config's blocking rules become Splink's
        prediction rules) or a fitted :class:`~er_toolkit.score.FellegiSunter`.
    path
        Also write the settings to this JSON file (atomically).
    blocking
        The prediction blocking rules, instead of the Linker's (a bare
        FellegiSunter has none: Splink then compares every pair).
    unique_id_column_name, source_dataset_column_name
        Splink's names for the record id and (link jobs) source columns.
    dates
        How date comparisons without a ``date_format`` read their column:
        ``"text"``, ISO strings (``try_strptime(col, '%Y-%m-%d')``), or
        ``"date"``, DATE columns. Those with a ``date_format`` parse text in
        that format.

    Returns
    -------
    dict
        The settings: ``Linker(table, settings, db_api)`` in Splink 5 loads
        them and predicts the er_toolkit match weights.

    Raises
    ------
    InteropError
        For a scorer that is not Fellegi-Sunter, a level or blocker Splink 5
        cannot express (sorted neighbourhood, purged blocks, relative
        numeric differences, normalised edit or token similarities,
        ``contains``, number or date levels off the comparison's own
        column), naming it.

    Notes
    -----
    A float32 similarity level (er_toolkit's default) is written with the
    double threshold equivalent to its float32 comparison, and a
    term-frequency level without ``tf_min_u`` with ``tf_minimum_u_value``
    one over the records trained on. Levels over two columns are written
    as Splink's library writes them: ``null_columns`` as an AND of null
    tests, ``columns_reversed`` as ``a_l = b_r AND a_r = b_l`` (or the
    similarity of each crosswise pair), ``and`` / ``or`` as SQL's, and
    ``not`` as ``NOT COALESCE((...), FALSE)`` (a null sub-level does not
    hold, so its negation does, as in er_toolkit). The weights then agree to float32
    term-frequency precision (about 1e-7 bits per such comparison); levels
    agree pair for pair, except where rapidfuzz's and DuckDB's Jaro-Winkler
    doubles, which can differ in their last bit, straddle a float32 rounding
    boundary.

    Examples
    --------
    >>> levels = [
    ...     {"sql_condition": "city_l IS NULL OR city_r IS NULL", "is_null_level": True},
    ...     {"sql_condition": "city_l = city_r", "m_probability": 0.9, "u_probability": 0.01},
    ...     {"sql_condition": "ELSE", "m_probability": 0.1, "u_probability": 0.99},
    ... ]
    >>> linker = from_splink({
    ...     "link_type": "dedupe_only",
    ...     "blocking_rules_to_generate_predictions": ["l.city = r.city"],
    ...     "comparisons": [{"output_column_name": "city", "comparison_levels": levels}],
    ... })
    >>> settings = to_splink(linker)
    >>> [lvl["sql_condition"] for lvl in settings["comparisons"][0]["comparison_levels"]]
    ['"city_l" IS NULL OR "city_r" IS NULL', '"city_l" = "city_r"', 'ELSE']
    >>> settings["blocking_rules_to_generate_predictions"][0]["blocking_rule"]
    '(l."city" = r."city")'
    """
    from er_toolkit.pipeline import Linker
    from er_toolkit.score import FellegiSunter

    if isinstance(model, Linker):
        scorer = getattr(model, "scorer_", None)
        rules: Sequence[Blocker] = (
            model.config.blocking.compile()
            if blocking is None and model.config.blocking.blockers
            else tuple(blocking or ())
        )
    else:
        scorer = model
        rules = tuple(blocking or ())
    if not isinstance(scorer, FellegiSunter):
        raise InteropError(
            f"Only a Fellegi-Sunter model can be written as Splink settings; got "
            f"{type(scorer).__name__}."
        )
    scorer._check_fitted()
    if dates not in ("text", "date"):
        raise ConfigError(f"'dates' must be 'text' or 'date'; got {dates!r}.")
    tf_floor = 1.0 / max(getattr(scorer, "n_records_", 0), 1)
    comparisons = [
        _export_comparison(
            c, scorer.m_[c.name], scorer.u_[c.name], tf_floor=tf_floor, dates=dates
        )
        for c in scorer.comparisons
    ]
    settings: dict[str, Any] = {
        "link_type": _TO_SPLINK_LINK_TYPES[scorer.link_type],
        "probability_two_random_records_match": float(
            scorer.probability_two_random_records_match_
        ),
        "retain_matching_columns": True,
        "retain_intermediate_calculation_columns": False,
        "additional_columns_to_retain": [],
        "sql_dialect": "duckdb",
        "em_convergence": 0.0001,
        "max_iterations": int(scorer.max_iter),
        "match_weight_column_prefix": "mw_",
        "term_frequency_adjustment_column_prefix": "tf_",
        "comparison_vector_value_column_prefix": "gamma_",
        "unique_id_column_name": unique_id_column_name,
        "source_dataset_column_name": source_dataset_column_name,
        "blocking_rules_to_generate_predictions": [_export_rule(r) for r in rules],
        "comparisons": comparisons,
    }
    if path is not None:
        from er_toolkit.io import write_json_atomic

        write_json_atomic(settings, path)
    return settings
