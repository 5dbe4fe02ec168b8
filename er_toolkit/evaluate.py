"""Measure pairs, clusters and blocking against labelled truth."""

from __future__ import annotations

import math
from collections.abc import Iterator, Mapping, Sequence
from dataclasses import dataclass
from typing import Any, Final

import numpy as np
import polars as pl

from er_toolkit import schema
from er_toolkit.config_values import check_keys
from er_toolkit.exceptions import ConfigError, SchemaError
from er_toolkit.pairs import (
    is_match_expr,
    pair_count_expr,
    pair_key,
    standard_pair_columns,
)
from er_toolkit.schema import LinkType

__all__ = [
    "EvaluationConfig",
    "EvaluationResult",
    "best_threshold",
    "blocking_recall",
    "cluster_metrics",
    "pair_key",
    "pairwise_metrics",
    "precision_recall_curve",
    "true_pairs_from_entities",
    "true_pairs_from_list",
]

PAIR_SCHEMA = pl.Schema({schema.ROW_L: pl.UInt32, schema.ROW_R: pl.UInt32})
CURVE_SCHEMA = pl.Schema(
    {
        "threshold": pl.Float64,
        "precision": pl.Float64,
        "recall": pl.Float64,
        "f1": pl.Float64,
    }
)
"""Columns and types of the frame :func:`precision_recall_curve` returns."""

_KEY = schema.PAIR_KEY
_SLICE = 10_000_000  # candidate pairs keyed at a time
_LOOKUP_SLICE = 1 << 20  # keys looked up in a sorted array at a time


@dataclass(frozen=True)
class EvaluationConfig:
    """Where the labels are (the ``[evaluation]`` table).

    ``entity_column``: a column holding each record's true entity id;
    ``pairs_path``: a file of true pairs (``record_id_l``, ``record_id_r``,
    optionally ``source_l``/``source_r`` and ``is_match``), relative to the
    config file. ``test_pairs_path``: a fixed test split of labelled pairs
    (both classes; Magellan's ``ltable_id, rtable_id, label`` is read too):
    training scores exactly these pairs and reports ``test_`` precision,
    recall and F1 over them, as published results on such splits are.
    """

    entity_column: str | None = None
    pairs_path: str | None = None
    test_pairs_path: str | None = None

    @classmethod
    def from_dict(cls, spec: Mapping[str, Any]) -> EvaluationConfig:
        """Build from the ``[evaluation]`` table."""
        keys = ("entity_column", "pairs_path", "test_pairs_path")
        check_keys(spec, set(keys), "[evaluation]")
        for key in keys:
            value = spec.get(key)
            if value is not None and not isinstance(value, str):
                raise ConfigError(
                    f"[evaluation] {key} must be text; got {type(value).__name__}."
                )
        return cls(**spec)


# --------------------------------------------------------------------------- #
# helpers
# --------------------------------------------------------------------------- #
def _require_columns(frame: pl.DataFrame, columns: Sequence[str], *, name: str) -> None:
    missing = [c for c in dict.fromkeys(columns) if c not in frame.columns]
    if missing:
        raise SchemaError(
            f"{name} lacks column(s) {missing}; its columns are {frame.columns}."
        )


def _check_link_type(link_type: str) -> None:
    if link_type not in schema.LINK_TYPES:
        raise ConfigError(
            f"link_type must be one of {list(schema.LINK_TYPES)}; got {link_type!r}."
        )


def _sorted_keys(pairs: pl.DataFrame, *, name: str) -> np.ndarray:
    """Return the distinct pair keys of ``pairs`` (self-pairs dropped), sorted, as uint64.

    A sort of the keys (numpy's vectorised sort) finds the distinct ones in
    a fraction of the time of a hash table over them.
    """
    _require_columns(pairs, (schema.ROW_L, schema.ROW_R), name=name)
    keys = (
        pairs.lazy()
        .filter(pl.col(schema.ROW_L) != pl.col(schema.ROW_R))
        .select(_key_of(pairs))
        .collect()
        .get_column(_KEY)
        .to_numpy(writable=True)
    )
    keys.sort()
    return _distinct_sorted(keys)


def _distinct_sorted(keys: np.ndarray) -> np.ndarray:
    """Return a sorted array without its repeats (itself when it has none)."""
    if keys.size < 2:
        return keys
    new = keys[1:] != keys[:-1]
    if new.all():
        return keys
    return np.concatenate((keys[:1], keys[1:][new]))


def _contains(sorted_keys: np.ndarray, keys: np.ndarray) -> np.ndarray:
    """Return whether each of ``keys`` is in ``sorted_keys`` (sorted uint64).

    Looked up a slice at a time, so the positions found never take more
    than a slice's worth of memory.
    """
    out = np.zeros(keys.size, dtype=bool)
    if sorted_keys.size == 0:
        return out
    last = sorted_keys.size - 1
    for start in range(0, keys.size, _LOOKUP_SLICE):
        part = keys[start : start + _LOOKUP_SLICE]
        at = np.searchsorted(sorted_keys, part)
        np.minimum(at, last, out=at)
        out[start : start + part.size] = sorted_keys[at] == part
    return out


def _column_slices(
    frame: pl.DataFrame, column: str, keep: np.ndarray | None
) -> Iterator[np.ndarray]:
    """Yield a column's values (its ``keep`` rows) as numpy arrays, a slice at a time.

    Null values (only ever in rows ``keep`` drops) read as 0; no copy of
    the whole column is ever made.
    """
    values = frame.get_column(column)
    for start in range(0, frame.height, _LOOKUP_SLICE):
        part = values.slice(start, _LOOKUP_SLICE)
        array = (part.fill_null(0) if part.null_count() else part).to_numpy()
        yield array if keep is None else array[keep[start : start + part.len()]]


def _pair_keys(pairs: pl.DataFrame, keep: np.ndarray | None) -> np.ndarray:
    """Return the pair key of each row of ``pairs`` (of the ``keep`` rows) as a new uint64 array.

    Written into one array a slice at a time, so no full-length
    intermediate column is made.
    """
    keys = np.empty(pairs.height if keep is None else int(keep.sum()), np.uint64)
    at = 0
    rows = pairs.select(pl.col(schema.ROW_L, schema.ROW_R).cast(pl.UInt32))
    for left, right in zip(
        _column_slices(rows, schema.ROW_L, keep),
        _column_slices(rows, schema.ROW_R, keep),
        strict=True,
    ):
        out = keys[at : at + left.size]
        np.minimum(left, right, out=out)
        out <<= np.uint64(32)
        out |= np.maximum(left, right)
        at += left.size
    return keys


def _scores_of(frame: pl.DataFrame, column: str, keep: np.ndarray | None) -> np.ndarray:
    """Return a Float64 column's values (its ``keep`` rows) as a new numpy array."""
    scores = np.empty(frame.height if keep is None else int(keep.sum()), np.float64)
    at = 0
    values = frame.select(pl.col(column).cast(pl.Float64))
    for part in _column_slices(values, column, keep):
        scores[at : at + part.size] = part
        at += part.size
    return scores


def _key_of(pairs: pl.DataFrame) -> pl.Expr:
    """Return the pair-key expression for ``pairs``.

    Packed without the min/max when every pair is already ordered
    (``_row_l < _row_r``, as blockers and the Linker's frames are): at tens
    of millions of pairs that is several full-length columns fewer.
    """
    ordered = pairs.height > 0 and bool(
        pairs.select((pl.col(schema.ROW_L) < pl.col(schema.ROW_R)).all()).item()
    )
    return pair_key(ordered=ordered)


def _ratio(num: float, den: float) -> float:
    return float(num) / float(den) if den else 0.0


def _f1(precision: float, recall: float) -> float:
    return _ratio(2.0 * precision * recall, precision + recall)


def _scores(
    *, tp: int, n_predicted: int, n_true: int, prefix: str = ""
) -> dict[str, float | int]:
    precision = _ratio(tp, n_predicted)
    recall = _ratio(tp, n_true)
    return {
        f"{prefix}precision": precision,
        f"{prefix}recall": recall,
        f"{prefix}f1": _f1(precision, recall),
    }


def _oriented(frame: pl.LazyFrame, left: str, right: str) -> pl.LazyFrame:
    """Turn two row columns into a sorted, de-duplicated pair frame."""
    lo = pl.min_horizontal(left, right).cast(pl.UInt32).alias(schema.ROW_L)
    hi = pl.max_horizontal(left, right).cast(pl.UInt32).alias(schema.ROW_R)
    return (
        frame.select(lo, hi)
        .filter(pl.col(schema.ROW_L) != pl.col(schema.ROW_R))
        .unique()
        .sort(schema.ROW_L, schema.ROW_R)
    )


# --------------------------------------------------------------------------- #
# truth
# --------------------------------------------------------------------------- #
def true_pairs_from_entities(
    records: pl.DataFrame, *, entity_column: str, link_type: LinkType
) -> pl.DataFrame:
    """List the true pairs implied by an entity-id column of the records.

    Two records form a true pair when they share a non-null entity id; in a
    ``link`` job they must also come from different sources. Records with a
    null entity id are in no true pair.

    Parameters
    ----------
    records
        The records frame: ``_row``, ``entity_column`` and, for ``link``,
        ``source``.
    entity_column
        The column holding each record's true entity id.
    link_type
        ``"dedupe"``, ``"link"`` or ``"link_and_dedupe"``.

    Returns
    -------
    polars.DataFrame
        ``_row_l`` < ``_row_r`` (UInt32), each pair once, sorted.

    Examples
    --------
    >>> records = pl.DataFrame(
    ...     {"_row": [0, 1, 2, 3], "source": ["a", "b", "a", "b"],
    ...      "entity": ["x", "x", "x", None]}
    ... )
    >>> true_pairs_from_entities(records, entity_column="entity",
    ...                          link_type="dedupe").rows()
    [(0, 1), (0, 2), (1, 2)]
    >>> true_pairs_from_entities(records, entity_column="entity",
    ...                          link_type="link").rows()
    [(0, 1), (1, 2)]
    """
    _check_link_type(link_type)
    link = link_type == "link"
    needed = [schema.ROW, entity_column, *([schema.SOURCE] if link else [])]
    _require_columns(records, needed, name="records")
    ent = "__entity"
    base = (
        records.lazy()
        .select(
            pl.col(schema.ROW).cast(pl.UInt32),
            pl.col(entity_column).alias(ent),
            *([pl.col(schema.SOURCE)] if link else []),
        )
        .filter(pl.col(ent).is_not_null())
    )
    lhs = base.rename(
        {schema.ROW: schema.ROW_L, **({schema.SOURCE: "__sl"} if link else {})}
    )
    rhs = base.rename(
        {schema.ROW: schema.ROW_R, **({schema.SOURCE: "__sr"} if link else {})}
    )
    keep = pl.col(schema.ROW_L) < pl.col(schema.ROW_R)
    if link:
        keep &= pl.col("__sl").ne_missing(pl.col("__sr"))
    return (
        lhs.join(rhs, on=ent)
        .filter(keep)
        .select(schema.ROW_L, schema.ROW_R)
        .sort(schema.ROW_L, schema.ROW_R)
        .collect()
    )


def true_pairs_from_list(
    records: pl.DataFrame, pairs: pl.DataFrame, *, link_type: LinkType
) -> pl.DataFrame:
    """Turn a list of labelled pairs of record ids into row-number pairs.

    Without ``source_l`` / ``source_r`` columns, ids are looked up as follows:
    in a ``link`` job with exactly two sources, left ids in the first source
    (in records order) and right ids in the second; otherwise by record id
    alone, which must then be unique across ``records``.

    Parameters
    ----------
    records
        The records frame: ``_row``, ``record_id`` and (when needed) ``source``.
    pairs
        ``record_id_l``, ``record_id_r``, optionally ``source_l`` and
        ``source_r``, and optionally ``is_match`` (boolean, 0/1 or
        ``"true"``/``"false"``): when present only its positive rows are kept.
    link_type
        ``"dedupe"``, ``"link"`` or ``"link_and_dedupe"``.

    Returns
    -------
    polars.DataFrame
        ``_row_l`` < ``_row_r`` (UInt32), each pair once, self-pairs dropped,
        sorted.

    Raises
    ------
    SchemaError
        If a column is missing, ids cannot be resolved to one source, or an id
        (of any row, negative labels included) is not in ``records``.

    Examples
    --------
    >>> records = pl.DataFrame(
    ...     {"_row": [0, 1, 2], "record_id": ["1", "2", "1"],
    ...      "source": ["crm", "crm", "erp"]}
    ... )
    >>> labels = pl.DataFrame({"record_id_l": [2, 1], "record_id_r": [1, 1]})
    >>> true_pairs_from_list(records, labels, link_type="link").rows()
    [(0, 2), (1, 2)]
    """
    _check_link_type(link_type)
    pairs = standard_pair_columns(pairs)
    _require_columns(pairs, (schema.RECORD_ID_L, schema.RECORD_ID_R), name="pairs")
    _require_columns(records, (schema.ROW, schema.RECORD_ID), name="records")
    has_l, has_r = (c in pairs.columns for c in (schema.SOURCE_L, schema.SOURCE_R))
    if has_l != has_r:
        raise SchemaError(
            f"pairs has only one of {schema.SOURCE_L!r} and {schema.SOURCE_R!r}; "
            f"give both or neither. Its columns are {pairs.columns}."
        )
    rid_l = pl.col(schema.RECORD_ID_L).cast(pl.String)
    rid_r = pl.col(schema.RECORD_ID_R).cast(pl.String)
    sources: list[pl.Expr]
    if has_l:
        _require_columns(records, (schema.SOURCE,), name="records")
        sources = [
            pl.col(schema.SOURCE_L).cast(pl.String),
            pl.col(schema.SOURCE_R).cast(pl.String),
        ]
    elif link_type == "link":
        _require_columns(records, (schema.SOURCE,), name="records")
        names = records.get_column(schema.SOURCE).unique(maintain_order=True)
        if names.len() != 2:
            raise SchemaError(
                f"pairs has no {schema.SOURCE_L!r}/{schema.SOURCE_R!r} columns, "
                f"so records must hold exactly 2 sources; got {names.to_list()}. "
                "Add the source columns to the pairs."
            )
        sources = [pl.lit(names[0], pl.String), pl.lit(names[1], pl.String)]
    else:
        dup = records.get_column(schema.RECORD_ID).is_duplicated()
        if dup.any():
            shown = records.filter(dup).get_column(schema.RECORD_ID).unique()
            raise SchemaError(
                f"pairs has no {schema.SOURCE_L!r}/{schema.SOURCE_R!r} columns and "
                f"record ids repeat across sources (e.g. "
                f"{sorted(shown.cast(pl.String).head(5).to_list())}); add the source "
                "columns to the pairs."
            )
        sources = []

    on = [schema.RECORD_ID, *([schema.SOURCE] if sources else [])]
    lookup = records.lazy().select(
        pl.col(schema.ROW).cast(pl.UInt32),
        pl.col(schema.RECORD_ID).cast(pl.String),
        *([pl.col(schema.SOURCE).cast(pl.String)] if sources else []),
    )
    side_cols = {}
    for side, rid, extra in (("l", rid_l, sources[:1]), ("r", rid_r, sources[1:])):
        side_cols[side] = [rid.alias(f"__id_{side}")]
        if extra:
            side_cols[side].append(extra[0].alias(f"__src_{side}"))
    is_match = (
        [is_match_expr(pairs).fill_null(False).alias("__pos")]
        if schema.IS_MATCH in pairs.columns
        else []
    )
    labelled = pairs.lazy().select(*side_cols["l"], *side_cols["r"], *is_match)
    for side in ("l", "r"):
        rename = {schema.ROW: f"__row_{side}", schema.RECORD_ID: f"__id_{side}"}
        if sources:
            rename[schema.SOURCE] = f"__src_{side}"
        labelled = labelled.join(
            lookup.rename(rename),
            on=[rename[c] for c in on],
            how="left",
            nulls_equal=False,
        )
    resolved = labelled.collect()
    _raise_on_unknown_ids(resolved, with_source=bool(sources))
    if is_match:
        resolved = resolved.filter(pl.col("__pos"))
    return _oriented(resolved.lazy(), "__row_l", "__row_r").collect()


def _raise_on_unknown_ids(resolved: pl.DataFrame, *, with_source: bool) -> None:
    parts = []
    for side in ("l", "r"):
        missing = resolved.filter(pl.col(f"__row_{side}").is_null())
        label = pl.col(f"__id_{side}").fill_null("<null>")
        if with_source:
            label = pl.format("{}:{}", pl.col(f"__src_{side}").fill_null(""), label)
        parts.append(missing.select(label.alias("id")))
    unknown = pl.concat(parts).get_column("id").unique().sort()
    if unknown.len():
        raise SchemaError(
            f"{unknown.len()} record id(s) in the pairs are not in records, e.g. "
            f"{unknown.head(5).to_list()}; check that the labels belong to these "
            "records (and their sources)."
        )


# --------------------------------------------------------------------------- #
# pairs
# --------------------------------------------------------------------------- #
def pairwise_metrics(
    predicted: pl.DataFrame, truth: pl.DataFrame
) -> dict[str, float | int]:
    """Score predicted pairs against true pairs.

    Both frames hold ``_row_l`` / ``_row_r``; orientation and repeats do not
    matter, self-pairs are ignored. Every row of ``predicted`` counts as a
    predicted match: filter on a threshold first. A ratio whose denominator is
    zero (no predicted pairs, no true pairs) is 0.0, never an error.

    Parameters
    ----------
    predicted
        Pairs predicted to match.
    truth
        Pairs that truly match.

    Returns
    -------
    dict
        ``precision``, ``recall``, ``f1`` (floats) and ``tp``, ``fp``, ``fn``
        (ints).

    Examples
    --------
    >>> pred = pl.DataFrame({"_row_l": [0, 0, 1], "_row_r": [1, 2, 2]})
    >>> truth = pl.DataFrame({"_row_l": [0, 3], "_row_r": [1, 4]})
    >>> m = pairwise_metrics(pred, truth)
    >>> m["tp"], m["fp"], m["fn"], round(m["precision"], 3), m["recall"]
    (1, 2, 1, 0.333, 0.5)
    """
    pred = _sorted_keys(predicted, name="predicted")
    true = _sorted_keys(truth, name="truth")
    tp = int(_contains(true, pred).sum())
    out = _scores(tp=tp, n_predicted=pred.size, n_true=true.size)
    return {**out, "tp": tp, "fp": pred.size - tp, "fn": true.size - tp}


def blocking_recall(candidates: pl.DataFrame, truth: pl.DataFrame) -> float:
    """Return the share of true pairs that blocking kept as candidates.

    Parameters
    ----------
    candidates
        Candidate pairs (``_row_l``, ``_row_r``).
    truth
        All true pairs.

    Returns
    -------
    float
        Found true pairs / all true pairs; 0.0 when there are no true pairs.

    Examples
    --------
    >>> cand = pl.DataFrame({"_row_l": [0, 1], "_row_r": [1, 2]})
    >>> truth = pl.DataFrame({"_row_l": [0, 0], "_row_r": [1, 2]})
    >>> blocking_recall(cand, truth)
    0.5
    """
    true = _sorted_keys(truth, name="truth")
    _require_columns(candidates, (schema.ROW_L, schema.ROW_R), name="candidates")
    if true.size == 0:
        return 0.0
    # Candidates are keyed a slice at a time, so hundreds of millions of them
    # are never keyed at once; each slice's keys are sorted in place and the
    # (fewer) true keys looked up in them, which reads memory in order where
    # looking every candidate up in the truth would jump about.
    found = np.zeros(true.size, dtype=bool)
    for start in range(0, candidates.height, _SLICE):
        keys = _pair_keys(candidates.slice(start, _SLICE), None)
        keys.sort()
        found |= _contains(keys, true)
        del keys
    n_found = int(found.sum())
    return _ratio(n_found, true.size)


def precision_recall_curve(
    scored: pl.DataFrame,
    truth: pl.DataFrame,
    *,
    score_column: str = schema.MATCH_PROBABILITY,
    n_true: int | None = None,
) -> pl.DataFrame:
    """Precision, recall and F1 at every distinct score used as a threshold.

    At threshold t the predicted matches are the scored pairs with score >= t.
    A pair listed more than once counts once, at its highest score; null and
    NaN scores are dropped.

    Parameters
    ----------
    scored
        Scored pairs: ``_row_l``, ``_row_r`` and ``score_column``.
    truth
        True pairs.
    score_column
        The score to threshold.
    n_true
        The recall denominator: every true pair, including those blocking
        missed. Defaults to the number of distinct pairs in ``truth``.

    Returns
    -------
    polars.DataFrame
        ``threshold``, ``precision``, ``recall``, ``f1`` (Float64), one row per
        distinct score, highest threshold first; recall never decreases down
        the frame.

    Raises
    ------
    ConfigError
        If ``n_true`` is negative or smaller than the true pairs among
        ``scored``.

    Examples
    --------
    >>> scored = pl.DataFrame({"_row_l": [0, 0, 1], "_row_r": [1, 2, 2],
    ...                        "match_probability": [0.9, 0.6, 0.6]})
    >>> truth = pl.DataFrame({"_row_l": [0, 1], "_row_r": [1, 2]})
    >>> precision_recall_curve(scored, truth).rows()
    [(0.9, 1.0, 0.5, 0.6666666666666666), (0.6, 0.6666666666666666, 1.0, 0.8)]
    """
    _require_columns(scored, (schema.ROW_L, schema.ROW_R, score_column), name="scored")
    true = _sorted_keys(truth, name="truth")
    denominator = true.size if n_true is None else n_true
    if (
        isinstance(denominator, bool)
        or not isinstance(denominator, int)
        or denominator < 0
    ):
        raise ConfigError(f"n_true must be a non-negative int; got {n_true!r}.")
    score = pl.col(score_column).cast(pl.Float64)
    valid = (
        (pl.col(schema.ROW_L) != pl.col(schema.ROW_R))
        & score.is_not_null()
        & score.is_not_nan()
    ).fill_null(False)
    keep = scored.select(valid).to_series()
    mask = None if keep.all() else keep.to_numpy()
    keys = _pair_keys(scored, mask)
    positive = _contains(true, keys)
    # Scored candidates are usually distinct pairs already; grouping tens of
    # millions of them by key is done only when some pair is listed twice.
    # (The keys sorted in place find a repeat in a fraction of the memory and
    # time of a hash table over all of them.)
    keys.sort()
    repeated = keys.size > 1 and bool((keys[1:] == keys[:-1]).any())
    del keys
    if repeated:
        best = (
            scored.lazy()
            .filter(valid)
            .group_by(_key_of(scored))
            .agg(score.max().alias("threshold"))
            .collect()
        )
        positive = _contains(true, best.get_column(_KEY).to_numpy())
        thresholds = best.get_column("threshold").to_numpy(writable=True)
    else:
        thresholds = _scores_of(scored, score_column, mask)
    per_score = _counts_per_score(thresholds, positive)
    found = int(per_score.select(pl.col("__tp").max()).item() or 0)
    if n_true is not None and n_true < found:
        raise ConfigError(
            f"n_true must count every true pair, so be at least the {found} true "
            f"pair(s) among the scored pairs; got {n_true}."
        )
    precision = pl.col("__tp") / pl.col("__n")
    recall = pl.col("__tp") / denominator if denominator else pl.lit(0.0, pl.Float64)
    return (
        per_score.lazy()
        .with_columns(precision.alias("precision"), recall.alias("recall"))
        .with_columns(
            pl.when(pl.col("precision") + pl.col("recall") > 0)
            .then(
                2
                * pl.col("precision")
                * pl.col("recall")
                / (pl.col("precision") + pl.col("recall"))
            )
            .otherwise(0.0)
            .alias("f1")
        )
        .select(list(CURVE_SCHEMA))
        .collect()
        .cast(CURVE_SCHEMA)
    )


def _counts_per_score(thresholds: np.ndarray, positive: np.ndarray) -> pl.DataFrame:
    """Return each distinct score, highest first, with the pairs and true pairs at or above it.

    ``threshold`` (Float64), ``__n`` and ``__tp`` (Int64, cumulative):
    from the scores sorted (in place: ``thresholds`` is reordered), not a
    hash table over them.
    """
    true_values, true_counts = np.unique(thresholds[positive], return_counts=True)
    ordered = thresholds
    ordered.sort()
    starts = np.flatnonzero(ordered[1:] != ordered[:-1]) + 1
    starts = np.concatenate((np.zeros(min(ordered.size, 1), np.int64), starts))
    values = ordered[starts]
    counts = np.diff(np.append(starts, ordered.size))
    hits = np.zeros(values.size, dtype=np.int64)
    hits[np.searchsorted(values, true_values)] = true_counts
    return pl.DataFrame(
        {
            "threshold": values[::-1],
            "__n": np.cumsum(counts[::-1], dtype=np.int64),
            "__tp": np.cumsum(hits[::-1], dtype=np.int64),
        },
        schema={"threshold": pl.Float64, "__n": pl.Int64, "__tp": pl.Int64},
    )


def best_threshold(curve: pl.DataFrame) -> float:
    """Return the threshold of highest F1 on a precision-recall curve.

    The rule of :func:`er_toolkit.thresholds.pick_threshold` with
    ``strategy="max_f1"``: ties go to the highest threshold (the fewest
    predicted matches), and the value returned lies midway between that
    score and the next lower one, so it selects the same pairs.

    Parameters
    ----------
    curve
        A frame from :func:`precision_recall_curve`.

    Returns
    -------
    float
        The threshold.

    Raises
    ------
    EmptyInputError
        If the curve has no rows.

    Examples
    --------
    >>> curve = pl.DataFrame({"threshold": [0.9, 0.6, 0.2], "f1": [0.5, 0.8, 0.8]})
    >>> best_threshold(curve)
    0.4
    """
    from er_toolkit.thresholds import pick_threshold

    return pick_threshold(curve, strategy="max_f1", where="the curve")[0]


# --------------------------------------------------------------------------- #
# clusters
# --------------------------------------------------------------------------- #
def _pairs_within(frame: pl.LazyFrame, group: Sequence[str], sub: str | None) -> int:
    """Count the pairs inside each group, across ``sub`` values when given."""
    n = pl.col("__n")
    if sub is None:
        per_group = frame.group_by(group).agg(pl.len().cast(pl.Int64).alias("__n"))
        pairs = pair_count_expr(n)
    else:
        per_group = (
            frame.group_by([*group, sub])
            .agg(pl.len().cast(pl.Int64).alias("__n"))
            .group_by(group)
            .agg(n.sum().alias("__n"), (n * n).sum().alias("__sq"))
        )
        pairs = pair_count_expr(n, pl.col("__sq"))
    total = per_group.select(pairs.sum()).collect().item()
    return int(total or 0)


def cluster_metrics(
    clusters: pl.DataFrame,
    records: pl.DataFrame,
    *,
    entity_column: str,
    link_type: LinkType,
) -> dict[str, float | int]:
    """Score a clustering against true entity ids, without listing pairs.

    Pairwise metrics over clusters compare the pairs a clustering implies with
    the pairs the entity ids imply, from contingency counts: predicted pairs
    are the sum over clusters of n(n-1)/2, true pairs the same over entities,
    true positives the same over (cluster, entity) cells. In a ``link`` job
    only pairs across sources count: a group holds (n^2 - sum_s n_s^2) / 2.

    B-cubed precision and recall are per-record averages of
    |cluster ∩ entity| / |cluster| and |cluster ∩ entity| / |entity| (each
    record counts itself; sources are not considered); B-cubed F1 is their
    harmonic mean.

    A record with a null entity id is its own entity; a record missing from
    ``clusters`` is its own cluster. Ratios with a zero denominator are 0.0.

    Parameters
    ----------
    clusters
        ``cluster_id`` and ``_row`` (as from
        :func:`er_toolkit.cluster.connected_components`), or ``cluster_id``,
        ``source`` and ``record_id``; each record once.
    records
        The records frame: ``_row``, ``entity_column`` and, for ``link``,
        ``source``.
    entity_column
        The column holding each record's true entity id.
    link_type
        ``"dedupe"``, ``"link"`` or ``"link_and_dedupe"``.

    Returns
    -------
    dict
        ``cluster_precision``, ``cluster_recall``, ``cluster_f1``,
        ``bcubed_precision``, ``bcubed_recall``, ``bcubed_f1`` (floats) and
        ``n_clusters``, ``largest_cluster`` (ints).

    Examples
    --------
    >>> records = pl.DataFrame({"_row": [0, 1, 2, 3], "entity": [1, 1, 1, 2]})
    >>> clusters = pl.DataFrame({"_row": [0, 1, 2, 3],
    ...                          "cluster_id": ["a", "a", "b", "b"]})
    >>> m = cluster_metrics(clusters, records, entity_column="entity",
    ...                     link_type="dedupe")
    >>> m["cluster_precision"], round(m["cluster_recall"], 3), m["n_clusters"]
    (0.5, 0.333, 2)
    >>> round(m["bcubed_precision"], 3), round(m["bcubed_recall"], 3)
    (0.75, 0.667)
    """
    _check_link_type(link_type)
    link = link_type == "link"
    needed = [schema.ROW, entity_column, *([schema.SOURCE] if link else [])]
    on = (
        [schema.ROW]
        if schema.ROW in clusters.columns
        else [schema.SOURCE, schema.RECORD_ID]
    )
    _require_columns(records, [*needed, *on], name="records")
    _require_columns(clusters, [schema.CLUSTER_ID, *on], name="clusters")
    distinct = pl.col(on[0]) if len(on) == 1 else pl.struct(on)
    repeats = clusters.height - clusters.select(distinct.n_unique()).item()
    if repeats:
        raise SchemaError(
            f"clusters must list each record once (by {on}); {repeats} row(s) "
            "repeat a record listed before."
        )
    ents = records.lazy().select(*[pl.col(c) for c in dict.fromkeys([*on, *needed])])
    row = pl.col(schema.ROW).cast(pl.Int64)
    cluster = pl.col(schema.CLUSTER_ID)
    entity = pl.col(entity_column)
    coded = (
        ents.join(
            clusters.lazy().select(*on, cluster.alias("__cluster")), on=on, how="left"
        )
        .select(
            # Dense codes >= 1 for known groups; -1 - _row for a group of one.
            pl.when(pl.col("__cluster").is_null())
            .then(-1 - row)
            .otherwise(pl.col("__cluster").rank("dense").cast(pl.Int64))
            .alias("__c"),
            pl.when(entity.is_null())
            .then(-1 - row)
            .otherwise(entity.rank("dense").cast(pl.Int64))
            .alias("__e"),
            *([pl.col(schema.SOURCE)] if link else []),
        )
        .collect()
        .lazy()
    )
    sub = schema.SOURCE if link else None
    n_pred = _pairs_within(coded, ["__c"], sub)
    n_true = _pairs_within(coded, ["__e"], sub)
    tp = _pairs_within(coded, ["__c", "__e"], sub)

    nij = pl.col("__nij")
    cells = (
        coded.group_by("__c", "__e")
        .agg(pl.len().cast(pl.Float64).alias("__nij"))
        .select(
            nij,
            nij.sum().over("__c").alias("__ni"),
            nij.sum().over("__e").alias("__nj"),
        )
    )
    terms = cells.select(
        nij.cast(pl.Int64).alias("n"),
        (nij * nij / pl.col("__ni")).alias("p"),
        (nij * nij / pl.col("__nj")).alias("r"),
    ).collect()
    # Summed exactly rounded (math.fsum), so the result does not depend on
    # the order the group-by happened to list the cells in.
    n_records = int(terms.get_column("n").sum() or 0)
    p_sum, r_sum = (math.fsum(terms.get_column(c).to_numpy()) for c in ("p", "r"))
    sizes = coded.group_by("__c").agg(pl.len().alias("size")).collect()
    bcubed_p = _ratio(p_sum, n_records)
    bcubed_r = _ratio(r_sum, n_records)
    return {
        **_scores(tp=tp, n_predicted=n_pred, n_true=n_true, prefix="cluster_"),
        "bcubed_precision": bcubed_p,
        "bcubed_recall": bcubed_r,
        "bcubed_f1": _f1(bcubed_p, bcubed_r),
        "n_clusters": sizes.height,
        "largest_cluster": int(sizes.select(pl.col("size").max()).item() or 0),
    }


# --------------------------------------------------------------------------- #
# the result of an evaluation
# --------------------------------------------------------------------------- #
_METRIC_GROUPS: Final = (
    ("pairwise", ("pairwise_precision", "pairwise_recall", "pairwise_f1")),
    ("clusters", ("cluster_precision", "cluster_recall", "cluster_f1")),
    ("B-cubed", ("bcubed_precision", "bcubed_recall", "bcubed_f1")),
)


@dataclass(frozen=True, eq=False)
class EvaluationResult:
    """What :meth:`Linker.evaluate <er_toolkit.Linker.evaluate>` measured.

    It unpacks as the ``(metrics, curve)`` pair earlier releases returned,
    so ``metrics, curve = linker.evaluate(...)`` still works; a metric reads
    as ``result["pairwise_f1"]``.

    Attributes
    ----------
    metrics
        Pairwise, cluster and B-cubed precision / recall / F1 (those that
        apply), ``blocking_recall``, ``candidate_pairs`` and ``true_pairs``.
    curve
        The precision-recall curve (``threshold``, ``precision``, ``recall``,
        ``f1``).
    threshold
        The match probability the metrics were measured at.

    Examples
    --------
    >>> curve = pl.DataFrame(schema=CURVE_SCHEMA)
    >>> result = EvaluationResult({"pairwise_f1": 0.5, "blocking_recall": 1.0},
    ...                           curve, threshold=0.9)
    >>> metrics, curve = result
    >>> result["pairwise_f1"], metrics["blocking_recall"]
    (0.5, 1.0)
    >>> result
    EvaluationResult(threshold 0.9: pairwise F1 0.5000, blocking recall 1.0000)
    """

    metrics: Mapping[str, float]
    curve: pl.DataFrame
    threshold: float

    def __iter__(self) -> Iterator[Any]:
        """Unpack as ``(metrics, curve)``."""
        return iter((dict(self.metrics), self.curve))

    def __len__(self) -> int:
        return 2

    def __getitem__(self, key: str | int) -> Any:
        """Return a metric by name; 0 and 1 give ``metrics`` and ``curve`` (as a tuple)."""
        if isinstance(key, int):
            return (dict(self.metrics), self.curve)[key]
        return self.metrics[key]

    def to_dict(self) -> dict[str, float]:
        """Return the metrics (a copy)."""
        return dict(self.metrics)

    def table(self) -> pl.DataFrame:
        """Return precision, recall and F1 per level measured (pairwise, clusters, B-cubed)."""
        rows = [
            {
                "measure": label,
                "precision": self.metrics[p],
                "recall": self.metrics[r],
                "f1": self.metrics[f],
            }
            for label, (p, r, f) in _METRIC_GROUPS
            if f in self.metrics
        ]
        return pl.DataFrame(
            rows,
            schema={
                "measure": pl.String,
                "precision": pl.Float64,
                "recall": pl.Float64,
                "f1": pl.Float64,
            },
        )

    def chart(self) -> Any:
        """Return the precision-recall chart, the threshold and blocking recall marked."""
        from er_toolkit.charts import precision_recall_chart

        return precision_recall_chart(
            self.curve,
            threshold=self.threshold,
            blocking_recall=self.metrics.get("blocking_recall"),
        )

    def __repr__(self) -> str:
        parts = [
            f"{label} F1 {self.metrics[f]:.4f}"
            for label, (_, _, f) in _METRIC_GROUPS
            if f in self.metrics
        ]
        if "blocking_recall" in self.metrics:
            parts.append(f"blocking recall {self.metrics['blocking_recall']:.4f}")
        return f"EvaluationResult(threshold {self.threshold:.4g}: {', '.join(parts)})"

    def _repr_html_(self) -> str:
        from er_toolkit.display import html_summary

        facts: list[tuple[str, object]] = [("threshold", self.threshold)]
        for key, label in (
            ("blocking_recall", "blocking recall"),
            ("candidate_pairs", "candidate pairs"),
            ("true_pairs", "true pairs"),
        ):
            if key in self.metrics:
                value = self.metrics[key]
                facts.append((label, int(value) if key != "blocking_recall" else value))
        return html_summary(
            "Evaluation",
            facts,
            tables=[("precision, recall and F1", self.table())],
        )
