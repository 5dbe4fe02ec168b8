"""Cluster scored pairs into entities: connected components with stable ids."""

from __future__ import annotations

import math
import numbers
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any, Final, Literal, get_args

import numpy as np
import polars as pl
import scipy.sparse as sp
from scipy.sparse import csgraph

from er_toolkit import schema
from er_toolkit.config_values import check_keys, choice, flag, limit, number, whole
from er_toolkit.exceptions import ConfigError, SchemaError
from er_toolkit.one_to_one import ONE_TO_ONE_METHODS, OneToOne

__all__ = [
    "CLUSTER_SCHEMA",
    "LINKAGES",
    "MAX_LINKAGE_SIZE",
    "NOT_COMPARED",
    "ClusteringConfig",
    "Linkage",
    "NotCompared",
    "check_linkage_options",
    "cluster_id_expr",
    "cluster_labels",
    "connected_components",
]

CLUSTER_SIZE = schema.CLUSTER_SIZE

Linkage = Literal["single", "average", "complete"]
"""How linked records join a cluster: ``single`` is connected components."""
LINKAGES: Final[tuple[Linkage, ...]] = get_args(Linkage)
NotCompared = Literal["far", "neutral"]
"""The distance ``average`` / ``complete`` linkage gives two records never compared.

``"far"``: 1, as for two records compared and not linked; ``"neutral"``:
the cut itself, ``1 - threshold`` (no evidence either way), with compared
pairs below the threshold at one minus their probability."""
NOT_COMPARED: Final[tuple[NotCompared, ...]] = get_args(NotCompared)
MAX_LINKAGE_SIZE: Final = 10_000
"""The largest component ``average`` / ``complete`` linkage re-clusters (its
distance matrix is dense: 10,000 records are 800 MB of float64 distances)."""

CLUSTER_SCHEMA = pl.Schema(
    {
        schema.ROW: pl.UInt32,
        schema.RECORD_ID: pl.String,
        schema.SOURCE: pl.String,
        schema.CLUSTER_ID: pl.String,
        CLUSTER_SIZE: pl.UInt32,
    }
)
"""Columns and types of the frame :func:`connected_components` returns.

``record_id`` keeps the records' own type (an integer id stays an integer);
the String here is what string ids give.
"""


@dataclass(frozen=True)
class ClusteringConfig:
    """How scored pairs become clusters (the ``[clustering]`` table).

    See :func:`connected_components`: with ``prune_weak_links`` a low link
    that no common neighbour supports is cut in components of more than
    ``min_prune_size`` records, so false links do not chain clusters
    together; ``max_cluster_size`` (None: no limit) re-cuts larger
    components at stricter thresholds; ``linkage = "average"`` (or
    ``"complete"``) splits each component by hierarchical clustering, so a
    few links between two dense groups do not join them; ``not_compared =
    "neutral"`` makes two records that blocking never paired count as
    neither near nor far there (:data:`NotCompared`);
    ``min_linkage_probability`` (None: the threshold) is the average
    (complete: lowest) probability at which two groups still merge there.
    ``one_to_one``
    (``"greedy"`` or ``"assignment"``, default ``"off"``) first keeps at most
    one link per record into each other source
    (:func:`~er_toolkit.one_to_one.one_to_one_links`), for link jobs whose
    sources each hold each entity once; it uses the scores only.
    """

    prune_weak_links: bool = False
    keep_above: float = 0.999
    min_prune_size: int = 3
    max_cluster_size: int | None = None
    linkage: Linkage = "single"
    not_compared: NotCompared = "far"
    min_linkage_probability: float | None = None
    one_to_one: OneToOne = "off"

    def __post_init__(self) -> None:
        choice(self.linkage, "[clustering] linkage", LINKAGES)
        choice(self.not_compared, "[clustering] not_compared", NOT_COMPARED)
        _check_not_compared(self.not_compared, self.linkage, "[clustering] ")
        _check_min_linkage_probability(
            self.min_linkage_probability, self.linkage, "[clustering] "
        )
        choice(self.one_to_one, "[clustering] one_to_one", ONE_TO_ONE_METHODS)

    @classmethod
    def from_dict(cls, spec: Mapping[str, Any]) -> ClusteringConfig:
        """Build from the ``[clustering]`` table."""
        check_keys(
            spec,
            {
                "prune_weak_links",
                "keep_above",
                "min_prune_size",
                "max_cluster_size",
                "linkage",
                "not_compared",
                "min_linkage_probability",
                "one_to_one",
            },
            "[clustering]",
        )
        min_linkage = spec.get("min_linkage_probability")
        return cls(
            prune_weak_links=flag(
                spec.get("prune_weak_links", False), "[clustering] prune_weak_links"
            ),
            keep_above=number(
                spec.get("keep_above", 0.999), "[clustering] keep_above", low=0, high=1
            ),
            min_prune_size=whole(
                spec.get("min_prune_size", 3), "[clustering] min_prune_size", minimum=2
            ),
            max_cluster_size=limit(
                spec.get("max_cluster_size"), "[clustering] max_cluster_size"
            ),
            linkage=spec.get("linkage", "single"),
            not_compared=spec.get("not_compared", "far"),
            min_linkage_probability=None
            if min_linkage is None
            else number(
                min_linkage, "[clustering] min_linkage_probability", low=0, high=1
            ),
            one_to_one=spec.get("one_to_one", "off"),
        )

    def to_dict(self) -> dict[str, Any]:
        """Return the ``[clustering]`` table (JSON: ``None`` for no limit)."""
        linkage: dict[str, Any] = (
            {} if self.linkage == "single" else {"linkage": self.linkage}
        )
        if self.not_compared != "far":
            linkage["not_compared"] = self.not_compared
        if self.min_linkage_probability is not None:
            linkage["min_linkage_probability"] = self.min_linkage_probability
        one = {} if self.one_to_one == "off" else {"one_to_one": self.one_to_one}
        return {
            "prune_weak_links": self.prune_weak_links,
            "keep_above": self.keep_above,
            "min_prune_size": self.min_prune_size,
            "max_cluster_size": self.max_cluster_size,
            **linkage,
            **one,
        }


_LABEL = "__component"


def _check_not_compared(not_compared: str, linkage: str, where: str = "") -> None:
    if not_compared != "far" and linkage == "single":
        raise ConfigError(
            f"{where}not_compared = {not_compared!r} applies only with linkage "
            "'average' or 'complete' (single linkage reads the links alone); got "
            "linkage 'single'. Set a linkage, or remove not_compared."
        )


def check_linkage_options(
    threshold: float,
    linkage: str,
    not_compared: str,
    min_linkage_probability: float | None,
    *,
    score_column: str = schema.MATCH_PROBABILITY,
) -> None:
    """Refuse a threshold, linkage, ``not_compared`` or merge cut that cannot cluster.

    The checks every engine's clustering makes before it reads the pairs.

    Examples
    --------
    >>> check_linkage_options(0.9, "average", "neutral", 0.4)
    >>> check_linkage_options(0.9, "single", "neutral", None)
    Traceback (most recent call last):
    ...
    er_toolkit.exceptions.ConfigError: not_compared = 'neutral' applies only with linkage 'average' or 'complete' (single linkage reads the links alone); got linkage 'single'. Set a linkage, or remove not_compared.
    """
    _check_threshold(threshold, score_column=score_column)
    choice(linkage, "linkage", LINKAGES)
    choice(not_compared, "not_compared", NOT_COMPARED)
    _check_not_compared(not_compared, linkage)
    _check_min_linkage_probability(
        min_linkage_probability,
        linkage,
        threshold=threshold,
        score_column=score_column,
    )


def _check_min_linkage_probability(
    min_probability: float | None,
    linkage: str,
    where: str = "",
    *,
    threshold: float | None = None,
    score_column: str = schema.MATCH_PROBABILITY,
) -> None:
    if min_probability is None:
        return
    if linkage == "single":
        raise ConfigError(
            f"{where}min_linkage_probability applies only with linkage 'average' "
            "or 'complete' (single linkage reads the links alone); got linkage "
            "'single'. Set a linkage, or remove min_linkage_probability."
        )
    if (
        isinstance(min_probability, bool)
        or not isinstance(min_probability, numbers.Real)
        or not 0.0 <= min_probability <= 1.0
    ):
        raise ConfigError(
            f"{where}min_linkage_probability must be a number in [0, 1] (or None "
            f"for the threshold); got {min_probability!r}."
        )
    if threshold is None:
        return
    at = threshold
    if score_column != schema.MATCH_PROBABILITY:  # a match weight
        at = 1.0 / (1.0 + 2.0 ** -float(threshold))
    if min_probability > at:
        raise ConfigError(
            f"{where}min_linkage_probability must be at most the threshold "
            f"(as a probability, {at!r}); got {min_probability!r}. A stricter "
            "cut is a higher threshold: raise the threshold instead."
        )


def _require_columns(frame: pl.DataFrame, columns: Sequence[str], *, name: str) -> None:
    missing = [c for c in columns if c not in frame.columns]
    if missing:
        raise SchemaError(
            f"{name} lacks column(s) {missing}; its columns are {frame.columns}."
        )


def cluster_id_expr(
    source: str | pl.Expr = schema.SOURCE, record_id: str | pl.Expr = schema.RECORD_ID
) -> pl.Expr:
    r"""Build the cluster id ``"<source>:<record_id>"`` of a representative record.

    In the source, ``\`` is written ``\\`` and ``:`` is written ``\:``, so the
    first unescaped ``:`` always separates source from record id and two
    different records never give the same id. A null source counts as ``""``.

    Parameters
    ----------
    source, record_id
        Column names or expressions holding the representative's source and id.

    Returns
    -------
    polars.Expr
        A String expression named ``cluster_id``.

    Examples
    --------
    >>> df = pl.DataFrame({"source": ["crm", "a:b"], "record_id": ["7", "x:y"]})
    >>> df.select(cluster_id_expr()).to_series().to_list()
    ['crm:7', 'a\\:b:x:y']
    """
    src = pl.col(source) if isinstance(source, str) else source
    rid = pl.col(record_id) if isinstance(record_id, str) else record_id
    escaped = (
        src.cast(pl.String)
        .fill_null("")
        .str.replace_all("\\", "\\\\", literal=True)
        .str.replace_all(":", "\\:", literal=True)
    )
    return pl.concat_str(
        [escaped, pl.lit(":"), rid.cast(pl.String)], ignore_nulls=False
    ).alias(schema.CLUSTER_ID)


def _check_threshold(threshold: float, *, score_column: str) -> None:
    if isinstance(threshold, bool) or not isinstance(threshold, numbers.Real):
        raise ConfigError(
            f"threshold must be a number; got {type(threshold).__name__} {threshold!r}."
        )
    if math.isnan(float(threshold)):
        raise ConfigError("threshold must be a number; got NaN.")
    if score_column == schema.MATCH_PROBABILITY and not 0.0 <= threshold <= 1.0:
        raise ConfigError(
            f"threshold on {schema.MATCH_PROBABILITY!r} must be in [0, 1]; got "
            f"{threshold!r}. To cut on the match weight pass "
            f"score_column={schema.MATCH_WEIGHT!r}."
        )


def _sorted_records(records: pl.DataFrame) -> pl.DataFrame:
    """Return ``_row``, ``record_id``, ``source`` in ``_row`` order, validated."""
    _require_columns(
        records, (schema.ROW, schema.RECORD_ID, schema.SOURCE), name="records"
    )
    rid = pl.col(schema.RECORD_ID)
    if records.schema[schema.RECORD_ID] == pl.Null:
        rid = rid.cast(pl.String)  # no records: an empty id column has no type
    out = records.select(
        pl.col(schema.ROW), rid, pl.col(schema.SOURCE).cast(pl.String)
    ).sort(schema.ROW)
    rows = out.get_column(schema.ROW)
    if not rows.dtype.is_integer() or not np.array_equal(
        rows.to_numpy(), np.arange(out.height)
    ):
        raise SchemaError(
            f"records column {schema.ROW!r} must hold the dense row numbers "
            f"0..{out.height - 1}, each once; build records with "
            "er_toolkit.io.prepare_records."
        )
    n_null = out.get_column(schema.RECORD_ID).null_count()
    if n_null:
        raise SchemaError(
            f"records column {schema.RECORD_ID!r} has {n_null} null value(s); "
            "every record needs an id."
        )
    return out.with_columns(pl.col(schema.ROW).cast(pl.UInt32))


def _index(rows: np.ndarray, n: int) -> np.ndarray:
    """Return row numbers as the narrowest index type scipy keeps for an ``n`` x ``n`` graph."""
    return rows.astype(np.int32 if n < 2**31 else np.int64, copy=False)


def _component_labels(n: int, left: np.ndarray, right: np.ndarray) -> np.ndarray:
    # float64 weights and int32 indices are what csgraph works on: a graph
    # built so is not copied again before its traversal
    graph = sp.csr_array(
        (np.ones(left.size), (_index(left, n), _index(right, n))), shape=(n, n)
    )
    return csgraph.connected_components(graph, directed=False)[1]


def _prune_weak_links(
    n: int,
    left: np.ndarray,
    right: np.ndarray,
    score: np.ndarray,
    labels: np.ndarray,
    *,
    keep_above: float,
    min_size: int,
) -> np.ndarray:
    """Drop unsupported low links inside large components until stable."""
    while True:
        sizes = np.bincount(labels, minlength=1)
        large = np.flatnonzero(sizes[labels[left]] > min_size)
        if large.size == 0:
            return labels
        ends = _index(np.r_[left, right], n), _index(np.r_[right, left], n)
        adjacency = sp.csr_array((np.ones(2 * left.size), ends), shape=(n, n))
        del ends
        adjacency.data[:] = 1.0
        doubtful = large[score[large] < keep_above]
        weak = doubtful[
            _common_neighbours(adjacency, left[doubtful], right[doubtful]) == 0
        ]
        if weak.size == 0:
            return labels
        keep = np.ones(left.size, dtype=bool)
        keep[weak] = False
        left, right, score = left[keep], right[keep], score[keep]
        labels = _component_labels(n, left, right)


def _common_neighbours(
    adjacency: sp.csr_array,
    left: np.ndarray,
    right: np.ndarray,
    *,
    chunk: int = 100_000,
) -> np.ndarray:
    """Count each edge's linked neighbours shared by both ends, a chunk at a time."""
    out = np.zeros(left.size, dtype=np.int64)
    for start in range(0, left.size, chunk):
        end = start + chunk
        both = adjacency[left[start:end]].multiply(adjacency[right[start:end]])
        out[start:end] = np.asarray(both.sum(axis=1)).ravel()
    return out


def _split_oversized(
    n: int,
    left: np.ndarray,
    right: np.ndarray,
    score: np.ndarray,
    labels: np.ndarray,
    *,
    threshold: float,
    max_size: int,
    probability: bool,
) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    """Re-cut components over ``max_size`` at stricter thresholds, step by step."""
    for step in range(1, 7):
        sizes = np.bincount(labels, minlength=1)
        oversized = sizes[labels[left]] > max_size
        if not oversized.any():
            break
        stricter = (
            1.0 - (1.0 - threshold) / 10.0**step
            if probability
            else threshold + step * np.log2(10.0)
        )
        keep = ~oversized | (score >= stricter)
        left, right, score = left[keep], right[keep], score[keep]
        labels = _component_labels(n, left, right)
    return left, right, score, labels


def _split_by_linkage(
    n: int,
    left: np.ndarray,
    right: np.ndarray,
    probability: np.ndarray,
    labels: np.ndarray,
    *,
    linkage: Linkage,
    threshold: float,
    compared: tuple[np.ndarray, np.ndarray, np.ndarray] | None = None,
    min_probability: float | None = None,
) -> np.ndarray:
    """Re-cluster each component of three or more records hierarchically.

    The distance of two records is one minus their link's match probability,
    and 1 when they are not linked; scipy's ``linkage`` merges groups while
    their ``average`` (or ``complete``: largest) distance is at most the cut,
    ``1 - min_probability`` (``min_probability`` None: ``1 - threshold``;
    never stricter than that).
    With ``compared`` (every scored pair: left, right, probability), two
    records that are not linked count one minus their pair's probability (1
    for a pruned link, one scored at or above ``threshold``) and two never
    compared count the cut (``not_compared = "neutral"``). One loop step per
    component, not per record.
    """
    cut = 1.0 - (threshold if min_probability is None else min_probability)
    sizes = np.bincount(labels, minlength=1)
    big = np.flatnonzero(sizes > 2)
    if big.size == 0:
        return labels
    members = np.argsort(labels, kind="stable")
    starts = np.concatenate([[0], np.cumsum(sizes)])
    local = np.empty(n, dtype=np.int64)
    local[members] = np.arange(n) - starts[labels[members]]
    inside = labels[left] == labels[right]  # pruned links join no component
    left, right, probability = left[inside], right[inside], probability[inside]
    # a component whose records are all linked to each other never splits
    # (every distance is within the cut, which is no stricter than the
    # links): only the others need a matrix
    lo, hi = np.minimum(left, right), np.maximum(left, right)
    distinct = np.unique(lo[lo != hi] * np.int64(n) + hi[lo != hi])
    links = np.bincount(labels[distinct // n], minlength=sizes.size)
    big = big[links[big] < sizes[big] * (sizes[big] - 1) // 2]
    if big.size == 0:
        return labels
    if sizes[big].max() > MAX_LINKAGE_SIZE:
        raise ConfigError(
            f"[clustering] linkage = {linkage!r} needs a dense distance matrix per "
            f"component not linked throughout; the largest has "
            f"{int(sizes[big].max()):,} records, over {MAX_LINKAGE_SIZE:,}. Set [clustering] max_cluster_size, or "
            "raise the threshold."
        )
    distance = 1.0 - probability.astype(np.float64)
    if compared is not None:  # the scored pairs first, the kept links over them
        c_left, c_right, c_probability = compared
        same = labels[c_left] == labels[c_right]
        c_distance = np.where(
            c_probability[same] >= threshold, 1.0, 1.0 - c_probability[same]
        )
        left = np.r_[c_left[same], left]
        right = np.r_[c_right[same], right]
        distance = np.r_[c_distance, distance]
    component = labels[left]
    by_component = np.argsort(component, kind="stable")
    edge_starts = np.searchsorted(component[by_component], np.arange(sizes.size + 1))
    unknown = 1.0 if compared is None else np.inf
    out = labels.copy()
    next_label = int(labels.max()) + 1
    # imported here: scipy.cluster takes a second to import, and most jobs
    # never re-cut a component this way
    from scipy.cluster import hierarchy
    from scipy.spatial.distance import squareform

    for c in big:
        k = int(sizes[c])
        edges = by_component[edge_starts[c] : edge_starts[c + 1]]
        i, j = local[left[edges]], local[right[edges]]
        matrix = np.full((k, k), unknown)
        np.minimum.at(matrix, (i, j), distance[edges])
        matrix = np.minimum(matrix, matrix.T)
        matrix[np.isinf(matrix)] = cut  # never compared: neither near nor far
        np.fill_diagonal(matrix, 0.0)
        tree = hierarchy.linkage(squareform(matrix, checks=False), method=linkage)
        parts = hierarchy.fcluster(tree, t=cut, criterion="distance")
        if parts.max() == 1:
            continue
        rows = members[starts[c] : starts[c + 1]]
        out[rows] = np.where(parts == 1, c, next_label + parts - 2)
        next_label += int(parts.max()) - 1
    return out


def _edges(
    pairs: pl.DataFrame, *, n: int, threshold: float, score_column: str
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    score = pl.col(score_column).cast(pl.Float64)
    kept = pairs.lazy().filter(score.is_not_nan() & (score >= threshold))
    edges = kept.select(
        pl.col(schema.ROW_L).cast(pl.Int64),
        pl.col(schema.ROW_R).cast(pl.Int64),
        score,
    ).collect()
    left = edges.get_column(schema.ROW_L).to_numpy()
    right = edges.get_column(schema.ROW_R).to_numpy()
    if edges.height and (
        min(left.min(), right.min()) < 0 or max(left.max(), right.max()) >= n
    ):
        raise SchemaError(
            f"pairs refer to rows outside the records frame (0..{n - 1}); "
            "score the pairs of these same records."
        )
    return left, right, edges.get_column(score_column).to_numpy()


def cluster_labels(
    n: int,
    pairs: pl.DataFrame,
    *,
    threshold: float,
    score_column: str = schema.MATCH_PROBABILITY,
    prune_weak_links: bool = False,
    keep_above: float = 0.999,
    min_prune_size: int = 3,
    max_cluster_size: int | None = None,
    linkage: Linkage = "single",
    not_compared: NotCompared = "far",
    min_linkage_probability: float | None = None,
) -> np.ndarray:
    """Return the cluster of each of records ``0 .. n - 1``, as :func:`connected_components` makes them.

    The same clusters without their ids: an integer label per record (two
    records share a label when they share a cluster), for callers that name
    clusters their own way. The options are :func:`connected_components`'s;
    ``pairs`` holds ``_row_l``, ``_row_r`` (rows below ``n``) and
    ``score_column``.

    Examples
    --------
    >>> pairs = pl.DataFrame(
    ...     {"_row_l": [0, 1], "_row_r": [1, 2], "match_probability": [0.9, 0.2]}
    ... )
    >>> labels = cluster_labels(3, pairs, threshold=0.5)
    >>> bool(labels[0] == labels[1]), bool(labels[1] == labels[2])
    (True, False)
    """
    check_linkage_options(
        threshold,
        linkage,
        not_compared,
        min_linkage_probability,
        score_column=score_column,
    )
    _require_columns(pairs, (schema.ROW_L, schema.ROW_R, score_column), name="pairs")
    left, right, score = _edges(
        pairs, n=n, threshold=threshold, score_column=score_column
    )
    labels = _component_labels(n, left, right)
    if max_cluster_size is not None:
        left, right, score, labels = _split_oversized(
            n,
            left,
            right,
            score,
            labels,
            threshold=threshold,
            max_size=max_cluster_size,
            probability=score_column == schema.MATCH_PROBABILITY,
        )
    if prune_weak_links:
        labels = _prune_weak_links(
            n,
            left,
            right,
            score,
            labels,
            keep_above=keep_above,
            min_size=min_prune_size,
        )
    if linkage != "single":
        weights = score_column != schema.MATCH_PROBABILITY

        def as_probability(values: np.ndarray) -> np.ndarray:
            return 1.0 / (1.0 + np.exp2(-values)) if weights else values

        cut = float(as_probability(np.array([threshold], dtype=np.float64))[0])
        compared = None
        if not_compared == "neutral":  # every scored pair, linked or not
            c_left, c_right, c_score = _edges(
                pairs, n=n, threshold=-math.inf, score_column=score_column
            )
            compared = (c_left, c_right, as_probability(c_score))
        labels = _split_by_linkage(
            n,
            left,
            right,
            as_probability(score),
            labels,
            linkage=linkage,
            threshold=cut,
            compared=compared,
            min_probability=min_linkage_probability,
        )

    return labels


def connected_components(
    records: pl.DataFrame,
    pairs: pl.DataFrame,
    *,
    threshold: float,
    score_column: str = schema.MATCH_PROBABILITY,
    prune_weak_links: bool = False,
    keep_above: float = 0.999,
    min_prune_size: int = 3,
    max_cluster_size: int | None = None,
    linkage: Linkage = "single",
    not_compared: NotCompared = "far",
    min_linkage_probability: float | None = None,
) -> pl.DataFrame:
    """Cluster records: the connected components of pairs scored >= ``threshold``.

    Every record appears exactly once in the result; a record with no pair at
    or above the threshold is a cluster of one. Null and NaN scores are never
    edges.

    A cluster's id is built from its smallest member by (``source``,
    ``record_id``) as ``"<source>:<record_id>"`` (see :func:`cluster_id_expr`).
    It depends only on which records are in the cluster, so the same data gives
    the same ids on every run, whatever the order of the pairs; it is readable,
    and it survives a polars upgrade (no hashing).

    Parameters
    ----------
    records
        The records frame: ``_row`` (dense 0..n-1), ``record_id``, ``source``.
    pairs
        Scored pairs: ``_row_l``, ``_row_r`` and ``score_column``.
    threshold
        Pairs whose score is at least this are links. Must lie in [0, 1] when
        ``score_column`` is ``match_probability``.
    score_column
        The column to cut on, such as ``match_probability`` or
        ``match_weight``.
    prune_weak_links
        Stop false links from chaining unrelated clusters together: in
        components of more than ``min_prune_size`` records, drop links whose
        two records share no linked neighbour and score below ``keep_above``,
        then recompute the components, until nothing changes. Two dense
        groups joined by one doubtful link come apart; a link backed by a
        common neighbour, or scored very high, stays.
    keep_above
        Links scored at or above this are never pruned.
    min_prune_size
        Components of at most this many records are left as they are.
    max_cluster_size
        A component larger than this is cut again at stricter thresholds,
        one step at a time (each step divides 1 - threshold by ten for a
        probability, or adds log2(10) to a weight), keeping only its links
        at or above the step, until its parts are small enough or six steps
        are used. Real entities rarely have hundreds of records; components
        that large are namesakes chained by common names.
    linkage
        ``"single"``: the connected components (after pruning and
        re-cutting). ``"average"`` or ``"complete"``: then split each
        component by hierarchical clustering (scipy's ``linkage``), the
        distance of two records being one minus their link's match
        probability (1 when not linked), merging groups while their
        average (complete: largest) distance is at most ``1 - threshold``;
        so two dense groups that a few links join (sites of one agency
        sharing its phone) stay apart. Match weights are turned into
        probabilities first. Each component is a dense matrix: at most
        :data:`MAX_LINKAGE_SIZE` records.
    not_compared
        With ``linkage`` ``"average"`` or ``"complete"``, the distance of two
        records of one component that no pair in ``pairs`` compares (blocking
        never paired them): ``"far"`` (the default) counts them 1, as two
        records compared and not linked; ``"neutral"`` counts them at the
        cut, ``1 - threshold``, neither for nor against a merge, and a pair
        compared but scored below the threshold at one minus its
        probability (a link pruned or re-cut away at 1). Where blocking
        misses many true pairs, "far" splits true clusters whose records
        were never compared; "neutral" splits only on evidence.
    min_linkage_probability
        With ``linkage`` ``"average"`` or ``"complete"``, merge two groups
        while their average (complete: lowest) match probability is at
        least this; None (the default): the threshold (as a probability),
        which is also the most it may be.
        A cut below the threshold lets a group take in a record that a few
        of its members link to and the others do not disagree with much;
        ``not_compared = "neutral"`` then counts two records never compared
        at this cut.

    Returns
    -------
    polars.DataFrame
        ``_row``, ``record_id``, ``source``, ``cluster_id`` (String) and
        ``cluster_size`` (UInt32), one row per record in ``_row`` order.

    Raises
    ------
    SchemaError
        If a frame lacks a column, ``_row`` is not dense, or a pair names a
        row outside ``records``.
    ConfigError
        If ``threshold`` is not a number, or outside [0, 1] for a probability;
        if ``linkage`` is not one of :data:`LINKAGES`, or a component is too
        large for it; if ``not_compared`` is not one of :data:`NOT_COMPARED`,
        or is ``"neutral"`` with single linkage; if
        ``min_linkage_probability`` is outside [0, 1], above the threshold
        or set with single linkage.

    Examples
    --------
    >>> records = pl.DataFrame(
    ...     {"_row": [0, 1, 2], "record_id": ["b", "a", "c"], "source": "crm"},
    ...     schema_overrides={"_row": pl.UInt32},
    ... )
    >>> pairs = pl.DataFrame(
    ...     {"_row_l": [0, 1], "_row_r": [1, 2], "match_probability": [0.9, 0.2]}
    ... )
    >>> out = connected_components(records, pairs, threshold=0.5)
    >>> out.select("record_id", "cluster_id", "cluster_size").rows()
    [('b', 'crm:a', 2), ('a', 'crm:a', 2), ('c', 'crm:c', 1)]

    Two triangles joined by one link are one component; average linkage
    keeps them apart:

    >>> records = pl.DataFrame(
    ...     {"_row": range(6), "record_id": list("abcdef"), "source": "crm"},
    ...     schema_overrides={"_row": pl.UInt32},
    ... )
    >>> pairs = pl.DataFrame(
    ...     {
    ...         "_row_l": [0, 0, 1, 3, 3, 4, 2],
    ...         "_row_r": [1, 2, 2, 4, 5, 5, 3],
    ...         "match_probability": [0.99, 0.98, 0.97, 0.99, 0.98, 0.97, 0.9],
    ...     }
    ... )
    >>> one = connected_components(records, pairs, threshold=0.5)
    >>> one.get_column("cluster_id").unique().to_list()
    ['crm:a']
    >>> two = connected_components(records, pairs, threshold=0.5, linkage="average")
    >>> two.get_column("cluster_id").to_list()
    ['crm:a', 'crm:a', 'crm:a', 'crm:d', 'crm:d', 'crm:d']

    A chain a - b - c whose ends blocking never compared: "far" counts
    a / c as 1 and splits it, "neutral" keeps it whole:

    >>> records = pl.DataFrame(
    ...     {"_row": range(3), "record_id": list("abc"), "source": "crm"},
    ...     schema_overrides={"_row": pl.UInt32},
    ... )
    >>> pairs = pl.DataFrame(
    ...     {"_row_l": [0, 1], "_row_r": [1, 2], "match_probability": [0.99, 0.99]}
    ... )
    >>> far = connected_components(records, pairs, threshold=0.5, linkage="average")
    >>> far.get_column("cluster_size").to_list()
    [2, 2, 1]
    >>> neutral = connected_components(
    ...     records, pairs, threshold=0.5, linkage="average", not_compared="neutral"
    ... )
    >>> neutral.get_column("cluster_size").to_list()
    [3, 3, 3]
    """
    _check_threshold(threshold, score_column=score_column)
    choice(linkage, "linkage", LINKAGES)
    recs = _sorted_records(records)
    labels = cluster_labels(
        recs.height,
        pairs,
        threshold=threshold,
        score_column=score_column,
        prune_weak_links=prune_weak_links,
        keep_above=keep_above,
        min_prune_size=min_prune_size,
        max_cluster_size=max_cluster_size,
        linkage=linkage,
        not_compared=not_compared,
        min_linkage_probability=min_linkage_probability,
    )
    order = [schema.SOURCE, schema.RECORD_ID]
    per_cluster = (
        recs.lazy()
        .with_columns(pl.Series(_LABEL, labels, dtype=pl.Int64))
        .group_by(_LABEL)
        .agg(
            cluster_id_expr(
                pl.col(schema.SOURCE).sort_by(order).first(),
                pl.col(schema.RECORD_ID).sort_by(order).first(),
            ),
            pl.len().cast(pl.UInt32).alias(CLUSTER_SIZE),
        )
    )
    return (
        recs.lazy()
        .with_columns(pl.Series(_LABEL, labels, dtype=pl.Int64))
        .join(per_cluster, on=_LABEL, how="left")
        .select(list(CLUSTER_SCHEMA))
        .sort(schema.ROW)
        .collect()
        .cast({c: t for c, t in CLUSTER_SCHEMA.items() if c != schema.RECORD_ID})
    )
