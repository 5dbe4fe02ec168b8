"""Cluster part of the store: the batch algorithm over whole components, steward decisions applied."""

from __future__ import annotations

from typing import Final

import numpy as np
import polars as pl
import scipy.sparse as sp
from scipy.sparse import csgraph

from er_toolkit import schema
from er_toolkit.cluster import ClusteringConfig, cluster_labels
from er_toolkit.one_to_one import OneToOne, one_to_one_links

__all__ = ["COMPONENT", "MUST_LINK_PROBABILITY", "resolve"]

COMPONENT: Final = "component"
"""A record's raw component: the connected component of its links at the
threshold (must-links in, own-entity records' links out) before pruning,
size limits and cannot-links. Named by its smallest row."""
MUST_LINK_PROBABILITY: Final = 1.0
"""The probability a must-link decision gives its pair: at or above any
``keep_above`` and any stricter ``max_cluster_size`` cut, so it is never
pruned or cut."""
_LABEL: Final = "__label"


def _edge_frame(pairs: pl.DataFrame | None) -> pl.DataFrame:
    columns = {schema.ROW_L: pl.Int64, schema.ROW_R: pl.Int64}
    if pairs is None or pairs.height == 0:
        return pl.DataFrame(schema=columns)
    return pairs.select(pl.col(c).cast(t) for c, t in columns.items())


def _min_row_labels(rows: np.ndarray, labels: np.ndarray) -> np.ndarray:
    """Rename component labels to each component's smallest row."""
    smallest = np.full(labels.max() + 1 if labels.size else 0, np.iinfo(np.int64).max)
    np.minimum.at(smallest, labels, rows)
    return smallest[labels]


def resolve(
    rows: np.ndarray,
    edges: pl.DataFrame,
    *,
    threshold: float,
    clustering: ClusteringConfig,
    must_link: pl.DataFrame | None = None,
    cannot_link: pl.DataFrame | None = None,
    own_entity: np.ndarray | None = None,
    sources: np.ndarray | None = None,
) -> pl.DataFrame:
    """Cluster records from their scored links and the stewards' decisions.

    The batch algorithm (:func:`er_toolkit.cluster.connected_components`
    with the ``[clustering]`` options) run over whole raw components, so a
    store that re-resolves only the components a batch touched ends with
    the clusters one run over every record would give. Decisions override
    the model:

    1. an own-entity record loses every link (must-links too);
       ``[clustering] one_to_one`` then drops the model's links it rules
       out (:func:`~er_toolkit.one_to_one.one_to_one_links`, as the batch
       pipeline does before clustering; a link's fate depends only on the
       links of its raw component, so re-resolving whole components gives
       the batch answer over links in row order: of links with equal
       scores the one of smaller rows wins); must-links are never dropped;
    2. a must-link is a link of probability 1 (never pruned or cut);
    3. the links at or above ``threshold`` make the raw components, which
       are clustered as the batch algorithm does (weak-link pruning, the
       size limit);
    4. a cluster that holds both records of a cannot-link is rebuilt from
       its links, strongest first (must-links before all), skipping each
       link that would join two groups a cannot-link keeps apart: each
       cannot-link is cut at the weakest links of the paths between its
       records. Where must-links and cannot-links contradict each other,
       the cannot-link wins.

    Parameters
    ----------
    rows
        The store rows of the records (any order, each once).
    edges
        Scored links: ``_row_l``, ``_row_r`` (store rows) and
        ``match_probability``; links below ``threshold`` are ignored.
    threshold
        The model's decision threshold.
    clustering
        The ``[clustering]`` options.
    must_link, cannot_link
        ``_row_l``, ``_row_r`` of each decided pair within ``rows``.
    own_entity
        Rows decided to be entities of their own.
    sources
        Each row's source (aligned with ``rows``); needed when
        ``clustering.one_to_one`` is not ``"off"``.

    Returns
    -------
    polars.DataFrame
        ``_row``, ``__label`` (the cluster, named by its smallest row) and
        ``component`` (the raw component, named by its smallest row), one
        row per record in ``rows`` order.

    Examples
    --------
    >>> from er_toolkit.cluster import ClusteringConfig
    >>> edges = pl.DataFrame({"_row_l": [10, 11], "_row_r": [11, 12],
    ...                       "match_probability": [0.99, 0.95]})
    >>> out = resolve(np.array([10, 11, 12, 13]), edges, threshold=0.9,
    ...               clustering=ClusteringConfig(),
    ...               cannot_link=pl.DataFrame({"_row_l": [10], "_row_r": [12]}))
    >>> out.rows()
    [(10, 10, 10), (11, 10, 10), (12, 12, 10), (13, 13, 13)]
    """
    rows = np.asarray(rows, dtype=np.int64)
    n = rows.size
    out_schema = {schema.ROW: pl.Int64, _LABEL: pl.Int64, COMPONENT: pl.Int64}
    if n == 0:
        return pl.DataFrame(schema=out_schema)
    order = np.argsort(rows, kind="stable")
    sorted_rows = rows[order]
    if np.any(sorted_rows[1:] == sorted_rows[:-1]):
        raise ValueError("resolve: rows must be unique")

    def local(values: np.ndarray) -> np.ndarray:
        pos = np.searchsorted(sorted_rows, values)
        pos = np.minimum(pos, n - 1)
        ok = sorted_rows[pos] == values
        return np.where(ok, order[pos], -1)

    score = pl.col(schema.MATCH_PROBABILITY).cast(pl.Float64)
    model = edges.select(
        pl.col(schema.ROW_L).cast(pl.Int64),
        pl.col(schema.ROW_R).cast(pl.Int64),
        score.alias(schema.MATCH_PROBABILITY),
    ).filter(score.is_not_nan() & (score >= threshold))
    if clustering.one_to_one != "off":
        model = _one_to_one(
            model, rows, sources, own_entity, threshold, clustering.one_to_one
        )
    must = _edge_frame(must_link).with_columns(
        pl.lit(MUST_LINK_PROBABILITY, dtype=pl.Float64).alias(schema.MATCH_PROBABILITY)
    )
    links = pl.concat(
        [
            must.with_columns(pl.lit(True).alias("__must")),
            model.with_columns(pl.lit(False).alias("__must")),
        ]
    )
    left = local(links.get_column(schema.ROW_L).to_numpy())
    right = local(links.get_column(schema.ROW_R).to_numpy())
    keep = (left >= 0) & (right >= 0) & (left != right)
    if own_entity is not None and len(own_entity):
        alone = np.zeros(n, dtype=bool)
        pos = local(np.asarray(own_entity, dtype=np.int64))
        alone[pos[pos >= 0]] = True
        keep &= (
            ~alone[np.where(left >= 0, left, 0)]
            & ~alone[np.where(right >= 0, right, 0)]
        )
    lo = np.minimum(left, right)[keep]
    hi = np.maximum(left, right)[keep]
    prob = links.get_column(schema.MATCH_PROBABILITY).to_numpy()[keep]
    is_must = links.get_column("__must").to_numpy()[keep]
    # one link per pair: a must-link wins over the model's score
    local_links = (
        pl.DataFrame(
            {
                schema.ROW_L: lo,
                schema.ROW_R: hi,
                schema.MATCH_PROBABILITY: prob,
                "__must": is_must,
            }
        )
        .sort("__must", schema.MATCH_PROBABILITY, descending=True)
        .unique([schema.ROW_L, schema.ROW_R], keep="first", maintain_order=True)
    )
    lo = local_links.get_column(schema.ROW_L).to_numpy()
    hi = local_links.get_column(schema.ROW_R).to_numpy()
    graph = sp.coo_array((np.ones(lo.size, dtype=bool), (lo, hi)), shape=(n, n)).tocsr()
    components = csgraph.connected_components(graph, directed=False)[1]
    labels = np.unique(
        cluster_labels(
            n,
            local_links,
            threshold=threshold,
            prune_weak_links=clustering.prune_weak_links,
            keep_above=clustering.keep_above,
            min_prune_size=clustering.min_prune_size,
            max_cluster_size=clustering.max_cluster_size,
            linkage=clustering.linkage,
            not_compared=clustering.not_compared,
            min_linkage_probability=clustering.min_linkage_probability,
        ),
        return_inverse=True,
    )[1].astype(np.int64)
    if cannot_link is not None and cannot_link.height:
        labels = _keep_apart(
            labels,
            lo,
            hi,
            local_links.get_column(schema.MATCH_PROBABILITY).to_numpy(),
            local_links.get_column("__must").to_numpy(),
            local(_edge_frame(cannot_link).get_column(schema.ROW_L).to_numpy()),
            local(_edge_frame(cannot_link).get_column(schema.ROW_R).to_numpy()),
            rows,
        )
    return pl.DataFrame(
        {
            schema.ROW: rows,
            _LABEL: _min_row_labels(rows, labels),
            COMPONENT: _min_row_labels(rows, components),
        },
        schema=out_schema,
    )


def _one_to_one(
    model: pl.DataFrame,
    rows: np.ndarray,
    sources: np.ndarray | None,
    own_entity: np.ndarray | None,
    threshold: float,
    method: OneToOne,
) -> pl.DataFrame:
    """Drop the model's links ``one_to_one`` rules out, among the links within ``rows``."""
    if sources is None or len(sources) != rows.size:
        raise ValueError("resolve: one_to_one needs each row's source")
    here = pl.Series(rows, dtype=pl.Int64).implode()
    within = pl.col(schema.ROW_L).is_in(here) & pl.col(schema.ROW_R).is_in(here)
    if own_entity is not None and len(own_entity):
        alone = pl.Series(own_entity, dtype=pl.Int64).implode()
        within &= ~(
            pl.col(schema.ROW_L).is_in(alone) | pl.col(schema.ROW_R).is_in(alone)
        )
    records = pl.DataFrame(
        {schema.ROW: rows, schema.SOURCE: pl.Series(sources, dtype=pl.String)}
    )
    # ties between equal scores go by position: put the links in row order, so
    # the answer does not depend on which batch brought them
    links = model.filter(within).sort(schema.ROW_L, schema.ROW_R)
    return one_to_one_links(records, links, threshold=threshold, method=method)


def _keep_apart(
    labels: np.ndarray,
    lo: np.ndarray,
    hi: np.ndarray,
    prob: np.ndarray,
    is_must: np.ndarray,
    apart_l: np.ndarray,
    apart_r: np.ndarray,
    rows: np.ndarray,
) -> np.ndarray:
    """Rebuild each cluster holding a cannot-link pair, strongest link first.

    A loop per link, but only over the links of clusters a steward has
    split (few, small): the greedy union with constraints has no vectorised
    form.
    """
    valid = (apart_l >= 0) & (apart_r >= 0)
    apart_l, apart_r = apart_l[valid], apart_r[valid]
    violated = labels[apart_l] == labels[apart_r]
    if not violated.any():
        return labels
    labels = labels.copy()
    next_label = labels.max() + 1
    for cluster in np.unique(labels[apart_l[violated]]):
        members = np.flatnonzero(labels == cluster)
        inside = (labels[lo] == cluster) & (labels[hi] == cluster)
        # strongest first: must-links, then probability, ties by the rows
        idx = np.flatnonzero(inside)
        ranking = np.lexsort((rows[hi[idx]], rows[lo[idx]], -prob[idx], ~is_must[idx]))
        parent = {int(m): int(m) for m in members}
        forbidden: dict[int, set[int]] = {int(m): set() for m in members}
        for a, b in zip(apart_l, apart_r, strict=True):
            if labels[a] == cluster and labels[b] == cluster:
                forbidden[int(a)].add(int(b))
                forbidden[int(b)].add(int(a))
        for e in idx[ranking]:
            ra, rb = _find(parent, int(lo[e])), _find(parent, int(hi[e]))
            if ra == rb or any(_find(parent, f) == rb for f in forbidden[ra]):
                continue
            parent[rb] = ra
            forbidden[ra] |= forbidden.pop(rb)
        roots = np.array([_find(parent, int(m)) for m in members])
        _, part = np.unique(roots, return_inverse=True)
        labels[members] = np.where(part == 0, cluster, next_label + part - 1)
        next_label += int(part.max()) + 1
    return labels


def _find(parent: dict[int, int], x: int) -> int:
    """Return the root of ``x`` in a union-find forest, halving paths."""
    while parent[x] != x:
        parent[x] = parent[parent[x]]
        x = parent[x]
    return x
